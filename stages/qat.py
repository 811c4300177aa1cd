"""qat stage: quantization-aware fine-tuning of models/model.pt at each bit width.

For each bit width of ``qat.bits`` (and scheme, weight granularity): fold BatchNorm, insert fake
quantizers, calibrate as the ptq stage does, fine-tune ``qat.finetune.epochs`` epochs through the
straight-through estimator (the best validation epoch is kept, epoch 0 = the PTQ model included),
evaluate the test split.

  reports/qat/sweep.json            one row per point: bits, scheme, accuracy, PTQ accuracy, size
  reports/qat/accuracy_vs_bits.csv  the dvc plot (with the PTQ curve and the float baseline)
  reports/qat/metrics.json

Finished points are cached in build/quant/qat: an interrupted sweep resumes at the first
unfinished point, and changing one parameter recomputes only the points it touches.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from kws.quant.stagecli import parse_args

    args = parse_args("qat", __doc__, argv)
    from kws import config

    p = config.load(args.params).qat

    import torch

    from kws import stage
    from kws.quant import run as qrun
    from kws.sweep import PointCache, load_inputs, rounded, write_plot_csv

    torch.set_num_threads(p.workers)
    inp = load_inputs(args.model, args.features, "stages/qat.py")
    report = qrun.qat_sweep(inp, p, PointCache(args.cache), progress=args.progress)
    stage.write_json(args.reports / "sweep.json", rounded(report))
    rows, cols = qrun.bits_table(report, "qat", with_float=False)
    write_plot_csv(args.reports / "accuracy_vs_bits.csv", rows, cols)
    stage.write_metrics(args.reports / "metrics.json", qrun.metrics(report, "bits"))
    print(f"float: {100 * report['float']['accuracy']:.2f}%")
    for r in report["points"]:
        print(f"qat {r['bits']}b {r['scheme']:10s} {r['granularity']:11s} "
              f"{100 * r['accuracy']:6.2f}% (ptq {100 * r['ptq_accuracy']:6.2f}%, best epoch "
              f"{r['best_epoch']}/{r['epochs']})  {r['size_bytes']:7d} B")
    print(f"{report['points_cached']} of {len(report['points'])} points from the cache, "
          f"{report['seconds']:.1f} s on {report['device']}")


if __name__ == "__main__":
    from kws import stage

    stage.run(main)
