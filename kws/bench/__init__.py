"""Benchmarks: speed and accuracy targets are measured here, not in timed tests.

    python -m kws.bench featurize [...]  our MFCC vs librosa, clips/s (kws/bench/featurize.py)
    python -m kws.bench firmware [...]   the network on the Cortex-M4 timing model (firmware.py)
    python -m kws.bench frontend [...]   the MFCC frontend on the timing model (frontend.py)
    python -m kws.bench finetune [...]   a QAT / minifloat / masked training step vs float (finetune.py)
    python -m kws.bench models [...]     both registry models: train, int8, firmware (models.py)
    python -m kws.bench tiny_conv [...]  tiny_conv widths vs its 90% bar (tiny_conv.py)
    python -m kws.bench tts [...]        the synthetic voices vs real recordings (tts.py)

Each prints its figures and writes ``reports/bench/<name>.json``; ``make bench`` runs the quick
ones. ``python -m kws.bench`` alone is ``featurize``.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = ("featurize", "finetune", "firmware", "frontend", "models", "tiny_conv", "tts")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name = argv[0] if argv[:1] and argv[0] in COMMANDS else "featurize"
    rest = argv[1:] if argv[:1] and argv[0] in COMMANDS else argv
    return importlib.import_module(f"kws.bench.{name}").main(rest)
