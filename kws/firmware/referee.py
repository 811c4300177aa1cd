"""The referee the C engine is checked against: TFLM's reference kernels, run by
tflite-micro's Python interpreter, on any .tflite (int8, or float32 at the ends).

Why TFLM and not LiteRT: TFLM is the runtime a microcontroller would otherwise run, and
where the two disagree (LiteRT's per-channel FULLY_CONNECTED rounds once, TFLM twice; LiteRT
rescales CONCATENATION inputs of another scale, TFLM copies them) the engine follows TFLM.
"""

from __future__ import annotations

import numpy as np

from kws.errors import KwsError

ARENA = 4 << 20


def tflm_io(model: bytes) -> tuple:
    """(input shape, input dtype, output dtype) as TFLM sees them."""
    it = _interpreter(model)
    i, o = it.get_input_details(0), it.get_output_details(0)
    return tuple(int(s) for s in i["shape"]), np.dtype(i["dtype"]), np.dtype(o["dtype"])


def _interpreter(model: bytes):
    from kws.export.interpreters import _quiet_stderr
    from tflite_micro.python.tflite_micro import runtime

    try:
        with _quiet_stderr():
            return runtime.Interpreter.from_bytes(model, arena_size=ARENA)
    except (RuntimeError, ValueError) as err:
        raise KwsError(f"TFLM cannot load the model: {err}") from None


def tflm_outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs ``[n, output size]`` of TFLM on ``inputs`` ``[n, ...]`` (the model's dtype)."""
    it = _interpreter(model)
    det = it.get_input_details(0)
    shape, dtype = [int(s) for s in det["shape"]], np.dtype(det["dtype"])
    x = np.asarray(inputs).astype(dtype).reshape(len(inputs), *shape[1:])
    outs = []
    for i in range(len(x)):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        outs.append(np.asarray(it.get_output(0)).reshape(-1).copy())
        it.reset()
    return np.stack(outs)


def random_inputs(model: bytes, n: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """``n`` random inputs: uniform int8, or for a float input N(0, scale^2) float32."""
    from kws.firmware.graph import read_tflite

    g = read_tflite(model)
    t = g.tensors[g.inputs[0]]
    rng = np.random.default_rng(seed)
    if t.dtype == "int8":
        return rng.integers(-128, 128, (n, t.size)).astype(np.int8)
    return (rng.standard_normal((n, t.size)) * scale).astype(np.float32)


def litert_outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """The same with LiteRT's reference kernels (BUILTIN_REF), for comparison."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.asarray(inputs).astype(i["dtype"]).reshape(len(inputs), *i["shape"][1:])
    outs = []
    for k in range(len(x)):
        it.set_tensor(i["index"], x[k:k + 1])
        it.invoke()
        outs.append(it.get_tensor(o["index"]).reshape(-1).copy())
    return np.stack(outs)


def reference_outputs(model: bytes, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """TFLM's outputs, or where TFLM cannot run the model at all (e.g. a shape computed at run
    time) LiteRT's reference kernels', and which one answered."""
    try:
        return tflm_outputs(model, inputs), "TFLM"
    except KwsError as err:
        return litert_outputs(model, inputs), f"LiteRT ({err})"
