"""The int8 ``.tflite`` as Python objects: tensors (shape, dtype, quantization, constant data),
ops (builtin name, inputs, outputs, options) and the graph's inputs and outputs.

The flatbuffer is read with the schema bindings LiteRT ships (``ai_edge_litert.schema_py_generated``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kws.errors import KwsError


class CodegenError(KwsError):
    """The model uses something the firmware engine does not implement."""


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: str
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    data: np.ndarray | None  # constant (weights, bias) or None (activation)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def zp(self) -> int:
        return int(self.zero_point[0]) if self.zero_point is not None and len(self.zero_point) else 0

    @property
    def s(self) -> float:
        if self.scale is None or not len(self.scale):
            raise CodegenError(f"tensor {self.name!r} ({self.dtype}) has no quantization scale: "
                               "convert the model with full-integer quantization")
        return float(self.scale[0])

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(_NP.get(self.dtype, np.uint8)).itemsize

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass
class Op:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: object


_DT = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
_NP = {"float32": np.float32, "int32": np.int32, "int8": np.int8, "int16": np.int16,
       "uint8": np.uint8, "int64": np.int64}


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]


def read_tflite(model: bytes) -> Graph:
    """Tensors, ops (builtin names and options), inputs and outputs of subgraph 0; ops whose
    results do not reach an output (see _feeding_outputs) are left out."""
    from ai_edge_litert import schema_py_generated as fb

    try:
        m = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    except Exception as err:  # noqa: BLE001  a corrupt flatbuffer raises anything
        raise CodegenError(f"not a valid .tflite flatbuffer: {type(err).__name__}: {err}") from None
    if not m.subgraphs:
        raise CodegenError("the .tflite model has no subgraph")
    if len(m.subgraphs) > 1:
        raise CodegenError(f"the model has {len(m.subgraphs)} subgraphs; the firmware engine "
                           "runs single-subgraph models (no control flow)")
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    sg = m.subgraphs[0]
    tensors = []
    for i, t in enumerate(sg.tensors):
        dtype = _DT.get(t.type, f"type{t.type}")
        q = t.quantization
        scale = np.asarray(q.scale, np.float32) if q is not None and q.scale is not None else None
        zp = np.asarray(q.zeroPoint, np.int64) if q is not None and q.zeroPoint is not None else None
        buf = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        data = None
        if buf is not None and buf.data is not None and len(buf.data):
            raw = np.asarray(buf.data, np.uint8).tobytes()
            if buf.offset:
                raise CodegenError("external buffers (models over 2 GB) are not supported")
            data = np.frombuffer(raw, _NP.get(dtype, np.uint8)).reshape(
                [int(s) for s in t.shape] if t.shape is not None else [-1])
        shape = tuple(int(s) for s in t.shape) if t.shape is not None else ()
        tensors.append(Tensor(i, t.name.decode() if isinstance(t.name, bytes) else str(t.name),
                              shape, dtype, scale, zp, data))
    ops = []
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        b = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = names.get(b, f"BUILTIN_{b}")
        if b == fb.BuiltinOperator.CUSTOM:
            name = f"CUSTOM({code.customCode!r})"
        ops.append(Op(name, [int(i) for i in op.inputs], [int(i) for i in op.outputs],
                      op.builtinOptions))
    g = Graph(tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs])
    g.ops = [op for op in g.ops if op in _feeding_outputs(g)]
    for op in g.ops:  # shapes computed at run time (a dynamic-batch Flatten), made static
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        sig = sg.tensors[out.index].shapeSignature
        if sig is None or all(d >= 0 for d in list(sig)[1:]):
            continue
        if op.name == "RESHAPE" and out.size != x.size:
            out.shape = _static_shape([int(d) for d in sig], x.size, out.name)
        elif op.name in _SAME_SHAPE:
            out.shape = x.shape
        elif op.name == "FULLY_CONNECTED":
            od, idp = g.tensors[op.inputs[1]].shape
            out.shape = (x.size // idp, od)
    return g


_SAME_SHAPE = {"SOFTMAX", "LOGISTIC", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE"}


def _static_shape(sig: list, size: int, name: str) -> tuple:
    """A shape signature with -1s at batch 1: the batch is 1 and one other -1 takes the rest."""
    shape = [1 if i == 0 and d < 0 else d for i, d in enumerate(sig)]
    known = int(np.prod([d for d in shape if d >= 0]))
    if shape.count(-1) > 1 or known == 0 or size % known:
        raise CodegenError(f"tensor {name!r} has a shape computed at run time ({sig}): convert "
                           "the model with a fixed batch size of 1")
    return tuple(size // known if d < 0 else d for d in shape)


_SHAPE_ARG = {"RESHAPE": 1}  # an op's inputs that only give a shape (static here)


def _feeding_outputs(g: Graph) -> list:
    """The ops whose results reach the graph's outputs, not counting RESHAPE's shape argument:
    so the SHAPE -> STRIDED_SLICE -> PACK chain a dynamic-batch Flatten adds (shapes are
    static on the microcontroller) drops out instead of needing kernels."""
    needed, keep = set(g.outputs), []
    for op in reversed(g.ops):
        if any(o in needed for o in op.outputs):
            keep.append(op)
            n = _SHAPE_ARG.get(op.name, len(op.inputs))
            needed |= {i for i in op.inputs[:n] if i >= 0}
    return keep

