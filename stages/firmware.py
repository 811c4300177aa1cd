"""firmware: models/model_int8.tflite -> C engine (build/firmware/src), host and Cortex-M4F
builds, the Arduino sketch folder (build/firmware/arduino/kws_mcu), and the checks and figures
in reports/firmware/metrics.json:

- bit-exactness of the C network with TFLM's reference kernels (tflite-micro's Python
  interpreter) on the whole test split (host build), and of the Cortex-M4 build (emulated) on
  `firmware.emulate_clips` clips; agreement with LiteRT's reference kernels for comparison;
- the C MFCC against kws.features on test clips (quantized model input);
- flash and RAM from the ELF and the emulated stack, arena vs the largest live set;
- cycles per stage (features, network, post-processing) under the Cortex-M4 timing model
  (kws/firmware/timing.py), for the DSP kernels and the portable C: a model, not a board.

Reads params.yaml `firmware:`, `features:` and the streaming recognizer's settings of `stream:`
(stream_settings.h: period, averaging window, threshold, suppression, minimum count). Run from
the repository root.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--model", default="models/model_int8.tflite", help="int8 TFLite model")
    p.add_argument("--meta", default="models/model_int8.json", help="labels and features sidecar")
    p.add_argument("--features", default="data/features", help="featurize output (test split)")
    p.add_argument("--raw", default="data/raw", help="audio (test clips for the MFCC check)")
    p.add_argument("--out", default="build/firmware")
    p.add_argument("--reports", default="reports/firmware")
    p.add_argument("--mfcc-clips", type=int, default=200,
                   help="test clips for the C-vs-Python MFCC check (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from kws import config
    from kws.errors import KwsError
    from kws.firmware.report import check_firmware
    from kws.stage import atomic_path, read_json, write_metrics

    params = config.load(args.params)
    fp, spec = params.firmware, params.features
    model_path = Path(args.model)
    if not model_path.is_file():
        raise KwsError(f"{model_path} not found: run the convert stage first (dvc repro convert)")
    meta = read_json(args.meta) if Path(args.meta).is_file() else {}
    labels = meta.get("labels")
    t0 = time.perf_counter()
    with atomic_path(args.out, is_dir=True) as tmp:
        metrics = check_firmware(model_path.read_bytes(), Path(tmp), spec, labels, fp,
                                 features_dir=args.features, raw_dir=args.raw,
                                 mfcc_clips=args.mfcc_clips, data_params=params.data,
                                 stream=params.stream)
    metrics["check_seconds"] = round(time.perf_counter() - t0, 1)
    metrics = write_metrics(Path(args.reports) / "metrics.json", metrics)
    n = metrics["network"]
    print(f"firmware: flash {metrics['flash_bytes']} B, RAM {metrics['ram_bytes']} B "
          f"(arena {metrics['arena_bytes']} B, largest live set {metrics['largest_live_bytes']} B); "
          f"network {n['dsp']['cycles']} cycles = {n['dsp']['cycles_per_mac']:.2f} cycles/MAC "
          f"({n['dsp']['ms']:.1f} ms at {fp.clock_hz / 1e6:g} MHz; portable C "
          f"{n['portable']['cycles_per_mac']:.2f}); bit-exact with TFLM on "
          f"{metrics['tflm']['host_exact_clips']}/{metrics['tflm']['clips']} clips (LiteRT "
          f"{metrics['litert']['host_exact_clips']})")


if __name__ == "__main__":
    from kws.stage import run

    run(main)
