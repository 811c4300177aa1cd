"""int8 ``.tflite`` -> C: ``model.c``/``model.h`` (weights as const arrays, a fixed call
sequence into ``firmware/runtime``, one static arena planned from tensor lifetimes) and
``model_settings.h`` + ``features_tables.c`` (MFCC spec, labels, input quantization),
``stream_settings.h`` + ``postprocess_tables.c`` (the streaming recognizer), so nothing is
copied by hand between Python and C.

Each op is lowered by its module in ``kws.firmware.ops`` (the op table); this module walks the
graph, plans the arena and assembles the files. The arena planner is written here on purpose
(TFLM's greedy planner is C++ inside TFLM): sort buffers by size, place each at the lowest
offset that does not overlap a buffer whose lifetime overlaps; RESHAPE outputs alias their input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.firmware.graph import CodegenError, Graph, Tensor, read_tflite  # noqa: F401
from kws.firmware.ops import TABLE
from kws.firmware.ops.common import (Emit, activation_range,  # noqa: F401
                                     quantize_multiplier, simd_constants)

ALIGN = 4  # arena offsets, so word loads of int8 quads are aligned
SUPPORTED_OPS = tuple(TABLE)


def unsupported_error(names) -> CodegenError:
    return CodegenError(f"the firmware engine has no kernel for {', '.join(sorted(names))} (it "
                        f"runs {', '.join(SUPPORTED_OPS)}): change the model or add the kernel "
                        "to firmware/runtime and kws/firmware/ops")


def lower(g: Graph) -> list:
    """One checked Kernel per op of the graph, through the op table."""
    bad = {op.name for op in g.ops if op.name not in TABLE}
    if bad:
        raise unsupported_error(bad)
    return [TABLE[op.name](g, k, op) for k, op in enumerate(g.ops)]


# --- arena planning -----------------------------------------------------------------------------
@dataclass
class Plan:
    offsets: dict          # buffer id -> offset
    sizes: dict            # buffer id -> bytes
    life: dict             # buffer id -> (first op, last op)
    buffer_of: dict        # tensor index -> buffer id
    arena_bytes: int
    largest_live_bytes: int
    scratch_of: dict = field(default_factory=dict)   # op index -> buffer id of its scratch
    in_place: list = field(default_factory=list)     # op indices whose output is their input


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(g: Graph, kernels: list | None = None) -> Plan:
    """Buffers, their lifetimes over the op sequence, and a greedy placement in one arena.

    Buffers are the activation tensors and each op's scratch (alive during that op only, so
    the kernels' working memory shares the arena instead of a static array of its own). An
    op's output takes its input's buffer when the kernel allows it (``alias``: RESHAPE and
    friends; ``in_place``: pointwise and depthwise convolutions, elementwise ops) and nothing
    reads that input afterwards: then a layer needs its tensor plus a small scratch, not two
    tensors."""
    kernels = lower(g) if kernels is None else kernels
    last_read: dict[int, int] = {}
    for k, op in enumerate(g.ops):
        for t in op.inputs:
            last_read[t] = k
    keep = set(g.outputs)
    buffer_of: dict[int, int] = {i: i for i in g.inputs}
    in_place = []
    for k, (op, kern) in enumerate(zip(g.ops, kernels)):
        x = op.inputs[0] if op.inputs else -1
        src = buffer_of.get(x)
        shared = [t for t in op.inputs[1:] if buffer_of.get(t) == src]
        dies = src is not None and not shared and all(
            last_read.get(t, -1) <= k and t not in keep
            for t, b in buffer_of.items() if b == src)
        for o in op.outputs:
            if src is not None and (kern.alias or (dies and kern.in_place())):
                buffer_of[o] = src
                if not kern.alias:
                    in_place.append(k)
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
    sizes = {b: max(g.tensors[t].nbytes for t, bb in buffer_of.items() if bb == b) for b in life}
    scratch_of = {}
    for k, kern in enumerate(kernels):
        if kern.scratch:
            b = -(k + 1)  # scratch buffers: negative ids
            scratch_of[k], sizes[b], life[b] = b, kern.scratch, [k, k]
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
    return Plan(offsets, sizes, {b: tuple(v) for b, v in life.items()}, buffer_of, arena,
                largest, scratch_of, in_place)


# --- C emission ---------------------------------------------------------------------------------
def _f32_array(name: str, values: np.ndarray, per_line: int = 8) -> str:
    vals = [f"{float(np.float32(v))!r}f" for v in np.asarray(values, np.float32).reshape(-1)]
    vals = [v.replace("inf", "INFINITY") for v in vals]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return f"const float {name}[{len(vals)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


@dataclass
class Generated:
    files: dict                  # name -> text
    arena_bytes: int
    largest_live_bytes: int
    scratch_bytes: int           # outside the arena: 0 since the planner holds the scratch
    macs: int
    weight_bytes: int
    ops: list = field(default_factory=list)
    input_scale: float = 0.0
    input_zero_point: int = 0
    output_scale: float = 0.0
    output_zero_point: int = 0
    input_shape: tuple = ()
    output_size: int = 0
    op_macs: list = field(default_factory=list)   # MACs of each op, in order
    input_dtype: str = "int8"
    output_dtype: str = "int8"
    op_scratch_bytes: int = 0    # the largest scratch of one op (planned inside the arena)
    in_place_ops: list = field(default_factory=list)


def generate_model(model: bytes) -> Generated:
    """``model.h`` and ``model.c`` for an int8 .tflite (see the module docstring)."""
    g = read_tflite(model)
    kernels = lower(g)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise CodegenError(f"the model has {len(g.inputs)} inputs and {len(g.outputs)} outputs; "
                           "expected one of each")
    t_in, t_out = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    ctype = {"int8": "int8_t", "float32": "float"}
    for t, what in ((t_in, "input"), (t_out, "output")):
        if t.dtype not in ctype:
            raise CodegenError(f"the model {what} {t.name!r} is {t.dtype}; the firmware engine "
                               "takes int8 (or float32 with QUANTIZE/DEQUANTIZE at the ends)")
    plan = plan_arena(g, kernels)

    def ptr(t: int) -> str:
        return f"(kws_arena + {plan.offsets[plan.buffer_of[t]]})"

    consts: list[str] = []
    decls: list[str] = []
    calls: list[str] = []
    headers: list[str] = []
    once: set = set()
    for k, (op, kern) in enumerate(zip(g.ops, kernels)):
        scratch = (f"(kws_arena + {plan.offsets[plan.scratch_of[k]]})" if k in plan.scratch_of
                   else "0")
        e = Emit(f"op{k}", ptr, scratch, once=once)
        kern.emit(e)
        consts += e.consts
        decls += e.decls
        if kern.header not in headers:
            headers.append(kern.header)
        x = kern.ins[0]
        shape = list(x.shape) if x is not None else []
        how = " (no code: same bytes)" if not e.calls else (
            " (in place)" if k in plan.in_place else "")
        calls.append(f"    /* {k}: {op.name} {shape} -> {list(kern.out.shape)}{how} */")
        calls.append(f"    KWS_OP({k});")
        calls += [f"    {c}" for c in e.calls]
        calls.append(f"    KWS_TRACE({k}, {ptr(op.outputs[0])}, {kern.out.nbytes});")
    macs = sum(kern.macs for kern in kernels)
    weight_bytes = sum(kern.weight_bytes for kern in kernels)
    scratch = max([kern.scratch for kern in kernels], default=0)  # in the arena

    in_off = plan.offsets[plan.buffer_of[g.inputs[0]]]
    out_off = plan.offsets[plan.buffer_of[g.outputs[0]]]
    arena = max(plan.arena_bytes, ALIGN)
    header = f"""/* Generated by kws/firmware/codegen.py from the int8 .tflite: do not edit. */
