"""Structured pruning: rank output channels by a norm and remove them physically.

Written here on purpose (torch.nn.utils.prune only masks; it cannot shrink a layer). The model
is analysed from one traced forward (``kws.profiling.trace``: its layers in execution order);
each layer's kind (``kws.layers``) says how it treats channels (``Kind.channel_role``) and how
they are cut from it, which covers the registry models (``kws.models``: chains of conv,
depthwise conv, BatchNorm, ReLU, dropout, average pooling, NHWC flatten and dense layers):

* A **channel group** starts at a *producer* (a regular conv) and carries its output channels
  through the channel-wise layers after it (*carriers* with their own filters: depthwise convs;
  *scales* folded into the layer before them: BatchNorm; parameter-free ones: ReLU, dropout,
  pooling) up to the next producer or *consumer* (the dense layer), whose input channels go
  with them. The dense layer's input comes through ``kws.models.flatten_nhwc``, so channel
  ``c`` of an ``H x W x C`` map is column ``(h * W + w) * C + c`` for every ``h, w``.
* The dense classifier's outputs (the labels) and a conv whose output is the network output are
  never pruned.
* Ranking: per group, the norm (L1, L2 or L-inf) of each output filter of the producer **as
  deployed**, i.e. with the BatchNorm right after it folded in (``w * gamma / sqrt(var + eps)``):
  BatchNorm rescales every channel, so the raw filter norm would not say what the channel
  contributes. The lowest ``round(ratio * C)`` channels go (at least one stays).

``zero_channels`` is the masked twin of ``remove_channels`` (same channels, zeroed instead of
removed): the tests check that both give the same outputs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn

from kws import layers
from kws.errors import KwsError
from kws.layers.common import CARRIER, CONSUMER, PRODUCER, SCALE, NotSupported

NORMS = ("l1", "l2", "linf")


@dataclass
class Group:
    """The channels a producer writes, and every layer they pass through or feed."""

    producer: str                                  # the layer whose outputs are ranked
    channels: int
    depthwise: list[str] = field(default_factory=list)  # carriers on the way (depthwise convs)
    bn_of: dict[str, str] = field(default_factory=dict)  # producer / carrier -> its scale (BN)
    consumer: Optional[str] = None                 # next producer / consumer (its inputs shrink)
    consumer_kind: str = ""                        # its kind's name: "conv" | "linear"
    consumer_hw: tuple[int, int] = (1, 1)          # spatial size flattened into the Linear


def channel_groups(model: nn.Module, input_shape: tuple[int, int]) -> list[Group]:
    """The prunable channel groups of a chain model, in execution order."""
    from kws.profiling import trace

    calls, _, _ = trace(model, input_shape)
    groups: list[Group] = []
    cur: Optional[Group] = None
    last_conv: Optional[str] = None
    last_4d: Optional[tuple] = None
    seen: set[str] = set()
    for c in calls:
        m, name = c.module, c.name
        if name in seen:
            raise KwsError(f"structured pruning: layer {name} is called twice in one forward; "
                           "only chain models (each layer once) are supported")
        seen.add(name)
        kind = layers.kind_of(m, f"structured pruning: layer {name}")
        try:
            role = kind.channel_role(m)
        except NotSupported as e:
            raise KwsError(f"structured pruning: layer {name} ({type(m).__name__}) is not "
                           f"supported: {e}") from None
        if role in (PRODUCER, CONSUMER) and cur is not None:  # it takes the open group's channels
            try:
                cur.consumer_hw = kind.consume(m, cur.channels, last_4d)
            except NotSupported as e:
                raise KwsError(f"structured pruning: {name} {e}") from None
            cur.consumer, cur.consumer_kind = name, kind.name
            groups.append(cur)
        if role == PRODUCER:
            cur = Group(name, kind.out_channels(m))
            last_conv = name
        elif role == CARRIER:
            if cur is not None:
                cur.depthwise.append(name)
            last_conv = name
        elif role == SCALE:
            if cur is not None and last_conv is not None and last_conv not in cur.bn_of:
                cur.bn_of[last_conv] = name
            elif cur is not None:
                raise KwsError(f"structured pruning: {type(m).__name__} {name} does not follow "
                               "a conv")
        elif role == CONSUMER:
            cur = None
        if len(c.out_shape) == 4:
            last_4d = c.out_shape
    return groups  # a group still open here feeds the network output: not prunable


def _module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def folded_filters(model: nn.Module, g: Group) -> torch.Tensor:
    """The producer's output filters ``[C, -1]`` with its BatchNorm (scale) folded in."""
    conv = _module(model, g.producer)
    w = layers.kind_of(conv).filters(conv)
    bn_name = g.bn_of.get(g.producer)
    if bn_name is not None:
        bn = _module(model, bn_name)
        w = w * layers.kind_of(bn).channel_scale(bn)[:, None]
    return w


