"""The one MFCC spec (``params.yaml`` ``features:``); its arithmetic is the board's C frontend.

Training, the benchmark, ``kws predict`` and the firmware compute exactly this, for a clip of
``clip_samples`` int16 samples at ``sample_rate`` (16 kHz, 1 s)::

    frames    frame t = x[t*S : t*S + W]  for t = 0 .. n_frames-1,  n_frames = 1 + (L - W) // S
              (W = window_ms, S = stride_ms in samples: 640 and 320 -> 49 frames). No centering,
              no padding of the signal: what a streaming device sees.
    window    w[n] = 0.5 - 0.5 cos(2 pi n / W), n = 0..W-1 (periodic Hann), on x / 32768
    FFT       X_t = rfft(w * frame_t zero-padded at the end to n_fft)   (1024), bins k at
              k * sample_rate / n_fft Hz
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

``mfcc`` runs these steps in the firmware's own C code (``firmware/runtime/kws_frontend.c``,
through ``kws.frontend``): float32 in a fixed order, so features are the same bytes on every
machine and on the board (against a float64 evaluation of the formulas, on 300 real clips:
median |error| 5e-7, 99th percentile 8e-6, largest 8e-5).
Audio given as float is first rounded to int16 (``kws.frontend.to_pcm16``), as a microphone
delivers it. ``power_spectrogram`` and ``log_mel`` are plain torch evaluations of the first
steps, for the figures (``kws views``); nothing trains on them.

Why not torchaudio: its x86_64 wheel links CUDA libraries and pins another torch than the CPU
torch this project pins (DESIGN.md section 13).
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
    checkpoint's), or None (the repository's params.yaml). Unknown keys are ignored."""
    if spec is None:
        from kws.config import defaults

        return defaults().features
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


def mel_filterbank(spec: Spec | None = None) -> np.ndarray:
    """HTK triangular mel filterbank, float32 ``[n_fft // 2 + 1, n_mels]`` (formula above;
    the frontend's own table, ``kws.frontend.mel_filterbank64``)."""
    from kws.frontend import mel_filterbank64

    s = as_spec(spec)
    return mel_filterbank64(s.sample_rate, s.n_fft, s.n_mels, float(s.fmin),
                            float(s.fmax)).astype(np.float32)


def dct_matrix(spec: Spec | None = None) -> np.ndarray:
    """Orthonormal DCT-II, float32 ``[n_mels, n_mfcc]``: ``mfcc = log_mel @ D``."""
    from kws.frontend import dct64

    s = as_spec(spec)
    return dct64(s.n_mels, s.n_mfcc).astype(np.float32)


def hann_window(spec: Spec | None = None) -> np.ndarray:
    """Periodic Hann window of ``window_samples``, float32."""
    from kws.frontend import hann64

    return hann64(as_spec(spec).window_samples).astype(np.float32)


def _tensors(s: FeaturesParams) -> dict:
    return _tensors_of(s.window_samples, s.sample_rate, s.n_fft, s.n_mels, float(s.fmin),
                       float(s.fmax))


@lru_cache(maxsize=32)
def _tensors_of(window: int, sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                fmax: float) -> dict:
    from kws.frontend import hann64, mel_filterbank64

    return {"win": torch.from_numpy(hann64(window).astype(np.float32)),
            "fb": torch.from_numpy(mel_filterbank64(sample_rate, n_fft, n_mels, fmin,
                                                    fmax).astype(np.float32))}


def _as_batch(audio, s: FeaturesParams) -> torch.Tensor:
    x = audio if isinstance(audio, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(audio, dtype=np.float32))
    x = x.to(torch.float32).cpu()
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"audio must be [B, samples] or [samples], got shape {tuple(x.shape)}")
    if x.shape[-1] < s.window_samples:
        raise ValueError(f"audio has {x.shape[-1]} samples, fewer than one window "
                         f"({s.window_samples})")
    return x


def power_spectrogram(audio, spec: Spec | None = None) -> torch.Tensor:
    """|rfft(hann * frame, n_fft)|^2, float32 ``[B, n_frames, n_fft // 2 + 1]`` (all bins;
    torch, for figures)."""
    s = as_spec(spec)
    x = _as_batch(audio, s)
    t = _tensors(s)
    with torch.no_grad():
        frames = x.unfold(-1, s.window_samples, s.stride_samples) * t["win"]  # [B, F, W]
        spec_c = torch.fft.rfft(frames, n=s.n_fft, dim=-1)
        return spec_c.real.square() + spec_c.imag.square()


def log_mel(audio, spec: Spec | None = None) -> torch.Tensor:
    """ln(mel energies + log_floor), float32 ``[B, n_frames, n_mels]`` (torch, for figures)."""
    s = as_spec(spec)
    with torch.no_grad():
        return (power_spectrogram(audio, s) @ _tensors(s)["fb"]).add_(
            s.log_floor).log_()


def mfcc(audio, spec: Spec | None = None) -> torch.Tensor:
    """MFCC of a batch, float32 ``[B, n_frames, n_mfcc]``, by the firmware's C frontend.

    ``audio``: int16 samples, or float (torch.Tensor or np.ndarray, full scale 1.0, rounded to
    int16 first), ``[B, samples]`` or ``[samples]`` (a single clip gives B = 1). Any length of
    at least one window works (then ``n_frames = 1 + (L - W) // S``); the spec's clips give 49
    frames. The result does not depend on batching or threads.
    """
    from kws.frontend import mfcc_pcm16, to_pcm16

    s = as_spec(spec)
    a = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"audio must be [B, samples] or [samples], got shape {list(a.shape)}")
    if a.shape[-1] < s.window_samples:
        raise ValueError(f"audio has {a.shape[-1]} samples, fewer than one window "
                         f"({s.window_samples})")
    return torch.from_numpy(mfcc_pcm16(to_pcm16(a), s))


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
