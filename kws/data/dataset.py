"""The split index: which example goes in which split with which label, and its audio.

From a folder in Speech Commands layout (``data/raw``): every ``<word>/<file>.wav`` is in the
split its line in ``validation_list.txt`` / ``testing_list.txt`` says, else in train. A word in
``data.words`` gets its own label; any other word is ``_unknown_`` (``kws.data.labels``).

Silence and unknown shares, done right. ``data.silence_percentage`` (s) and
``data.unknown_percentage`` (u) are shares of the FINAL split. With K keyword clips in a split
the split holds ``N = K / (1 - s - u)`` examples, so::

    S = round(s * K / (1 - s - u))   _silence_ examples
    U = round(u * K / (1 - s - u))   _unknown_ examples (fewer when the split has fewer
                                     non-keyword clips; the index notes it)

which at s = u = 10 % is ``round(0.1 * K / 0.8) = round(K / 8)`` each, so silence and unknown
are 10 % of the split each. TF's ``input_data.prepare_data_index`` computes
``ceil(K * p / 100)`` instead, i.e. 10 % of the keyword count, which makes each of them
1/12 = 8.3 % of the split.

Unknown clips are drawn without replacement from the split's non-keyword clips with a
generator seeded by ``(data.seed, split)``: the same data and seed give the same index.
``_silence_`` examples are zeros plus a segment of a background noise file at volume
``uniform(0, 1) * SILENCE_VOLUME`` (TF: ``uniform(0, 1)``), drawn from a generator seeded by
``(data.seed, split, example, copy)``: deterministic per split, validation and test included.
Keyword and unknown clips of validation and test are used as recorded (no shift, no noise);
only the train split gets augmented copies (``kws.data.augment``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from kws.config import SILENCE_LABEL, UNKNOWN_LABEL
from kws.data.augment import Augmenter, clip_rng, silence_clip
from kws.data.labels import SILENCE_INDEX, label_names, label_of_word
from kws.errors import DataError

SPLITS = ("train", "validation", "test")
SPLIT_CODE = {"train": 0, "validation": 1, "test": 2}
SILENCE_PATH = SILENCE_LABEL  # the ``path`` of a silence example in the features files
SILENCE_VOLUME = 1.0          # the fixed scale of silence noise volume (TF: 1)
BACKGROUND_DIR = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
# Stream ids, so the generators for different purposes never share a seed tuple.
_UNKNOWN_STREAM, _SILENCE_STREAM, _AUGMENT_STREAM = 1, 2, 3


@dataclass(frozen=True)
class Example:
    path: str   # ``<word>/<file>.wav`` relative to the data folder, or ``_silence_``
    label: int  # index into ``label_names(words)``
    index: int = 0  # position within its split (gives silence and augmentation their seeds)
    alts: tuple = ()  # fresh_unknown: the clip of augmented copy c is alts[c - 1]

    def path_of_copy(self, copy: int) -> str:
        """The clip that augmented copy ``copy`` (0: the clean example) is made from."""
        return self.alts[(copy - 1) % len(self.alts)] if copy > 0 and self.alts else self.path

    @property
    def is_silence(self) -> bool:
        return self.path == SILENCE_PATH


@dataclass
class SplitIndex:
    labels: list[str]
    splits: dict[str, list[Example]]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Examples per label per split (clean clips, before augmented copies)."""
        out = {}
        for s, exs in self.splits.items():
            c = Counter(self.labels[e.label] for e in exs)
            out[s] = {lab: int(c.get(lab, 0)) for lab in self.labels}
        return out


def share_counts(n_keyword: int, silence_percentage: float,
                 unknown_percentage: float) -> tuple[int, int]:
    """(silence, unknown) example counts that make them the given shares of the final split."""
    s, u = silence_percentage / 100.0, unknown_percentage / 100.0
    if s + u >= 1:
        raise ValueError("silence + unknown percentages must be below 100")
    total = n_keyword / (1.0 - s - u)
    return int(round(s * total)), int(round(u * total))


def tf_share_counts(n_keyword: int, silence_percentage: float,
                    unknown_percentage: float) -> tuple[int, int]:
    """What TF's input_data does, for comparison: ``ceil(K * p / 100)`` (shares of K, not N)."""
    return (int(math.ceil(n_keyword * silence_percentage / 100)),
            int(math.ceil(n_keyword * unknown_percentage / 100)))


def _read_list(path: Path) -> list[str]:
    return [ln.strip().removeprefix("./") for ln in path.read_text().splitlines() if ln.strip()]


def list_clips(root: Path) -> list[str]:
    """``<word>/<file>.wav`` of every clip (sorted; folders starting with ``_`` or ``.`` skipped)."""
    clips = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name.startswith(("_", ".")):
            continue
        clips += [f"{d.name}/{f.name}" for f in sorted(d.iterdir())
                  if f.is_file() and f.suffix.lower() == ".wav" and not f.name.startswith(".")]
    return clips


