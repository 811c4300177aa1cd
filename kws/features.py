"""The one MFCC spec (``params.yaml`` ``features:``) and its batched torch implementation.

Training, the benchmark, ``kws predict`` and the firmware's C code all compute exactly this,
step by step, for a clip of ``clip_samples`` samples at ``sample_rate`` (16 kHz, 1 s)::

    frames    frame t = x[t*S : t*S + W]  for t = 0 .. n_frames-1,  n_frames = 1 + (L - W) // S
              (W = window_ms, S = stride_ms in samples: 640 and 320 -> 49 frames). No centering,
              no padding of the signal: what a streaming device sees.
    window    w[n] = 0.5 - 0.5 cos(2 pi n / W), n = 0..W-1 (periodic Hann)
    FFT       X_t = rfft(w * frame_t zero-padded at the end to n_fft)   (1024: a power of two
              for the MCU's FFT), bins k = 0 .. n_fft/2 at k * sample_rate / n_fft Hz
    power     P_t[k] = |X_t[k]|^2                                   (no 1/n_fft scaling)
    mel       M_t[m] = sum_k P_t[k] * H[k, m]     H = mel_filterbank(spec)  [n_fft/2+1, n_mels]
    log       L_t[m] = ln(M_t[m] + log_floor)                       (natural log)
    DCT       C_t[j] = sum_m L_t[m] * D[m, j]     D = dct_matrix(spec)      [n_mels, n_mfcc]

The filterbank H (``mel_filterbank``) is HTK's: ``mel(f) = 2595 log10(1 + f / 700)``;
``n_mels + 2`` edge frequencies ``f_0 .. f_{n_mels+1}`` equally spaced in mel from
``mel(fmin)`` to ``mel(fmax)``; band m is the triangle rising from ``f_m`` to 1 at ``f_{m+1}``
and falling to 0 at ``f_{m+2}``::

    H[k, m] = max(0, min((f_k - f_m) / (f_{m+1} - f_m), (f_{m+2} - f_k) / (f_{m+2} - f_{m+1})))

with ``f_k = k * sample_rate / n_fft``, peak 1, no area normalisation (librosa's
``filters.mel(htk=True, norm=None)``). D (``dct_matrix``) is the orthonormal DCT-II
(scipy's ``dct(type=2, norm='ortho')``), first n_mfcc columns::

    D[m, j] = sqrt(2 / n_mels) * cos(pi / n_mels * (m + 1/2) * j),   column j = 0 times 1/sqrt(2)

Why not torchaudio: its x86_64 wheel links CUDA libraries and pins another torch than the CPU
torch this project pins (DESIGN.md section 13), so ``import torchaudio`` fails here unless
installed ``--no-deps`` with its extension kept from loading. This module needs only
``torch.fft.rfft`` and two small matrices, which are also exactly what the firmware codegen
emits as C tables: writing them here keeps one definition for Python and C.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Union

import numpy as np
import torch

from kws.config import FeaturesParams
from kws.errors import ParamsError

Spec = Union[FeaturesParams, dict]


def as_spec(spec: Spec | None) -> FeaturesParams:
    """A ``FeaturesParams`` from itself, a dict (e.g. ``labels.json``'s ``features``, a
    checkpoint's), or None (the defaults). Unknown keys are ignored."""
    if spec is None:
        return FeaturesParams()
    if isinstance(spec, FeaturesParams):
        return spec
    if isinstance(spec, dict):
        fields = FeaturesParams.model_fields
        try:
            return FeaturesParams(**{k: v for k, v in spec.items() if k in fields})
        except Exception as err:  # pydantic ValidationError: one line for the user
            raise ParamsError(f"features spec {spec!r} is not valid: {err}".splitlines()[0]) from None
    raise TypeError(f"expected FeaturesParams or dict, got {type(spec).__name__}")


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _fb_key(s: FeaturesParams) -> tuple:
    return (s.sample_rate, s.n_fft, s.n_mels, float(s.fmin), float(s.fmax))


@lru_cache(maxsize=16)
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * sample_rate / n_fft
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lo[None, :]) / (mid - lo)[None, :]
    falling = (hi[None, :] - freqs[:, None]) / (hi - mid)[None, :]
    fb = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    fb.setflags(write=False)
    return fb


