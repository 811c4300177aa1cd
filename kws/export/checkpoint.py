"""Load a trained checkpoint (``models/model.pt``) back into its registry model.

The checkpoint is a dict written by the train stage: ``state_dict``, ``arch``, ``n_labels``,
``labels``, ``input_shape`` (frames, coeffs) and the features params. Anything missing or
inconsistent is a ``KwsError`` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class Checkpoint:
    model: torch.nn.Module
    arch: str
    labels: list[str]
    input_shape: tuple[int, int]
    features: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The train stage's checkpoint as a ``Checkpoint`` (model, labels, input shape, features
    params); loading and its errors are ``kws.training.load_checkpoint``'s."""
    from kws.training import load_checkpoint as load_model

    model, meta = load_model(path)
    labels = list(meta.get("labels") or [f"class_{i}" for i in range(int(meta["n_labels"]))])
    shape = tuple(int(s) for s in meta.get("input_shape", (49, 10)))
    return Checkpoint(model, meta["arch"], labels, shape, dict(meta.get("features") or {}), meta)
