"""Benchmark: every registry model through train -> convert -> firmware on the pipeline's data.

    python -m kws.bench models [--arch tiny_conv ds_cnn] [--work build/bench_models]

The pipeline trains one model (``model.arch``); the bars of the training, conversion and
firmware issues are about both registry models. This runs the same stage scripts that
``dvc repro`` runs (``stages/train.py``, ``stages/convert.py``, ``stages/firmware.py``) once per
architecture, with ``params.yaml`` changed only in ``model.arch``, on the featurize stage's
``data/features`` and ``data/raw`` (run ``dvc repro featurize`` first). Each model's checkpoint,
int8 model, firmware build and stage reports go to ``WORK/<arch>/``; the pipeline's own outputs
are not touched. Prints, per model, the figures the bars name:

- float test accuracy (bar >= 90%) and ``real_sample_accuracy``;
- int8 (LiteRT) test accuracy and its difference to float (bar within 0.5 point);
- LiteRT vs the TFLM interpreter: top-1 disagreements (bar 0);
- the firmware's C engine bit-exact with LiteRT on every test clip (host build) and on the
  emulated Cortex-M4 clips; activation arena vs TFLM's arena and the largest live set;
  network cycles per MAC under the Cortex-M4 timing model (DSP and portable C).

Writes ``reports/bench/models.json``. About 15 min on 2 cores (ds_cnn's 30 epochs dominate).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARS = {"float_accuracy_min": 0.90, "int8_minus_float_points_max": 0.5}


def _run(script: str, args: list[str]) -> None:
    cmd = [sys.executable, str(ROOT / "stages" / script), *args]
    print("  $ " + " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"error: {script} failed (exit {done.returncode}); its message is above")


def run_arch(arch: str, raw_params: dict, work: Path, features: Path, raw: Path) -> dict:
    """train, convert and firmware for ``arch`` into ``work``; the figures of the bars."""
    from kws import config
    from kws.stage import read_json

    work.mkdir(parents=True, exist_ok=True)
    params = dict(raw_params)
    params["model"] = {**raw_params.get("model", {}), "arch": arch}
    params_path = work / "params.yaml"
    with open(params_path, "w") as f:
        config._yaml12().dump(params, f)
    rep = work / "reports"
    t0 = time.perf_counter()
    _run("train.py", ["--params", str(params_path), "--features", str(features),
                      "--model", str(work / "model.pt"), "--reports", str(rep / "train"),
                      "--figures", str(rep / "figures"), "--no-progress"])
    t1 = time.perf_counter()
    _run("convert.py", ["--params", str(params_path), "--model", str(work / "model.pt"),
                        "--features", str(features), "--out-tflite", str(work / "model_int8.tflite"),
                        "--out-onnx", str(work / "model.onnx"), "--out-c", str(work / "tflm"),
                        "--reports", str(rep / "convert")])
    t2 = time.perf_counter()
    _run("firmware.py", ["--params", str(params_path), "--model", str(work / "model_int8.tflite"),
                         "--meta", str(work / "model_int8.json"), "--features", str(features),
                         "--raw", str(raw), "--out", str(work / "firmware"),
                         "--reports", str(rep / "firmware")])
    t3 = time.perf_counter()
    tr, cv, fw = (read_json(rep / s / "metrics.json") for s in ("train", "convert", "firmware"))
    lit, net = fw.get("tflm") or fw["litert"], fw["network"]
    return {
        "arch": arch,
        "float_accuracy": tr["test_accuracy"],
        "real_sample_accuracy": tr["real_sample_accuracy"],
        "int8_accuracy": cv["int8_accuracy"],
        "int8_minus_float_points": cv["int8_minus_float_points"],
        "litert_tflm_top1_disagreements": cv["litert_tflm_top1_disagreements"],
        "test_clips": cv["test_clips"],
        "host_bit_exact_clips": lit["host_exact_clips"],
        "host_bit_exact": lit["host_bit_exact"],
        "emulated_bit_exact": lit["emulated_bit_exact"],
        "emulated_clips": lit["emulated_clips"],
        "arena_bytes": fw["arena_bytes"], "largest_live_bytes": fw["largest_live_bytes"],
        "tflm_arena_bytes": fw["tflm_arena_bytes"],
        "macs": net["macs"],
        "cycles_per_mac_dsp": net["dsp"]["cycles_per_mac"],
        "cycles_per_mac_portable": net["portable"]["cycles_per_mac"],
        "network_ms_dsp": net["dsp"]["ms"],
        "flash_bytes": fw["flash_bytes"], "ram_bytes": fw["ram_bytes"],
        "seconds": {"train": round(t1 - t0, 1), "convert": round(t2 - t1, 1),
                    "firmware": round(t3 - t2, 1)},
    }


def passes(r: dict) -> dict:
    return {
        "float_accuracy": r["float_accuracy"] >= BARS["float_accuracy_min"],
        "int8_within_half_point": abs(r["int8_minus_float_points"]) <= BARS["int8_minus_float_points_max"],
        "litert_tflm_top1": r["litert_tflm_top1_disagreements"] == 0,
        "bit_exact": bool(r["host_bit_exact"] and r["host_bit_exact_clips"] == r["test_clips"]
                          and r["emulated_bit_exact"]),
        "arena": r["arena_bytes"] <= r["tflm_arena_bytes"]
        and r["arena_bytes"] <= 1.1 * r["largest_live_bytes"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench models", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    ap.add_argument("--arch", nargs="+", default=["tiny_conv", "ds_cnn"],
                    help="registry models (default: %(default)s)")
    ap.add_argument("--features", default="data/features", help="featurize output (default: %(default)s)")
    ap.add_argument("--raw", default="data/raw", help="audio (default: %(default)s)")
    ap.add_argument("--work", default="build/bench_models", help="scratch folder (default: %(default)s)")
    ap.add_argument("--out", default="reports/bench/models.json", help="JSON result (default: %(default)s)")
    args = ap.parse_args(argv)

    from kws.bench.tts import read_params
    from kws.errors import KwsError
    from kws.stage import write_json

    params_path, features = ROOT / args.params, ROOT / args.features
    try:  # a missing or bad params.yaml stops here, with its one-line message
        raw_params, _ = read_params(params_path)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not (features / "train.npz").is_file():
        print(f"error: no features in {features}: run `dvc repro featurize` first", file=sys.stderr)
        return 2
    rows = []
    for arch in args.arch:
        print(f"[{arch}]", flush=True)
        r = run_arch(arch, raw_params, ROOT / args.work / arch, features, ROOT / args.raw)
        r["passes"] = passes(r)
        rows.append(r)
    print("\nregistry models on this data (bars: float >= 90%, |int8 - float| <= 0.5 pt, "
          "LiteRT = TFLM top-1, C engine bit-exact, arena <= TFLM and <= 1.1 x live set):")
    print(f"  {'model':10s} {'float':>7s} {'real':>6s} {'int8':>7s} {'d pt':>6s} {'tflm':>5s} "
          f"{'bit-exact':>11s} {'arena/live/tflm B':>20s} {'cyc/MAC dsp/C':>14s}  all bars")
    for r in rows:
        print(f"  {r['arch']:10s} {100 * r['float_accuracy']:6.2f}% {100 * r['real_sample_accuracy']:5.1f}% "
              f"{100 * r['int8_accuracy']:6.2f}% {r['int8_minus_float_points']:+6.2f} "
              f"{r['litert_tflm_top1_disagreements']:5d} "
              f"{r['host_bit_exact_clips']:>5d}/{r['test_clips']:<5d} "
              f"{r['arena_bytes']:>6d}/{r['largest_live_bytes']}/{r['tflm_arena_bytes']} "
              f"{r['cycles_per_mac_dsp']:6.2f}/{r['cycles_per_mac_portable']:.1f}  "
              f"{'pass' if all(r['passes'].values()) else 'FAIL ' + str(r['passes'])}")
    write_json(ROOT / args.out, {"models": rows, "bars": BARS})
    print(f"  written to {args.out}")
    return 0  # a missed bar is a figure to read (FAIL above), as in the other benchmarks


if __name__ == "__main__":
    sys.exit(main())
