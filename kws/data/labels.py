"""The label set: ``_silence_``, ``_unknown_``, then the keywords, in that order (as TF's
speech_commands ``input_data.prepare_words_list``)."""

from __future__ import annotations

from kws.config import SILENCE_LABEL, UNKNOWN_LABEL

SILENCE_INDEX = 0
UNKNOWN_INDEX = 1


def label_names(words: list[str]) -> list[str]:
    return [SILENCE_LABEL, UNKNOWN_LABEL, *words]


def label_of_word(word: str, words: list[str]) -> int:
    """Index of a spoken word's label: its own for a keyword, ``_unknown_`` for any other."""
    return 2 + words.index(word) if word in words else UNKNOWN_INDEX
