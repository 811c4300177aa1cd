"""From a Speech Commands folder (``data/raw``) to the features files (``data/features``,
whose format is ``kws.data.feature_files``'s).

Train holds the clean examples first, then ``features.augment.copies`` blocks of augmented
copies in the same order (so ``N_train = (1 + copies) * clean``); validation and test hold only
clean examples. Which example is where is ``kws.data.dataset``'s split index.

Unreadable clips (wrong rate, channels, truncated, not audio) are left out and counted with
their reason; the index is rebuilt without them so the silence/unknown shares hold over the
clips used. Wavs are checked by a thread pool, then read and rendered by worker processes; each
clip (augmented ones rounded to int16, as a microphone gives them) goes through the firmware's own C frontend (``kws.frontend``), so the
features are the same bytes on any machine.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from kws.audio import pad_or_trim, read_wav
from kws.config import Params
from kws.data import feature_files
from kws.data.augment import Augmenter, usable_noises
from kws.data.dataset import (SPLITS, SplitIndex, background_files, clips_by_split, index_of,
                              render)
from kws.errors import AudioError, DataError
from kws.frontend import mfcc_pcm16, threads, to_pcm16

MAX_LISTED_SKIPS = 100


def _reason_kind(msg: str) -> str:
    m = msg.lower()
    for key, kind in (("sample rate", "wrong sample rate"), ("channels", "not mono"),
                      ("truncated", "truncated"), ("no data chunk", "truncated"),
                      ("empty", "empty"), ("not a readable", "unreadable")):
        if key in m:
            return kind
    return "other"


@dataclass
class Skips:
    """Files left out, with why."""

    files: dict = field(default_factory=dict)  # relative path -> reason

    def add(self, rel: str, err: AudioError) -> None:
        msg = str(err)
        cut = msg.find(": ")
        self.files[rel] = msg[cut + 2:] if cut >= 0 else msg

    def summary(self) -> dict:
        kinds = Counter(_reason_kind(r) for r in self.files.values())
        listed = dict(sorted(self.files.items())[:MAX_LISTED_SKIPS])
        return {"count": len(self.files), "by_reason": dict(sorted(kinds.items())),
                "files": listed, "files_listed": len(listed)}


def _read_many(root: Path, rels: Sequence[str], rate: int, pool: ThreadPoolExecutor) -> list:
    """``read_wav`` of each path (an ``AudioError`` in place of the array when it fails)."""
    def one(rel):
        try:
            return read_wav(root / rel, rate)
        except AudioError as err:
            return err

    return list(pool.map(one, rels))


def load_noises(root: Path, n: int, rate: int, skips: Skips) -> tuple[list[np.ndarray], list[str]]:
    """The background recordings at least one clip long (others counted in ``skips``)."""
    noises, names = [], []
    for p in background_files(root):
        rel = f"{p.parent.name}/{p.name}"
        try:
            x = read_wav(p, rate)
        except AudioError as err:
            skips.add(rel, err)
            continue
        if len(usable_noises([x], n)) == 0:
            skips.add(rel, AudioError(f"{p}: shorter than one clip ({len(x)} samples)"))
            continue
        noises.append(x)
        names.append(rel)
    return noises, names


def fresh_copies(f) -> int:
    """How many fresh _unknown_ clips each train example gets (``features.augment``)."""
    return f.augment.copies if f.augment.fresh_unknown else 0


def index_readable(root: Path, params: Params, skips: Skips, workers: int,
                   progress: bool = False) -> tuple[SplitIndex, dict]:
    """The split index over the clips that read; also clip-length stats of those used."""
    from tqdm.auto import tqdm

    d, f = params.data, params.features
    clips = clips_by_split(root)
    checked: dict[str, int] = {}  # rel -> length in samples
    bad: set = set()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            index = index_of(clips, d, exclude=bad, fresh_copies=fresh_copies(f))
            need = sorted({p for s in SPLITS for e in index.splits[s] if not e.is_silence
                           for p in (e.path, *e.alts) if p not in checked})
            if not need:
                break
            new_bad = 0
            chunk = 256
            bar = tqdm(total=len(need), desc="check wavs", unit="clip", disable=not progress,
                       leave=False)
            for i in range(0, len(need), chunk):
                rels = need[i:i + chunk]
                for rel, res in zip(rels, _read_many(root, rels, f.sample_rate, pool)):
                    if isinstance(res, AudioError):
                        skips.add(rel, res)
                        bad.add(rel)
                        new_bad += 1
                    else:
                        checked[rel] = len(res)
                bar.update(len(rels))
            bar.close()
            if not new_bad:
                break
    used = [checked[e.path] for s in SPLITS for e in index.splits[s] if not e.is_silence]
    n = f.clip_samples
    lengths = {"padded_short": int(sum(ln < n for ln in used)),
               "trimmed_long": int(sum(ln > n for ln in used))}
    return index, lengths


_JOB: dict = {}  # the split being rendered: set before the worker processes fork


def _render_batch(task: tuple[int, int]) -> np.ndarray:
    """int16 audio of copy ``c`` of examples ``i0 .. i0 + batch`` of the split in ``_JOB``:
    the wavs read again, padded or trimmed, rendered (augmented for copies >= 1)."""
    i0, c = task
    j = _JOB
    waves = []
    for e in j["examples"][i0:i0 + j["batch"]]:
        clip = None
        if not e.is_silence:
            try:
                clip = pad_or_trim(read_wav(j["root"] / e.path_of_copy(c), j["rate"]), j["n"])
            except AudioError as err:  # readable a moment ago: the folder changed
                raise DataError(f"{err} (the data folder changed during featurize: "
                                "rerun)") from None
        waves.append(render(e, j["split"], c, clip, j["n"], j["noises"], j["seed"],
                            j["augmenter"]))
    return to_pcm16(np.stack(waves))


def featurize_split(root: Path, index: SplitIndex, split: str, params: Params,
                    noises: Sequence[np.ndarray], workers: int, progress: bool = False,
                    timer: Optional[dict] = None) -> dict:
    """x, y, path, copy arrays of one split (see the module docstring).

    Batches are read and rendered in ``workers`` forked processes (the augmentation is numpy
    and scipy under the GIL: threads did not help) and go through the C frontend here, in
    order; a batch's audio does not depend on which process rendered it.
    """
    import multiprocessing as mp

    from tqdm.auto import tqdm

    f, d = params.features, params.data
    exs = index.splits[split]
    copies = f.augment.copies if split == "train" else 0
    augmenter = Augmenter.from_params(f.augment, noises, f.sample_rate) if copies else None
    rows = len(exs) * (1 + copies)
    x = np.empty((rows, f.n_frames, f.n_mfcc), np.float32)
    bs = f.batch_size
    tasks = [(i0, c) for i0 in range(0, len(exs), bs) for c in range(1 + copies)]
    _JOB.update(root=root, examples=exs, batch=bs, rate=f.sample_rate, n=f.clip_samples,
                split=split, noises=noises, seed=d.seed, augmenter=augmenter)
    bar = tqdm(total=rows, desc=f"featurize {split}", unit="clip", disable=not progress)
    pool = mp.get_context("fork").Pool(workers) if workers > 1 and len(tasks) > 1 else None
    try:
        waves = pool.imap(_render_batch, tasks) if pool else map(_render_batch, tasks)
        for (i0, c), pcm in zip(tasks, waves):
            t0 = time.perf_counter()
            feats = mfcc_pcm16(pcm, f)
            if timer is not None:
                timer["mfcc_s"] = timer.get("mfcc_s", 0.0) + time.perf_counter() - t0
            start = c * len(exs) + i0
            x[start:start + len(pcm)] = feats
            bar.update(len(pcm))
    finally:
        if pool:
            pool.terminate()
        _JOB.clear()
    bar.close()
    y = np.array([e.label for e in exs] * (1 + copies), np.int64)
    path = np.array([e.path_of_copy(c) for c in range(1 + copies) for e in exs], dtype=str)
    copy = np.repeat(np.arange(1 + copies, dtype=np.int8), len(exs))
    return {"x": x, "y": y, "path": path, "copy": copy}


def example_audio(root: Path, index: SplitIndex, label: int, params: Params,
                  noises: Sequence[np.ndarray]) -> Optional[tuple[str, str, np.ndarray]]:
    """(split, path, clean audio) of the first example with ``label`` (test, then validation,
    then train), for the views figures."""
    f = params.features
    for split in ("test", "validation", "train"):
        for e in index.splits[split]:
            if e.label == label:
                clip = None if e.is_silence else pad_or_trim(read_wav(root / e.path,
                                                                      f.sample_rate),
                                                             f.clip_samples)
                return split, e.path, render(e, split, 0, clip, f.clip_samples, noises,
                                             params.data.seed)
    return None


def featurize(root: str | Path, out_dir: str | Path, params: Params, workers: int = 2,
              progress: bool = False,
              views: Optional[Callable[[SplitIndex, list], None]] = None) -> dict:
    """Featurize ``root`` into ``out_dir``; return the metrics (see stages/featurize.py)."""
    root, out_dir = Path(root), Path(out_dir)
    f = params.features
    t_start = time.perf_counter()
    skips = Skips()
    noises, noise_names = load_noises(root, f.clip_samples, f.sample_rate, skips)
    index, lengths = index_readable(root, params, skips, workers, progress)
    if not any(index.splits[s] for s in SPLITS):
        raise DataError(f"{root}: no readable clips of any label")
    notes = list(index.notes)
    if not noises:
        notes.append(f"no usable {root.name}/_background_noise_ files: _silence_ examples are "
                     "digital silence and augmentation adds no noise")
    timer: dict = {}
    arrays = {s: featurize_split(root, index, s, params, noises, workers, progress, timer)
              for s in SPLITS}
    feature_files.write(out_dir, arrays, index.labels, params.features.model_dump(mode="json"))
    t_views = time.perf_counter()
    if views is not None:
        views(index, noises)
    views_s = time.perf_counter() - t_views
    seconds = time.perf_counter() - t_start
    rows = int(sum(len(a["y"]) for a in arrays.values()))
    counts = index.counts()
    return {
        "labels": index.labels,
        "clips": counts,  # clean examples per label per split
        "examples": {s: int(len(arrays[s]["y"])) for s in SPLITS},  # incl. augmented copies
        "augmented_copies": f.augment.copies,
        "clean_total": int(sum(sum(c.values()) for c in counts.values())),
        "total": rows,
        "feature_shape": [f.n_frames, f.n_mfcc],
        "share": {s: {"_silence_": _share(counts[s], "_silence_"),
                      "_unknown_": _share(counts[s], "_unknown_")} for s in SPLITS},
        "background_noise_files": noise_names,
        "skipped": skips.summary(),
        "lengths": lengths,
        "notes": notes,
        "seconds": round(seconds, 3),
        "mfcc_seconds": round(timer.get("mfcc_s", 0.0), 3),
        "views_seconds": round(views_s, 3),
        "clips_per_s": round(rows / seconds, 1) if seconds > 0 else None,
        "mfcc_clips_per_s": round(rows / timer["mfcc_s"], 1) if timer.get("mfcc_s") else None,
        "frontend_threads": threads(),
        "workers": workers,
    }


def _share(counts: dict, label: str) -> Optional[float]:
    total = sum(counts.values())
    return round(counts.get(label, 0) / total, 4) if total else None


__all__ = ["featurize", "featurize_split", "index_readable", "load_noises",
           "example_audio", "Skips"]
