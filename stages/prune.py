"""prune stage: unstructured and structured pruning sweeps of models/model.pt, each point with
and without fine-tuning.

  unstructured  global magnitude masks over all conv/dense weights at prune.unstructured.sparsities
  structured    output channels ranked by L1 / L2 / L-inf norm (prune.structured.norms) removed
                physically at prune.structured.ratios; each point's smaller model is profiled
                (params, FLOPs, batch-1 CPU latency), converted to int8 TFLite (convert: settings)
                and run in the firmware's Cortex-M4 emulator (flash, RAM, cycles, ms at 64 MHz)

  reports/prune/unstructured.json, structured.json   every point, the checks, the settings
  reports/prune/unstructured.csv, structured.csv     the dvc plots (accuracy vs params, FLOPs,
                                                     CPU ms, MCU ms; L1 vs L2 vs L-inf)
  reports/prune/metrics.json                         baseline, the 50% bar, fine-tuning check

Finished points are cached in build/prune/points (with each structured point's .tflite in
build/prune/work), so an interrupted run resumes and a changed param recomputes only the points
it touches. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.add_argument("--model", default="models/model.pt", help="float checkpoint of the train stage")
    p.add_argument("--features", default="data/features", help="featurize stage output folder")
    p.add_argument("--reports", default="reports/prune", help="sweep tables, plot data, metrics")
    p.add_argument("--cache", default="build/prune",
                   help="finished points and their .tflite files (resume); safe to delete")
    p.add_argument("--only", choices=["unstructured", "structured"], default=None,
                   help="run one sweep (the other's outputs are left as they are)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: only on a terminal)")
    args = p.parse_args(argv)
    args.reports, args.cache = Path(args.reports), Path(args.cache)
    return args


def _print_summary(un: dict | None, st: dict | None) -> None:
    if un:
        b = un["baseline"]
        print(f"unstructured: baseline {100 * b['accuracy_pruned']:.2f}% "
              f"({b['nonzero_params']} non-zero params)")
        for r in un["points"]:
            print(f"  sparsity {r['sparsity']:.3f} (achieved {r['weight_sparsity']:.4f}) "
                  f"{r['nonzero_params']:6d} non-zero: pruned {100 * r['accuracy_pruned']:6.2f}%"
                  f"  fine-tuned {100 * r['accuracy_finetuned']:6.2f}% ({r['finetune']['kept']})")
    if st:
        print("structured: norm ratio params FLOPs CPU-ms(float torch) CPU-ms(int8 LiteRT) | "
              "pruned fine-tuned int8 | MCU-ms flash RAM")
        for r in [st["baseline"], *st["points"]]:
            m = r.get("mcu") or {}
            int8 = r.get("int8_accuracy")
            print(f"  {r['norm']:8s} {r['ratio']:.3f} {r['params']:6d} {r['flops']:8d} "
                  f"{r['cpu_ms']:.3f} {r.get('cpu_int8_ms', float('nan')):.4f} | "
                  f"{100 * r['accuracy_pruned']:6.2f}% "
                  f"{100 * r['accuracy_finetuned']:6.2f}% "
                  f"{'' if int8 is None else f'{100 * int8:6.2f}%'} | "
                  f"{m.get('network_ms', float('nan')):8.2f} {m.get('flash_bytes', '')} "
                  f"{m.get('ram_bytes', '')}")
        print(f"  50% bar: {st['checks'].get('bar_50')}")


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from kws import config

    params = config.load(args.params)  # validated before any work
    p = params.prune

    import torch

    from kws import stage
    from kws.prune import run as prun
    from kws.sweep import PointCache, load_inputs, rounded, write_plot_csv

    torch.set_num_threads(p.workers)
    inp = load_inputs(args.model, args.features, "stages/prune.py")
    sw = prun.Sweep(inp, p, params.convert, params.features, PointCache(args.cache / "points"),
                    args.cache / "work", args.progress)
    un = st = None
    if args.only in (None, "unstructured"):
        un = rounded(prun.unstructured_sweep(sw))
        stage.write_json(args.reports / "unstructured.json", un)
        rows, cols = prun.unstructured_table(un)
        write_plot_csv(args.reports / "unstructured.csv", rows, cols)
    if args.only in (None, "structured"):
        st = rounded(prun.structured_sweep(sw))
        stage.write_json(args.reports / "structured.json", st)
        rows, cols = prun.structured_table(st, p.structured.norms)
        write_plot_csv(args.reports / "structured.csv", rows, cols)
    if un and st:
        stage.write_metrics(args.reports / "metrics.json", rounded(prun.metrics(un, st)))
    _print_summary(un, st)


if __name__ == "__main__":
    from kws import stage

    stage.run(main)
