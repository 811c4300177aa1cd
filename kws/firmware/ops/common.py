"""What the op modules share: TFLite's quantization arithmetic (``QuantizeMultiplier``,
``CalculateActivationRangeQuantized``), padding, C emission helpers (arrays, structs with
designated initialisers), and ``Kernel``, the interface each op module implements.

Requantization constants follow TFLite exactly (frexp, round to Q31): that is what makes the
C bit-exact with TFLM's reference kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from kws.firmware.graph import CodegenError, Graph, Op, Tensor


# --- TFLite's quantization helpers --------------------------------------------------------------
def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: real = q * 2^(shift - 31), q in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    m, shift = math.frexp(real)
    q = int(math.copysign(math.floor(abs(m) * (1 << 31) + 0.5), m))  # std::round
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    if shift > 30:
        raise CodegenError(f"requantization scale {real:g} is too large for TFLite's fixed point")
    return q, shift


def _tfl_round(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def activation_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for int8 (act: 0 none, 1 RELU,
    2 RELU_N1_TO_1, 3 RELU6)."""
    qmin, qmax = -128, 127
    f32 = np.float32

    def q(v):
        return zp + _tfl_round(float(f32(v) / f32(scale)))

    if act == 0:
        return qmin, qmax
    if act == 1:
        return max(qmin, q(0.0)), qmax
    if act == 3:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == 2:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise CodegenError(f"fused activation {act} is not supported (none, RELU, RELU6, RELU_N1_TO_1)")


def simd_constants(w: np.ndarray, bias: np.ndarray | None, in_zp: int, mults, shifts,
                   depthwise: bool):
    """``bias_eff`` and the ``rq`` table for the SIMD kernels (firmware/runtime/kws_kernels_dsp.c).

    bias_eff[c] = bias[c] - in_zp * sum(w[c]): then sum(x * w) + bias_eff equals the
    reference's sum((x - in_zp) * w) + bias exactly, provided padded taps read x = in_zp.

    rq[c] = (multiplier, right shift e, 2^(e-1)) when every channel has a right shift e >= 1
    and the doubled accumulator fits int32, else None. Why that suffices: TFLite's
    SaturatingRoundingDoublingHighMul(a, m) is trunc((a*m + nudge) / 2^31), nudge = 2^30
    (a*m >= 0) or 1 - 2^30 (a*m < 0). For m > 0 it equals floor((a*m + 2^30) / 2^31) (for
    a*m = -u < 0: -floor((u + 2^30 - 1) / 2^31) = floor((2^30 - u) / 2^31)), which is
    floor((2a*m + 2^31) / 2^32) = SMMULR(2a, m). RoundingDivideByPOT(v, e) rounds half away
    from zero, which is (v + 2^(e-1) + (v >> 31)) >> e for e >= 1.
    |acc| <= 256 * sum|w[c]| + |bias[c]| bounds the accumulator.
    """
    wf = w.astype(np.int64)
    if depthwise:  # [1, kh, kw, oc]
        wsum = wf.sum(axis=(0, 1, 2))
        wabs = np.abs(wf).sum(axis=(0, 1, 2))
    else:  # [oc, kh, kw, ic]
        wsum = wf.reshape(len(wf), -1).sum(axis=1)
        wabs = np.abs(wf).reshape(len(wf), -1).sum(axis=1)
    b = bias.astype(np.int64) if bias is not None else np.zeros(len(wsum), np.int64)
    beff = b - int(in_zp) * wsum
    m = np.broadcast_to(np.asarray(mults, np.int64), wsum.shape)
    sh = np.broadcast_to(np.asarray(shifts, np.int64), wsum.shape)
    ok = (np.all(sh <= -1) and np.all(m > 0) and np.all((256 * wabs + np.abs(b)) * 2 < (1 << 31))
          and np.all(np.abs(beff) < (1 << 31)))
    if not ok:
        return beff, None
    right = -sh
    rq = np.stack([m, right, 1 << (right - 1)], axis=1)
    return beff, rq



