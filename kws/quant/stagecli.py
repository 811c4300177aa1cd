"""The command line the three quantization stages share (``stages/ptq.py``, ``stages/qat.py``,
``stages/minifloat.py``): paths default to the pipeline's, so ``python stages/ptq.py`` from the
repository root is what ``dvc repro`` runs; tests point them elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_args(name: str, doc: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.add_argument("--model", default="models/model.pt", help="float checkpoint of the train stage")
    p.add_argument("--features", default="data/features", help="featurize stage output folder")
    p.add_argument("--reports", default=f"reports/{name}", help="sweep table, plot data, metrics")
    p.add_argument("--cache", default=f"build/quant/{name}",
                   help="finished sweep points (resume); safe to delete")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: only on a terminal)")
    args = p.parse_args(argv)
    args.reports, args.cache = Path(args.reports), Path(args.cache)
    return args
