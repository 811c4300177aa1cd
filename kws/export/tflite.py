"""ONNX -> full-integer TFLite: onnx2tf (to a TensorFlow SavedModel), then TensorFlow's
TFLite converter.

int8 weights (per-channel), int8 activations, int8 input and output. The calibration
(representative) data is given explicitly, in NHWC ``[n, frames, coeffs, 1]``: the raw MFCC
values the model was trained on (no normalization), so nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from kws.errors import KwsError


class ConversionError(KwsError):
    """onnx2tf or the TFLite converter failed, or produced a model that is not full int8."""


def check_calibration(calib: np.ndarray, input_shape: tuple[int, int]) -> np.ndarray:
    """Return ``calib`` as float32 NHWC ``[n, frames, coeffs, 1]``; raise on a wrong shape.

    NCHW ``[n, 1, frames, coeffs]`` and ``[n, frames, coeffs]`` are accepted and reshaped.
    """
    frames, coeffs = input_shape
    calib = np.asarray(calib)
    if calib.ndim == 4 and calib.shape[1:] == (1, frames, coeffs):
        calib = calib.reshape(len(calib), frames, coeffs, 1)
    elif calib.ndim == 3 and calib.shape[1:] == (frames, coeffs):
        calib = calib[..., None]
    if calib.ndim != 4 or calib.shape[1:] != (frames, coeffs, 1):
        raise KwsError(f"calibration data has shape {list(calib.shape)}, the model needs "
                       f"[n, {frames}, {coeffs}, 1] (NHWC) features: re-run featurize with the "
                       "same features params the model was trained with")
    if len(calib) == 0:
        raise KwsError("calibration data is empty: need at least one feature clip")
    if not np.all(np.isfinite(calib)):
        raise KwsError("calibration data contains NaN or inf values")
    return np.ascontiguousarray(calib, dtype=np.float32)


def onnx_to_int8_tflite(onnx_path: str | Path, calib_nhwc: np.ndarray, out_path: str | Path,
                        input_name: str = "mfcc", verbose: bool = False) -> dict:
    """Convert ``onnx_path`` to a full-integer TFLite model at ``out_path``.

    onnx2tf turns the ONNX graph into a TensorFlow SavedModel (NCHW -> NHWC); TensorFlow's
    TFLite converter quantizes it with the settings of onnx2tf's own full-integer output
    (default optimizations, int8 builtins, per-channel weights, int8 input and output,
    ``calib_nhwc`` as the representative data, one clip per batch). onnx2tf's
    ``output_integer_quantized_tflite`` would also write four other quantized variants
    (dynamic range, int8 with float I/O, two int16-activation ones) that nothing here uses:
    the same model in half the time (2.9 s instead of 6.2 s on this machine; same weights,
    scales and outputs). Keras layer names are reset first, so the model's bytes do not depend
    on the conversions done before it in the same process.

    ``calib_nhwc`` is the representative data, float32 ``[n, frames, coeffs, 1]``.
    Returns ``{"seconds": ..., "onnx2tf_version": ...}``.
    """
    import time

    import onnx2tf
    import tensorflow as tf

    if calib_nhwc.ndim != 4 or calib_nhwc.dtype != np.float32:
        raise KwsError(f"calibration data must be float32 NHWC, got {calib_nhwc.dtype} "
                       f"{list(calib_nhwc.shape)}")
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise KwsError(f"{onnx_path} not found")
    out_path = Path(out_path)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kws-onnx2tf-") as tmp:
        tmp = Path(tmp)
        # onnx2tf rewrites its input file (op names), so give it a copy.
        work_onnx = tmp / "model.onnx"
        shutil.copyfile(onnx_path, work_onnx)
        log_path = tmp / "onnx2tf.log"
        cwd = os.getcwd()
        tf.keras.backend.clear_session()  # layer names (model_1/...) restart at each model

        def representative():
            for i in range(len(calib_nhwc)):
                yield {input_name: tf.constant(calib_nhwc[i:i + 1])}

        try:
            # onnx2tf writes stray files into the working directory; keep them in tmp.
            os.chdir(tmp)
            with (contextlib.nullcontext() if verbose else _captured_output(log_path)):
                onnx2tf.convert(
                    input_onnx_file_path=str(work_onnx),
                    output_folder_path=str(tmp / "out"),
                    output_signaturedefs=True,  # the SavedModel the quantizer starts from
                    not_use_onnxsim=True,  # not installed; export_onnx folds constants
                    non_verbose=not verbose,
                    verbosity="debug" if verbose else "error",
                )
                conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "out"))
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.representative_dataset = representative
                conv.inference_input_type = tf.int8
                conv.inference_output_type = tf.int8
                produced = conv.convert()
        except SystemExit as err:  # onnx2tf reports its errors with sys.exit(1)
            raise ConversionError(f"onnx2tf failed (exit {err.code}): "
                                  f"{_last_line(log_path)}") from None
        except Exception as err:  # noqa: BLE001  TF/Keras raise many kinds
            msg = str(err).strip().splitlines()
            raise ConversionError(f"onnx2tf or the TFLite converter failed: "
                                  f"{type(err).__name__}: "
                                  f"{msg[0] if msg else _last_line(log_path)}") from None
        finally:
            os.chdir(cwd)
    info = model_io(produced)
    for side in ("input", "output"):
        if info[side]["dtype"] != "int8":
            raise ConversionError(f"converted model's {side} is {info[side]['dtype']}, "
                                  "expected int8")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(produced)
    return {"seconds": time.perf_counter() - t0, "onnx2tf_version": onnx2tf.__version__}


@contextlib.contextmanager
def _captured_output(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2, so C++ logging too)
    to ``path`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        return "(no message)"
    return re.sub(r"\x1b\[[0-9;]*m", "", lines[-1]) if lines else "(no message)"


def model_io(model: bytes) -> dict:
    """Input/output dtype, shape and quantization of a .tflite flatbuffer."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    out = {}
    for side, det in (("input", it.get_input_details()[0]), ("output", it.get_output_details()[0])):
        scale, zp = det["quantization"]
        out[side] = {"dtype": np.dtype(det["dtype"]).name, "shape": [int(s) for s in det["shape"]],
                     "scale": float(scale), "zero_point": int(zp)}
    return out


def op_list(model: bytes) -> list[str]:
    """The builtin op names of a .tflite model, in execution order (subgraph 0)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    return [d["op_name"] for d in it._get_ops_details()]