# --- shapes -------------------------------------------------------------------------------------
def padding(pad_enum: int, in_size: int, out_size: int, stride: int, k: int, dil: int) -> int:
    """TFLite ComputePaddingHeightWidth: SAME (0) pads (total // 2) before; VALID (1) none."""
    if pad_enum == 1:
        return 0
    eff = (k - 1) * dil + 1
    total = max(0, (out_size - 1) * stride + eff - in_size)
    return total // 2


def shape4(t: Tensor) -> tuple[int, int, int, int]:
    """NHWC view of a 1-4 dim tensor (TFLite's RuntimeShape extended to 4D: leading 1s)."""
    s = list(t.shape) or [1]
    if not 1 <= len(s) <= 4:
        raise CodegenError(f"tensor {t.name!r} has shape {s}; the firmware engine runs 1-4 dims")
    return tuple([1] * (4 - len(s)) + s)


def check_int8(t: Tensor, what: str) -> None:
    if t.dtype != "int8":
        raise CodegenError(f"{what} tensor {t.name!r} is {t.dtype}; the firmware engine runs "
                           "full-int8 models (convert with int8 activations)")


def same_quant(a: Tensor, b: Tensor) -> bool:
    return abs(a.s - b.s) <= 1e-6 * a.s and a.zp == b.zp


# --- C emission ---------------------------------------------------------------------------------
def c_array(ctype: str, name: str, values, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    if ctype == "int32_t":
        vals = [f"{v}" if int(v) != -(1 << 31) else "INT32_MIN" for v in vals]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)] or ["0"]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{max(1, len(vals))}] = {{\n    {body}\n}};\n"


