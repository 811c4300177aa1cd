"""The convert stage as a library call: checkpoint + features -> ONNX, int8 TFLite, C array,
and the checks (float vs int8 accuracy, LiteRT vs TFLM, ops, size, arena, input quantization).

``convert_model`` is also what the prune stage calls to time pruned models.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kws.errors import KwsError
from kws.export import interpreters as interp
from kws.export.onnx import INPUT_NAME, export_onnx
from kws.export.tflite import check_calibration, onnx_to_int8_tflite, op_list
from kws.stage import atomic_path

LAYOUT_OPS = ("TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD")


@dataclass
class Converted:
    tflite: bytes
    ops: list[str]
    seconds: dict
    onnx_check: dict


def pick_calibration(train_x: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed sample of ``n`` training clips (all of them if fewer): (features, indices)."""
    if len(train_x) == 0:
        raise KwsError("the training split is empty: no calibration data")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(train_x), size=min(n, len(train_x)), replace=False))
    return train_x[idx], idx


def convert_model(model: torch.nn.Module, input_shape: tuple[int, int], calib: np.ndarray,
                  tflite_path: str | Path, onnx_path: str | Path, opset: int = 13,
                  check_x: np.ndarray | None = None) -> Converted:
    """torch ``model`` -> ``onnx_path`` -> full-int8 ``tflite_path`` (both written atomically).

    ``calib``: float features ``[n, frames, coeffs]`` (or with a channel of 1), the raw values
    the model sees. ``check_x``: a few clips to compare ONNX with torch.
    """
    calib_nhwc = check_calibration(calib, input_shape)
    frames, coeffs = input_shape
    t0 = time.perf_counter()
    if check_x is None:
        check_x = calib_nhwc[:8]
    check_nchw = np.asarray(check_x, np.float32).reshape(-1, 1, frames, coeffs)
    # Both files appear only if both steps succeed.
    with atomic_path(onnx_path) as tmp_onnx, atomic_path(tflite_path) as tmp_tfl:
        onnx_check = export_onnx(model, input_shape, tmp_onnx, opset=opset,
                                 check_inputs=check_nchw)
        t1 = time.perf_counter()
        onnx_to_int8_tflite(tmp_onnx, calib_nhwc, tmp_tfl, input_name=INPUT_NAME)
        data = Path(tmp_tfl).read_bytes()
    t2 = time.perf_counter()
    return Converted(data, op_list(data), {"onnx_export_s": t1 - t0, "onnx2tf_s": t2 - t1},
                     onnx_check)


def torch_logits(model: torch.nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    frames, coeffs = x.shape[-2:]
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch], np.float32))
            outs.append(model(xb.reshape(-1, 1, frames, coeffs)).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def check_converted(model: torch.nn.Module, tflite: bytes, test_x: np.ndarray,
                    test_y: np.ndarray, arena_max: int = 1 << 20, arena_step: int = 16) -> dict:
    """Accuracy (torch float vs LiteRT int8), LiteRT vs TFLM, arena, quantization, ops."""
    t0 = time.perf_counter()
    float_logits = torch_logits(model, test_x)
    t1 = time.perf_counter()
    q_lite = interp.run_litert(tflite, test_x)  # reference kernels
    t2 = time.perf_counter()
    q_fast = interp.run_litert(tflite, test_x, reference=False)  # LiteRT default (XNNPACK)
    q_in = interp.input_qparams(tflite)
    q_out = interp.output_qparams(tflite)
    q_micro = interp.run_tflm(tflite, test_x, arena_size=arena_max)
    t3 = time.perf_counter()
    probe = interp.quantize(test_x[:2].reshape(len(test_x[:2]), *test_x.shape[1:], 1), q_in) \
        if len(test_x) else None
    arena = interp.min_tflm_arena(tflite, probe=probe, hi=arena_max, step=arena_step)
    t4 = time.perf_counter()
    deq = interp.dequantize(q_lite, q_out)
    lsb = np.abs(q_lite.astype(np.int32) - q_micro.astype(np.int32))
    n = len(test_y)
    float_acc = float((float_logits.argmax(1) == test_y).mean()) if n else float("nan")
    int8_acc = float((q_lite.argmax(1) == test_y).mean()) if n else float("nan")
    ops = op_list(tflite)
    return {
        "test_clips": int(n),
        "float_accuracy": float_acc,
        "int8_accuracy": int8_acc,
        "int8_minus_float_points": 100.0 * (int8_acc - float_acc),
        "int8_float_top1_agreement": float((q_lite.argmax(1) == float_logits.argmax(1)).mean()),
        "int8_float_max_abs_logit_diff": float(np.abs(deq - float_logits).max()) if n else 0.0,
        "litert_tflm_top1_agreement": float((q_lite.argmax(1) == q_micro.argmax(1)).mean()),
        "litert_tflm_top1_disagreements": int((q_lite.argmax(1) != q_micro.argmax(1)).sum()),
        "litert_tflm_max_abs_diff_lsb": int(lsb.max()) if n else 0,
        "litert_tflm_max_abs_diff": float(lsb.max() * q_out.scale) if n else 0.0,
        "litert_default_vs_reference_max_abs_diff_lsb": int(np.abs(
            q_fast.astype(np.int32) - q_lite.astype(np.int32)).max()) if n else 0,
        "litert_default_int8_accuracy": float((q_fast.argmax(1) == test_y).mean()) if n
        else float("nan"),
        "ops": ops,
        "op_counts": {op: ops.count(op) for op in sorted(set(ops))},
        "layout_ops": sorted({op for op in ops if op in LAYOUT_OPS}),
        "tflite_bytes": len(tflite),
        "tflm_arena_bytes": int(arena),
        "input_scale": q_in.scale,
        "input_zero_point": q_in.zero_point,
        "output_scale": q_out.scale,
        "output_zero_point": q_out.zero_point,
        "seconds": {"float_eval_s": t1 - t0, "litert_eval_s": t2 - t1, "tflm_eval_s": t3 - t2,
                    "arena_bisection_s": t4 - t3},
    }


def array_sha256(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
