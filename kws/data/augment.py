"""Training augmentation, as TF's speech_commands ``input_data.get_data`` does it.

For one clip of ``n`` samples:

1. time shift: ``shift`` uniform in ``[-time_shift, +time_shift]`` samples
   (``time_shift = time_shift_ms * rate / 1000``); ``out[t] = x[t - shift]``, zero fill
   (a positive shift delays the word).
2. background noise: with probability ``background_probability``, a random ``n``-sample segment
   of a random ``_background_noise_`` file, scaled by a volume uniform in
   ``[0, background_volume]``, is added; otherwise nothing.
3. clip to ``[-1, 1]``.

Strong augmentation (``features.augment`` keys ``speed``, ``pitch_*``, ``reverb_probability``,
``rt60_s``, ``eq_probability``, ``snr_db``, ``gain_db``; all off unless set), applied before the
steps above on the clean clip, in this order:

a. speed perturbation: resampled by a factor uniform in ``speed`` (tempo and pitch together,
   as Kaldi's 3-way speed perturbation), then padded/trimmed back to ``n`` around the spoken
   part (its centre stays put, moved only to keep it inside the clip).
b. pitch shift: with ``pitch_probability``, ``uniform(-pitch_semitones, +pitch_semitones)``
   semitones at constant tempo (``librosa.effects.pitch_shift``).
c. room reverb: with ``reverb_probability``, convolution with a generated room impulse
   response (``room_ir``: a direct path and an exponentially decaying noise tail, RT60
   uniform in ``rt60_s``, direct-to-reverberant ratio -3..+12 dB, the tail darker as it decays).
d. microphone / channel EQ: with ``eq_probability``, a high-pass (60-400 Hz), a low-pass
   (2.5-7.5 kHz: band-limited channels) and one resonance (+-6 dB around 0.5-4 kHz).
Then time shift; then background noise, at an SNR uniform in ``snr_db`` against the word's
active-speech RMS when ``snr_db`` is set (else by volume as in step 2); then a gain uniform in
``gain_db`` dB; then clipping.

Everything random comes from the ``numpy.random.Generator`` passed in: the same generator
state gives the same output. Callers make one generator per clip (``clip_rng``) so the result
does not depend on batching or thread order.

Same bytes on any machine: every step computes in float64 with back ends that do not pick
kernels by CPU (scipy's polyphase and FFT resampling, pocketfft, IIR loops; no soxr), and the
caller rounds the result to int16 (``kws.frontend.to_pcm16``). Float64 results of two CPUs
differ, if at all, in the last bits (~1e-16), far below the half-step of int16 rounding, so
the int16 audio and the features computed from it are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


def clip_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one (seed, split, copy, clip, ...) tuple: independent streams per clip."""
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])


def time_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """``out[t] = x[t - shift]`` with zeros where ``t - shift`` falls outside the clip."""
    out = np.zeros_like(x)
    n = len(x)
    if shift >= 0:
        if shift < n:
            out[shift:] = x[:n - shift]
    elif -shift < n:
        out[:n + shift] = x[-shift:]
    return out


def noise_segment(noises: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-sample segment of a random noise recording (each at least ``n`` long)."""
    noise = noises[int(rng.integers(len(noises)))]
    start = int(rng.integers(0, len(noise) - n + 1))
    return noise[start:start + n]


def speed_perturb(x: np.ndarray, factor: float, rate: int = 16000) -> np.ndarray:
    """``x`` played ``factor`` times faster (pitch up by the same factor), same length, the
    spoken part's centre where it was in ``x`` (moved only as far as keeps the spoken part
    inside the clip): a slowed word is not cut at the clip's end, a sped-up one does not drift
    to the start."""
    from math import gcd

    from scipy.signal import resample_poly

    from kws.audio import pad_or_trim

    if factor == 1.0:
        return x
    out_rate = int(round(rate / factor / 50.0)) * 50
    g = gcd(rate, out_rate)
    y = resample_poly(np.asarray(x, np.float64), out_rate // g, rate // g)
    (a0, a1), (b0, b1) = active_span(x), active_span(y)
    offset = int(round((a0 + a1) / 2 - (b0 + b1) / 2))
    offset = max(min(offset, len(x) - b1), -b0)
    return pad_or_trim(y, len(x), offset)


def pitch_shift(x: np.ndarray, semitones: float, rate: int = 16000) -> np.ndarray:
    """``x`` ``semitones`` higher at the same tempo (librosa's phase vocoder, then FFT
    resampling: soxr would pick SIMD kernels by CPU)."""
    import librosa

    if semitones == 0:
        return x
    return librosa.effects.pitch_shift(np.asarray(x, np.float64), sr=rate, n_steps=semitones,
                                       n_fft=512, res_type="fft")


def room_ir(rng: np.random.Generator, rt60: float, rate: int = 16000) -> np.ndarray:
    """A generated room impulse response: direct path, 2-12 ms gap, then noise decaying 60 dB
    in ``rt60`` seconds, low-passed more as it goes (air and walls absorb highs), with a
    direct-to-reverberant energy ratio uniform in -3..+12 dB."""
    from scipy.signal import butter, sosfilt

    n = max(16, int(min(rt60 * 1.2, 1.0) * rate))
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)
    dark = sosfilt(butter(1, float(rng.uniform(1500, 4000)), "low", fs=rate, output="sos"), tail)
    mix = np.clip(t / max(rt60, 1e-3), 0, 1)
    tail = (1 - mix) * tail + mix * dark
    gap = int(rng.uniform(0.002, 0.012) * rate)
    tail[:gap] = 0
    tail /= np.sqrt(np.sum(tail ** 2)) + 1e-12
    drr_db = rng.uniform(-3.0, 12.0)
    ir = tail
    ir[0] = 10 ** (drr_db / 20)
    return ir


def reverb(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``ir`` (same length, same peak level)."""
    from scipy.signal import fftconvolve

    y = fftconvolve(x, ir)[: len(x)]
    peak = np.max(np.abs(x))
    return y * (peak / (np.max(np.abs(y)) + 1e-12))


