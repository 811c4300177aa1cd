"""minifloat stage: ExMy minifloat weights and activations, PTQ and QAT, per format.

For each format of ``minifloat.formats`` (default E5M2 and E4M3, the OCP 8-bit floats; E3M2 and
E2M1, the OCP microscaling FP6 and FP4 element types) and each method of ``minifloat.methods``:
fold BatchNorm, round weights and activations to the format (after a per-channel / per-tensor
float scale unless ``scaling: none``), calibrate, fine-tune for ``qat``, evaluate the test split.

  reports/minifloat/sweep.json      one row per point: format, method, bits, accuracy, size
  reports/minifloat/accuracy.csv    the dvc plot
  reports/minifloat/metrics.json

Finished points are cached in build/quant/minifloat (resumable).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from kws.quant.stagecli import parse_args

    args = parse_args("minifloat", __doc__, argv)
    from kws import config
    from kws.errors import ParamsError

    p = config.load(args.params).minifloat

    import torch

    from kws import stage
    from kws.quant import run as qrun
    from kws.quant.minifloat import parse_format
    from kws.sweep import PointCache, load_inputs, rounded, write_plot_csv

    for f in [*p.formats, *([p.io_format] if p.io_format else [])]:
        try:
            parse_format(f if isinstance(f, str) else f.model_dump(exclude_none=True))
        except (ValueError, TypeError) as err:
            raise ParamsError(f"params.yaml: minifloat.formats: {err}") from None
    torch.set_num_threads(p.workers)
    inp = load_inputs(args.model, args.features, "stages/minifloat.py")
    report = qrun.minifloat_sweep(inp, p, PointCache(args.cache), progress=args.progress)
    stage.write_json(args.reports / "sweep.json", rounded(report))
    rows = [{"point": "float32", "format": "float32", "method": "float", "bits": 32,
             "accuracy": report["float"]["accuracy"]}]
    rows += [{"point": f"{r['format']} {r['method'].upper()}", **r} for r in report["points"]]
    write_plot_csv(args.reports / "accuracy.csv", rows,
                   ["point", "format", "method", "bits", "accuracy"])
    stage.write_metrics(args.reports / "metrics.json", qrun.metrics(report, "format"))
    print(f"float: {100 * report['float']['accuracy']:.2f}%")
    for r in report["points"]:
        print(f"{r['method']} {r['format']:5s} ({r['bits']} bits, max {r['max_normal']:g}) "
              f"{100 * r['accuracy']:6.2f}%  {r['size_bytes']:7d} B")
    print(f"{report['points_cached']} of {len(report['points'])} points from the cache, "
          f"{report['seconds']:.1f} s on {report['device']}")


if __name__ == "__main__":
    from kws import stage

    stage.run(main)
