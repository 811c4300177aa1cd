"""report stage: reports/* -> reports/README.md, reports/figures/report/*.png, reports/report/*.csv

Answers the hand-in from this run's files in reports/ (metrics JSON and sweep CSVs of every
stage) and kws/literature.json; loads no model or data. A section whose stage has not run says
in one line which stage to run. Writes:

  reports/README.md               the summary page (tables, figures, one sentence per result)
  reports/figures/report/*.png    its figures: data set, board share, latency, quantization, pruning
  reports/report/board.csv        % of the board per model and resource   (dvc plots)
  reports/report/latency.csv      ms per place and stage (CPU, emulated MCU stages) (dvc plots)
  reports/report/accuracy.csv     test accuracy float32 vs int8, and on real recordings (dvc plots)

Run from the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", default="reports", help="folder the stages wrote (default reports)")
    p.add_argument("--out", default=None, help="summary page (default REPORTS/README.md)")
    p.add_argument("--figures", default=None,
                   help="figure folder (default REPORTS/figures/report)")
    p.add_argument("--data", default=None, help="plot tables folder (default REPORTS/report)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from kws.errors import KwsError
    from kws.report import build
    from kws.stage import atomic_path, write_metrics

    reports = Path(args.reports)
    if not reports.is_dir():
        raise KwsError(f"{reports}: no such folder; run the pipeline first (dvc repro)")
    out = Path(args.out) if args.out else reports / "README.md"
    figs = Path(args.figures) if args.figures else reports / "figures" / "report"
    data = Path(args.data) if args.data else reports / "report"
    try:
        rel = Path(figs.resolve()).relative_to(out.resolve().parent).as_posix()
    except ValueError:
        rel = figs.resolve().as_posix()
    with atomic_path(figs, is_dir=True) as tmp_figs, atomic_path(data, is_dir=True) as tmp_data:
        page = build(reports, tmp_figs, tmp_data, rel_figs=rel)
        with atomic_path(out) as tmp:
            tmp.write_text(page)
    m = write_metrics(data / "metrics.json", {"lines": len(page.splitlines())})
    print(f"report: {out} ({len(page.splitlines())} lines), figures in {figs}, "
          f"{m['seconds']:.1f} s")


if __name__ == "__main__":
    from kws.stage import run

    run(main)