def clips_by_split(root: str | Path) -> dict[str, list[str]]:
    """Every clip of a Speech Commands folder in its split (from the two lists; rest is train)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} not found: run the download stage first (dvc repro download)")
    lists = {}
    for split, name in (("validation", VALIDATION_LIST), ("test", TESTING_LIST)):
        p = root / name
        if not p.is_file():
            raise DataError(f"{p} not found: {root} is not in Speech Commands layout "
                            "(rerun the download stage)")
        lists[split] = set(_read_list(p))
    out = {s: [] for s in SPLITS}
    for c in list_clips(root):
        out["validation" if c in lists["validation"] else "test" if c in lists["test"]
            else "train"].append(c)
    if not any(out.values()):
        raise DataError(f"{root} holds no <word>/*.wav clips")
    return out


def build_index(clips: dict[str, Sequence[str]], words: Sequence[str], silence_percentage: float,
                unknown_percentage: float, seed: int, exclude: Iterable[str] = (),
                fresh_copies: int = 0,
                train_unknown_percentage: Optional[float] = None) -> SplitIndex:
    """The examples of each split (see the module docstring); ``exclude``: clips to leave out
    (unreadable ones), so the shares hold over the clips actually used.

    ``train_unknown_percentage`` (``data.train_unknown_percentage``): the train split's
    _unknown_ share when not None; validation and test keep ``unknown_percentage``, so their
    accuracy stays comparable. An always-on detector hears far more other speech than
    keywords, and more negatives in training is what lowers its false accepts per hour.

    ``fresh_copies`` > 0 (``features.augment.fresh_unknown``): each train ``_unknown_`` example
    also gets that many other non-keyword clips (``Example.alts``), one per augmented copy,
    drawn without replacement from the clips not already chosen (cycling when they run out),
    so the augmented copies see the whole non-keyword pool instead of the same clips again."""
    words = list(words)
    exclude = set(exclude)
    labels = label_names(words)
    splits, notes = {}, []
    for split in SPLITS:
        paths = [c for c in clips.get(split, ()) if c not in exclude]
        keyword = [c for c in paths if c.split("/", 1)[0] in words]
        others = sorted(c for c in paths if c.split("/", 1)[0] not in words)
        u = (train_unknown_percentage if split == "train" and train_unknown_percentage is not None
             else unknown_percentage)
        n_sil, n_unk = share_counts(len(keyword), silence_percentage, u)
        if n_unk > len(others):
            notes.append(f"{split}: {n_unk} _unknown_ examples wanted, only {len(others)} "
                         "non-keyword clips: all used")
            n_unk = len(others)
        rng = clip_rng(seed, _UNKNOWN_STREAM, SPLIT_CODE[split])
        pick = sorted(rng.choice(len(others), size=n_unk, replace=False).tolist()) if n_unk else []
        alts: dict = {}
        if fresh_copies and split == "train" and pick:
            taken = set(pick)
            rest = [others[i] for i in range(len(others)) if i not in taken]
            if rest:
                order = clip_rng(seed, _UNKNOWN_STREAM, SPLIT_CODE[split], 1).permutation(len(rest))
                for j, i in enumerate(pick):
                    alts[others[i]] = tuple(rest[order[(c * len(pick) + j) % len(rest)]]
                                            for c in range(fresh_copies))
        chosen = sorted(keyword + [others[i] for i in pick])
        exs = [Example(c, label_of_word(c.split("/", 1)[0], words), i, alts.get(c, ()))
               for i, c in enumerate(chosen)]
        exs += [Example(SILENCE_PATH, SILENCE_INDEX, len(chosen) + j) for j in range(n_sil)]
        splits[split] = exs
    return SplitIndex(labels, splits, notes)


def index_of(clips: dict[str, Sequence[str]], data_params, exclude: Iterable[str] = (),
             fresh_copies: int = 0) -> SplitIndex:
    """``build_index`` of ``clips`` (``clips_by_split``) with the ``data:`` params."""
    return build_index(clips, data_params.words, data_params.silence_percentage,
                       data_params.unknown_percentage, data_params.seed, exclude, fresh_copies,
                       data_params.train_unknown_percentage)


def index_from_dir(root: str | Path, data_params, exclude: Iterable[str] = (),
                   fresh_copies: int = 0) -> SplitIndex:
    """``build_index`` of a folder with the ``data:`` params."""
    return index_of(clips_by_split(root), data_params, exclude, fresh_copies)


def render(example: Example, split: str, copy: int, clip: Optional[np.ndarray], n: int,
           noises: Sequence[np.ndarray], seed: int,
           augmenter: Optional[Augmenter] = None) -> np.ndarray:
    """The audio of one example, ``n`` samples in [-1, 1] (float32 for a clean clip, float64
    when augmented or generated: round it with ``kws.frontend.to_pcm16``).

    ``copy`` 0 is the clean example (a silence example is clean noise at its own volume);
    ``copy >= 1`` (train only) is an augmented copy: a word clip through ``augmenter``, a
    silence example drawn afresh. ``clip``: the wav's samples already padded/trimmed to ``n``
    (None for silence). Deterministic in (seed, split, example.index, copy).
    """
    code = SPLIT_CODE[split]
    if example.is_silence:
        return silence_clip(noises, n, clip_rng(seed, _SILENCE_STREAM, code, example.index, copy),
                            SILENCE_VOLUME)
    assert clip is not None and len(clip) == n
    if copy == 0 or augmenter is None:
        return np.asarray(clip, np.float32)
    return augmenter(clip, clip_rng(seed, _AUGMENT_STREAM, code, example.index, copy))


def background_files(root: str | Path) -> list[Path]:
    d = Path(root) / BACKGROUND_DIR
    return sorted(p for p in d.glob("*.wav") if p.is_file()) if d.is_dir() else []


__all__ = ["Example", "SplitIndex", "SPLITS", "SILENCE_PATH", "SILENCE_VOLUME", "share_counts",
           "tf_share_counts", "clips_by_split", "build_index", "index_of", "index_from_dir",
           "render", "background_files", "list_clips", "UNKNOWN_LABEL"]
