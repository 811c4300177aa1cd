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
LOG_BITS = 7       # KWS_FRONTEND_LOG_BITS: the log's table has 2^7 mantissa intervals
DCT_BLOCK = 10     # KWS_FRONTEND_DCT_BLOCK: DCT outputs computed together


class FrontendError(KwsError):
    """The frontend cannot be built or does not fit the features params."""


@dataclass(frozen=True)
class Tables:
    """Everything ``kws_frontend_cfg`` points to, float32 / uint16, for one features spec."""

    window: int
    bin_lo: int
    n_bins: int
    n_mels: int
    n_mfcc: int
    log_floor: float
    hann: np.ndarray
    twiddles: np.ndarray
    bins: np.ndarray
    seg_len: np.ndarray
    log_table: np.ndarray
    dct: np.ndarray


def _f32(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).astype(np.float32)
    a.setflags(write=False)
    return a


def _twiddles() -> list[float]:
    """W^(j s), s = 1..7, (cos, -sin) per radix-8 butterfly j: stage 1 (W = e^(-2 pi i/512),
    j = 0..63), then stage 2 (W = e^(-2 pi i/64), j = 1..7); stage 3 has none."""
    out = []
    for n, js in ((FFT, range(FFT // 8)), (FFT // 8, range(1, 8))):
        for j in js:
            for s in range(1, 8):
                a = 2.0 * math.pi * j * s / n
                out += [math.cos(a), -math.sin(a)]
    return out


def _log_table() -> np.ndarray:
    """(c_i, -ln c_i) for the 2^LOG_BITS mantissa intervals [1 + i/n, 1 + (i+1)/n): c_i is
    1 / (the interval's middle) in float32, -ln c_i of that float32 value, rounded."""
    n = 1 << LOG_BITS
    out = []
    for i in range(n):
        c = float(np.float32(1.0 / (1.0 + (i + 0.5) / n)))
        out += [c, -math.log(c)]
    return _f32(out)


def _mel_edges(sample_rate: int, n_mels: int, fmin: float, fmax: float) -> list[float]:
    """The n_mels + 2 HTK edge frequencies, equally spaced in mel (Hz, float64)."""
    def mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    lo_m, hi_m = mel(fmin), mel(fmax)
    return [700.0 * (10.0 ** ((lo_m + (hi_m - lo_m) * i / (n_mels + 1)) / 2595.0) - 1.0)
            for i in range(n_mels + 2)]


@lru_cache(maxsize=16)
def mel_filterbank64(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                     fmax: float) -> np.ndarray:
    """HTK triangles (kws/features.py gives the formula), float64 ``[n_fft // 2 + 1, n_mels]``."""
    edges = _mel_edges(sample_rate, n_mels, fmin, fmax)
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


def _hann_table(window: int) -> np.ndarray:
    """The Hann window / 32768 in float32, in the order the FFT's first stage reads it: for
    butterfly j = 0..63 and input r < R = ceil(window / 128), samples 2 (j + 64 r) and
    2 (j + 64 r) + 1 (zero past the window)."""
    h = np.zeros(2 * FFT)
    h[:window] = np.asarray(_f32(hann64(window)), np.float64) / 32768.0
    r = -(-window // (2 * (FFT // 8)))
    return _f32(h.reshape(8, FFT // 8, 2)[:r].transpose(1, 0, 2).reshape(-1))


def _segments(fb: np.ndarray, edges: list[float], sample_rate: int, n_fft: int,
              bin_lo: int, n_bins: int) -> tuple[np.ndarray, list[float]]:
    """The bins bin_lo..n_bins-1 by segment: bin k is in segment i when edge i <= f_k < edge
    i + 1, where band i rises with weight w = (f_k - edge i) / (edge i+1 - edge i) and band
    i - 1 falls with 1 - w, and no other band weighs it. Returns the number of bins in each
    of the n_mels + 1 segments and each bin's w."""
    n_mels = fb.shape[1]
    seg_len = np.zeros(n_mels + 1, np.int64)
    rising = []
    for k in range(bin_lo, n_bins):
        f = k * sample_rate / n_fft
        seg = min(max([i for i in range(n_mels + 2) if edges[i] <= f], default=0), n_mels)
        w = (f - edges[seg]) / (edges[seg + 1] - edges[seg])
        seg_len[seg] += 1
        want = np.zeros(n_mels)
        if seg >= 1:
            want[seg - 1] = 1.0 - w
        if seg < n_mels:
            want[seg] = w
        if not 0.0 <= w <= 1.0 or np.abs(fb[k] - want).max() > 1e-12:
            raise FrontendError(f"FFT bin {k}: the mel weights are not HTK triangles")
        rising.append(w)
    return seg_len, rising


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
    if not len(nz):
        raise FrontendError("the mel filterbank has no FFT bin (fmin/fmax too close)")
    bin_lo, n_bins = int(nz.min()), int(nz.max()) + 1
    seg_len, rising = _segments(fb, _mel_edges(sample_rate, n_mels, fmin, fmax), sample_rate,
                                 n_fft, bin_lo, n_bins)
    bins = []
    for k, w in zip(range(bin_lo, n_bins), rising):
        a = 2.0 * math.pi * k / n_fft
        # x 1/4: the split computes 2 X[k] (the frontend takes 1/4 - w/4 for the falling band)
        bins += [math.cos(a), math.sin(a), 0.25 * w]
    # [block][m][DCT_BLOCK]: D[m, j] for m < half, j in the block, zero past n_mfcc
    half, blocks = (n_mels + 1) // 2, -(-n_mfcc // DCT_BLOCK)
    dct = np.zeros((half, blocks * DCT_BLOCK))
    dct[:, :n_mfcc] = np.asarray(dct64(n_mels, n_mfcc))[:half]
    dct = _f32(dct.reshape(half, blocks, DCT_BLOCK).transpose(1, 0, 2).reshape(-1))
    return Tables(window, bin_lo, n_bins, n_mels, n_mfcc, float(np.float32(log_floor)),
                  hann=_hann_table(window),
                  twiddles=_f32(_twiddles()), bins=_f32(bins),
                  seg_len=seg_len.astype(np.uint16), log_table=_log_table(), dct=dct)


def tables(spec) -> Tables:
    """The frontend tables of a ``FeaturesParams``."""
    return _tables(spec.window_samples, spec.sample_rate, spec.n_fft, spec.n_mels,
                   float(spec.fmin), float(spec.fmax), spec.n_mfcc, float(spec.log_floor))


# --- the host build ---------------------------------------------------------------------------
POINTERS = ("hann", "twiddles", "bins", "seg_len", "log_table", "dct")  # kws_frontend_cfg order


class _Cfg(ctypes.Structure):
    _fields_ = [("window", ctypes.c_int), ("bin_lo", ctypes.c_int), ("n_bins", ctypes.c_int),
                ("n_mels", ctypes.c_int), ("n_mfcc", ctypes.c_int), ("log_floor", ctypes.c_float),
                *[(n, ctypes.c_void_p) for n in POINTERS]]


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
    dll.kws_frontend_log.argtypes = [ctypes.POINTER(_Cfg), ctypes.c_float]
    dll.kws_frontend_log.restype = ctypes.c_float
    return dll


def _cfg(t: Tables) -> tuple[_Cfg, list]:
    keep = [np.ascontiguousarray(getattr(t, n)) for n in POINTERS]
    cfg = _Cfg(t.window, t.bin_lo, t.n_bins, t.n_mels, t.n_mfcc, t.log_floor,
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


def log32(values, spec) -> np.ndarray:
    """The frontend's float32 natural log (``kws_frontend_log``) of each value (x > 0,
    normal), for tests: one C call per value."""
    lib = _library()
    cfg, keep = _cfg(tables(spec))
    x = np.asarray(values, np.float32).reshape(-1)
    out = np.array([lib.kws_frontend_log(ctypes.byref(cfg), float(v)) for v in x], np.float32)
    del keep
    return out.reshape(np.shape(values))


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
             _c_floats("bins", t.bins), _c_u16("seg_len", t.seg_len),
             _c_floats("log_table", t.log_table), _c_floats("dct", t.dct),
             "const kws_frontend_cfg kws_frontend_tables = {",
             f"    .window = {t.window}, .bin_lo = {t.bin_lo}, .n_bins = {t.n_bins}, "
             f".n_mels = {t.n_mels}, .n_mfcc = {t.n_mfcc},",
             f"    .log_floor = {float(np.float32(t.log_floor))!r}f,",
             "    .hann = hann, .twiddles = twiddles, .bins = bins, .seg_len = seg_len,",
             "    .log_table = log_table, .dct = dct,",
             "};", ""]
    return "\n".join(parts)
