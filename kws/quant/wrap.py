"""Turn any float model of the registry into a fake-quantized one: weights, biases and
activations of every conv (including depthwise) and linear layer.

Written here on purpose (quantization is the subject of this project); nothing comes from
``torch.ao.quantization``. The model is traced with ``torch.fx`` so that any registry model works
without per-architecture code (every module with a layer kind stays one call), then:

1. **BatchNorm is folded** into the preceding conv (or linear) before anything is quantized, as
   it is deployed: ``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``.
   QAT then fine-tunes the folded weights (there is no BatchNorm left during QAT).
2. **Activation quantizers** (``ActQuant``) are inserted where the deployed integer model has a
   quantized tensor: the network input; the output of each conv/linear, after its ReLU when a
   ReLU is its only user (the fused activation of TFLite); the input of any conv/linear whose
   input does not already come from a quantizer through value-preserving ops (flatten, reshape,
   permute, zero padding, dropout, max pool, ReLU: each layer kind says, kws/layers) -- e.g.
   after an average pool; and the network output.
   The network input and output (the logits) use ``QuantConfig.io`` (8 bits by default, as the
   first and last tensors of low-bit networks usually are), everything inside uses ``act``.
3. **Conv/linear layers** (the weighted kinds of kws.layers) become ``QuantLayer``: weights
   fake-quantized from their own min/max, per output channel or per tensor; the bias, for
   integer formats, as a ``bias_bits``-bit integer at scale ``s_in * s_w`` (TFLite's int32
   bias), which is what integer arithmetic needs; for minifloat formats the bias stays float
   (it is added in the float accumulator).

Modes: ``observe`` (float forward, observers record activation ranges), ``quant`` (fake-quant
forward with frozen ranges), ``float`` (quantizers off). In ``train()`` mode during QAT the
activation ranges follow an EMA of each batch's min/max; in ``eval()`` they are frozen. For
low-bit QAT, ``QuantModel.learn_scales`` turns every scale into a parameter (LSQ), starting
from the calibrated ones.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Iterable, Optional, Union

import torch
import torch.fx as fx
import torch.nn as nn

from kws import layers
from kws.layers.common import FOLD
from kws.quant import calibrate
from kws.quant.fake import (channel_view, fake_quantize, qrange, quantize, scale_zero_point,
                            tensor_range)
from kws.quant.minifloat import Minifloat, parse_format


# --- number formats ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntFormat:
    """``bits``-bit integers, symmetric (zero point 0; signed, or ``unsigned`` 0..2^b-1 for a
    tensor that is never negative) or asymmetric (0..2^b-1 with a zero point)."""

    bits: int
    symmetric: bool = True
    unsigned: bool = False  # symmetric only: see kws.quant.fake

    def __post_init__(self):
        qrange(self.bits, self.symmetric)  # validates bits
        if self.unsigned and not self.symmetric:
            raise ValueError("unsigned applies to the symmetric scheme only")

    @property
    def name(self) -> str:
        return f"int{self.bits}{'' if self.symmetric else 'a'}{'u' if self.unsigned else ''}"

    @property
    def qmin(self) -> int:
        return qrange(self.bits, self.symmetric, self.unsigned)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.bits, self.symmetric, self.unsigned)[1]

    def params(self, lo, hi):
        return scale_zero_point(lo, hi, self.bits, self.symmetric, self.unsigned)

    def for_range(self, lo) -> "IntFormat":
        """The format an activation with calibrated minimum ``lo`` gets: symmetric turns unsigned
        when ``lo >= 0`` (a ReLU output), so no code is spent on a sign that never occurs."""
        if not self.symmetric:
            return self
        return IntFormat(self.bits, True, bool(float(lo) >= 0.0))

    def fake(self, x, scale, zp):
        return fake_quantize(x, scale, zp, self.qmin, self.qmax)

    def quantize(self, x, scale, zp):
        return quantize(x, scale, zp, self.qmin, self.qmax)

    @property
    def zero_point_bytes(self) -> int:
        return 0 if self.symmetric else math.ceil(self.bits / 8)


@dataclass(frozen=True)
class FloatFormat:
    """A minifloat, optionally with a float scale so that the tensor's largest magnitude lands
    on the format's largest normal (the per-tensor scaling of FP8 recipes); ``scaled=False``
    uses the format's own range (scale 1)."""

    fmt: Minifloat
    scaled: bool = True

    @property
    def name(self) -> str:
        return self.fmt.name

    @property
    def bits(self) -> int:
        return self.fmt.bits

    def params(self, lo, hi):
        lo, hi = torch.as_tensor(lo, dtype=torch.float32), torch.as_tensor(hi, dtype=torch.float32)
        amax = torch.maximum(lo.abs(), hi.abs())
        if self.scaled:
            scale = torch.clamp(amax / self.fmt.max_normal, min=1e-30)
        else:
            scale = torch.ones_like(amax)
        return scale, torch.zeros_like(scale)

    def fake(self, x, scale, zp):
        return self.fmt.fake(x / scale) * scale

    zero_point_bytes = 0