def mel_filterbank(spec: Spec | None = None) -> np.ndarray:
    """HTK triangular mel filterbank, float32 ``[n_fft // 2 + 1, n_mels]`` (formula above)."""
    s = as_spec(spec)
    return _mel_filterbank(*_fb_key(s)).copy()


@lru_cache(maxsize=16)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    m = np.arange(n_mels, dtype=np.float64)[:, None]
    j = np.arange(n_mfcc, dtype=np.float64)[None, :]
    d = np.sqrt(2.0 / n_mels) * np.cos(np.pi / n_mels * (m + 0.5) * j)
    d[:, 0] *= 1.0 / np.sqrt(2.0)
    d = d.astype(np.float32)
    d.setflags(write=False)
    return d


def dct_matrix(spec: Spec | None = None) -> np.ndarray:
    """Orthonormal DCT-II, float32 ``[n_mels, n_mfcc]``: ``mfcc = log_mel @ D``."""
    s = as_spec(spec)
    return _dct_matrix(s.n_mels, s.n_mfcc).copy()


def hann_window(spec: Spec | None = None) -> np.ndarray:
    """Periodic Hann window of ``window_samples``, float32."""
    s = as_spec(spec)
    n = np.arange(s.window_samples, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / s.window_samples)).astype(np.float32)


# Clips per internal chunk on the CPU: the [8 x 49, 1024] float32 frames (1.6 MB) and their
# spectrum stay in cache; whole batches of 512 spill it and ran ~5x slower (2 threads, here).
CPU_CHUNK = 8


@lru_cache(maxsize=32)
def _tensors(key: tuple, device: str) -> dict:
    s = FeaturesParams(**dict(key))
    fb = mel_filterbank(s)
    # Bins above the last non-zero filterbank row (fmax) never count: skip them in the matmul.
    k = int(np.nonzero(fb.any(axis=1))[0].max()) + 1
    # Rows interleaved (re, im, re, im, ...) so the squares of view_as_real(X) go straight in:
    # |X|^2 @ H == [re^2, im^2, ...] @ H2 with H2 = each row of H twice.
    fb2 = np.repeat(fb[:k], 2, axis=0)
    return {"win": torch.from_numpy(hann_window(s)).to(device),
            "fb": torch.from_numpy(fb).to(device),
            "fb2": torch.from_numpy(np.ascontiguousarray(fb2)).to(device),
            "k": k,
            "dct": torch.from_numpy(dct_matrix(s)).to(device)}


def _as_batch(audio, s: FeaturesParams) -> torch.Tensor:
    x = audio if isinstance(audio, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(audio, dtype=np.float32))
    x = x.to(torch.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"audio must be [B, samples] or [samples], got shape {tuple(x.shape)}")
    if x.shape[-1] < s.window_samples:
        raise ValueError(f"audio has {x.shape[-1]} samples, fewer than one window "
                         f"({s.window_samples})")
    return x


def _spec_key(s: FeaturesParams) -> tuple:
    return tuple(sorted((k, v) for k, v in s.model_dump().items() if k != "augment"))


def _n_frames(n_samples: int, s: FeaturesParams) -> int:
    return 1 + (n_samples - s.window_samples) // s.stride_samples


def power_spectrogram(audio, spec: Spec | None = None) -> torch.Tensor:
    """|rfft(hann * frame, n_fft)|^2, float32 ``[B, n_frames, n_fft // 2 + 1]`` (all bins)."""
    s = as_spec(spec)
    x = _as_batch(audio, s)
    t = _tensors(_spec_key(s), str(x.device))
    with torch.no_grad():
        frames = x.unfold(-1, s.window_samples, s.stride_samples) * t["win"]  # [B, F, W]
        spec_c = torch.fft.rfft(frames, n=s.n_fft, dim=-1)
        return spec_c.real.square() + spec_c.imag.square()


