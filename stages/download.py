"""Stage `download`: build data/raw, the Speech Commands layout every later stage reads.

data.source picks where the clips come from:
  synthetic        the keywords and other words spoken by offline TTS voices (espeak-ng,
                   flite, piper, hibari, Kokoro, Festival), deterministic under data.seed,
                   checked by an offline recognizer (kws/data/synthetic.py, tts.py)
  speech_commands  Speech Commands v0.02 from data.url: resumable download into data/cache/,
                   sha256 check against data.sha256, safe extraction
  folder           any directory in Speech Commands layout (data.folder); bad wavs are skipped
                   and counted

Writes data/raw/ atomically (<word>/<speaker>_nohash_<n>.wav, _background_noise_/,
validation_list.txt, testing_list.txt) and reports/data/metrics.json (clips per word per
split, speakers per split, noise files, skipped files and why, warnings, time taken).

Refuses (exit 2, nothing written) a data set that later stages could not train on: an empty
split, a data.words word with no training clip, no other words while
data.unknown_percentage > 0, no background noise while data.silence_percentage > 0. A word
missing from validation or test only, or a split list the source lacks (then computed with
the hash split), is a warning, printed and kept in the metrics.
"""

from __future__ import annotations

import argparse
import sys
import time

from kws import config
from kws.data import speech_commands as sc
from kws.errors import DataError
from kws.stage import atomic_path, run, write_metrics


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__,
        epilog="Run it through DVC: dvc repro download (or dvc exp run --set-param "
               "data.source=folder --set-param data.folder=/path/to/speech_commands).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    ap.add_argument("--out", default="data/raw", help="output folder (default: %(default)s)")
    ap.add_argument("--cache", default="data/cache",
                    help="download cache, kept between runs, not a DVC output (default: %(default)s)")
    ap.add_argument("--metrics", default="reports/data/metrics.json",
                    help="metrics file (default: %(default)s)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    d = config.load(args.params).data
    t0 = time.perf_counter()
    with atomic_path(args.out, is_dir=True) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; data/raw is shared with the later stages
        if d.source == "synthetic":
            from kws.data import synthetic

            report = synthetic.generate_from_params(tmp, d, progress=not args.quiet)
            skipped = sc.Skipped().to_dict()
        elif d.source == "folder":
            report = sc.import_folder(d.folder, tmp, d.validation_percentage, d.testing_percentage)
            skipped = report.pop("skipped")
        else:
            report = sc.fetch_speech_commands(d.url, d.sha256, tmp, args.cache,
                                              progress=not args.quiet, params=args.params)
            skipped = report.pop("skipped")
        lists = sc.ensure_split_lists(tmp, d.validation_percentage, d.testing_percentage)
        if d.source == "folder":  # import_folder computed the missing ones itself
            lists = {name: v["origin"] for name, v in report["lists"].items()}
        summary = sc.summarize(tmp)
        if summary["clips"]["total"] == 0:
            raise DataError(f"data.source: {d.source} in {args.params} gave no clips; nothing "
                            "written")
        warnings = [f"data.source: {d.source} has no {name}: computed it with which_set (the "
                    "Speech Commands hash split)" for name, o in lists.items() if o == "which_set"]
        warnings += sc.check_data_set(summary, d, args.params)
    metrics = {
        "source": d.source,
        **summary,
        "split_lists": lists,
        "skipped": skipped,
        "warnings": warnings,
        "generate_seconds": round(time.perf_counter() - t0, 2),
        d.source: report,
    }
    metrics = write_metrics(args.metrics, metrics)
    c = summary["clips"]
    print(f"{args.out}: {c['total']} clips of {summary['words']} words (train {c['train']}, "
          f"validation {c['validation']}, test {c['test']}), {summary['background_noise_files']} "
          f"noise files, {skipped['count']} skipped, {metrics['seconds']:.1f} s")
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