Format = Union[IntFormat, FloatFormat]


def as_format(spec, scaled: bool = True) -> Format:
    """``8`` -> symmetric int8; ``("asymmetric", 4)``; ``"E4M3"`` or a Minifloat -> FloatFormat."""
    if isinstance(spec, (IntFormat, FloatFormat)):
        return spec
    if isinstance(spec, int):
        return IntFormat(spec, True)
    if isinstance(spec, tuple):
        scheme, bits = spec
        return IntFormat(bits, scheme == "symmetric")
    return FloatFormat(parse_format(spec), scaled)


@dataclass(frozen=True)
class QuantConfig:
    weight: Format
    act: Format
    io: Optional[Format] = None  # network input and output tensors; None: same as ``act``
    per_channel: bool = True  # one weight scale per output channel
    bias_bits: Optional[int] = 32  # integer formats: bias integer width; None: float bias
    observer: str = "minmax"  # calibration: minmax | percentile | ema
    percentile: float = 99.99
    ema_decay: float = 0.9  # the ``ema`` calibration observer
    qat_ema_decay: float = 0.99  # activation ranges while training (QAT)
    seed: int = 0

    @staticmethod
    def integer(bits: int, scheme: str = "symmetric", per_channel: bool = True,
                io_bits: Optional[int] = 8, **kw) -> "QuantConfig":
        sym = {"symmetric": True, "asymmetric": False}[scheme]
        io = IntFormat(io_bits, sym) if io_bits else None
        return QuantConfig(IntFormat(bits, sym), IntFormat(bits, sym), io, per_channel, **kw)

    @staticmethod
    def minifloat(fmt, scaling: str = "per_channel", io_format=None, **kw) -> "QuantConfig":
        scaled = scaling != "none"
        f = FloatFormat(parse_format(fmt), scaled)
        io = FloatFormat(parse_format(io_format), scaled) if io_format else None
        return QuantConfig(f, f, io, scaling == "per_channel", bias_bits=None, **kw)


# --- modules ---------------------------------------------------------------------------------------
def lsq_init(absmean: torch.Tensor, fmt: "IntFormat", zp: torch.Tensor) -> torch.Tensor:
    """LSQ's initial step size ``2 mean|x| / sqrt(Q_p)`` (Esser et al. 2020), with ``Q_p`` the
    number of positive levels above the zero point."""
    q_p = torch.clamp(fmt.qmax - zp.float(), min=1.0)
    return (2 * absmean.float() / torch.sqrt(q_p)).clamp(min=1e-12)


class LearnedScale(nn.Module):
    """A learnable scale (LSQ, Esser et al. 2020) with a fixed zero point, for low-bit QAT.

    Parameterised as ``scale = exp(k * t)``: Adam moves ``t`` by about ``lr`` per step, so the
    log-scale moves by about ``k * lr`` -- ``k = scale_lr / lr`` gives the scales their own
    learning rate inside the one optimizer of the training loop (scales of 8-bit weights are ~1e-3
    while weights are ~1e-1: one shared absolute step size would not fit both). The gradient is
    the STE/LSQ one: ``round(x/s) - x/s`` inside the range, the clamp bound outside.
    """

    def __init__(self, scale: torch.Tensor, zero_point: torch.Tensor, k: float):
        super().__init__()
        self.k = float(k)
        self.t = nn.Parameter(torch.log(scale.detach().float().clamp(min=1e-30)) / self.k)
        self.register_buffer("zero_point", zero_point.detach().float().clone())

    def forward(self):
        return torch.exp(self.k * self.t), self.zero_point