def c_value(v) -> str:
    """A C initialiser: dicts as designated initialisers, lists as brace lists."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f".{k} = {c_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "{ " + ", ".join(c_value(x) for x in v) + " }"
    return str(v)


def c_struct(ctype: str, name: str, fields: dict) -> str:
    """``static const ctype name = { .field = value, ... };`` (designated initialisers: the
    generated code never depends on the order of a struct's fields)."""
    body = ",\n    ".join(f".{k} = {c_value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{\n    {body}\n}};\n"


def broadcast(a: Tensor, b: Tensor, out: Tensor, where: str) -> dict:
    """kws_broadcast_t: flat when both inputs have the output's shape, else the 4D output
    shape and each input's element stride per output axis (0 where it is broadcast)."""
    if list(a.shape) == list(b.shape) == list(out.shape) or (a.size == b.size == out.size
                                                              and a.shape == b.shape):
        return {"broadcast": 0, "shape": [1, 1, 1, out.size], "stride1": [0, 0, 0, 1],
                "stride2": [0, 0, 0, 1]}
    so = shape4(out)
    strides = []
    for t in (a, b):
        st = shape4(t)
        row = [int(np.prod(st[d + 1:])) for d in range(4)]
        for d in range(4):
            if st[d] not in (1, so[d]):
                raise CodegenError(f"{where}: shapes {list(a.shape)} and {list(b.shape)} do not "
                                   f"broadcast to {list(out.shape)}")
        strides.append([0 if st[d] == 1 and so[d] != 1 else row[d] for d in range(4)])
    return {"broadcast": 1, "shape": list(so), "stride1": strides[0], "stride2": strides[1]}


def tfl_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


@dataclass
class Emit:
    """Where an op's C goes: constants (weights, tables), its parameter struct, its call."""
    tag: str                          # "op3": prefix of the op's C names
    ptr: object                       # tensor index -> C expression of its int8_t * in the arena
    scratch: str = "0"                # C expression of the op's scratch (in the arena)
    consts: list = field(default_factory=list)
    decls: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    once: set = field(default_factory=set)  # names already emitted for the whole model


class Kernel:
    """One op of the graph. ``__init__`` checks it (a CodegenError saying what is unsupported)
    and works out its parameters; the planner reads ``scratch``, ``alias`` and ``in_place``;
    ``emit`` writes its C. Subclasses live one per op module (kws/firmware/ops/<op>.py)."""

    header: str = ""        # the runtime header of its C kernel (firmware/runtime)
    alias: bool = False     # the output is the input's bytes in another shape: no code at all

    def __init__(self, g: Graph, k: int, op: Op):
        self.g, self.k, self.op = g, k, op
        self.ins = [g.tensors[i] if i >= 0 else None for i in op.inputs]
        self.out = g.tensors[op.outputs[0]]
        self.act = getattr(op.options, "fusedActivationFunction", 0) or 0
        self.macs = 0
        self.scratch = 0
        self.weight_bytes = 0
        self.check()

    @property
    def where(self) -> str:
        return f"{self.op.name} (op {self.k})"

    def check(self) -> None:
        """Raise CodegenError for what the kernel does not run; compute the parameters."""

    def in_place(self) -> bool:
        """May the output overwrite input 0 (when nothing reads that input afterwards)?"""
        return False

    def emit(self, e: Emit) -> None:
        raise NotImplementedError

    def weighted_inputs(self) -> tuple[Tensor, Tensor]:
        """Input 0 and constant weights (input 1), both int8, the int8 output, and the bias
        (input 2, or None) in ``self.b``: what CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
        check first."""
        x, w = self.ins[0], self.ins[1]
        self.b = self.ins[2] if len(self.ins) > 2 else None
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if w is None or w.data is None:
            raise CodegenError(f"{self.where}: weights are not constant")
        check_int8(w, f"{self.where} weights")
        return x, w

    def operand(self, e: Emit, i: int) -> str:
        """C expression of input i: its place in the arena, or a const array for a constant."""
        t = self.ins[i]
        if t.data is None:
            return e.ptr(self.op.inputs[i])
        return self.const(e, "int8_t", f"in{i}", t.data, weights=True)

    def const(self, e: Emit, ctype: str, suffix: str, values, weights: bool = False) -> str:
        name = f"{e.tag}_{suffix}"
        e.consts.append(c_array(ctype, name, values))
        if weights:
            self.weight_bytes += int(np.asarray(values).size) * (1 if ctype == "int8_t" else 4)
        return name


class Elementwise(Kernel):
    """Two int8 inputs (activations or a constant) broadcast to an int8 output (ADD, SUB, MUL):
    the checks, broadcast strides and activation range they share; the C walk they share is
    ``kws_elementwise_s8`` (kws_kernels.h). ``check`` sets ``a``, ``b``, ``bc``, ``lo``, ``hi``
    and then calls ``rescale`` for the op's own multipliers."""

    def check(self):
        self.a, self.b = self.ins[0], self.ins[1]
        for t in (self.a, self.b, self.out):
            check_int8(t, self.where)
        self.bc = broadcast(self.a, self.b, self.out, self.where)
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        self.rescale()

    def rescale(self) -> None:
        raise NotImplementedError

    def in_place(self) -> bool:
        return not self.bc["broadcast"]

    def emit_call(self, e: Emit, ctype: str, fn: str, fields: dict) -> None:
        """The op's struct (size, offsets, activation range, broadcast and ``fields``) and call."""
        in1, in2 = self.operand(e, 0), self.operand(e, 1)
        e.decls.append(c_struct(ctype, e.tag, {
            "size": self.out.size, "in1_offset": -self.a.zp, "in2_offset": -self.b.zp,
            "out_offset": self.out.zp, **fields, "act_min": self.lo, "act_max": self.hi,
            "bc": self.bc}))
        e.calls.append(f"{fn}(&{e.tag}, {in1}, {in2}, {e.ptr(self.op.outputs[0])});")