def mic_eq(x: np.ndarray, highpass: float, lowpass: float, res_hz: float, res_db: float,
           rate: int = 16000) -> np.ndarray:
    """A channel: 2nd-order high-pass at ``highpass``, 4th-order low-pass at ``lowpass`` (Hz;
    none at or above Nyquist) and a resonance of ``res_db`` at ``res_hz`` (Q 2)."""
    from scipy.signal import butter, iirpeak, lfilter, sosfilt

    y = sosfilt(butter(2, highpass, "high", fs=rate, output="sos"), x)
    if lowpass < rate / 2:
        y = sosfilt(butter(4, lowpass, "low", fs=rate, output="sos"), y)
    b, a = iirpeak(res_hz, 2.0, fs=rate)
    return y + (10 ** (res_db / 20) - 1) * lfilter(b, a, y)


def _loud_frames(x: np.ndarray, frame: int, floor_db: float):
    """Energies of the whole 10 ms frames and which are within ``floor_db`` of the loudest;
    None when there is no whole frame or no energy."""
    n = len(x) // frame
    if n == 0:
        return None
    e = np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    if e.max() <= 0:
        return None
    return e, e >= e.max() * 10 ** (floor_db / 10)


def active_rms(x: np.ndarray, frame: int = 160, floor_db: float = -30.0) -> float:
    """RMS over the 10 ms frames within ``floor_db`` of the loudest (the spoken part)."""
    loud = _loud_frames(x, frame, floor_db)
    if loud is None:
        short = 0 < len(x) < frame            # no whole frame: the plain RMS; silent: 0
        return float(np.sqrt(np.mean(np.square(x)))) if short else 0.0
    e, on = loud
    return float(np.sqrt(e[on].mean()))


def active_span(x: np.ndarray, frame: int = 160, floor_db: float = -30.0) -> tuple[int, int]:
    """Samples ``[start, end)`` from the first to the last 10 ms frame within ``floor_db`` of
    the loudest (the spoken part, as ``active_rms`` counts it); the whole clip when silent."""
    loud = _loud_frames(x, frame, floor_db)
    if loud is None:
        return 0, len(x)
    on = np.flatnonzero(loud[1])
    return int(on[0]) * frame, int(on[-1] + 1) * frame


