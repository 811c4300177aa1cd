"""The trained model on disk (``models/model.pt``): one writer, one reader.

The checkpoint holds everything needed to rebuild the model without params.yaml: state_dict,
arch, n_labels, labels, input_shape (frames, coeffs), the features, model and train params.
Anything missing or inconsistent is a ``KwsError`` naming the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from kws.errors import KwsError
from kws.models import build_model, count_params


@dataclass
class Checkpoint:
    model: nn.Module              # in eval mode, on the CPU
    arch: str
    labels: list[str]
    input_shape: tuple[int, int]
    features: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)   # everything but the weights


def save(path: str | Path, model: nn.Module, *, arch: str, labels: list[str],
         input_shape: tuple[int, int], features: dict, model_params: dict,
         train_params: Optional[dict] = None, extra: Optional[dict] = None) -> None:
    """Atomically write the checkpoint. Serialized in memory first: ``torch.save`` names the
    zip's root folder after the file it writes, and the temporary file has a random name, so
    the same weights would give different bytes (and DVC hashes)."""
    from kws.stage import atomic_path

    ck = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "arch": arch, "n_labels": len(labels), "labels": list(labels),
        "input_shape": [int(s) for s in input_shape], "features": dict(features),
        "model_params": dict(model_params), "train_params": dict(train_params or {}),
        "params_count": count_params(model), "torch_version": torch.__version__,
        **(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(ck, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def load(path: str | Path) -> Checkpoint:
    """The checkpoint with its registry model rebuilt (eval mode, CPU)."""
    path = Path(path)
    if not path.is_file():
        raise KwsError(f"{path} not found: train a model first (dvc repro train)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  torch raises many kinds for a bad file
        raise KwsError(f"{path}: not a readable torch checkpoint ({type(err).__name__})") from None
    if not isinstance(ck, dict) or "state_dict" not in ck or "arch" not in ck:
        raise KwsError(f"{path}: not a checkpoint of the train stage (needs state_dict and arch)")
    labels = list(ck.get("labels") or [])
    n_labels = int(ck.get("n_labels") or len(labels))
    labels = labels or [f"class_{i}" for i in range(n_labels)]
    shape = tuple(int(s) for s in ck.get("input_shape", (49, 10)))
    dropout = float((ck.get("model_params") or {}).get("dropout", 0.0))
    model = build_model(ck["arch"], n_labels, shape, dropout)
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as err:
        raise KwsError(f"{path}: weights do not fit {ck['arch']} with {n_labels} labels and "
                       f"input {list(shape)}: {str(err).splitlines()[0]}") from None
    meta = {k: v for k, v in ck.items() if k != "state_dict"}
    return Checkpoint(model.eval(), ck["arch"], labels, shape, dict(ck.get("features") or {}),
                      meta)
