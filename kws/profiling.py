"""Size, compute, memory and latency of a model, counted by hand (no thop / fvcore).

Conventions (one set, used everywhere in the reports):

* **MACs**: multiply-accumulates of one inference at batch 1 (each layer kind counts its own:
  kws/layers/<kind>.py).
  Conv2d: ``Cout * OH * OW * (Cin / groups) * KH * KW`` (padding zeros are multiplied too, as
  the int8 kernels do); Linear: ``in * out``; BatchNorm (only when not folded): one MAC per
  element (``x * a + b``); average pooling: a fixed-weight depthwise conv, ``KH * KW`` MACs per
  output element (sum, times 1/N); ReLU, dropout, pad, flatten: 0 (fused or layout only).
* **FLOPs** = 2 x MACs + 1 per bias add (one add per output element of a layer with a bias).
* **Deployed graph**: as the int8 TFLite model runs it: BatchNorm folded into the conv before it
  (which then always has a bias), ReLU fused into the op before it, dropout / flatten / permute /
  the SAME pad gone (the pad is merged into the conv, the flatten is a RESHAPE that TFLM does in
  place). The per-layer table, the totals and the RAM figures are for this graph; the MACs of
  the training graph (BatchNorm separate) are reported beside it.
* **Flash**: weights at the deployed precision. fp32: 4 B per parameter of the deployed graph.
  int8: weights 1 B, biases int32 (4 B), per-output-channel quantization parameters 8 B per
  channel (float32 scale + int32 zero point; the requantization multiplier + shift a runtime
  derives from them is also 8 B), activation tensors 8 B each (scale + zero point). Flatbuffer
  overhead and code are not counted: the convert and firmware stages measure those.
* **Peak RAM** at batch 1: tensor liveness over the execution order. A tensor is live from the
  op that writes it (the network input: from the start) to the last op that reads it (the
  output: to the end); at each op the live tensors are summed; the peak is the largest sum.
  Scratch buffers, the stack and the audio/feature buffers are not counted.
* **Latency**: wall time of one batch-1 forward in eval mode under ``torch.inference_mode``,
  ``warmup`` runs discarded, then the median and percentiles of ``runs`` runs, with
  ``torch.set_num_threads`` pinned (and reported); on CUDA each run is synchronized.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

import torch
import torch.nn as nn

from kws import layers
from kws.layers.common import ALIAS, FOLD, FUSE, Counts, numel as _numel

FILE_DEPS = ("kws/literature.json",)  # kws.deps: read by literature()
BYTES = {"fp32": 4, "int8": 1}
QPARAM_BYTES = 8  # float32 scale + int32 zero point (or int32 multiplier + shift)
BIAS_BYTES_INT8 = 4  # int32 bias at scale s_in * s_w


@dataclass(frozen=True)
class Board:
    name: str
    mcu: str
    core: str
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int


BOARDS = {
    "nano33ble": Board("Arduino Nano 33 BLE", "nRF52840", "Cortex-M4F", 64, 1024 * 1024,
                       256 * 1024),
}


# --- per-module counts, by hand (each kind's in kws/layers) ------------------------------------
def module_counts(m: nn.Module, in_shape: tuple, out_shape: tuple) -> Counts:
    """Params, MACs and bias adds of one call of ``m`` (shapes include the batch dimension)."""
    return layers.kind_of(m).counts(m, in_shape, out_shape)


# --- tracing with forward hooks --------------------------------------------------------------------
@dataclass
class Call:
    """One call of a layer, in execution order."""

    name: str
    module: nn.Module
    in_shape: tuple
    out_shape: tuple
    in_key: int
    out_key: int


def trace(model: nn.Module, input_shape: tuple[int, int]) -> tuple[list[Call], int, int]:
    """Run one batch-1 forward with hooks on every layer (``kws.layers.named_layers``).

    Returns the calls, the key of the network input and the key of its output. Tensor keys are
    storage addresses (all traced tensors are kept alive, so addresses are not reused). A module
    input that no earlier call produced came through a functional op (``F.pad``, a copying
    ``permute().flatten()``): it is attributed to the most recent tensor, which holds for the
    chain-shaped registry models and is what the deployed graph does (pad merged into the conv,
    flatten as an in-place reshape).
    """
    calls: list[Call] = []
    keep: list[torch.Tensor] = []
    hooks = []

    def hook(name):
        def fn(mod, inputs, output):
            x = inputs[0]
            keep.extend([x, output])
            calls.append(Call(name, mod, tuple(x.shape), tuple(output.shape),
                              x.data_ptr(), output.data_ptr()))
        return fn

    for name, m, _ in layers.named_layers(model):
        hooks.append(m.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters(), None)
        x = torch.zeros(1, 1, *input_shape, device=p.device if p is not None else "cpu")
        with torch.inference_mode():
            y = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    keep.extend([x, y])
    return calls, x.data_ptr(), y.data_ptr()


# --- the deployed graph -------------------------------------------------------------------------
@dataclass
class Op:
    """One op of the deployed graph (BN folded, ReLU fused, layout ops removed)."""

    name: str
    op: str
    inputs: list[int]
    output: int
    in_shape: tuple
    out_shape: tuple
    params: int = 0
    macs: int = 0
    bias_adds: int = 0
    weights: int = 0
    biases: int = 0
    channels: int = 0  # output channels (per-channel quantization parameters)
    fused: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.bias_adds


def deployed_graph(calls: list[Call], input_key: int,
                   input_shape: tuple) -> tuple[list[Op], dict[int, tuple]]:
    """Fold, fuse and drop as the converter does. ``input_shape`` is the network input's full
    shape. Returns the ops and the shape of every tensor by key (the network input included)."""
    alias: dict[int, int] = {}
    shapes: dict[int, tuple] = {input_key: tuple(input_shape)}
    ops: list[Op] = []
    producer: dict[int, Op] = {}
    latest = input_key

    def canon(k: int) -> int:
        while k in alias:
            k = alias[k]
        return k

    def same_as(out_key: int, src: int) -> None:
        if out_key != src:
            alias[out_key] = src

    weighted: set[int] = set()  # id() of the ops a BatchNorm may fold into
    for c in calls:
        known = c.in_key in shapes or c.in_key in alias
        src = canon(c.in_key) if known else latest
        m = c.module
        kind = layers.kind_of(m, f"profiling: layer {c.name}")
        prev = producer.get(src)
        if kind.deploy == ALIAS:
            same_as(c.out_key, src)
            latest = src
            continue
        last_op = ops[-1] if ops else None
        if (kind.deploy == FOLD and prev is not None and prev is last_op and not prev.fused
                and id(prev) in weighted):
            if prev.biases == 0:  # folding gives the conv a bias
                prev.biases = prev.channels
                prev.params += prev.channels
                prev.bias_adds = _numel(prev.out_shape)
            prev.fused.append(f"{c.name} (folded)")
            same_as(c.out_key, src)
            latest = src
            continue
        if (kind.deploy == FUSE and prev is not None and prev is last_op
                and not any(f.endswith(" fused)") for f in prev.fused)):
            prev.fused.append(f"{c.name} ({kind.name} fused)")
            same_as(c.out_key, src)
            latest = src
            continue
        cnt = kind.counts(m, c.in_shape, c.out_shape)
        op = Op(c.name, kind.op(m), [src], c.out_key, tuple(shapes.get(src, c.in_shape)),
                c.out_shape, params=cnt.params, macs=cnt.macs, bias_adds=cnt.bias_adds)
        op.weights, op.biases, op.channels = kind.stored(m)
        if kind.weighted:
            weighted.add(id(op))
        ops.append(op)
        producer[c.out_key] = op
        shapes[c.out_key] = c.out_shape
        latest = c.out_key
    return ops, shapes


# --- peak RAM by liveness ------------------------------------------------------------------------
def peak_memory(sizes: dict, steps: list[tuple[list, list]], graph_inputs: Iterable,
                graph_outputs: Iterable) -> tuple[int, int, list[int]]:
    """Largest sum of simultaneously live tensors over the execution order.

    ``sizes``: bytes per tensor key; ``steps``: (inputs, outputs) of each op in execution order.
    A tensor is live from the step that writes it (graph inputs: from step 0) to the last step
    that reads it (graph outputs: to the last step), both ends included. Returns (peak bytes,
    index of the first step at the peak, live bytes at each step).
    """
    n = len(steps)
    first: dict = {k: 0 for k in graph_inputs}
    last: dict = {}
    for i, (ins, outs) in enumerate(steps):
        for k in outs:
            first.setdefault(k, i)
            last.setdefault(k, i)
        for k in ins:
            first.setdefault(k, 0)
            last[k] = i
    for k in graph_outputs:
        last[k] = n - 1
    live = [sum(sizes[k] for k in first if first[k] <= i <= last.get(k, first[k])) for i in range(n)]
    if not live:
        return 0, -1, []
    peak = max(live)
    return peak, live.index(peak), live


# --- whole-model profile -------------------------------------------------------------------------
def flash_bytes(ops: list[Op], n_activation_tensors: int) -> dict:
    weights = sum(o.weights for o in ops)
    biases = sum(o.biases for o in ops)
    channels = sum(o.channels for o in ops if o.weights)
    fp32 = 4 * (weights + biases)
    int8_w, int8_b = weights, BIAS_BYTES_INT8 * biases
    int8_q = QPARAM_BYTES * channels + QPARAM_BYTES * n_activation_tensors
    return {"fp32": fp32, "int8": int8_w + int8_b + int8_q, "int8_weights": int8_w,
            "int8_biases": int8_b, "int8_qparams": int8_q}


def profile_model(model: nn.Module, input_shape: tuple[int, int], board: str = "nano33ble") -> dict:
    """Params, MACs/FLOPs per layer and total, flash, peak RAM (fp32 and int8) of ``model``."""
    b = BOARDS[board]
    calls, in_key, out_key = trace(model, input_shape)
    ops, shapes = deployed_graph(calls, in_key, (1, 1, *input_shape))
    out_key = ops[-1].output if ops else in_key
    steps = [(o.inputs, [o.output]) for o in ops]
    tensor_keys = [in_key] + [o.output for o in ops]
    ram = {}
    live = {}
    for prec, nbytes in BYTES.items():
        sizes = {k: _numel(shapes[k]) * nbytes for k in tensor_keys}
        peak, at, per_step = peak_memory(sizes, steps, [in_key], [out_key])
        ram[prec] = {"peak_bytes": peak, "at_op": ops[at].name if ops else None}
        live[prec] = per_step
    flash = flash_bytes(ops, len(tensor_keys))
    training_graph = [module_counts(c.module, c.in_shape, c.out_shape) for c in calls]
    layers = []
    for i, o in enumerate(ops):
        layers.append({
            "index": i, "name": o.name, "op": o.op, "fused": "; ".join(o.fused),
            "input_shape": "x".join(map(str, o.in_shape[1:])),
            "output_shape": "x".join(map(str, o.out_shape[1:])),
            "params": o.params, "macs": o.macs, "bias_adds": o.bias_adds, "flops": o.flops,
            "out_bytes_int8": _numel(o.out_shape), "out_bytes_fp32": 4 * _numel(o.out_shape),
            "live_bytes_int8": live["int8"][i], "live_bytes_fp32": live["fp32"][i],
            "flash_bytes_int8": o.weights + BIAS_BYTES_INT8 * o.biases
            + (QPARAM_BYTES * o.channels if o.weights else 0),
            "flash_bytes_fp32": 4 * (o.weights + o.biases),
        })
    macs = sum(o.macs for o in ops)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "params_deployed": sum(o.params for o in ops),
        "buffers": sum(bf.numel() for bf in model.buffers() if bf.dtype.is_floating_point),
        "macs": macs,
        "flops": sum(o.flops for o in ops),
        "macs_training_graph": sum(c.macs for c in training_graph),
        "flops_training_graph": sum(c.flops for c in training_graph),
        "flash_bytes": flash,
        "peak_ram_bytes": {p: ram[p]["peak_bytes"] for p in ram},
        "peak_ram_at": {p: ram[p]["at_op"] for p in ram},
        "board": {**asdict(b), "key": board},
        "board_percent": {
            "flash_fp32": 100.0 * flash["fp32"] / b.flash_bytes,
            "flash_int8": 100.0 * flash["int8"] / b.flash_bytes,
            "ram_fp32": 100.0 * ram["fp32"]["peak_bytes"] / b.ram_bytes,
            "ram_int8": 100.0 * ram["int8"]["peak_bytes"] / b.ram_bytes,
        },
        "input_shape": list(input_shape),
        "ops": [o.op for o in ops],
        "layers": layers,
    }


# --- latency -------------------------------------------------------------------------------------
def _percentile(sorted_x: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_x:
        return float("nan")
    pos = (len(sorted_x) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * (pos - lo)


def summarize_ms(times_s: list[float]) -> dict:
    ms = sorted(t * 1e3 for t in times_s)
    p25, p75 = _percentile(ms, 0.25), _percentile(ms, 0.75)
    return {"median_ms": statistics.median(ms), "mean_ms": statistics.fmean(ms),
            "p10_ms": _percentile(ms, 0.10), "p25_ms": p25, "p75_ms": p75,
            "p90_ms": _percentile(ms, 0.90), "iqr_ms": p75 - p25, "min_ms": ms[0],
            "max_ms": ms[-1], "runs": len(ms)}


def measure_latency(model: nn.Module, input_shape: tuple[int, int], runs: int = 200,
                    warmup: int = 20, num_threads: int = 1,
                    device: str | torch.device = "cpu") -> dict:
    """Batch-1 forward latency; ``torch.set_num_threads(num_threads)`` for the measurement."""
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.randn(1, 1, *input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + runs):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
        threads_used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    out = summarize_ms(times)
    out.update({"device": device.type, "num_threads": threads_used, "warmup_runs": warmup,
                "batch": 1})
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def latency_all(model: nn.Module, input_shape, runs: int, warmup: int, num_threads: int) -> dict:
    """CPU latency always; CUDA latency too when a GPU is present (else ``None``)."""
    res = {"cpu": measure_latency(model, input_shape, runs, warmup, num_threads, "cpu"),
           "cuda": None}
    if torch.cuda.is_available():
        res["cuda"] = measure_latency(model, input_shape, runs, warmup, num_threads, "cuda")
        model.to("cpu")
    return res


def literature(path=None) -> dict:
    """The published reference figures (kws/literature.json) with their sources."""
    import json
    from pathlib import Path

    path = Path(path) if path else Path(__file__).with_name("literature.json")
    return json.loads(path.read_text())


def compare_row(arch: str, prof: dict, lat: Optional[dict], lit: dict) -> dict:
    """One row of the side-by-side table of registry models."""
    ref = lit.get("models", {}).get(arch, {})
    row = {
        "arch": arch, "params": prof["params"], "params_deployed": prof["params_deployed"],
        "macs": prof["macs"], "flops": prof["flops"],
        "flash_fp32_bytes": prof["flash_bytes"]["fp32"],
        "flash_int8_bytes": prof["flash_bytes"]["int8"],
        "peak_ram_fp32_bytes": prof["peak_ram_bytes"]["fp32"],
        "peak_ram_int8_bytes": prof["peak_ram_bytes"]["int8"],
        "cpu_latency_median_ms": lat["cpu"]["median_ms"] if lat else None,
        "cpu_latency_iqr_ms": lat["cpu"]["iqr_ms"] if lat else None,
        "cuda_latency_median_ms": (lat["cuda"] or {}).get("median_ms") if lat else None,
        "lit_params": ref.get("params"), "lit_params_total_keras": ref.get("params_total_keras"),
        "lit_macs": ref.get("macs"), "lit_ops": ref.get("ops"),
        "lit_source": (ref.get("sources") or [{}])[0].get("short"),
        "lit_url": (ref.get("sources") or [{}])[0].get("url"),
    }
    return row
