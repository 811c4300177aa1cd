"""The MFCC frontend's tables and its host build: training computes features with the board's
own C code (``firmware/runtime/kws_frontend.c``), called through ctypes.

Why C and not torch: the same float32 operations in the same order give the same bits on
every machine and on the Cortex-M4F, so ``data/features`` is reproducible byte for byte across
CPUs (torch's FFT and matmul pick kernels by CPU and thread count), and the board computes
exactly the features the model was trained on. The tables are computed here once, in float64
with Python's ``math`` (correctly rounded scalar libm, no SIMD variants), then rounded to
float32; the firmware codegen emits these same values (``c_tables``).
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kws.errors import KwsError, ToolMissingError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "firmware" / "runtime" / "kws_frontend.c"
HEADER = SOURCE.with_suffix(".h")
FILE_DEPS = ("firmware/runtime/kws_frontend.c", "firmware/runtime/kws_frontend.h")
BUILD_DIR = ROOT / "build" / "frontend"
# -ffp-contract=off: no fused multiply-add (the source also says so in a pragma); no -march, no
# -ffast-math: plain IEEE float32 in source order on any x86-64.
CFLAGS = ["-O2", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math"]
FFT = 512          # complex points (KWS_FRONTEND_FFT): a 1024-point real FFT
STAGES = (128, 32, 8, 2)  # quarter lengths of the radix-4 stages, then one radix-2 stage


class FrontendError(KwsError):
    """The frontend cannot be built or does not fit the features params."""


@dataclass(frozen=True)
class Tables:
    """Everything ``kws_frontend_cfg`` points to, float32 / uint16, for one features spec."""

    window: int
    n_bins: int
    n_mels: int
    n_mfcc: int
    log_floor: float
    hann: np.ndarray
    twiddles: np.ndarray
    split: np.ndarray
    order: np.ndarray
    mel_start: np.ndarray
    mel_len: np.ndarray
    mel_weights: np.ndarray
    dct: np.ndarray


def _f32(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).astype(np.float32)
    a.setflags(write=False)
    return a


def _stage_twiddles() -> list[float]:
    out = []
    for q in STAGES:
        n = 4 * q
        for j in range(q):
            for r in (1, 2, 3):
                a = 2.0 * math.pi * r * j / n
                out += [math.cos(a), -math.sin(a)]
    return out


def _fft_order() -> np.ndarray:
    """Position of each FFT bin after the stages (digit-reversed), found by running the same
    decimation-in-frequency stages in complex128 and matching numpy's FFT."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(FFT) + 1j * rng.standard_normal(FFT)
    ref = np.fft.fft(z)
    z = z.copy()
    for q in STAGES:
        n = 4 * q
        j = np.arange(q)
        w = np.exp(-2j * np.pi * j / n)
        for b in range(0, FFT, n):
            a0, a1, a2, a3 = (z[b + j + r * q].copy() for r in range(4))
            t0, t1, t2, t3 = a0 + a2, a0 - a2, a1 + a3, a1 - a3
            z[b + j] = t0 + t2
            z[b + j + q] = (t1 - 1j * t3) * w
            z[b + j + 2 * q] = (t0 - t2) * w ** 2
            z[b + j + 3 * q] = (t1 + 1j * t3) * w ** 3
    a, b = z[0::2].copy(), z[1::2].copy()
    z[0::2], z[1::2] = a + b, a - b
    order = np.array([int(np.argmin(np.abs(z - ref[k]))) for k in range(FFT)], dtype=np.uint16)
    assert len(set(order.tolist())) == FFT and np.allclose(z[order], ref)
    return order


@lru_cache(maxsize=16)
def mel_filterbank64(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                     fmax: float) -> np.ndarray:
    """HTK triangles (kws/features.py gives the formula), float64 ``[n_fft // 2 + 1, n_mels]``."""
    def mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    lo_m, hi_m = mel(fmin), mel(fmax)
    edges = [700.0 * (10.0 ** ((lo_m + (hi_m - lo_m) * i / (n_mels + 1)) / 2595.0) - 1.0)
             for i in range(n_mels + 2)]
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for k in range(n_fft // 2 + 1):
        f = k * sample_rate / n_fft
        for m in range(n_mels):
            lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
            fb[k, m] = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=16)
