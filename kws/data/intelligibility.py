"""The intelligibility filter of the synthetic data set (``data.synthetic.intelligibility``).

A TTS voice sometimes says a word no listener would hear as that word (a Japanese Kokoro style
saying "off" as "up", a diphone voice swallowing "on"). Each clip is run through an offline
recognizer restricted to the data set's vocabulary (a JSGF grammar: exactly one of the words:
the Speech Commands words and ``data.words``; a clip of an everyday word is checked against
those plus itself). The model's labels are the keywords and ``_unknown_``, so a clip is
rejected when the recognizer hears it as a *different label*: a keyword clip heard as another
keyword ("down" heard as "no"), another word's clip heard as a keyword ("bird" heard as "up").
A keyword clip heard as some non-keyword is kept: this recognizer is too coarse for that to
mean much (it hears only 80% of real clips as their own word, below). A rejected clip is
spoken again with a fresh per-clip speed/pitch draw, up to ``data.synthetic.retries`` times,
and dropped when it still fails. The share rejected and dropped per engine goes into the data
metrics.

``pocketsphinx``: PyPI ``pocketsphinx`` (BSD-2-Clause), whose wheel bundles CMU's US English
acoustic model and dictionary: nothing is downloaded. On the 300 real Speech Commands clips of
``train.real_samples_dir`` it hears 80% as their word (30-word grammar), so it is a coarse
judge: it is used to drop what it confidently gets wrong, not to grade.

Words missing from the recognizer's dictionary cannot be checked; their clips are kept (and
listed as ``unchecked_words``). The recognizer runs on the word with 100 ms around it, hears
each clip as a fresh decoder would (whatever it decoded before), and is deterministic on one
machine (floating point: another CPU could differ in rare ties).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from kws.errors import ToolMissingError

RECOGNIZERS = ("pocketsphinx",)
MARGIN = 1600  # samples (100 ms at 16 kHz) of the clip kept around the word


class PocketSphinx:
    """pocketsphinx over a closed vocabulary (one word per utterance)."""

    def __init__(self, vocabulary: Sequence[str], base: Optional[Sequence[str]] = None,
                 keywords: Sequence[str] = ()):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise ToolMissingError("pocketsphinx not usable; install it with `pip install "
                                   "pocketsphinx==5.1.1` (in pyproject.toml; `make setup` "
                                   "installs it), or set data.synthetic.intelligibility: null"
                                   ) from None
        mp = os.path.join(get_model_path(), "en-us")
        self.decoder = Decoder(hmm=os.path.join(mp, "en-us"),
                               dict=os.path.join(mp, "cmudict-en-us.dict"), logfn=os.devnull)
        words = sorted({_text(w) for w in vocabulary})
        self.known = [w for w in words if all(self.decoder.lookup_word(p) for p in w.split())]
        self.unchecked = [w for w in words if w not in self.known]
        base = words if base is None else sorted({_text(w) for w in base})
        self.base = [w for w in base if w in self.known]
        self.active = None
        self.keywords = {_text(w) for w in keywords}

    def _search(self, word: str) -> None:
        """Activate the grammar for a clip of ``word``: the base words, plus ``word``."""
        name = "base" if word in self.base else f"w_{word}"
        if self.active != name:
            if name not in getattr(self, "_made", set()):
                rule = " | ".join(self.base if word in self.base else [*self.base, word])
                self.decoder.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar g;\n"
                                                   f"public <w> = {rule} ;")
                self._made = getattr(self, "_made", set()) | {name}
            self.decoder.activate_search(name)
            self.active = name

    def hypothesis(self, audio: np.ndarray) -> Optional[str]:
        """The word heard in ``audio`` (float in [-1, 1] at 16 kHz), or None.

        The feature front end is reset first: pocketsphinx's live CMN carries its running mean
        from one utterance to the next (``set_cmn`` does not clear it; ``reinit_feat`` does),
        so without the reset a clip's verdict depended on which clips the worker process had
        decoded before (9 of 60 clips heard as another word than by a fresh decoder) and two
        download runs gave different ``data/raw``. With it, every clip is heard as by a freshly
        made decoder, at no measurable cost."""
        pcm = (np.clip(np.asarray(audio, np.float64), -1, 1) * 32767).round().astype("<i2")
        d = self.decoder
        d.reinit_feat()  # a clip's hypothesis must not depend on the clips decoded before it
        d.start_utt()
        d.process_raw(pcm.tobytes(), full_utt=True)
        d.end_utt()
        h = d.hyp()
        return h.hypstr.strip() if h is not None and h.hypstr else None

    def checks(self, word: str) -> bool:
        return len(self.base) >= 2 and _text(word) in self.known

    def heard(self, clip: np.ndarray, info: dict, word: str) -> bool:
        """False when ``clip`` of ``word`` is heard as another label: another keyword, or a
        keyword for a non-keyword word (with no ``keywords``: any other word). True when it
        passes or ``word`` cannot be checked."""
        if not self.checks(word):
            return True
        w = _text(word)
        self._search(w)
        a = max(0, info.get("offset", 0) - MARGIN)
        b = min(len(clip), info.get("offset", 0) + info.get("length", len(clip)) + MARGIN)
        h = self.hypothesis(clip[a:b])
        if not self.keywords:
            return h == w
        return h == w or h is None or (h not in self.keywords)


def _text(word: str) -> str:
    return word.replace("_", " ").replace("-", " ")


_CACHE: dict = {}


def recognizer(name: str, vocabulary: tuple, base: Optional[tuple] = None,
               keywords: tuple = ()) -> PocketSphinx:
    """One recognizer per process, vocabulary, base words and keywords."""
    if name not in RECOGNIZERS:
        raise ValueError(f"unknown recognizer {name!r}; one of {RECOGNIZERS}")
    key = (name, vocabulary, base, keywords)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = PocketSphinx(vocabulary, base, keywords)
    return _CACHE[key]


def check(name: str) -> None:
    """Raise ``ToolMissingError`` when recognizer ``name`` is not installed."""
    if name == "pocketsphinx":
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            raise ToolMissingError("pocketsphinx not usable; install it with `pip install "
                                   "pocketsphinx==5.1.1` (in pyproject.toml; `make setup` "
                                   "installs it)") from None


__all__ = ["RECOGNIZERS", "PocketSphinx", "recognizer", "check"]