#ifndef KWS_MODEL_H
#define KWS_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define KWS_MODEL_INPUT_SIZE {t_in.size}
#define KWS_MODEL_OUTPUT_SIZE {t_out.size}
#define KWS_MODEL_INPUT_INT8 {int(t_in.dtype == "int8")}
#define KWS_MODEL_OUTPUT_INT8 {int(t_out.dtype == "int8")}
#define KWS_MODEL_ARENA_BYTES {arena}
#define KWS_MODEL_SCRATCH_BYTES 0  /* the kernels' working memory is planned in the arena */
#define KWS_MODEL_MACS {macs}

/* int8_t for an int8 model; float where the model starts with QUANTIZE / ends in DEQUANTIZE */
typedef {ctype[t_in.dtype]} kws_model_input_t;
typedef {ctype[t_out.dtype]} kws_model_output_t;

/* The input tensor (write the quantized features here), inside the arena. */
kws_model_input_t *kws_model_input(void);
/* The output tensor (int8 logits), valid after kws_model_invoke(). */
const kws_model_output_t *kws_model_output(void);
/* Runs the network once on kws_model_input(). */
void kws_model_invoke(void);

#ifdef __cplusplus
}}
#endif
#endif
"""
    body = ["/* Generated by kws/firmware/codegen.py from the int8 .tflite: do not edit.",
            f" * ops: {', '.join(op.name for op in g.ops)}",
            f" * arena {arena} bytes (activations and the kernels' scratch; largest live set "
            f"{plan.largest_live_bytes}), {macs} MACs */",
            '#include "model.h"', ""] + [f'#include "{h}"' for h in headers] + [
            "",
            "#ifdef KWS_PROFILE_OPS  /* the emulator times each op: it watches this call */",
            "void kws_op_mark(int op);",
            "#define KWS_OP(k) kws_op_mark(k)",
            "#else", "#define KWS_OP(k) ((void)0)", "#endif",
            "#ifdef KWS_TRACE_OPS  /* host debugging: report every op's output */",
            "void kws_trace(int op, const int8_t *data, int32_t size);",
            "#define KWS_TRACE(op, data, size) kws_trace(op, data, size)",
            "#else", "#define KWS_TRACE(op, data, size) ((void)0)", "#endif", "",
            f"static int8_t kws_arena[{arena}] __attribute__((aligned(8)));", ""]
    body += consts + [""] + decls + [""]
    body += ["kws_model_input_t *kws_model_input(void)",
             f"{{\n    return (kws_model_input_t *)(void *)(kws_arena + {in_off});\n}}",
             "const kws_model_output_t *kws_model_output(void)",
             f"{{\n    return (const kws_model_output_t *)(void *)(kws_arena + {out_off});\n}}",
             "",
             "void kws_model_invoke(void)", "{"]
    body += calls + ["    KWS_OP(-1);", "}", ""]
    files = {"model.h": header, "model.c": "\n".join(body)}
    return Generated(files, arena, plan.largest_live_bytes, 0, macs, weight_bytes,
                     [op.name for op in g.ops], *_io_quant(g, t_in, t_out),
                     tuple(t_in.shape), t_out.size, [kern.macs for kern in kernels],
                     t_in.dtype, t_out.dtype, scratch, plan.in_place)


def _io_quant(g: Graph, t_in: Tensor, t_out: Tensor) -> tuple:
    """Input and output scale and zero point: the int8 tensor's, or for float ends the int8
    tensor next to them (after the QUANTIZE, before the DEQUANTIZE)."""
    def q(t: Tensor, inner) -> tuple:
        if t.dtype == "int8":
            return t.s, t.zp
        for op in g.ops:
            o = inner(op)
            if o is not None and g.tensors[o].dtype == "int8":
                return g.tensors[o].s, g.tensors[o].zp
        return 1.0, 0
    i = q(t_in, lambda op: op.outputs[0] if op.inputs and op.inputs[0] == t_in.index else None)
    o = q(t_out, lambda op: op.inputs[0] if t_out.index in op.outputs else None)
    return (*i, *o)


STREAM_KEYS = ("period_ms", "average_window_ms", "detection_threshold", "suppression_ms",
               "minimum_count")


def stream_settings(stream=None) -> dict:
    """The streaming recognizer's settings as a dict (``STREAM_KEYS``) from ``stream`` (a
    ``StreamParams``, a dict with those keys, or None: the project's params.yaml ``stream:``)."""
    if stream is None:
        from kws.config import defaults

        stream = defaults().stream
    if not isinstance(stream, dict):
        stream = {k: getattr(stream, k) for k in STREAM_KEYS}
    missing = [k for k in STREAM_KEYS if k not in stream]
    if missing:
        raise CodegenError(f"stream settings lack {', '.join(missing)}")
    return {k: stream[k] for k in STREAM_KEYS}


