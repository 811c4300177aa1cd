"""Stage `featurize`: data/raw (Speech Commands layout) -> MFCC features of every split.

Builds the split index (kws/data/dataset.py: keyword clips, _unknown_ and _silence_ at
data.unknown_percentage / data.silence_percentage of each final split, the train split's
_unknown_ at data.train_unknown_percentage when set, seeded by data.seed),
reads the wavs with a thread pool, adds features.augment.copies augmented copies of each
training example (kws/data/augment.py, float64, rounded to int16), and computes the MFCC of
params.yaml features: with the firmware's own C frontend (kws/frontend.py): the same bytes on
any machine.

Writes, atomically:
  data/features/{train,validation,test}.npz   x float32 [N, frames, coeffs], y int64 [N],
                                              path str [N] (wav relative to data/raw, or
                                              "_silence_"), copy int8 [N] (0 = clean)
  data/features/labels.json                   {"labels": [...], "features": {...params...}}
  reports/features/metrics.json               clips per label per split, shares, skipped
                                              files and why, seconds, clips/s
  reports/figures/views/<label>.png           the five audio views of one clip per label
Unreadable or wrong-format wavs are skipped and counted in the metrics, never fatal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kws import config
from kws.errors import DataError
from kws.stage import atomic_path, run, write_metrics


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, epilog="Run it through DVC: dvc repro "
                                 "featurize", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    ap.add_argument("--raw", default="data/raw", help="input folder (default: %(default)s)")
    ap.add_argument("--out", default="data/features", help="output folder (default: %(default)s)")
    ap.add_argument("--metrics", default="reports/features/metrics.json",
                    help="metrics file (default: %(default)s)")
    ap.add_argument("--views", default="reports/figures/views",
                    help="folder for the per-label audio views (default: %(default)s)")
    ap.add_argument("--no-views", action="store_true", help="do not draw the views figures")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads running the C frontend (default: %(default)s; the features "
                    "do not depend on it)")
    ap.add_argument("--workers", type=int, default=2,
                    help="processes reading and rendering (augmenting) clips, and threads "
                    "checking them (default: %(default)s; the features do not depend on it)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    params = config.load(args.params)
    if args.threads < 1 or args.workers < 1:
        raise DataError("--threads and --workers must be at least 1")
    import os

    os.environ["KWS_FRONTEND_THREADS"] = str(args.threads)
    from kws.data.featurize import example_audio, featurize
    from kws.views import save_views

    raw = Path(args.raw)
    if not raw.is_dir():
        raise DataError(f"{raw} not found: run the download stage first (dvc repro download)")

    def draw_views(index, noises) -> None:
        with atomic_path(args.views, is_dir=True) as tmp:
            tmp.chmod(0o755)
            for label, name in enumerate(index.labels):
                ex = example_audio(raw, index, label, params, noises)
                if ex is None:
                    continue
                split, path, audio = ex
                what = "zeros + a background noise segment" if path == "_silence_" else path
                save_views(audio, tmp / f"{name}.png", params.features,
                           f"label {name}: {what} ({split} split, clean)")

    metrics = featurize(raw, args.out, params, workers=args.workers, progress=not args.quiet,
                        views=None if args.no_views else draw_views)
    Path(args.out).chmod(0o755)
    metrics = write_metrics(args.metrics, metrics)
    Path(args.metrics).chmod(0o644)  # atomic_path's temp file is private
    sk = metrics["skipped"]["count"]
    print(f"featurize: {metrics['total']} examples ({metrics['examples']}) of "
          f"{metrics['feature_shape']} in {metrics['seconds']:.1f} s "
          f"({metrics['clips_per_s']:.0f} clips/s); skipped {sk} file(s)"
          + (f" {metrics['skipped']['by_reason']}" if sk else ""))
    for note in metrics["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    run(main)