def dct64(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II, float64 ``[n_mels, n_mfcc]``."""
    d = np.array([[math.sqrt(2.0 / n_mels) * math.cos(math.pi / n_mels * (m + 0.5) * j)
                   * (1.0 / math.sqrt(2.0) if j == 0 else 1.0) for j in range(n_mfcc)]
                  for m in range(n_mels)])
    d.setflags(write=False)
    return d


@lru_cache(maxsize=16)
def hann64(window: int) -> np.ndarray:
    """Periodic Hann window, float64."""
    h = np.array([0.5 - 0.5 * math.cos(2.0 * math.pi * n / window) for n in range(window)])
    h.setflags(write=False)
    return h


@lru_cache(maxsize=16)
def _tables(window: int, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float,
            n_mfcc: int, log_floor: float) -> Tables:
    if n_fft != 2 * FFT:
        raise FrontendError(f"features.n_fft = {n_fft}: the frontend's FFT has {2 * FFT} points "
                            "(set features.n_fft: 1024)")
    if window % 2 or not 2 <= window <= 2 * FFT:
        raise FrontendError(f"features.window_ms gives {window} samples: the frontend takes an "
                            f"even window of at most {2 * FFT} samples")
    if n_mels > 128:
        raise FrontendError(f"features.n_mels = {n_mels}: the frontend takes at most 128")
    fb = mel_filterbank64(sample_rate, n_fft, n_mels, fmin, fmax)
    nz = np.nonzero(fb.any(axis=1))[0]
    n_bins = int(nz.max()) + 1
    starts, lens, weights = [], [], []
    for m in range(n_mels):
        ks = np.nonzero(fb[:, m])[0]
        k0, k1 = (int(ks.min()), int(ks.max()) + 1) if len(ks) else (0, 0)
        starts.append(k0)
        lens.append(k1 - k0)
        # x 1/4: the split computes 2 X[k]; rounding to float32 first keeps the product exact
        weights.extend(np.float32(w) * np.float32(0.25) for w in fb[k0:k1, m])
    split = []
    for k in range(n_bins):
        a = 2.0 * math.pi * k / n_fft
        split += [math.cos(a), math.sin(a)]
    order = np.append(_fft_order(), 0).astype(np.uint16)  # [513]: bin 512 = bin 0
    u16 = np.uint16
    return Tables(window, n_bins, n_mels, n_mfcc, float(np.float32(log_floor)),
                  hann=_f32(np.asarray(_f32(hann64(window)), np.float64) / 32768.0),
                  twiddles=_f32(_stage_twiddles()), split=_f32(split), order=order,
                  mel_start=np.array(starts, u16), mel_len=np.array(lens, u16),
                  mel_weights=np.array(weights, np.float32), dct=_f32(dct64(n_mels, n_mfcc)))


def tables(spec) -> Tables:
    """The frontend tables of a ``FeaturesParams``."""
    return _tables(spec.window_samples, spec.sample_rate, spec.n_fft, spec.n_mels,
                   float(spec.fmin), float(spec.fmax), spec.n_mfcc, float(spec.log_floor))


# --- the host build ---------------------------------------------------------------------------
class _Cfg(ctypes.Structure):
    _fields_ = [("window", ctypes.c_int), ("n_bins", ctypes.c_int), ("n_mels", ctypes.c_int),
                ("n_mfcc", ctypes.c_int), ("log_floor", ctypes.c_float),
                *[(n, ctypes.c_void_p) for n in ("hann", "twiddles", "split", "order",
                                                 "mel_start", "mel_len", "mel_weights", "dct")]]


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    """Compile (once per source version) and load the frontend as a shared library."""
    digest = hashlib.sha256(SOURCE.read_bytes() + HEADER.read_bytes()
                            + " ".join(CFLAGS).encode()).hexdigest()[:16]
    lib = BUILD_DIR / f"libkws_frontend-{digest}.so"
    with _lock:
        if not lib.is_file():
            cc = shutil.which(os.environ.get("CC", "cc"))
            if cc is None:
                raise ToolMissingError("no C compiler (cc) for the MFCC frontend: install one "
                                       "(`sudo apt-get install -y gcc`)")
            BUILD_DIR.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".libkws_frontend.", suffix=".so", dir=BUILD_DIR)
            os.close(fd)
            res = subprocess.run([cc, *CFLAGS, str(SOURCE), "-o", tmp], capture_output=True,
                                 text=True)
            if res.returncode != 0:
                os.unlink(tmp)
                raise FrontendError(f"building the MFCC frontend failed: "
                                    f"{(res.stderr or res.stdout).strip().splitlines()[0]}")
            os.replace(tmp, lib)
    dll = ctypes.CDLL(str(lib))
    dll.kws_frontend_batch.argtypes = [ctypes.POINTER(_Cfg), ctypes.c_void_p, ctypes.c_int,
                                       ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    dll.kws_frontend_batch.restype = None
    return dll


def _cfg(t: Tables) -> tuple[_Cfg, list]:
    keep = [np.ascontiguousarray(a) for a in (t.hann, t.twiddles, t.split, t.order, t.mel_start,
                                              t.mel_len, t.mel_weights, t.dct)]
    cfg = _Cfg(t.window, t.n_bins, t.n_mels, t.n_mfcc, t.log_floor,
               *[a.ctypes.data for a in keep])
    return cfg, keep


def to_pcm16(audio) -> np.ndarray:
    """Float audio (full scale 1.0) as the int16 samples a microphone would give: x * 32768
    rounded to nearest even, saturated. int16 input is returned as is."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        return a
    return np.clip(np.rint(a.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def threads() -> int:
    """Worker threads for a batch (the C calls release the GIL); ``KWS_FRONTEND_THREADS``."""
    env = os.environ.get("KWS_FRONTEND_THREADS")
    return max(1, int(env)) if env else max(1, min(4, os.cpu_count() or 1))


def mfcc_pcm16(pcm: np.ndarray, spec) -> np.ndarray:
    """MFCC float32 ``[B, n_frames, n_mfcc]`` of int16 clips ``[B, L]`` (L >= one window).
    The result does not depend on the batch split or the thread count."""
    t = tables(spec)
    x = np.ascontiguousarray(pcm, dtype=np.int16)
    if x.ndim != 2 or x.shape[1] < t.window:
        raise ValueError(f"audio must be [B, samples] with at least {t.window} samples, got "
                         f"shape {list(x.shape)}")
    stride = spec.stride_samples
    n, length = x.shape
    frames = 1 + (length - t.window) // stride
    out = np.empty((n, frames, t.n_mfcc), np.float32)
    lib = _library()
    cfg, keep = _cfg(t)

    def run(lo: int, hi: int) -> None:
        if hi > lo:
            lib.kws_frontend_batch(ctypes.byref(cfg), x[lo:hi].ctypes.data, hi - lo, length,
                                   stride, out[lo:hi].ctypes.data)

    k = min(threads(), max(1, n // 16))
    if k == 1:
        run(0, n)
    else:
        bounds = np.linspace(0, n, k + 1).astype(int)
        with ThreadPoolExecutor(k) as pool:
            list(pool.map(run, bounds[:-1], bounds[1:]))
    del keep
    return out


# --- the board's copy of the tables ----------------------------------------------------------------
def _c_floats(name: str, values: np.ndarray) -> str:
    # repr of the float32 value as a double is exact, and C rounds it back to the same float32
    vals = [f"{float(v)!r}f" for v in np.asarray(values, np.float32).reshape(-1)]
    rows = [", ".join(vals[i:i + 6]) for i in range(0, len(vals), 6)]
    return f"static const float {name}[{len(vals)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def _c_u16(name: str, values: np.ndarray) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    rows = [", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16)]
    return f"static const uint16_t {name}[{len(vals)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def c_tables(spec) -> str:
    """C source defining ``const kws_frontend_cfg kws_frontend_tables``: the same float32
    values the host library is given, so the board computes the same bits."""
    t = tables(spec)
    parts = ["/* Generated by kws/frontend.py (c_tables): the MFCC frontend's tables. */",
             '#include "kws_frontend.h"', "",
             _c_floats("hann", t.hann), _c_floats("twiddles", t.twiddles),
             _c_floats("split", t.split), _c_u16("order", t.order),
             _c_u16("mel_start", t.mel_start), _c_u16("mel_len", t.mel_len),
             _c_floats("mel_weights", t.mel_weights), _c_floats("dct", t.dct),
             "const kws_frontend_cfg kws_frontend_tables = {",
             f"    .window = {t.window}, .n_bins = {t.n_bins}, .n_mels = {t.n_mels}, "
             f".n_mfcc = {t.n_mfcc},",
             f"    .log_floor = {float(np.float32(t.log_floor))!r}f,",
             "    .hann = hann, .twiddles = twiddles, .split = split, .order = order,",
             "    .mel_start = mel_start, .mel_len = mel_len, .mel_weights = mel_weights, "
             ".dct = dct,",
             "};", ""]
    return "\n".join(parts)
