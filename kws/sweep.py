"""What the sweep stages (ptq, qat, minifloat, prune) share: their inputs and a resumable cache
of finished sweep points.

Resume: each finished point is written at once to ``<cache dir>/<key>.json``, where the key is
a hash of everything the point depends on: the float checkpoint's and the feature files'
sha256, the point's own parameters, and the stage's code (``kws.deps.fingerprint`` of the
stage script: the same import closure dvc.yaml declares). A stopped sweep restarts where it
stopped; changing one parameter recomputes only the points it touches; nothing stale is reused
because the key changes with any input. The cache folders are declared in dvc.yaml as
``persist: true`` (dvc does not delete them before the stage runs) and ``cache: false`` (they
are scratch, not results).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

from kws.data.feature_files import Split
from kws.errors import DataError, KwsError
from kws.stage import read_json, write_json


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
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


@dataclass
class Inputs:
    """The float model, the three splits, and the hashes that key the cached points."""

    model: nn.Module
    train: Split
    val: Split
    test: Split
    fingerprint: dict
    meta: dict = field(default_factory=dict)


def load_inputs(model_path: str | Path, features_dir: str | Path, stage_script: str) -> Inputs:
    """The train stage's checkpoint and the featurize stage's splits, with the fingerprint
    (model, features, the code of ``stage_script``) that keys every point."""
    from kws import checkpoint, deps
    from kws.data.feature_files import SPLITS, load_features

    ck = checkpoint.load(model_path)
    feats = load_features(features_dir)
    if ck.meta.get("labels") and list(ck.meta["labels"]) != feats.labels:
        raise DataError(f"{model_path} was trained on labels {ck.meta['labels']} but "
                        f"{features_dir} has {feats.labels}: re-run the train stage "
                        "(dvc repro train)")
    features_dir = Path(features_dir)
    fp = {"model": file_sha256(model_path), "code": deps.fingerprint(stage_script),
          **{f"features_{s}": file_sha256(features_dir / f"{s}.npz") for s in SPLITS}}
    keep = {k: ck.meta[k] for k in ("arch", "n_labels", "labels", "input_shape") if k in ck.meta}
    s = feats.splits
    return Inputs(ck.model, s["train"], s["validation"], s["test"], fp, keep)


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
                              (f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]))
                              for c in columns))
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


# --- computing the points ---------------------------------------------------------------------
Task = tuple[dict, Callable[[], dict]]  # (the inputs that key the point, its computation)


def _compute_here(tasks: list[Task], cache: PointCache, todo: list[int], bar) -> None:
    for i in todo:
        cache.put(tasks[i][0], tasks[i][1]())
        bar.update(1)


def _compute_forked(tasks: list[Task], cache: PointCache, todo: list[int], workers: int,
                    bar) -> None:
    """``workers`` forked processes take the missing points one at a time from a shared
    counter; each result lands in the cache as soon as it is done (so an interrupted sweep
    keeps it). The parent follows the cache for the progress bar."""
    import multiprocessing as mp
    import os
    import sys
    import time
    import traceback

    ctx = mp.get_context("fork")
    nxt, lock = ctx.Value("i", 0, lock=False), ctx.Lock()
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 0
            try:
                torch.set_num_threads(1)
                while True:
                    with lock:
                        k = nxt.value
                        nxt.value += 1
                    if k >= len(todo):
                        break
                    inputs, compute = tasks[todo[k]]
                    cache.put(inputs, compute())
            except KwsError as err:
                print(f"error: {err}", file=sys.stderr, flush=True)
                code = 2
            except BaseException:  # noqa: BLE001  a bug: its traceback, then a failed child
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    failed, done = [], 0
    while pids:
        for pid in list(pids):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                pids.remove(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed.append(os.waitstatus_to_exitcode(status))
        now = sum(cache.get(tasks[i][0]) is not None for i in todo)
        bar.update(now - done)
        done = now
        if pids:
            time.sleep(0.5)
    if failed:
        raise KwsError(f"{len(failed)} sweep worker(s) failed (see above); the points they "
                       "finished are cached: rerun to resume")


def compute_points(tasks: list[Task], cache: PointCache, workers: int = 1, desc: str = "points",
                   progress: Optional[bool] = None,
                   cost: Optional[list[float]] = None) -> list[tuple[dict, bool]]:
    """(result, was it cached) of every task, in order. Missing points run with one torch
    thread each, in ``workers`` parallel processes when there is more than one to do: a point's
    result does not depend on how many ran beside it (same seed, same thread count), and two
    one-thread processes use 2 cores better than one two-thread process on these small models.
    ``cost`` (a relative guess per task) starts the costliest first, so that the workers finish
    together (longest processing time first); without it, tasks start in the given order."""
    from tqdm.auto import tqdm

    todo = [i for i, (inputs, _) in enumerate(tasks) if cache.get(inputs) is None]
    if cost is not None:
        todo.sort(key=lambda i: -cost[i])  # stable: equal costs keep their order
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc, unit="point",
               disable=None if progress is None else not progress)
    old = torch.get_num_threads()
    try:
        if workers > 1 and len(todo) > 1:
            _compute_forked(tasks, cache, todo, min(workers, len(todo)), bar)
        else:
            torch.set_num_threads(1)
            _compute_here(tasks, cache, todo, bar)
    finally:
        torch.set_num_threads(old)
        bar.close()
    out = []
    for i, (inputs, _) in enumerate(tasks):
        result = cache.get(inputs)
        if result is None:
            raise KwsError(f"{desc}: point {PointCache.key(inputs)} was not computed")
        out.append((result, i not in todo))
    return out
