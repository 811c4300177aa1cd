"""int8 ``.tflite`` -> C: ``model.c``/``model.h`` (weights as const arrays, a fixed call
sequence into ``firmware/runtime``, one static arena planned from tensor lifetimes) and
``model_settings.h`` + ``features_tables.c`` (MFCC spec, labels, input quantization,
post-processing), so nothing is copied by hand between Python and C.

The flatbuffer is read with the schema bindings LiteRT ships (``ai_edge_litert.schema_py_generated``).
Requantization constants follow TFLite's ``QuantizeMultiplier`` (frexp, round to Q31) and
``CalculateActivationRangeQuantized`` exactly: that is what makes the C bit-exact with LiteRT.
The arena planner is written here on purpose (TFLM's greedy planner is C++ inside TFLM): sort
buffers by size, place each at the lowest offset that does not overlap a buffer whose lifetime
overlaps; RESHAPE outputs alias their input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.errors import KwsError

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "RESHAPE", "ADD")
ALIGN = 4  # arena offsets, so word loads of int8 quads are aligned


class CodegenError(KwsError):
    """The model uses something the firmware engine does not implement."""


# --- TFLite's quantization helpers --------------------------------------------------------------
def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: real = q * 2^(shift - 31), q in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    m, shift = math.frexp(real)
    q = int(round(m * (1 << 31)))  # std::round: half away from zero (m > 0)
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


# --- reading the flatbuffer ---------------------------------------------------------------------
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
        return float(self.scale[0])


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
    """Tensors, ops (builtin names and options), inputs and outputs of subgraph 0."""
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
    return Graph(tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs])


# --- arena planning -----------------------------------------------------------------------------
@dataclass
class Plan:
    offsets: dict          # buffer id -> offset
    sizes: dict            # buffer id -> bytes
    life: dict             # buffer id -> (first op, last op)
    buffer_of: dict        # tensor index -> buffer id
    arena_bytes: int
    largest_live_bytes: int


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(g: Graph) -> Plan:
    """Lifetimes of every activation buffer over the op sequence and a greedy placement."""
    buffer_of: dict[int, int] = {}
    for i in g.inputs:
        buffer_of[i] = i
    for op in g.ops:
        for o in op.outputs:
            if op.name == "RESHAPE" and op.inputs[0] in buffer_of:
                buffer_of[o] = buffer_of[op.inputs[0]]  # in place: same bytes, new shape
            else:
                buffer_of[o] = o
    n = len(g.ops)
    life: dict[int, list[int]] = {}
    for i in g.inputs:
        life[buffer_of[i]] = [0, 0]
    for k, op in enumerate(g.ops):
        for t in op.inputs + op.outputs:
            if t in buffer_of:
                b = buffer_of[t]
                lo, hi = life.get(b, [k, k])
                life[b] = [min(lo, k), max(hi, k)]
    for o in g.outputs:
        life[buffer_of[o]][1] = n  # outputs stay readable after the last op
    sizes = {b: max(g.tensors[t].size for t, bb in buffer_of.items() if bb == b) for b in life}
    placed: list[tuple[int, int, int]] = []  # (offset, size, buffer)
    offsets = {}
    for b in sorted(life, key=lambda b: (-sizes[b], life[b][0], b)):
        lo, hi = life[b]
        clashes = sorted((off, off + _align(sizes[c])) for off, _, c in placed
                         if not (life[c][1] < lo or life[c][0] > hi))
        off = 0
        for s, e in clashes:
            if off + sizes[b] <= s:
                break
            off = max(off, e)
        offsets[b] = off
        placed.append((off, sizes[b], b))
    arena = max((offsets[b] + _align(sizes[b]) for b in life), default=0)
    largest = max((sum(sizes[b] for b in life if life[b][0] <= k <= life[b][1])
                   for k in range(n + 1)), default=0)
    return Plan(offsets, sizes, {b: tuple(v) for b, v in life.items()}, buffer_of, arena, largest)


# --- C emission ---------------------------------------------------------------------------------
def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    if ctype == "int32_t":
        vals = [f"{v}" if int(v) != -(1 << 31) else "INT32_MIN" for v in vals]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)] or ["0"]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{max(1, len(vals))}] = {{\n    {body}\n}};\n"


def _f32_array(name: str, values: np.ndarray, per_line: int = 8) -> str:
    vals = [f"{float(np.float32(v))!r}f" for v in np.asarray(values, np.float32).reshape(-1)]
    vals = [v.replace("inf", "INFINITY") for v in vals]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return f"const float {name}[{len(vals)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _padding(pad_enum: int, in_size: int, out_size: int, stride: int, k: int, dil: int) -> int:
    """TFLite ComputePaddingHeightWidth: SAME (0) pads (total // 2) before; VALID (1) none."""
    if pad_enum == 1:
        return 0
    eff = (k - 1) * dil + 1
    total = max(0, (out_size - 1) * stride + eff - in_size)
    return total // 2


def _shape4(t: Tensor) -> tuple[int, int, int, int]:
    s = list(t.shape)
    if len(s) == 4:
        return tuple(s)
    if len(s) == 2:
        return (s[0], 1, 1, s[1])
    if len(s) == 3:
        return (1, s[0], s[1], s[2])
    raise CodegenError(f"tensor {t.name!r} has shape {list(t.shape)}; expected 2-4 dims")


@dataclass
class Generated:
    files: dict                  # name -> text
    arena_bytes: int
    largest_live_bytes: int
    scratch_bytes: int
    macs: int
    weight_bytes: int
    ops: list = field(default_factory=list)
    input_scale: float = 0.0
    input_zero_point: int = 0
    output_scale: float = 0.0
    output_zero_point: int = 0
    input_shape: tuple = ()
    output_size: int = 0


def _check_int8(t: Tensor, what: str) -> None:
    if t.dtype != "int8":
        raise CodegenError(f"{what} tensor {t.name!r} is {t.dtype}; the firmware engine runs "
                           "full-int8 models (convert with int8 activations)")


def generate_model(model: bytes) -> Generated:
    """``model.h`` and ``model.c`` for an int8 .tflite (see the module docstring)."""
    g = read_tflite(model)
    bad = sorted({op.name for op in g.ops if op.name not in SUPPORTED_OPS})
    if bad:
        raise CodegenError(f"the firmware engine has no kernel for {', '.join(bad)} (it runs "
                           f"{', '.join(SUPPORTED_OPS)}): change the model or add the kernel "
                           "to firmware/runtime")
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise CodegenError(f"the model has {len(g.inputs)} inputs and {len(g.outputs)} outputs; "
                           "expected one of each")
    t_in, t_out = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    _check_int8(t_in, "input")
    _check_int8(t_out, "output")
    plan = plan_arena(g)
    consts: list[str] = []
    layers: list[str] = []
    calls: list[str] = []
    macs = 0
    weight_bytes = 0
    scratch = 0

    def ptr(t: int) -> str:
        return f"(kws_arena + {plan.offsets[plan.buffer_of[t]]})"

    for k, op in enumerate(g.ops):
        tag = f"op{k}"
        ins = [g.tensors[i] if i >= 0 else None for i in op.inputs]
        out = g.tensors[op.outputs[0]]
        _check_int8(out, f"{op.name} output")
        if ins[0] is not None:
            _check_int8(ins[0], f"{op.name} input")
        o = op.options
        act = getattr(o, "fusedActivationFunction", 0) or 0
        comment = f"/* {k}: {op.name} {list(ins[0].shape)} -> {list(out.shape)} */"
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w = ins[0], ins[1]
            b = ins[2] if len(ins) > 2 else None
            if w.data is None:
                raise CodegenError(f"{op.name} {k}: weights are not constant")
            _, ih, iw, ic = _shape4(x)
            _, oh, ow, oc = _shape4(out)
            if op.name == "CONV_2D":
                wc, kh, kw, wic = w.shape
                if wic != ic:
                    raise CodegenError(f"CONV_2D {k}: grouped convolution ({ic} input channels, "
                                       f"filter depth {wic}) is not supported")
                dm = 1
                macs += oh * ow * oc * kh * kw * ic
            else:
                _, kh, kw, wc = w.shape
                dm = getattr(o, "depthMultiplier", 1) or oc // ic
                macs += oh * ow * oc * kh * kw
            if w.zero_point is not None and np.any(w.zero_point != 0):
                raise CodegenError(f"{op.name} {k}: int8 weights must be symmetric (zero point 0)")
            ws = np.asarray(w.scale, np.float64)
            per_ch = len(ws) > 1
            mults, shifts = zip(*[quantize_multiplier(float(np.float64(x.s) * s / np.float64(out.s)))
                                  for s in ws])
            sh, sw = o.strideH, o.strideW
            dh, dw = (o.dilationHFactor or 1), (o.dilationWFactor or 1)
            ph = _padding(o.padding, ih, oh, sh, kh, dh)
            pw = _padding(o.padding, iw, ow, sw, kw, dw)
            lo, hi = activation_range(act, out.s, out.zp)
            consts.append(_c_array("int8_t", f"{tag}_w", w.data))
            weight_bytes += w.data.size
            if b is not None and b.data is not None:
                consts.append(_c_array("int32_t", f"{tag}_b", b.data.astype(np.int64)))
                weight_bytes += b.data.size * 4
            consts.append(_c_array("int32_t", f"{tag}_m", np.array(mults)))
            consts.append(_c_array("int32_t", f"{tag}_s", np.array(shifts)))
            bias = f"{tag}_b" if b is not None and b.data is not None else "0"
            beff, rq = simd_constants(w.data, b.data if b is not None else None, x.zp,
                                      mults, shifts, depthwise=op.name != "CONV_2D")
            consts.append(_c_array("int32_t", f"{tag}_be", beff))
            w16_name = "0"
            kk_ = kh * kw * ic
            if op.name == "CONV_2D" and kk_ % 16 == 0 and oc % 2 == 0 and rq is not None:
                # the 2-channel x 3-pixel SIMD tile's weights (DSP builds only), widened to
                # int16 in SXTB16 pair order: per channel pair and 4 inputs,
                # (a0, a2), (b0, b2), (a1, a3), (b1, b3)
                wr = np.asarray(w.data, np.int64).reshape(oc // 2, 2, kk_ // 4, 4)
                w16 = np.stack([wr[:, 0, :, 0], wr[:, 0, :, 2], wr[:, 1, :, 0], wr[:, 1, :, 2],
                                wr[:, 0, :, 1], wr[:, 0, :, 3], wr[:, 1, :, 1], wr[:, 1, :, 3]],
                               axis=-1)
                consts.append("#if KWS_USE_DSP\n" + _c_array("int16_t", f"{tag}_w16", w16)
                              + f"#define {tag}_W16 {tag}_w16\n#else\n#define {tag}_W16 0\n"
                              "#endif\n")
                w16_name = f"{tag}_W16"
            if rq is not None:
                consts.append(_c_array("int32_t", f"{tag}_rq", rq))
                weight_bytes += rq.size * 4
            layers.append(
                f"static const kws_conv_t {tag} = {{ {ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, "
                f"{sh}, {sw}, {dh}, {dw}, {ph}, {pw}, {dm}, {-x.zp}, {out.zp}, {lo}, {hi}, "
                f"{tag}_w, {bias}, {tag}_m, {tag}_s, {int(per_ch)}, {tag}_be, "
                f"{tag + '_rq' if rq is not None else '0'}, {w16_name} }};\n")
            if op.name == "CONV_2D":
                kk = kh * kw * ic
                scratch = max(scratch, 4 * kk + 2 * kk)  # KWS_CONV_SCRATCH (k % 4 == 0 on the SIMD path)
                calls.append(f"    {comment}\n    kws_conv2d_s8(&{tag}, {ptr(op.inputs[0])}, "
                             f"{ptr(op.outputs[0])}, kws_scratch);")
            else:
                scratch = max(scratch, oc + 8)  # KWS_DEPTHWISE_SCRATCH
                if (kh, kw, sh, sw, dh, dw) == (3, 3, 1, 1, 1, 1) and oc % 4 == 0 \
                        and ph >= 0 and pw >= 0 and oh + 4 <= 32:
                    scratch = max(scratch, 4 * 2 * 32 * (ow + 2))  # KWS_DW3X3_SCRATCH
                calls.append(f"    {comment}\n    kws_depthwise_conv2d_s8(&{tag}, "
                             f"{ptr(op.inputs[0])}, {ptr(op.outputs[0])}, kws_scratch);")
        elif op.name == "FULLY_CONNECTED":
            x, w = ins[0], ins[1]
            b = ins[2] if len(ins) > 2 else None
            if w.data is None:
                raise CodegenError(f"FULLY_CONNECTED {k}: weights are not constant")
            od, idp = w.shape
            rows = x.size // idp
            ws = np.asarray(w.scale, np.float64)
            mults, shifts = zip(*[quantize_multiplier(float(np.float64(x.s) * s / np.float64(out.s)))
                                  for s in ws])
            lo, hi = activation_range(act, out.s, out.zp)
            consts.append(_c_array("int8_t", f"{tag}_w", w.data))
            weight_bytes += w.data.size
            if b is not None and b.data is not None:
                consts.append(_c_array("int32_t", f"{tag}_b", b.data.astype(np.int64)))
                weight_bytes += b.data.size * 4
            consts.append(_c_array("int32_t", f"{tag}_m", np.array(mults)))
            consts.append(_c_array("int32_t", f"{tag}_s", np.array(shifts)))
            bias = f"{tag}_b" if b is not None and b.data is not None else "0"
            macs += rows * od * idp
            layers.append(
                f"static const kws_fc_t {tag} = {{ {idp}, {od}, {rows}, {-x.zp}, {-w.zp}, "
                f"{out.zp}, {lo}, {hi}, {tag}_w, {bias}, {tag}_m, {tag}_s, {int(len(ws) > 1)} }};\n")
            calls.append(f"    {comment}\n    kws_fully_connected_s8(&{tag}, {ptr(op.inputs[0])}, "
                         f"{ptr(op.outputs[0])});")
        elif op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            x = ins[0]
            if abs(x.s - out.s) > 1e-6 * x.s or x.zp != out.zp:
                raise CodegenError(f"{op.name} {k}: input and output quantization differ")
            _, ih, iw, c = _shape4(x)
            _, oh, ow, _ = _shape4(out)
            kh, kw, sh, sw = o.filterHeight, o.filterWidth, o.strideH, o.strideW
            ph = _padding(o.padding, ih, oh, sh, kh, 1)
            pw = _padding(o.padding, iw, ow, sw, kw, 1)
            lo, hi = activation_range(act, out.s, out.zp)
            layers.append(f"static const kws_pool_t {tag} = {{ {ih}, {iw}, {c}, {oh}, {ow}, {kh}, "
                          f"{kw}, {sh}, {sw}, {ph}, {pw}, {lo}, {hi} }};\n")
            fn = "kws_avg_pool_s8" if op.name == "AVERAGE_POOL_2D" else "kws_max_pool_s8"
            calls.append(f"    {comment}\n    {fn}(&{tag}, {ptr(op.inputs[0])}, "
                         f"{ptr(op.outputs[0])});")
        elif op.name == "RESHAPE":
            x = ins[0]
            if plan.buffer_of[op.inputs[0]] != plan.buffer_of[op.outputs[0]]:
                calls.append(f"    {comment}\n    kws_copy_s8({ptr(op.inputs[0])}, "
                             f"{ptr(op.outputs[0])}, {out.size});")
            else:
                calls.append(f"    {comment} /* in place */")
        elif op.name == "ADD":
            a, bb = ins[0], ins[1]
            for t in (a, bb):
                if t.data is not None or t.size != out.size:
                    raise CodegenError(f"ADD {k}: only the sum of two activation tensors of the "
                                       "same shape is supported (no broadcasting or constants)")
            left = 20
            twice_max = 2.0 * max(a.s, bb.s)
            m1, s1 = quantize_multiplier(a.s / twice_max)
            m2, s2 = quantize_multiplier(bb.s / twice_max)
            mo, so = quantize_multiplier(twice_max / ((1 << left) * out.s))
            lo, hi = activation_range(act, out.s, out.zp)
            layers.append(f"static const kws_add_t {tag} = {{ {out.size}, {-a.zp}, {-bb.zp}, "
                          f"{out.zp}, {left}, {m1}, {s1}, {m2}, {s2}, {mo}, {so}, {lo}, {hi} }};\n")
            calls.append(f"    {comment}\n    kws_add_s8(&{tag}, {ptr(op.inputs[0])}, "
                         f"{ptr(op.inputs[1])}, {ptr(op.outputs[0])});")
        calls.append(f"    KWS_TRACE({k}, {ptr(op.outputs[0])}, {out.size});")

    in_off = plan.offsets[plan.buffer_of[g.inputs[0]]]
    out_off = plan.offsets[plan.buffer_of[g.outputs[0]]]
    arena = max(plan.arena_bytes, ALIGN)
    scratch_bytes = (max(8, scratch) + 7) // 8 * 8
    header = f"""/* Generated by kws/firmware/codegen.py from the int8 .tflite: do not edit. */
#ifndef KWS_MODEL_H
#define KWS_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define KWS_MODEL_INPUT_SIZE {t_in.size}
#define KWS_MODEL_OUTPUT_SIZE {t_out.size}
#define KWS_MODEL_ARENA_BYTES {arena}
#define KWS_MODEL_SCRATCH_BYTES {scratch_bytes}
#define KWS_MODEL_MACS {macs}

/* The input tensor (write the quantized features here), inside the arena. */
int8_t *kws_model_input(void);
/* The output tensor (int8 logits), valid after kws_model_invoke(). */
const int8_t *kws_model_output(void);
/* Runs the network once on kws_model_input(). */
void kws_model_invoke(void);

#ifdef __cplusplus
}}
#endif
#endif
"""
    body = ["/* Generated by kws/firmware/codegen.py from the int8 .tflite: do not edit.",
            f" * ops: {', '.join(op.name for op in g.ops)}",
            f" * arena {arena} bytes (largest live set {plan.largest_live_bytes}), {macs} MACs */",
            '#include "model.h"', "", '#include "kws_kernels.h"',
            '#include "kws_kernels_dsp.h"', "",
            "#ifdef KWS_TRACE_OPS  /* host debugging: report every op's output */",
            "void kws_trace(int op, const int8_t *data, int32_t size);",
            "#define KWS_TRACE(op, data, size) kws_trace(op, data, size)",
            "#else", "#define KWS_TRACE(op, data, size) ((void)0)", "#endif", "",
            f"static int8_t kws_arena[{arena}] __attribute__((aligned(8)));",
            "/* working memory of the SIMD kernels (im2col columns, a zero-point row) */",
            f"static int8_t kws_scratch[{scratch_bytes}] __attribute__((aligned(8)));", ""]
    body += consts + [""] + layers + [""]
    body += [f"int8_t *kws_model_input(void) {{ return kws_arena + {in_off}; }}",
             f"const int8_t *kws_model_output(void) {{ return kws_arena + {out_off}; }}", "",
             "void kws_model_invoke(void)", "{"]
    body += calls + ["    (void)kws_scratch;", "}", ""]
    files = {"model.h": header, "model.c": "\n".join(body)}
    return Generated(files, arena, plan.largest_live_bytes, scratch_bytes, macs, weight_bytes,
                     [op.name for op in g.ops], t_in.s, t_in.zp, t_out.s, t_out.zp,
                     tuple(t_in.shape), t_out.size)


def generate_settings(gen: Generated, features, labels: list[str] | None,
                      postprocess: dict | None = None, strict: bool = True) -> dict:
    """``model_settings.h`` (features, labels, quantization, post-processing) and
    ``features_tables.c`` (the MFCC frontend's tables, ``kws.frontend.c_tables``: the same
    float32 values training's features were computed with). ``strict``: the model's
    input must hold the features (otherwise the harnesses run the network alone)."""
    from kws.features import as_spec
    from kws.frontend import c_tables, tables

    s = as_spec(features)
    n_frames, n_mfcc = s.n_frames, s.n_mfcc
    matches = int(np.prod(gen.input_shape[1:])) == n_frames * n_mfcc
    if strict and not matches:
        raise CodegenError(f"the model input {list(gen.input_shape)} does not hold the features' "
                           f"{n_frames}x{n_mfcc} MFCC: the model was trained on other features "
                           "params than params.yaml features:")
    if s.n_fft & (s.n_fft - 1):
        raise CodegenError(f"features.n_fft {s.n_fft} is not a power of two (the firmware FFT)")
    labels = list(labels) if labels else [f"class{i}" for i in range(gen.output_size)]
    if len(labels) != gen.output_size:
        raise CodegenError(f"{len(labels)} labels for a model with {gen.output_size} outputs")
    if postprocess is None:  # the project's settings (params.yaml firmware:)
        from kws.config import defaults

        fw = defaults().firmware
        postprocess = {k: getattr(fw, k) for k in ("average_window_ms", "detection_threshold",
                                                    "suppression_ms", "minimum_count")}
    pp = postprocess
    ft = tables(s)
    esc = [lab.replace("\\", "\\\\").replace('"', '\\"') for lab in labels]
    settings = f"""/* Generated by kws/firmware/codegen.py from params.yaml features: and the model. */
#ifndef KWS_MODEL_SETTINGS_H
#define KWS_MODEL_SETTINGS_H

#define KWS_SAMPLE_RATE {s.sample_rate}
#define KWS_CLIP_SAMPLES {s.clip_samples}
#define KWS_WINDOW_SAMPLES {s.window_samples}
#define KWS_STRIDE_SAMPLES {s.stride_samples}
#define KWS_STRIDE_MS {s.stride_ms:g}
#define KWS_N_FFT {s.n_fft}
#define KWS_N_BINS {ft.n_bins}
#define KWS_N_MELS {s.n_mels}
#define KWS_N_MFCC {n_mfcc}
#define KWS_N_FRAMES {n_frames}
#define KWS_LOG_FLOOR {float(np.float32(s.log_floor))!r}f
#define KWS_INPUT_SCALE {float(np.float32(gen.input_scale))!r}f
#define KWS_INPUT_ZERO_POINT {gen.input_zero_point}
#define KWS_OUTPUT_SCALE {float(np.float32(gen.output_scale))!r}f
#define KWS_OUTPUT_ZERO_POINT {gen.output_zero_point}
#define KWS_FEATURES_MATCH_MODEL {int(matches)}
#define KWS_N_LABELS {len(labels)}
#define KWS_LABELS {{ {", ".join(f'"{x}"' for x in esc)} }}

/* Post-processing (micro_speech RecognizeCommands), from params.yaml firmware: */
#define KWS_AVERAGE_WINDOW_MS {int(pp["average_window_ms"])}
#define KWS_DETECTION_THRESHOLD {float(pp["detection_threshold"])!r}f
#define KWS_SUPPRESSION_MS {int(pp["suppression_ms"])}
#define KWS_MINIMUM_COUNT {int(pp["minimum_count"])}

#endif
"""
    return {"model_settings.h": settings, "features_tables.c": c_tables(s)}


def write_sources(model: bytes, out_dir: str | Path, features=None, labels=None,
                  postprocess: dict | None = None, strict: bool = True) -> Generated:
    """Generate every file into ``out_dir`` (created); returns the Generated summary."""
    gen = generate_model(model)
    gen.files.update(generate_settings(gen, features, labels, postprocess, strict))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in gen.files.items():
        (out / name).write_text(text)
    return gen
