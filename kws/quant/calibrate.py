"""Activation range observers for calibration: min/max, percentile and exponential moving
average (EMA). Written here on purpose (quantization is the subject of this project); nothing
comes from ``torch.ao.quantization``.

An observer sees float activations batch after batch (``observe``) and then gives a range
(``range()`` -> (min, max) as 0-d float tensors) from which ``kws.quant.fake.scale_zero_point``
derives a scale and a zero point.

- ``minmax``: the smallest and largest value seen. Never clips, so one outlier stretches the
  grid for everyone.
- ``percentile``: the ``p``-th and ``(100 - p)``-th percentiles of all values seen (a random,
  seeded subsample of at most ``max_samples_per_batch`` values per batch is kept, so memory
  stays bounded). Clips rare outliers to spend the levels on the bulk.
- ``ema``: ``m <- decay * m + (1 - decay) * batch_min`` (likewise max), starting at the first
  batch's values; the observer TensorFlow's QAT uses to follow activations while weights move.
"""

from __future__ import annotations

import torch

METHODS = ("minmax", "percentile", "ema")


class Observer:
    def observe(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def seen(self) -> bool:
        raise NotImplementedError


class MinMaxObserver(Observer):
    def __init__(self):
        self.lo = self.hi = None

    def observe(self, x):
        x = x.detach()
        lo, hi = x.min().float(), x.max().float()
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)

    def range(self):
        if self.lo is None:
            raise RuntimeError("observer saw no data: run calibration batches first")
        return self.lo.clone(), self.hi.clone()

    @property
    def seen(self):
        return self.lo is not None


class PercentileObserver(Observer):
    def __init__(self, percentile: float = 99.99, max_samples_per_batch: int = 1 << 16, seed: int = 0):
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100] (got {percentile})")
        self.percentile = percentile
        self.max_samples = max_samples_per_batch
        self.gen = torch.Generator().manual_seed(seed)
        self.samples: list[torch.Tensor] = []

    def observe(self, x):
        flat = x.detach().reshape(-1).float()
        if flat.numel() > self.max_samples:
            idx = torch.randperm(flat.numel(), generator=self.gen)[: self.max_samples]
            flat = flat[idx]
        self.samples.append(flat.clone())

    def range(self):
        if not self.samples:
            raise RuntimeError("observer saw no data: run calibration batches first")
        v = torch.cat(self.samples)
        if v.numel() > 1 << 24:  # torch.quantile's limit
            v = v[torch.randperm(v.numel(), generator=self.gen)[: 1 << 24]]
        p = self.percentile / 100.0
        q = torch.quantile(v.double(), torch.tensor([1 - p, p], dtype=torch.float64))
        return q[0].float(), q[1].float()

    @property
    def seen(self):
        return bool(self.samples)


class EmaObserver(Observer):
    def __init__(self, decay: float = 0.9):
        if not 0 < decay < 1:
            raise ValueError(f"ema decay must be in (0, 1) (got {decay})")
        self.decay = decay
        self.lo = self.hi = None

    def observe(self, x):
        x = x.detach()
        lo, hi = x.min().float(), x.max().float()
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            d = self.decay
            self.lo = d * self.lo + (1 - d) * lo
            self.hi = d * self.hi + (1 - d) * hi

    def start_from(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Start the average at a known range (QAT starts from the PTQ calibration)."""
        self.lo, self.hi = lo.detach().float().clone(), hi.detach().float().clone()

    def range(self):
        if self.lo is None:
            raise RuntimeError("observer saw no data: run calibration batches first")
        return self.lo.clone(), self.hi.clone()

    @property
    def seen(self):
        return self.lo is not None


def make_observer(method: str, percentile: float = 99.99, ema_decay: float = 0.9,
                  seed: int = 0) -> Observer:
    if method == "minmax":
        return MinMaxObserver()
    if method == "percentile":
        return PercentileObserver(percentile, seed=seed)
    if method == "ema":
        return EmaObserver(ema_decay)
    raise ValueError(f"calibration method {method!r}: choose one of {', '.join(METHODS)}")
