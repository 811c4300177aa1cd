"""The featurize stage's output on disk (``data/features``): one writer, one reader.

    <dir>/{train,validation,test}.npz
        x     float32 [N, n_frames, n_mfcc]   MFCC (kws.features)
        y     int64   [N]                     label index into labels.json's labels
        path  str     [N]                     the wav relative to the data folder, or "_silence_"
        copy  int8    [N]                     0: the clean example, k >= 1: augmented copy k
    <dir>/labels.json   {"labels": [...], "features": <the features params as a dict>}

Every stage that reads features (train, convert, ptq/qat/minifloat, prune, firmware, the
benchmarks, ``kws predict``) goes through ``load_features`` or ``load_split``, which check the
files and say in one line what to rerun.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from kws.errors import DataError, KwsError

SPLITS = ("train", "validation", "test")


@dataclass
class Split:
    x: torch.Tensor  # [N, 1, frames, coeffs] float32
    y: torch.Tensor  # [N] int64
    paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Features:
    splits: dict[str, Split]
    labels: list[str]
    features: dict  # the features params the arrays were made with (labels.json)

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.splits["train"].x.shape[-2:])


def _not_found(p: Path) -> DataError:
    return DataError(f"{p} not found: run the featurize stage first (dvc repro featurize)")


def load_split(path: str | Path, n_labels: Optional[int] = None) -> Split:
    """One ``<split>.npz``, checked: shapes, integer labels in range, finite features."""
    path = Path(path)
    if not path.is_file():
        raise _not_found(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z or "y" not in z:
                raise DataError(f"{path}: expected arrays x and y, found {sorted(z.files)}")
            x, y = z["x"], z["y"]
            paths = [str(p) for p in z["path"]] if "path" in z else []
    except KwsError:
        raise
    except Exception as err:  # noqa: BLE001  numpy/zipfile raise many kinds for a bad file
        raise DataError(f"{path}: not a readable .npz ({type(err).__name__}: {err})") from None
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{path}: x must be [N, frames, coeffs] and y [N], got x{list(x.shape)} "
                        f"y{list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y must hold integer labels, got {y.dtype}")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or inf values; re-run the featurize stage")
    if n_labels is not None and len(y) and (y.min() < 0 or y.max() >= n_labels):
        raise DataError(f"{path}: labels outside 0..{n_labels - 1} (labels.json has {n_labels})")
    return Split(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(1),
                 torch.from_numpy(y.astype(np.int64)), paths)


def load_features(features_dir: str | Path, expect_labels: Optional[list[str]] = None,
                  expect_shape: Optional[tuple[int, int]] = None,
                  splits: tuple[str, ...] = SPLITS) -> Features:
    """The splits and labels; ``expect_*`` (from params) must agree with what is on disk."""
    d = Path(features_dir)
    if not d.is_dir():
        raise _not_found(d)
    lj = d / "labels.json"
    if not lj.is_file():
        raise _not_found(lj)
    try:
        meta = json.loads(lj.read_text())
        labels = [str(s) for s in meta["labels"]]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{lj}: expected {{\"labels\": [...], \"features\": {{...}}}} "
                        f"({type(err).__name__}: {err})") from None
    if expect_labels is not None and labels != list(expect_labels):
        raise DataError(f"{lj}: labels {labels} differ from data.words in params "
                        f"({list(expect_labels)}): re-run the featurize stage")
    loaded = {s: load_split(d / f"{s}.npz", len(labels)) for s in splits}
    shapes = {s: tuple(sp.x.shape[-2:]) for s, sp in loaded.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{d}: the splits have different feature shapes {shapes}")
    shape = next(iter(shapes.values()))
    if expect_shape is not None and shape != tuple(expect_shape):
        raise DataError(f"{d}: features are {list(shape)} but the features params give "
                        f"{list(expect_shape)}: re-run the featurize stage")
    for s in ("train", "validation"):
        if s in loaded and len(loaded[s]) == 0:
            raise DataError(f"{d / (s + '.npz')}: no examples")
    return Features(loaded, labels, dict(meta.get("features") or {}))


def write(out_dir: str | Path, arrays: dict[str, dict], labels: list[str],
          features: dict) -> None:
    """The contract files, all at once (the folder appears complete or not at all)."""
    from kws.stage import atomic_path

    with atomic_path(Path(out_dir), is_dir=True) as tmp:
        for split, a in arrays.items():
            np.savez(tmp / f"{split}.npz", **a)
        (tmp / "labels.json").write_text(json.dumps({"labels": labels, "features": features},
                                                    indent=2) + "\n")
