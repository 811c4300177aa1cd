"""What the layer kinds share: ``Kind``, the interface each kind module implements (what
counting, fake quantization, integer emulation and channel pruning need to know about one
kind of layer), ``Use`` (one call of a kind), the integer values the emulation passes from
kind to kind (``QTensor``, ``Acc``), and ``Counts``.

Kept free of the concern modules (kws.profiling, kws.quant, kws.prune), which import the
table: a kind module imports only torch and this file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import torch
import torch.nn as nn

from kws.errors import KwsError


class UnknownLayerKind(KwsError, ValueError):
    """A module type that the layer table (kws.layers.TABLE) does not have. A ValueError too:
    the quantization code raised ValueError for unsupported modules before the table."""


class NotSupported(Exception):
    """A kind's answer that one concern does not handle this layer; the concern turns it into
    its own one-line error, naming the layer."""


# --- counting ----------------------------------------------------------------------------------
@dataclass
class Counts:
    params: int = 0
    macs: int = 0
    bias_adds: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.bias_adds


def numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


# How a kind appears in the deployed (int8 TFLite) graph, which is what kws.profiling counts.
OP = "op"        # an op of its own
FOLD = "fold"    # folds into the weighted op right before it (BatchNorm); else an op of its own
FUSE = "fuse"    # the fused activation of the op right before it (ReLU); else an op of its own
ALIAS = "alias"  # no op: the output is the input (dropout, flatten, the SAME pad merged into the conv)

# How a kind treats channels along a chain, which is what structured pruning follows.
PRODUCER = "producer"  # writes new channels (ranked and removed) and takes the previous group's
CARRIER = "carrier"    # channel c in -> channel c out, with its own filters (depthwise conv)
SCALE = "scale"        # channel c in -> c out, a per-channel affine that folds into the layer before
PASS = "pass"          # channel c in -> channel c out, no parameters (ReLU, dropout, pooling)
CONSUMER = "consumer"  # takes the channels in; its outputs are never pruned (the dense classifier)


# --- integer values -----------------------------------------------------------------------------
@dataclass
class QTensor:
    """real = scale * (q - zp); q int64."""

    q: torch.Tensor
    scale: float
    zp: int
    qmin: int
    qmax: int

    def real(self) -> torch.Tensor:
        return (self.q - self.zp).double() * self.scale


@dataclass
class Acc:
    """real = scale * acc; acc int64, scale float64 broadcastable (per channel after a layer)."""

    acc: torch.Tensor
    scale: torch.Tensor


def on_codes(x, fn):
    """``fn`` (an op that moves or selects values: reshape, permute, max pool) applied to the
    integers of ``x``; the scale stays. A per-channel accumulator cannot be moved around."""
    if isinstance(x, QTensor):
        return QTensor(fn(x.q), x.scale, x.zp, x.qmin, x.qmax)
    if isinstance(x, Acc) and x.scale.numel() == 1:
        return Acc(fn(x.acc), x.scale)
    raise ValueError("reshaping a per-channel accumulator is not supported")


# --- one call of a kind -------------------------------------------------------------------------
@dataclass
class Use:
    """One call of a layer kind: a module (``module`` set, ``target`` its name in the model), a
    function (``target`` the callable) or a tensor method (``target`` its name). ``args`` start
    with the input; in an fx graph they are nodes and constants, when running, values."""

    module: Optional[nn.Module]
    target: Any
    args: tuple = ()
    kwargs: dict = None

    def __post_init__(self):
        self.kwargs = dict(self.kwargs or {})

    def arg(self, i: int, name: str, *default):
        """Argument ``i`` (the input is 0) or keyword ``name``; ``default`` when neither."""
        if name in self.kwargs:
            return self.kwargs[name]
        if len(self.args) > i:
            return self.args[i]
        if default:
            return default[0]
        raise TypeError(f"{self.describe()}: argument {name!r} is missing")

    def apply(self, t: torch.Tensor):
        """The same call on another tensor ``t`` (its other arguments unchanged)."""
        if self.module is not None:
            return self.module(t)
        if isinstance(self.target, str):
            return getattr(t, self.target)(*self.args[1:], **self.kwargs)
        return self.target(t, *self.args[1:], **self.kwargs)

    def describe(self) -> str:
        if self.module is not None:
            return f"module {type(self.module).__name__} ({self.target})"
        if isinstance(self.target, str):
            return f"method .{self.target}()"
        return getattr(self.target, "__name__", str(self.target))


# --- the interface ------------------------------------------------------------------------------
class Kind:
    """What every concern needs to know about one kind of layer. Subclasses live one per kind
    module (kws/layers/<kind>.py); the defaults are those of a layer that does nothing a concern
    must know about, and each refusal (``NotSupported``) says which concern does not handle it.

    A *weighted* kind (conv, dense) has ``weight`` with its output channels first and an
    optional ``bias``: it becomes a fake-quantized ``QuantLayer``, a BatchNorm right after it
    folds into it (for the deployed count and before quantization), and unstructured pruning
    masks its weight.
    """

    name = ""           # short name in messages and pruning groups ("conv", "linear")
    weighted = False

    # --- counting (kws.profiling) -------------------------------------------------------------
    deploy = OP

    def op(self, m: nn.Module) -> str:
        """Its op in the deployed graph (a TFLite builtin name)."""
        return type(m).__name__.upper()

    def counts(self, m: nn.Module, in_shape: tuple, out_shape: tuple) -> Counts:
        """Params, MACs and bias adds of one call (shapes with the batch dimension)."""
        return Counts(sum(p.numel() for p in m.parameters(recurse=False)), 0, 0)

    def stored(self, m: nn.Module) -> tuple[int, int, int]:
        """(weights, biases, output channels) that a deployed op of this layer stores in flash
        (channels: per-channel quantization parameters)."""
        if self.weighted:
            return (m.weight.numel(), m.bias.numel() if m.bias is not None else 0,
                    m.weight.shape[0])
        return 0, 0, 0

    # --- fake quantization (kws.quant.wrap) ---------------------------------------------------
    fused_relu = False  # a ReLU: a weighted layer's output quantizer goes after it

    def passthrough(self, use: Use) -> bool:
        """Does it keep values on the quantization grid (so no new quantizer is needed after)?"""
        return False

    def check_quantizable(self, m: nn.Module) -> None:
        """Weighted kinds: raise ValueError for what the fake-quant layer cannot reproduce."""

    def forward(self, m: nn.Module, x: torch.Tensor, w: torch.Tensor, b) -> torch.Tensor:
        """Weighted kinds: the layer's function with weights ``w`` and bias ``b`` (fake-quantized
        ones in QuantLayer; integer-valued ones, no bias, in the integer emulation, which
        bounds each output's partial sums by a fan-in of ``w[0].numel()`` products)."""
        raise NotImplementedError(f"{type(self).__name__} is not a weighted kind")

    def fold(self, m: nn.Module, layer: nn.Module) -> Optional[nn.Module]:
        """FOLD kinds: ``layer`` (weighted) with ``m`` folded into it, or None if it cannot."""
        return None

    # --- integer emulation (kws.quant.integer) --------------------------------------------------
    def integer(self, x, use: Use):
        """The call on integer values (``QTensor`` / ``Acc``); weighted kinds are emulated
        through ``forward`` by kws.quant.integer and never get here."""
        raise ValueError(f"integer emulation does not support {use.describe()}")

    # --- channel pruning (kws.prune) ------------------------------------------------------------
    def channel_role(self, m: nn.Module) -> str:
        """PRODUCER, CARRIER, SCALE, PASS or CONSUMER; NotSupported with the reason otherwise."""
        raise NotSupported("its channels cannot be followed")

    def out_channels(self, m: nn.Module) -> int:
        """PRODUCER: how many channels it writes."""
        return m.weight.shape[0]

    def filters(self, m: nn.Module) -> torch.Tensor:
        """PRODUCER: its output filters ``[C, -1]``, for ranking."""
        return m.weight.detach().flatten(1)

    def channel_scale(self, m: nn.Module) -> torch.Tensor:
        """SCALE: the per-channel factor it multiplies by, folded into the ranking."""
        raise NotImplementedError

    def keep_outputs(self, m: nn.Module, idx: torch.Tensor) -> nn.Module:
        """PRODUCER, CARRIER, SCALE: the layer with only output channels ``idx`` (and, for
        CARRIER / SCALE, the same input channels); in place or a new module."""
        raise NotImplementedError

    def zero_outputs(self, m: nn.Module, drop: torch.Tensor) -> None:
        """PRODUCER, CARRIER, SCALE: make output channels ``drop`` exactly zero, in place (the
        masked twin of ``keep_outputs``)."""
        raise NotImplementedError

    def consume(self, m: nn.Module, channels: int, last_map: Optional[tuple]) -> tuple[int, int]:
        """PRODUCER, CONSUMER: check that it takes the group's ``channels`` (``last_map``: the
        last [N, C, H, W] shape before it) and return the spatial size it sees them at
        (NotSupported, a phrase that follows the layer's name, otherwise)."""
        return (1, 1)

    def keep_inputs(self, m: nn.Module, idx: torch.Tensor, channels: int,
                    hw: tuple[int, int]) -> nn.Module:
        """PRODUCER, CONSUMER: the layer taking only input channels ``idx`` of ``channels``."""
        raise NotImplementedError


def slice_params(m: nn.Module, idx: torch.Tensor, names=("weight", "bias")) -> None:
    """Keep entries ``idx`` (first dimension) of ``m``'s parameters ``names`` that are set."""
    for n in names:
        p = getattr(m, n, None)
        if p is not None:
            setattr(m, n, nn.Parameter(p[idx].clone()))


def zero_params(m: nn.Module, drop: torch.Tensor, names=("weight", "bias")) -> None:
    """Zero entries ``drop`` (first dimension) of ``m``'s parameters ``names``."""
    for n in names:
        p = getattr(m, n, None)
        if p is not None:
            p[drop] = 0