class ActQuant(nn.Module):
    """Fake-quantizes an activation tensor with a calibrated range (buffers ``lo``, ``hi``)."""

    def __init__(self, fmt: Format, config: QuantConfig):
        super().__init__()
        self.fmt = fmt
        self.config = config
        self.mode = "quant"
        self.register_buffer("lo", torch.tensor(float("nan")))
        self.register_buffer("hi", torch.tensor(float("nan")))
        self.register_buffer("absmean", torch.tensor(float("nan")))  # mean |x|: the LSQ init
        self._abs = [0.0, 0]
        self.observer: Optional[calibrate.Observer] = None
        self.ema: Optional[calibrate.EmaObserver] = None
        self.learned: Optional[LearnedScale] = None

    def extra_repr(self):
        return f"{self.fmt.name}, lo={self.lo.item():.4g}, hi={self.hi.item():.4g}, mode={self.mode}"

    def start_observing(self):
        c = self.config
        self.observer = calibrate.make_observer(c.observer, c.percentile, c.ema_decay, c.seed)
        self._abs = [0.0, 0]
        self.mode = "observe"

    def freeze(self):
        """Fix the range from what the observer saw."""
        lo, hi = self.observer.range()
        self.lo.copy_(lo)
        self.hi.copy_(hi)
        self.choose_sign()
        if self._abs[1]:
            self.absmean.fill_(self._abs[0] / self._abs[1])
        self.observer = None
        self.mode = "quant"

    def choose_sign(self) -> None:
        """Symmetric integer formats: unsigned when the calibrated range has no negative part
        (decided once, at calibration; QAT keeps it)."""
        if isinstance(self.fmt, IntFormat) and self.calibrated:
            self.fmt = self.fmt.for_range(self.lo)

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.lo) and torch.isfinite(self.hi))

    def qparams(self):
        if self.learned is not None:
            return self.learned()
        if not self.calibrated:
            raise RuntimeError("activation quantizer is not calibrated: call calibrate() first")
        return self.fmt.params(self.lo, self.hi)

    def learn_scale(self, k: float) -> None:
        """From now on the scale is a parameter, starting at the calibrated one or LSQ's
        ``2 mean|x| / sqrt(qmax - zp)``, whichever is finer."""
        scale, zp = self.qparams()
        if isinstance(self.fmt, IntFormat) and torch.isfinite(self.absmean):
            scale = torch.minimum(scale, lsq_init(self.absmean, self.fmt, zp))
        self.learned = LearnedScale(scale, zp, k).to(self.lo.device)

    def forward(self, x):
        if self.mode == "float":
            return x
        if self.mode == "observe":
            self.observer.observe(x)
            self._abs[0] += float(x.detach().abs().sum())
            self._abs[1] += x.numel()
            return x
        if self.training and self.learned is None:  # QAT: follow the activations (EMA)
            if self.ema is None:
                self.ema = calibrate.EmaObserver(self.config.qat_ema_decay)
                if self.calibrated:
                    self.ema.start_from(self.lo, self.hi)
            self.ema.observe(x)
            lo, hi = self.ema.range()
            self.lo.copy_(lo)
            self.hi.copy_(hi)
        scale, zp = self.qparams()
        return self.fmt.fake(x, scale.to(x.dtype), zp.to(x.dtype))