def generate_stream_settings(stream, stride_ms: int, note: str = "params.yaml stream:") -> str:
    """``stream_settings.h``: the streaming recognizer's period and RecognizeCommands settings
    (kws_stream.h, kws_postprocess.h). ``note`` says where the values come from (the stream
    stage writes a copy with the threshold it calibrated)."""
    st = stream_settings(stream)
    period, stride = int(st["period_ms"]), int(stride_ms)
    if period % stride:
        raise CodegenError(f"stream.period_ms = {period} is not a multiple of features.stride_ms "
                           f"= {stride}")
    return f"""/* Generated by kws/firmware/codegen.py from {note}: do not edit. */
#ifndef KWS_STREAM_SETTINGS_H
#define KWS_STREAM_SETTINGS_H

/* the network runs every KWS_PERIOD_FRAMES new frames (kws_stream.h) */
#define KWS_PERIOD_MS {period}
#define KWS_PERIOD_FRAMES {period // stride}
/* RecognizeCommands (kws_postprocess.h) */
#define KWS_AVERAGE_WINDOW_MS {int(st["average_window_ms"])}
#define KWS_DETECTION_THRESHOLD {float(np.float32(st["detection_threshold"]))!r}f
#define KWS_SUPPRESSION_MS {int(st["suppression_ms"])}
#define KWS_MINIMUM_COUNT {int(st["minimum_count"])}

#endif
"""


