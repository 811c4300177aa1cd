"""What the ptq, qat and minifloat sweeps share beyond ``kws.sweep`` (inputs, point cache):
the fixed calibration subset and batching."""

from __future__ import annotations

import torch

from kws.data.feature_files import Split


def calibration_subset(train: Split, samples: int, seed: int) -> torch.Tensor:
    """A fixed, seeded subset of the training features (the same for every point)."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=gen)[: min(samples, len(train))]
    return train.x[idx.sort().values]


def batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
