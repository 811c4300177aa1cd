"""stream: always-on detection measured as a product.

Builds deterministic long test streams (kws/stream/synth.py): `stream.minutes` of test-split
keywords at random times among other words of the test split, background noise at a range of
SNRs, near silence and reverb, with the ground truth of every word; and a stream of the real
clips of `train.real_samples_dir` when that folder exists. Runs the int8 model through the
firmware's streaming recognizer (firmware/runtime/kws_stream.c, in the host build: new MFCC
frames only, the network every `stream.period_ms`, RecognizeCommands) and replays the stored
network outputs through the same C recognizer at every threshold of `stream.threshold_grid`:
hit rate, false accepts per hour and detection delay per keyword and overall, and the DET
curve. Picks the lowest threshold meeting `stream.target_fa_per_hour` on the synthetic stream
and writes it into build/stream/stream_settings.h and the sketch folder
build/stream/arduino/kws_mcu (the firmware stage's sketch with that file: the one to upload).
Checks that the emulated Cortex-M4 build takes the same decisions as the host build (at
`stream.detection_threshold`, with every inference's score bits compared) on the
first `stream.emulate_seconds` of the stream and times `stream.timed_steps` streaming steps
(new frames + network + smoothing) on the Cortex-M4 timing model: ms at the clock, duty cycle
and headroom at the period.

Writes reports/stream/metrics.json, reports/stream/det_synthetic.csv, det_real.csv (dvc
plots), and build/stream/ (settings, sketch, host build, ground truth and detections CSVs).
Run from the repository root.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--firmware", default="build/firmware", help="the firmware stage's output")
    p.add_argument("--meta", default="models/model_int8.json", help="labels sidecar")
    p.add_argument("--raw", default="data/raw", help="audio (test split, background noise)")
    p.add_argument("--out", default="build/stream")
    p.add_argument("--reports", default="reports/stream")
    p.add_argument("--save-audio", action="store_true",
                   help="also write the streams as wavs into --out (about 115 MB per hour)")
    return p.parse_args(argv)


def resolve_dir(value, root: Path):
    """A folder param: absolute as given, relative from the repository root; None stays None."""
    if value is None or str(value).strip() == "":
        return None
    p = Path(str(value)).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def main(argv=None) -> None:
    args = parse_args(argv)
    from kws import config
    from kws.errors import KwsError
    from kws.stage import atomic_path, read_json, write_metrics
    from kws.stream.run import run_stage

    params = config.load(args.params)
    meta = Path(args.meta)
    if not meta.is_file():
        raise KwsError(f"{meta} not found: run the convert stage first (dvc repro convert)")
    labels = read_json(meta).get("labels")
    if not labels or len(labels) < 3:
        raise KwsError(f"{meta} names no labels (expected _silence_, _unknown_ and the words)")
    real_dir = resolve_dir(params.train.real_samples_dir, ROOT)
    t0 = time.perf_counter()
    with atomic_path(args.out, is_dir=True) as tmp, \
            atomic_path(args.reports, is_dir=True) as rep:
        metrics = run_stage(params, Path(args.firmware), Path(args.raw), labels, Path(tmp),
                            Path(rep), real_dir, save_audio=args.save_audio)
        metrics["run_seconds"] = round(time.perf_counter() - t0, 1)
        # the top-level seconds: the process's wall time (kws.stage.write_metrics)
        metrics = write_metrics(Path(rep) / "metrics.json", metrics)
    s, th = metrics["synthetic"], metrics["threshold"]
    line = (f"stream: threshold {th['chosen']:.4g}; synthetic {s['minutes']:.0f} min: hit rate "
            f"{100 * s['hit_rate']:.1f}%, {s['fa_per_hour']:.2f} false accepts/h, delay median "
            f"{s['delay_after_word_end']['median_ms']} ms")
    if metrics.get("real"):
        r = metrics["real"]
        line += (f"; real {r['minutes']:.0f} min: hit rate {100 * r['hit_rate']:.1f}%, "
                 f"{r['fa_per_hour']:.2f} false accepts/h")
    e = metrics.get("emulated")
    if e:
        st = e["step"]
        line += (f"; Cortex-M4 step {st['ms']['total']:.1f} ms per {st['period_ms']} ms "
                 f"(duty {100 * st['duty_cycle']:.0f}%), host = emulator on {e['seconds_of_stream']:.0f} s: "
                 f"{e['decisions_identical']}")
    print(line + f" ({metrics['seconds']} s)")


if __name__ == "__main__":
    from kws.stage import run

    run(main)