def softmax_exp_table(output_scale: float) -> np.ndarray:
    """exp(-d * scale) for the 256 possible differences d of two int8 scores, float32 (the
    recognizer's softmax: no libm on the device, the same bits everywhere)."""
    d = np.arange(256, dtype=np.float64)
    return np.exp(-d * float(np.float32(output_scale))).astype(np.float32)


def generate_settings(gen: Generated, features, labels: list[str] | None,
                      stream=None, strict: bool = True) -> dict:
    """``model_settings.h`` (features, labels, quantization), ``features_tables.c`` (the MFCC
    frontend's tables, ``kws.frontend.c_tables``: the same float32 values training's features
    were computed with), ``stream_settings.h`` (``generate_stream_settings``; ``stream``: see
    ``stream_settings``) and ``postprocess_tables.c`` (the recognizer's exp table).
    ``strict``: the model's input must hold the features (otherwise the harnesses run the
    network alone)."""
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

#endif
"""
    table = softmax_exp_table(gen.output_scale)
    post = ("/* Generated by kws/firmware/codegen.py from the model's output scale: do not edit.\n"
            " * exp(-d * KWS_OUTPUT_SCALE), d = 0..255: the recognizer's softmax (no libm). */\n"
            '#include "kws_postprocess.h"\n\n' + _f32_array("kws_softmax_exp", table))
    return {"model_settings.h": settings, "features_tables.c": c_tables(s),
            "stream_settings.h": generate_stream_settings(stream, s.stride_ms),
            "postprocess_tables.c": post}


def write_sources(model: bytes, out_dir: str | Path, features=None, labels=None,
                  stream=None, strict: bool = True) -> Generated:
    """Generate every file into ``out_dir`` (created); returns the Generated summary.
    ``stream``: the streaming recognizer's settings (see ``stream_settings``)."""
    gen = generate_model(model)
    gen.files.update(generate_settings(gen, features, labels, stream, strict))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in gen.files.items():
        (out / name).write_text(text)
    return gen