class QuantLayer(nn.Module):
    """A layer of a weighted kind (conv, linear: ``kws.layers``) whose weights and bias are
    fake-quantized on every forward."""

    def __init__(self, layer: nn.Module, fmt: Format, config: QuantConfig):
        super().__init__()
        layers.kind_of(layer).check_quantizable(layer)
        self.layer = layer
        self.fmt = fmt
        self.config = config
        self.enabled = True
        self._input_quant: list[ActQuant] = []  # a plain list: not a submodule (no double count)
        self.learned: Optional[LearnedScale] = None

    @property
    def input_quant(self) -> Optional[ActQuant]:
        return self._input_quant[0] if self._input_quant else None

    def link_input(self, aq: ActQuant) -> None:
        self._input_quant[:] = [aq]

    def extra_repr(self):
        pc = "per-channel" if self.config.per_channel else "per-tensor"
        return f"{self.fmt.name}, {pc}"

    @property
    def weight(self):
        return self.layer.weight

    @property
    def bias(self):
        return self.layer.bias

    def weight_qparams(self):
        """Scale and zero point of the weights (shape [C_out] per channel, else 0-d): from the
        weights' current min/max, or learned (``learn_scale``)."""
        if self.learned is not None:
            return self.learned()
        lo, hi = tensor_range(self.weight, self.config.per_channel, 0)
        return self.fmt.params(lo, hi)

    def learn_scale(self, k: float) -> None:
        """From now on the weight scale(s) are parameters, starting at the min/max ones or LSQ's
        ``2 mean|w| / sqrt(qmax - zp)`` (per channel), whichever is finer."""
        scale, zp = self.weight_qparams()
        if isinstance(self.fmt, IntFormat):
            w = self.weight.detach()
            absmean = (w.abs().reshape(w.shape[0], -1).mean(1) if self.config.per_channel
                       else w.abs().mean())
            scale = torch.minimum(scale, lsq_init(absmean, self.fmt, zp))
        self.learned = LearnedScale(scale, zp, k).to(self.weight.device)

    def _view(self, v):
        return channel_view(v, self.weight, 0) if v.dim() else v

    def quant_weight(self):
        scale, zp = self.weight_qparams()
        return self.fmt.fake(self.weight, self._view(scale), self._view(zp))

    def bias_scale(self) -> Optional[torch.Tensor]:
        """``s_in * s_w`` per output channel, when the bias is stored as an integer."""
        aq = self.input_quant
        if (self.bias is None or not isinstance(self.fmt, IntFormat) or not self.config.bias_bits
                or aq is None or aq.mode != "quant" or not isinstance(aq.fmt, IntFormat)):
            return None
        s_in, _ = aq.qparams()
        s_w, _ = self.weight_qparams()
        return (s_in * s_w).expand(self.bias.shape[0])

    def quant_bias(self):
        s_b = self.bias_scale()
        if s_b is None:
            return self.bias
        lo, hi = qrange(self.config.bias_bits, True)
        return fake_quantize(self.bias, s_b, 0.0, lo, hi)

    def forward(self, x):
        if not self.enabled:
            return self.layer(x)
        return layers.kind_of(self.layer).forward(self.layer, x, self.quant_weight(),
                                                  self.quant_bias())