def _mel_chunk(x: torch.Tensor, s: FeaturesParams, t: dict, buf: torch.Tensor) -> torch.Tensor:
    """Mel energies ``[b, F, n_mels]`` of a few clips: frames windowed straight into the
    n_fft buffer (its tail stays zero: the zero padding), one rfft, squares of (re, im) times
    the interleaved filterbank."""
    b, f, w = x.shape[0], _n_frames(x.shape[-1], s), s.window_samples
    buf = buf[:b * f]
    torch.mul(x.unfold(-1, w, s.stride_samples).reshape(b * f, w), t["win"], out=buf[:, :w])
    spec_ri = torch.view_as_real(torch.fft.rfft(buf, dim=-1)).reshape(b * f, -1)
    spec_ri.square_()
    return (spec_ri[:, :2 * t["k"]] @ t["fb2"]).reshape(b, f, -1)


def _apply(audio, s: FeaturesParams, out_dim: int, fn) -> torch.Tensor:
    """``fn(log_mel_chunk, tensors)`` over the batch in cache-sized chunks (whole batch on GPU)."""
    x = _as_batch(audio, s)
    t = _tensors(_spec_key(s), str(x.device))
    n, f = x.shape[0], _n_frames(x.shape[-1], s)
    chunk = CPU_CHUNK if x.device.type == "cpu" else max(1, n)
    with torch.no_grad():
        buf = torch.zeros(min(chunk, n) * f, s.n_fft, dtype=torch.float32, device=x.device)
        out = torch.empty(n, f, out_dim, dtype=torch.float32, device=x.device)
        for i in range(0, n, chunk):
            lm = _mel_chunk(x[i:i + chunk], s, t, buf).add_(s.log_floor).log_()
            out[i:i + chunk] = fn(lm, t)
    return out


def log_mel(audio, spec: Spec | None = None) -> torch.Tensor:
    """ln(mel energies + log_floor), float32 ``[B, n_frames, n_mels]``."""
    s = as_spec(spec)
    return _apply(audio, s, s.n_mels, lambda lm, t: lm)


def mfcc(audio, spec: Spec | None = None) -> torch.Tensor:
    """MFCC of a batch, float32 ``[B, n_frames, n_mfcc]``.

    ``audio``: torch.Tensor or np.ndarray, float32 ``[B, clip_samples]`` or ``[clip_samples]``
    (a single clip gives B = 1). Any length of at least one window works (then
    ``n_frames = 1 + (L - W) // S``); the spec's clips give 49 frames. Runs on the tensor's
    device, with torch's intra-op threads (set them with ``torch.set_num_threads``); on the
    CPU it works through the batch ``CPU_CHUNK`` clips at a time, which keeps the frames in
    cache (the result is the same for any batching).
    """
    s = as_spec(spec)
    return _apply(audio, s, s.n_mfcc, lambda lm, t: lm @ t["dct"])


def fit_to_clip(x: np.ndarray, spec: Spec | None = None) -> np.ndarray:
    """Zero-pad at the end (as TF's input_data) or trim to ``clip_samples``."""
    from kws.audio import pad_or_trim

    return pad_or_trim(np.asarray(x, np.float32), as_spec(spec).clip_samples)


def mfcc_of_wav(path: str | Path, spec: Spec | None = None) -> np.ndarray:
    """MFCC ``[n_frames, n_mfcc]`` of a mono wav at the spec's rate (``kws.audio.read_wav``
    errors otherwise), zero-padded at the end or trimmed to the clip length."""
    from kws.audio import read_wav

    s = as_spec(spec)
    x = read_wav(path, s.sample_rate)
    return mfcc(fit_to_clip(x, s), s)[0].numpy()


__all__ = ["mel_filterbank", "dct_matrix", "mfcc", "mfcc_of_wav", "log_mel", "power_spectrogram",
           "hann_window", "hz_to_mel", "mel_to_hz", "as_spec", "fit_to_clip"]
