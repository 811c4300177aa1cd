"""convert: models/model.pt -> models/model.onnx -> models/model_int8.tflite (full int8, int8
input and output, calibrated on a fixed sample of training features), the TFLM C array
build/tflm/model_data.{cc,h}, and the checks in reports/convert/metrics.json.

Reads params.yaml `convert:` (and `features:` for the sidecar). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--model", default="models/model.pt", help="trained checkpoint")
    p.add_argument("--features", default="data/features", help="featurize output")
    p.add_argument("--out-tflite", default="models/model_int8.tflite")
    p.add_argument("--out-onnx", default="models/model.onnx")
    p.add_argument("--out-c", default="build/tflm", help="folder for model_data.cc/.h")
    p.add_argument("--reports", default="reports/convert")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    # Import after argparse so --help is instant; quiet TensorFlow's C++ logging.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float calibration
    import torch

    from kws import config
    from kws.errors import KwsError
    from kws.export.c_array import write_c_array
    from kws.checkpoint import load as load_checkpoint
    from kws.data.feature_files import load_split
    from kws.export.pipeline import (array_sha256, check_converted, convert_model,
                                     pick_calibration)
    from kws.stage import atomic_path, write_json, write_metrics

    params = config.load(args.params)
    cp = params.convert
    torch.set_num_threads(params.train.num_threads)
    t_start = time.perf_counter()

    # Calibration and test data first: their shape must be what params.yaml `features:` says
    # and what the checkpoint was trained on.
    spec = (params.features.n_frames, params.features.n_mfcc)
    train_x = load_split(Path(args.features) / "train.npz").x[:, 0].numpy()
    test = load_split(Path(args.features) / "test.npz")
    test_x, test_y = test.x[:, 0].numpy(), test.y.numpy()
    for split, x in (("train", train_x), ("test", test_x)):
        if tuple(x.shape[1:]) != spec:
            raise KwsError(f"{args.features}: {split} features are {list(x.shape[1:])} per clip, "
                           f"params.yaml features give {list(spec)}: re-run featurize "
                           "(dvc repro featurize)")
    ck = load_checkpoint(args.model)
    frames, coeffs = ck.input_shape
    if (frames, coeffs) != spec:
        raise KwsError(f"{args.model} takes {[frames, coeffs]} features but params.yaml "
                       f"features give {list(spec)}: re-run train (dvc repro train)")
    if len(test_y) and (test_y.min() < 0 or test_y.max() >= len(ck.labels)):
        raise KwsError(f"{args.features}: test labels go up to {int(test_y.max())} but the "
                       f"model has {len(ck.labels)} classes")

    calib, calib_idx = pick_calibration(train_x, cp.calibration_samples, cp.seed)
    conv = convert_model(ck.model, ck.input_shape, calib, args.out_tflite, args.out_onnx,
                         opset=cp.opset, check_x=test_x[:16] if len(test_x) else None)
    checks = check_converted(ck.model, conv.tflite, test_x, test_y,
                             arena_max=cp.arena_max, arena_step=cp.arena_step)

    defines = {"kws_model_input_scale": checks["input_scale"],
               "kws_model_input_zero_point": checks["input_zero_point"],
               "kws_model_output_scale": checks["output_scale"],
               "kws_model_output_zero_point": checks["output_zero_point"],
               "kws_model_tflm_arena_bytes": checks["tflm_arena_bytes"],
               "kws_model_num_labels": len(ck.labels)}
    write_c_array(conv.tflite, args.out_c, defines=defines, source=args.out_tflite)

    # Sidecar for `kws predict MODEL.tflite`: labels and the features the model expects.
    sidecar = {"labels": ck.labels, "arch": ck.arch, "input_shape": [frames, coeffs],
               "features": ck.features, "input_scale": checks["input_scale"],
               "input_zero_point": checks["input_zero_point"]}
    side_path = Path(args.out_tflite).with_suffix(".json")
    with atomic_path(side_path) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")

    seconds = {**conv.seconds, **checks.pop("seconds"),
               "total_s": time.perf_counter() - t_start}
    metrics = {
        "arch": ck.arch,
        **checks,
        "onnx_max_abs_diff": conv.onnx_check["onnx_max_abs_diff"],
        "onnx_ops": conv.onnx_check["onnx_ops"],
        "calibration": {"clips": int(len(calib)), "seed": cp.seed,
                        "train_clips": int(len(train_x)), "sha256": array_sha256(calib)},
        "step_seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    reports = Path(args.reports)
    metrics = write_metrics(reports / "metrics.json", metrics)
    write_json(reports / "calibration.json", {"seed": cp.seed, "indices": calib_idx.tolist(),
                                              "sha256": array_sha256(calib)})
    print(f"convert: {ck.arch} float {checks['float_accuracy']:.4f} int8 "
          f"{checks['int8_accuracy']:.4f} on {checks['test_clips']} test clips; "
          f"LiteRT/TFLM top-1 agreement {checks['litert_tflm_top1_agreement']:.4f} "
          f"(max {checks['litert_tflm_max_abs_diff_lsb']} LSB); ops {checks['op_counts']}; "
          f"{checks['tflite_bytes']} bytes; arena {checks['tflm_arena_bytes']} bytes; "
          f"{metrics['seconds']:.1f} s")


if __name__ == "__main__":
    from kws.stage import run

    run(main)