def channel_scores(model: nn.Module, g: Group, norm: str) -> torch.Tensor:
    """One score per output channel of the group's producer (higher: more important)."""
    w = folded_filters(model, g)
    if norm == "l1":
        return w.abs().sum(1)
    if norm == "l2":
        return w.pow(2).sum(1).sqrt()
    if norm == "linf":
        return w.abs().amax(1)
    raise KwsError(f"structured pruning: norm {norm!r} unknown (use one of {', '.join(NORMS)})")


def n_keep(channels: int, ratio: float) -> int:
    """Channels left after removing ``round(ratio * channels)`` of them (at least one)."""
    if not 0 <= ratio < 1:
        raise KwsError(f"pruning ratio {ratio} must be in [0, 1)")
    return max(1, channels - int(round(ratio * channels)))


def plan(model: nn.Module, input_shape: tuple[int, int], ratio: float,
         norm: str = "l1") -> dict[str, list[int]]:
    """Channels to keep per group (producer name -> sorted indices): the highest-norm ones;
    ties go to the lower index, so the plan is deterministic."""
    keep = {}
    for g in channel_groups(model, input_shape):
        s = channel_scores(model, g, norm)
        order = sorted(range(g.channels), key=lambda i: (-float(s[i]), i))
        keep[g.producer] = sorted(order[:n_keep(g.channels, ratio)])
    return keep


def _groups_and_keep(model, input_shape, keep):
    groups = channel_groups(model, input_shape)
    by_name = {g.producer: g for g in groups}
    unknown = sorted(set(keep) - set(by_name))
    if unknown:
        raise KwsError(f"structured pruning: {unknown} are not prunable producers "
                       f"(prunable: {sorted(by_name)})")
    for name, idx in keep.items():
        c = by_name[name].channels
        if not idx or len(set(idx)) != len(idx) or min(idx) < 0 or max(idx) >= c:
            raise KwsError(f"structured pruning: keep list of {name} must be distinct indices "
                           f"in 0..{c - 1}, at least one")
    return groups


@torch.no_grad()
def remove_channels(model: nn.Module, input_shape: tuple[int, int],
                    keep: dict[str, list[int]]) -> nn.Module:
    """A physically smaller copy of ``model`` keeping only channels ``keep`` (see ``plan``);
    groups not named keep all their channels. The original is not changed."""
    groups = _groups_and_keep(model, input_shape, keep)
    new = copy.deepcopy(model)
    for g in groups:
        if g.producer not in keep:
            continue
        idx = torch.tensor(sorted(keep[g.producer]), dtype=torch.long)
        # producer: fewer output filters (its inputs may shrink too, via the previous group);
        # carriers and scales: fewer channels in and out
        for name in [g.producer, *g.depthwise, *g.bn_of.values()]:
            m = _module(new, name)
            _set_module(new, name, layers.kind_of(m).keep_outputs(m, idx))
        m = _module(new, g.consumer)
        _set_module(new, g.consumer, layers.kind_of(m).keep_inputs(m, idx, g.channels,
                                                                   g.consumer_hw))
    return new


@torch.no_grad()
def zero_channels(model: nn.Module, input_shape: tuple[int, int],
                  keep: dict[str, list[int]]) -> nn.Module:
    """A copy of ``model`` whose dropped channels output exactly zero (the masked equivalent of
    ``remove_channels``): producer and depthwise filters and biases, and their BatchNorms' scale
    and shift, are zeroed (``Kind.zero_outputs``), so every layer of the group writes 0 into
    those channels."""
    groups = _groups_and_keep(model, input_shape, keep)
    new = copy.deepcopy(model)
    for g in groups:
        if g.producer not in keep:
            continue
        drop = torch.tensor(sorted(set(range(g.channels)) - set(keep[g.producer])),
                            dtype=torch.long)
        if not len(drop):
            continue
        for name in [g.producer, *g.depthwise, *g.bn_of.values()]:
            m = _module(new, name)
            layers.kind_of(m).zero_outputs(m, drop)
    return new


def channel_counts(model: nn.Module, input_shape: tuple[int, int]) -> dict[str, int]:
    """Output channels of every prunable producer (what a plan shrinks)."""
    return {g.producer: g.channels for g in channel_groups(model, input_shape)}


def prune_structured(model: nn.Module, input_shape: tuple[int, int], ratio: float,
                     norm: str = "l1") -> tuple[nn.Module, dict[str, list[int]]]:
    """Remove ``ratio`` of the output channels of every prunable conv, lowest ``norm`` first.
    Returns the smaller model and the plan (kept channel indices per producer)."""
    keep = plan(model, input_shape, ratio, norm)
    return remove_channels(model, input_shape, keep), keep