@dataclass(frozen=True)
class Strong:
    """The strong-augmentation settings (see the module docstring); from ``features.augment``."""

    speed: tuple = (1.0, 1.0)
    pitch_semitones: float = 0.0
    pitch_probability: float = 0.0
    reverb_probability: float = 0.0
    rt60_s: tuple = (0.15, 0.8)
    eq_probability: float = 0.0
    snr_db: Optional[tuple] = None
    gain_db: tuple = (0.0, 0.0)

    @classmethod
    def from_params(cls, aug) -> Optional["Strong"]:
        s = cls(tuple(aug.speed), aug.pitch_semitones, aug.pitch_probability,
                aug.reverb_probability, tuple(aug.rt60_s), aug.eq_probability,
                None if aug.snr_db is None else tuple(aug.snr_db), tuple(aug.gain_db))
        return None if s == cls() else s

    def draw(self, rng: np.random.Generator) -> dict:
        """Every random number of one clip, in a fixed order whatever is used."""
        return {"speed": rng.uniform(*self.speed),
                "pitch": rng.uniform() < self.pitch_probability,
                "semitones": rng.uniform(-self.pitch_semitones, self.pitch_semitones),
                "reverb": rng.uniform() < self.reverb_probability,
                "rt60": rng.uniform(*self.rt60_s),
                "ir_seed": int(rng.integers(2 ** 32)),
                "eq": rng.uniform() < self.eq_probability,
                "highpass": rng.uniform(60, 400), "lowpass": rng.uniform(2500, 7500),
                "res_hz": rng.uniform(500, 4000), "res_db": rng.uniform(-6, 6),
                "snr": rng.uniform(*self.snr_db) if self.snr_db else None,
                "gain": rng.uniform(*self.gain_db)}

    def voice(self, x: np.ndarray, d: dict, rate: int) -> np.ndarray:
        """Steps a-d on the clean clip."""
        x = speed_perturb(x, d["speed"], rate)
        if d["pitch"] and self.pitch_semitones > 0:
            x = pitch_shift(x, d["semitones"], rate)
        if d["reverb"]:
            x = reverb(x, room_ir(np.random.default_rng(d["ir_seed"]), d["rt60"], rate))
        if d["eq"]:
            x = mic_eq(x, d["highpass"], d["lowpass"], d["res_hz"], d["res_db"], rate)
        return np.asarray(x, np.float64)


@dataclass(frozen=True)
class Augmenter:
    """``time_shift_ms``, ``background_probability``, ``background_volume`` as in
    ``features.augment``; ``noises``: the background recordings (float32, at the clip rate)."""

    time_shift_ms: float
    background_probability: float
    background_volume: float
    noises: tuple = ()
    sample_rate: int = 16000
    strong: Optional[Strong] = None

    @classmethod
    def from_params(cls, aug, noises: Sequence[np.ndarray], sample_rate: int = 16000) -> "Augmenter":
        return cls(aug.time_shift_ms, aug.background_probability, aug.background_volume,
                   tuple(noises), sample_rate, Strong.from_params(aug))

    @property
    def max_shift(self) -> int:
        return int(round(self.time_shift_ms * self.sample_rate / 1000))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmented clip, float64 (round it to int16 with ``kws.frontend.to_pcm16``)."""
        x = np.asarray(x, np.float64)
        # Draw every random number in a fixed order whatever the outcome, so one clip's
        # stream does not depend on whether noise was used.
        shift = int(rng.integers(-self.max_shift, self.max_shift + 1)) if self.max_shift else 0
        use_noise = rng.uniform() < self.background_probability
        volume = rng.uniform(0.0, self.background_volume)
        if self.strong is None:
            out = time_shift(x, shift)
            if use_noise and self.noises and volume > 0:
                out = out + volume * noise_segment(self.noises, len(x), rng)
            return np.clip(out, -1.0, 1.0)
        d = self.strong.draw(rng)
        out = time_shift(self.strong.voice(x, d, self.sample_rate), shift)
        if use_noise and self.noises:
            seg = noise_segment(self.noises, len(x), rng)
            if d["snr"] is not None:
                s_rms, n_rms = active_rms(out), float(np.sqrt(np.mean(seg ** 2)))
                if s_rms > 0 and n_rms > 0:
                    out = out + seg * (s_rms / n_rms / 10 ** (d["snr"] / 20))
            elif volume > 0:
                out = out + volume * seg
        out = out * 10 ** (d["gain"] / 20)
        return np.clip(out, -1.0, 1.0)


def silence_clip(noises: Sequence[np.ndarray], n: int, rng: np.random.Generator,
                 scale: float = 1.0) -> np.ndarray:
    """A ``_silence_`` example: zeros plus a random noise segment at volume
    ``uniform(0, 1) * scale`` (TF: ``uniform(0, 1)``), clipped; all zeros without noise files."""
    volume = rng.uniform(0.0, 1.0) * scale
    if not noises:
        return np.zeros(n, np.float64)
    return np.clip(volume * noise_segment(noises, n, rng), -1.0, 1.0)


def usable_noises(noises: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """The recordings at least one clip long (shorter ones cannot give a segment)."""
    return [np.asarray(z, np.float32) for z in noises if len(z) >= n]


__all__ = ["Augmenter", "Strong", "speed_perturb", "pitch_shift", "room_ir", "reverb", "mic_eq",
           "active_rms", "active_span", "clip_rng", "time_shift", "noise_segment", "silence_clip",
           "usable_noises"]