# --- graph surgery -----------------------------------------------------------------------------------
class _Tracer(fx.Tracer):
    """torch.fx's tracer, with every module that has a layer kind kept as one call (a leaf),
    so a kind defined outside torch.nn is quantized as one layer, not traced into."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return layers.find(m) is not None or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """An fx-traced copy of ``model`` (eval mode). Every layer must have a kind (else an
    UnknownLayerKind), or fx would trace into an unknown one and leave it unquantized."""
    layers.named_layers(model, "quantization: ")
    src = copy.deepcopy(model).eval()
    return fx.GraphModule(src, _Tracer().trace(src), type(src).__name__)


def _module(gm: fx.GraphModule, node: fx.Node):
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def is_relu(gm, node) -> bool:
    """A ReLU (module, function or method): fused into the weighted layer before it."""
    kind, _ = layers.use_of(gm, node)
    return kind is not None and kind.fused_relu


def is_passthrough(gm, node) -> bool:
    """Ops that keep values on the quantization grid (so no new quantizer is needed after)."""
    kind, use = layers.use_of(gm, node)
    return kind is not None and kind.passthrough(use)


def _weighted(gm, node) -> bool:
    m = _module(gm, node)
    kind = layers.find(m) if m is not None else None
    return kind is not None and kind.weighted


def _set_module(gm: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, name, module)


def fold_batchnorm(gm: fx.GraphModule) -> int:
    """Fold every BatchNorm (a FOLD kind) that directly follows a weighted layer (its only
    user) into it, in place. Returns how many were folded."""
    n = 0
    for node in list(gm.graph.nodes):
        kind, use = layers.use_of(gm, node)
        if kind is None or kind.deploy != FOLD or use.module is None:
            continue
        prev = node.args[0]
        if not isinstance(prev, fx.Node) or not _weighted(gm, prev) or len(prev.users) != 1:
            continue
        new = kind.fold(use.module, _module(gm, prev))
        if new is None:
            continue
        _set_module(gm, prev.target, new)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        n += 1
    gm.delete_all_unused_submodules()
    gm.graph.lint()
    gm.recompile()
    return n


def _trace_back(gm, node):
    """Follow value-preserving ops upstream; the first node that is not one."""
    while isinstance(node, fx.Node) and is_passthrough(gm, node) and node.args:
        node = node.args[0]
    return node


class QuantModel(nn.Module):
    """The fake-quantized model. ``gm`` is the traced, BN-folded, instrumented model."""

    def __init__(self, gm: fx.GraphModule, config: QuantConfig):
        super().__init__()
        self.gm = gm
        self.config = config

    def forward(self, x):
        return self.gm(x)

    def act_quants(self) -> dict[str, ActQuant]:
        return {n: m for n, m in self.gm.named_modules() if isinstance(m, ActQuant)}

    def layers(self) -> dict[str, QuantLayer]:
        return {n: m for n, m in self.gm.named_modules() if isinstance(m, QuantLayer)}

    def set_mode(self, mode: str) -> "QuantModel":
        """``quant`` (fake quantization), ``float`` (all quantizers off), ``observe``."""
        if mode not in ("quant", "float", "observe"):
            raise ValueError(mode)
        for aq in self.act_quants().values():
            if mode == "observe":
                aq.start_observing()
            else:
                aq.mode = mode
        for lay in self.layers().values():
            lay.enabled = mode == "quant"
        return self

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor]) -> "QuantModel":
        """Observe float activations on ``batches`` (eval mode), then freeze the ranges."""
        was_training = self.training
        self.eval()
        self.set_mode("observe")
        for xb in batches:
            self(xb)
        for aq in self.act_quants().values():
            aq.freeze()
        self.set_mode("quant")
        self.train(was_training)
        return self

    def learn_scales(self, k: float) -> "QuantModel":
        """LSQ: every weight and activation scale becomes a parameter (``LearnedScale``), starting
        from the current (calibrated) one; activation ranges then stop following the EMA."""
        for q in [*self.act_quants().values(), *self.layers().values()]:
            q.learn_scale(k)
        return self

    @property
    def learns_scales(self) -> bool:
        return any(q.learned is not None for q in self.act_quants().values())

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {n: (aq.lo.item(), aq.hi.item()) for n, aq in self.act_quants().items()}

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> "QuantModel":
        """Reuse ranges calibrated on another QuantModel of the same float model (the float
        activations, hence their ranges, do not depend on the number format)."""
        aqs = self.act_quants()
        if set(ranges) != set(aqs):
            raise ValueError(f"ranges are for quantizers {sorted(ranges)}, model has {sorted(aqs)}")
        for n, (lo, hi) in ranges.items():
            aqs[n].lo.fill_(lo)
            aqs[n].hi.fill_(hi)
            aqs[n].choose_sign()
            aqs[n].mode = "quant"
        return self


def quantize_model(model: nn.Module, config: QuantConfig) -> QuantModel:
    """A fake-quantized copy of ``model`` (which is left untouched). Calibrate it before use
    (``QuantModel.calibrate``) or give it ranges (``set_ranges``)."""
    gm = trace(model)
    fold_batchnorm(gm)
    graph = gm.graph
    io_fmt = config.io or config.act
    counter = {"n": 0}

    def insert_after(node: fx.Node, fmt: Format, name: str) -> fx.Node:
        name = name.replace(".", "_")
        if hasattr(gm, name):
            counter["n"] += 1
            name = f"{name}_{counter['n']}"
        gm.add_submodule(name, ActQuant(fmt, config))
        with graph.inserting_after(node):
            q = graph.call_module(name, (node,))
        node.replace_all_uses_with(q, delete_user_cb=lambda user: user is not q)
        return q

    def insert_before(user: fx.Node, arg: fx.Node, fmt: Format, name: str) -> fx.Node:
        name = name.replace(".", "_")
        gm.add_submodule(name, ActQuant(fmt, config))
        with graph.inserting_before(user):
            q = graph.call_module(name, (arg,))
        user.replace_input_with(arg, q)
        return q

    layer_nodes = [n for n in graph.nodes if _weighted(gm, n)]
    if not layer_nodes:
        raise ValueError("the model has no conv or linear layer to quantize")
    # 1. network inputs
    for node in [n for n in graph.nodes if n.op == "placeholder"]:
        insert_after(node, io_fmt, "quant_input")
    # 2. outputs of layers, after a fused ReLU
    for node in layer_nodes:
        out = node
        users = list(node.users)
        if len(users) == 1 and is_relu(gm, users[0]):
            out = users[0]
        insert_after(out, config.act, f"quant_{node.target}")
    # 3. the network output (the logits) in the io format
    out_node = next(n for n in graph.nodes if n.op == "output")
    for arg in [a for a in out_node.all_input_nodes]:
        src_node = _trace_back(gm, arg)
        m = _module(gm, src_node) if isinstance(src_node, fx.Node) else None
        if isinstance(m, ActQuant):
            m.fmt = io_fmt
        else:
            insert_before(out_node, arg, io_fmt, "quant_output")
    # 4. layer inputs that do not come from a quantizer; link each layer to its input quantizer
    for node in layer_nodes:
        arg = node.args[0]
        src_node = _trace_back(gm, arg)
        aq = _module(gm, src_node) if isinstance(src_node, fx.Node) else None
        if not isinstance(aq, ActQuant):
            q = insert_before(node, arg, config.act, f"quant_in_{node.target}")
            aq = _module(gm, q)
        qlayer = QuantLayer(gm.get_submodule(node.target), config.weight, config)
        qlayer.link_input(aq)
        _set_module(gm, node.target, qlayer)
    graph.lint()
    gm.recompile()
    return QuantModel(gm, config).eval()


# --- size ----------------------------------------------------------------------------------------------
def float_size_bytes(model: nn.Module) -> dict:
    """Bytes of the float32 model as deployed (BatchNorm folded)."""
    gm = trace(model)
    fold_batchnorm(gm)
    n = sum(p.numel() for p in gm.parameters())
    return {"weights": 4 * n, "total": 4 * n, "params": n}


def size_bytes(qm: QuantModel) -> dict:
    """Bytes of the model at its precision: weights packed at ``bits`` bits per tensor; biases as
    ``bias_bits`` integers (float32 for minifloat); per-channel or per-tensor scales as float32 and
    zero points in ceil(bits/8) bytes when asymmetric; activation scales and zero points likewise.
    """
    weights = bias = qparams = n_params = 0
    for lay in qm.layers().values():
        w = lay.weight
        n_params += w.numel()
        weights += math.ceil(w.numel() * lay.fmt.bits / 8)
        n_scales = w.shape[0] if qm.config.per_channel else 1
        if isinstance(lay.fmt, FloatFormat) and not lay.fmt.scaled:
            n_scales = 0
        qparams += n_scales * (4 + lay.fmt.zero_point_bytes)
        if lay.bias is not None:
            n_params += lay.bias.numel()
            int_bias = isinstance(lay.fmt, IntFormat) and qm.config.bias_bits
            bias += lay.bias.numel() * (math.ceil(qm.config.bias_bits / 8) if int_bias else 4)
    for aq in qm.act_quants().values():
        if not (isinstance(aq.fmt, FloatFormat) and not aq.fmt.scaled):
            qparams += 4 + aq.fmt.zero_point_bytes
    return {"weights": weights, "bias": bias, "qparams": qparams,
            "total": weights + bias + qparams, "params": n_params}

