"""Run an int8 .tflite model on float features: LiteRT's interpreter and the TFLM Python
interpreter, plus the smallest TFLM arena that works (found by bisection).

Both take float features ``[n, frames, coeffs]`` (or NHWC/NCHW with a channel of 1), quantize
them with the model's own input scale and zero point, and return int8 outputs; ``dequantize``
turns those into float logits with the output scale and zero point.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from kws.errors import KwsError


@dataclass(frozen=True)
class QParams:
    scale: float
    zero_point: int


def _io(model: bytes, reference: bool = True):
    """A LiteRT interpreter. ``reference=True`` uses TFLite's reference kernels (the int8
    semantics TFLM and the firmware implement); ``False`` is LiteRT's default, which hands
    int8 convs to XNNPACK: measured up to 4 LSB off the reference on a trained ds_cnn, enough
    to flip top-1 on ~1% of clips."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    it = Interpreter(model_content=model, num_threads=1,
                     experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    for side, det in (("input", inp), ("output", out)):
        if np.dtype(det["dtype"]) != np.int8:
            raise KwsError(f"model {side} is {np.dtype(det['dtype']).name}; expected an int8 "
                           "model (full-integer quantization)")
    return it, inp, out


def input_qparams(model: bytes) -> QParams:
    _, inp, _ = _io(model)
    return QParams(float(inp["quantization"][0]), int(inp["quantization"][1]))


def output_qparams(model: bytes) -> QParams:
    _, _, out = _io(model)
    return QParams(float(out["quantization"][0]), int(out["quantization"][1]))


def quantize(x: np.ndarray, q: QParams) -> np.ndarray:
    """float -> int8 as TFLite does: round half away from zero, then saturate."""
    v = np.asarray(x, np.float64) / q.scale
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r + q.zero_point, -128, 127).astype(np.int8)


def dequantize(q_x: np.ndarray, q: QParams) -> np.ndarray:
    return ((q_x.astype(np.float32) - q.zero_point) * q.scale).astype(np.float32)


def _as_nhwc(x: np.ndarray, shape) -> np.ndarray:
    """Reshape features to the model's input shape ``[n, *shape[1:]]``."""
    x = np.asarray(x)
    per = int(np.prod(shape[1:]))
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != per:
        raise KwsError(f"features of shape {list(x.shape)} do not fit the model input "
                       f"{[int(s) for s in shape]}")
    if x.ndim == 4 and x.shape[1] == 1 and tuple(shape[1:]) != tuple(x.shape[1:]):
        x = np.moveaxis(x, 1, -1)  # NCHW with one channel -> NHWC
    return x.reshape(len(x), *[int(s) for s in shape[1:]])


def run_litert(model: bytes, features: np.ndarray, reference: bool = True) -> np.ndarray:
    """int8 outputs ``[n, classes]`` of LiteRT's interpreter on float ``features``
    (reference kernels unless ``reference=False``, see ``_io``)."""
    it, inp, out = _io(model, reference)
    q = QParams(float(inp["quantization"][0]), int(inp["quantization"][1]))
    x = quantize(_as_nhwc(features, inp["shape"]), q)
    res = np.empty((len(x), int(np.prod(out["shape"][1:]))), np.int8)
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i:i + 1])
        it.invoke()
        res[i] = it.get_tensor(out["index"]).reshape(-1)
    return res


def run_litert_int8(model: bytes, q_features: np.ndarray, reference: bool = True) -> np.ndarray:
    """int8 outputs of LiteRT on already-quantized int8 inputs."""
    it, inp, out = _io(model, reference)
    x = _as_nhwc(q_features, inp["shape"]).astype(np.int8)
    res = np.empty((len(x), int(np.prod(out["shape"][1:]))), np.int8)
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i:i + 1])
        it.invoke()
        res[i] = it.get_tensor(out["index"]).reshape(-1)
    return res


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C++ messages on fd 2 (TFLM prints each failed allocation)."""
    fd = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def _tflm(model: bytes, arena_size: int):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=int(arena_size))


def run_tflm(model: bytes, features: np.ndarray, arena_size: int = 256 * 1024,
             quantized: bool = False) -> np.ndarray:
    """int8 outputs ``[n, classes]`` of the TFLM Python interpreter.

    ``features`` are float (quantized here with the model's input scale/zero point) or, with
    ``quantized=True``, int8 already.
    """
    it = _tflm(model, arena_size)
    det = it.get_input_details(0)
    shape = [int(s) for s in det["shape"]]
    x = _as_nhwc(features, shape)
    if not quantized:
        qp = det["quantization_parameters"]
        x = quantize(x, QParams(float(qp["scales"][0]), int(qp["zero_points"][0])))
    x = x.astype(np.int8)
    outs = []
    for i in range(len(x)):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        outs.append(np.asarray(it.get_output(0)).reshape(-1).copy())
        it.reset()
    return np.stack(outs).astype(np.int8)


def tflm_works(model: bytes, arena_size: int, probe: np.ndarray, expected: np.ndarray) -> bool:
    """True if TFLM allocates within ``arena_size`` bytes and gives ``expected`` on ``probe``
    (int8 inputs)."""
    try:
        with _quiet_stderr():
            out = run_tflm(model, probe, arena_size=arena_size, quantized=True)
    except (RuntimeError, ValueError):
        return False
    return bool(np.array_equal(out, expected))


def min_tflm_arena(model: bytes, probe: np.ndarray | None = None, hi: int = 1 << 20,
                   step: int = 16) -> int:
    """Smallest arena (bytes, multiple of ``step``) with which TFLM runs ``model`` correctly.

    ``probe``: int8 inputs to run (default: two random clips); the output must equal the
    output with a generous arena. Bisection over ``(0, hi]``.
    """
    from tflite_micro.python.tflite_micro import runtime  # noqa: F401  (fail early if missing)

    if probe is None:
        it = _tflm(model, hi)
        shape = [int(s) for s in it.get_input_details(0)["shape"]]
        probe = np.random.default_rng(0).integers(-128, 128, (2, *shape[1:])).astype(np.int8)
    try:
        expected = run_tflm(model, probe, arena_size=hi, quantized=True)
    except RuntimeError as err:
        raise KwsError(f"TFLM cannot run the model even with a {hi} byte arena: {err}") from None
    lo_fail, hi_ok = 0, -(-hi // step)  # in units of step
    while hi_ok - lo_fail > 1:
        mid = (lo_fail + hi_ok) // 2
        if tflm_works(model, mid * step, probe, expected):
            hi_ok = mid
        else:
            lo_fail = mid
    return hi_ok * step
