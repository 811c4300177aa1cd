"""ptq stage: post-training quantization sweep of models/model.pt.

Calibrates activation ranges on a fixed subset of the training features, then evaluates the test
split with weights and activations fake-quantized at each bit width of ``ptq.bits``, for each
scheme and weight granularity, and runs the integer-only emulation alongside.

  reports/ptq/sweep.json            one row per point: bits, scheme, accuracy, size in bytes, ...
  reports/ptq/accuracy_vs_bits.csv  the dvc plot (with the QAT curve and the float baseline)
  reports/ptq/metrics.json          accuracy per scheme and bit width, float accuracy

Finished points are cached in build/quant/ptq, so an interrupted run resumes (kws/sweep.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from kws.quant.stagecli import parse_args

    args = parse_args("ptq", __doc__, argv)
    from kws import config

    p = config.load(args.params).ptq  # validated before any work

    import torch

    from kws import stage
    from kws.quant import run as qrun
    from kws.sweep import PointCache, load_inputs, rounded, write_plot_csv

    torch.set_num_threads(p.workers)
    inp = load_inputs(args.model, args.features, "stages/ptq.py")
    report = qrun.ptq_sweep(inp, p, PointCache(args.cache), progress=args.progress)
    stage.write_json(args.reports / "sweep.json", rounded(report))
    rows, cols = qrun.bits_table(report, "ptq", with_float=True)
    write_plot_csv(args.reports / "accuracy_vs_bits.csv", rows, cols)
    stage.write_metrics(args.reports / "metrics.json", qrun.metrics(report, "bits"))
    print(f"float: {100 * report['float']['accuracy']:.2f}%  ({report['float']['size_bytes']} B)")
    for r in report["points"]:
        integer = r.get("integer")
        extra = (f"  integer {100 * integer['accuracy']:.2f}%, output codes equal "
                 f"{100 * integer['output_codes_equal']:.2f}%") if integer else ""
        print(f"ptq {r['bits']}b {r['scheme']:10s} {r['granularity']:11s} "
              f"{100 * r['accuracy']:6.2f}%  {r['size_bytes']:7d} B{extra}")
    print(f"{report['points_cached']} of {len(report['points'])} points from the cache, "
          f"{report['seconds']:.1f} s")


if __name__ == "__main__":
    from kws import stage

    stage.run(main)
