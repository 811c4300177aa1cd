"""What the ptq, qat and minifloat stages share: the fixed calibration subset and a resumable
cache of sweep points (the float model and the features are loaded with ``kws.training``).

Resume: each finished sweep point is written at once to ``<cache dir>/<key>.json``, where the key
is a hash of everything the point depends on: the float checkpoint's and the feature files'
sha256, the point's own parameters, and a fingerprint of the ``kws/quant`` source. A stopped
sweep restarts where it stopped; changing one parameter recomputes only the points it touches
(adding a bit width computes only that one), and nothing stale is ever reused because the key
changes with any input. The cache directories are declared in dvc.yaml as ``persist: true``
(so ``dvc repro`` does not delete them before the stage runs) and ``cache: false`` (they are
scratch, not results). ``persist: true`` alone could not do this: it keeps outputs but cannot tell
which points are still valid.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from kws.errors import KwsError
from kws.stage import read_json, write_json
from kws.training import Split

QUANT_DIR = Path(__file__).resolve().parent


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_fingerprint(extra: Iterable[str | Path] = ()) -> str:
    """sha256 over the code a point's result depends on (``kws/quant``, the model registry, the
    training loop QAT uses) and ``extra`` files: a code change invalidates cached points."""
    h = hashlib.sha256()
    pkg = QUANT_DIR.parent
    files = sorted(QUANT_DIR.glob("*.py")) + [pkg / "models.py", pkg / "training.py"]
    for p in files + [Path(e) for e in extra]:
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


class PointCache:
    """One small JSON file per computed sweep point, keyed by a hash of its inputs."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @staticmethod
    def key(inputs: dict) -> str:
        blob = json.dumps(inputs, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def path(self, inputs: dict) -> Path:
        return self.root / f"{self.key(inputs)}.json"

    def get(self, inputs: dict) -> Optional[dict]:
        p = self.path(inputs)
        if not p.exists():
            return None
        try:
            stored = read_json(p)
        except (OSError, ValueError):
            return None
        if json.loads(json.dumps(inputs, sort_keys=True, default=str)) != stored.get("inputs"):
            return None
        return stored["result"]

    def put(self, inputs: dict, result: dict) -> None:
        write_json(self.path(inputs), {"inputs": json.loads(json.dumps(inputs, default=str)),
                                       "result": result})

    def get_or_compute(self, inputs: dict, compute: Callable[[], dict]) -> tuple[dict, bool]:
        """The cached result, or ``compute()`` stored at once. Returns (result, was_cached)."""
        hit = self.get(inputs)
        if hit is not None:
            return hit, True
        result = compute()
        self.put(inputs, result)
        return result, False


# --- inputs --------------------------------------------------------------------------------------
def calibration_subset(train: Split, samples: int, seed: int) -> torch.Tensor:
    """A fixed, seeded subset of the training features (the same for every point)."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=gen)[: min(samples, len(train))]
    return train.x[idx.sort().values]


def batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]


def check_device(name: str, section: str) -> str:
    """``auto`` / ``cpu`` / ``cuda``, refusing ``cuda`` without a CUDA device."""
    if name == "cuda" and not torch.cuda.is_available():
        raise KwsError(f"{section}.device is 'cuda' but torch sees no CUDA device: use auto or cpu")
    return "cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu"


def write_plot_csv(path: str | Path, rows: list[dict], columns: list[str]) -> None:
    """A small CSV for ``dvc plots`` (missing values left empty)."""
    from kws.stage import atomic_path

    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join("" if r.get(c) is None else
                              (f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c])) for c in columns))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def rounded(obj: Any, digits: int = 6) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, digits) for v in obj]
    return obj
