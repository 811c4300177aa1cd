"""Read one split of ``data/features`` for the convert stage and ``kws predict``.

The featurize stage owns the format. This reader takes, per split (``train``, ``validation``,
``test``), either ``<split>.npz`` with the features under ``x`` / ``features`` / ``X`` and the
label indices under ``y`` / ``labels`` / ``Y``, or a folder ``<split>/`` with those names as
``.npy`` files. When ``kws.data.dataset`` offers ``load_split(features_dir, split)`` returning
``(features, labels)``, that is used instead.
Features come back as float32 ``[n, frames, coeffs]``, labels as int64 ``[n]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import DataError

_X = ("x", "features", "X", "mfcc")
_Y = ("y", "labels", "Y", "label")


def _pick(arrays: dict, names, what: str, where: Path):
    for n in names:
        if n in arrays:
            return arrays[n]
    raise DataError(f"{where}: no {what} array (looked for {', '.join(names)}; "
                    f"found {', '.join(sorted(arrays)) or 'nothing'})")


def load_split(features_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    features_dir = Path(features_dir)
    if not features_dir.is_dir():
        raise DataError(f"{features_dir} not found: run the featurize stage first "
                        "(dvc repro featurize)")
    npz, folder = features_dir / f"{split}.npz", features_dir / split
    arrays = None
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        where = npz
    elif folder.is_dir() and any(folder.glob("*.npy")):
        arrays = {p.stem: np.load(p, allow_pickle=False, mmap_mode="r")
                  for p in folder.glob("*.npy")}
        where = folder
    if arrays is not None and any(k in arrays for k in _X):
        x = _pick(arrays, _X, "features", where)
        y = _pick(arrays, _Y, "labels", where)
    else:
        try:
            from kws.data import dataset as _ds  # the featurize stage's own reader
        except ImportError:
            _ds = None
        if _ds is None or not hasattr(_ds, "load_split"):
            raise DataError(f"{features_dir}: no '{split}' split ({npz.name} or {split}/ with "
                            "x and y arrays): re-run the featurize stage")
        x, y = _ds.load_split(features_dir, split)
        x, y = np.asarray(x), np.asarray(y)
        where = features_dir / split
    if x.ndim == 4 and x.shape[1] == 1:  # NCHW with one channel
        x = x[:, 0]
    elif x.ndim == 4 and x.shape[-1] == 1:  # NHWC with one channel
        x = x[..., 0]
    if x.ndim != 3:
        raise DataError(f"{where}: features have shape {list(x.shape)}, expected "
                        "[clips, frames, coeffs]")
    if len(y) != len(x):
        raise DataError(f"{where}: {len(x)} feature clips but {len(y)} labels")
    return np.ascontiguousarray(x, np.float32), np.asarray(y).astype(np.int64)
