"""Training augmentation, as TF's speech_commands ``input_data.get_data`` does it.

For one clip of ``n`` samples:

1. time shift: ``shift`` uniform in ``[-time_shift, +time_shift]`` samples
   (``time_shift = time_shift_ms * rate / 1000``); ``out[t] = x[t - shift]``, zero fill
   (a positive shift delays the word).
2. background noise: with probability ``background_probability``, a random ``n``-sample segment
   of a random ``_background_noise_`` file, scaled by a volume uniform in
   ``[0, background_volume]``, is added; otherwise nothing.
3. clip to ``[-1, 1]``.

Everything random comes from the ``numpy.random.Generator`` passed in: the same generator
state gives the same output. Callers make one generator per clip (``clip_rng``) so the result
does not depend on batching or thread order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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


@dataclass(frozen=True)
class Augmenter:
    """``time_shift_ms``, ``background_probability``, ``background_volume`` as in
    ``features.augment``; ``noises``: the background recordings (float32, at the clip rate)."""

    time_shift_ms: float
    background_probability: float
    background_volume: float
    noises: tuple = ()
    sample_rate: int = 16000

    @classmethod
    def from_params(cls, aug, noises: Sequence[np.ndarray], sample_rate: int = 16000) -> "Augmenter":
        return cls(aug.time_shift_ms, aug.background_probability, aug.background_volume,
                   tuple(noises), sample_rate)

    @property
    def max_shift(self) -> int:
        return int(round(self.time_shift_ms * self.sample_rate / 1000))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x, np.float32)
        # Draw every random number in a fixed order whatever the outcome, so one clip's
        # stream does not depend on whether noise was used.
        shift = int(rng.integers(-self.max_shift, self.max_shift + 1)) if self.max_shift else 0
        use_noise = rng.uniform() < self.background_probability
        volume = rng.uniform(0.0, self.background_volume)
        out = time_shift(x, shift)
        if use_noise and self.noises and volume > 0:
            out = out + volume * noise_segment(self.noises, len(x), rng)
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def silence_clip(noises: Sequence[np.ndarray], n: int, rng: np.random.Generator,
                 scale: float = 1.0) -> np.ndarray:
    """A ``_silence_`` example: zeros plus a random noise segment at volume
    ``uniform(0, 1) * scale`` (TF: ``uniform(0, 1)``), clipped; all zeros without noise files."""
    volume = rng.uniform(0.0, 1.0) * scale
    if not noises:
        return np.zeros(n, np.float32)
    return np.clip(volume * noise_segment(noises, n, rng), -1.0, 1.0).astype(np.float32)


def usable_noises(noises: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """The recordings at least one clip long (shorter ones cannot give a segment)."""
    return [np.asarray(z, np.float32) for z in noises if len(z) >= n]


__all__ = ["Augmenter", "clip_rng", "time_shift", "noise_segment", "silence_clip",
           "usable_noises"]
