"""Structured pruning: rank output channels by a norm and remove them physically.

Written here on purpose (torch.nn.utils.prune only masks; it cannot shrink a layer). The model
is analysed from one traced forward (``kws.profiling.trace``: leaf modules in execution order),
which covers every layer kind of the registry models (``kws.models``: chains of conv, depthwise
conv, BatchNorm, ReLU, dropout, average pooling, NHWC flatten and dense layers):

* A **channel group** starts at a regular conv (the *producer*) and carries its output channels
  through the channel-wise layers after it (BatchNorm, ReLU, dropout, pooling, and depthwise
  convs, whose outputs are their inputs, each with its own BatchNorm) up to the next regular
  conv or dense layer (the *consumer*), whose input channels go with them. The dense layer's
  input comes through ``kws.models.flatten_nhwc``, so channel ``c`` of an ``H x W x C`` map is
  column ``(h * W + w) * C + c`` for every ``h, w``.
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

from kws.errors import KwsError

NORMS = ("l1", "l2", "linf")
_PASS = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Dropout2d, nn.Identity, nn.AvgPool2d,
         nn.AdaptiveAvgPool2d, nn.MaxPool2d)


@dataclass
class Group:
    """The channels a producer conv writes, and every layer they pass through or feed."""

    producer: str                                  # regular Conv2d whose outputs are ranked
    channels: int
    depthwise: list[str] = field(default_factory=list)  # depthwise convs on the way
    bn_of: dict[str, str] = field(default_factory=dict)  # conv name -> its BatchNorm
    consumer: Optional[str] = None                 # next Conv2d / Linear (its inputs shrink)
    consumer_kind: str = ""                        # "conv" | "linear"
    consumer_hw: tuple[int, int] = (1, 1)          # spatial size flattened into the Linear


def _is_depthwise(m: nn.Conv2d) -> bool:
    return m.groups > 1 and m.groups == m.in_channels == m.out_channels


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
        if isinstance(m, nn.Conv2d):
            if _is_depthwise(m):
                if cur is not None:
                    cur.depthwise.append(name)
                last_conv = name
            elif m.groups != 1:
                raise KwsError(f"structured pruning: grouped conv {name} (groups={m.groups}) is "
                               "not supported (only regular and depthwise convs)")
            else:
                if cur is not None:
                    cur.consumer, cur.consumer_kind = name, "conv"
                    groups.append(cur)
                cur = Group(name, m.out_channels)
                last_conv = name
        elif isinstance(m, nn.BatchNorm2d):
            if cur is not None and last_conv is not None and last_conv not in cur.bn_of:
                cur.bn_of[last_conv] = name
            elif cur is not None:
                raise KwsError(f"structured pruning: BatchNorm {name} does not follow a conv")
        elif isinstance(m, nn.Linear):
            if cur is not None:
                ch, h, w = last_4d[1:] if last_4d is not None else (m.in_features, 1, 1)
                if ch != cur.channels or ch * h * w != m.in_features:
                    raise KwsError(f"structured pruning: {name} takes {m.in_features} inputs, "
                                   f"not the {ch}x{h}x{w} map before it flattened")
                cur.consumer, cur.consumer_kind, cur.consumer_hw = name, "linear", (h, w)
                groups.append(cur)
            cur = None
        elif not isinstance(m, _PASS):
            raise KwsError(f"structured pruning: layer {name} ({type(m).__name__}) is not "
                           "supported; supported: Conv2d, depthwise Conv2d, BatchNorm2d, Linear, "
                           "ReLU, Dropout, pooling")
        if len(c.out_shape) == 4:
            last_4d = c.out_shape
    return groups  # a group still open here feeds the network output: not prunable


def _module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def folded_filters(model: nn.Module, g: Group) -> torch.Tensor:
    """The producer's output filters ``[C, -1]`` with its BatchNorm folded in."""
    conv = _module(model, g.producer)
    w = conv.weight.detach().flatten(1)
    bn_name = g.bn_of.get(g.producer)
    if bn_name is not None:
        bn = _module(model, bn_name)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w = w * scale[:, None]
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


def _linear_columns(keep: list[int], channels: int, hw: tuple[int, int]) -> list[int]:
    """Input columns of a dense layer after flatten_nhwc that belong to channels ``keep``."""
    h, w = hw
    return [(i * w + j) * channels + c for i in range(h) for j in range(w) for c in keep]


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
        k = len(idx)
        # producer: fewer output filters (its inputs may shrink too, via the previous group)
        conv = _module(new, g.producer)
        conv.weight = nn.Parameter(conv.weight[idx].clone())
        if conv.bias is not None:
            conv.bias = nn.Parameter(conv.bias[idx].clone())
        conv.out_channels = k
        for dw_name in g.depthwise:
            dw = _module(new, dw_name)
            dw.weight = nn.Parameter(dw.weight[idx].clone())
            if dw.bias is not None:
                dw.bias = nn.Parameter(dw.bias[idx].clone())
            dw.in_channels = dw.out_channels = dw.groups = k
        for bn_name in g.bn_of.values():
            old = _module(new, bn_name)
            bn = nn.BatchNorm2d(k, eps=old.eps, momentum=old.momentum, affine=old.affine,
                                track_running_stats=old.track_running_stats)
            if old.affine:
                bn.weight.copy_(old.weight[idx])
                bn.bias.copy_(old.bias[idx])
            if old.track_running_stats:
                bn.running_mean.copy_(old.running_mean[idx])
                bn.running_var.copy_(old.running_var[idx])
                bn.num_batches_tracked.copy_(old.num_batches_tracked)
            bn.train(old.training)
            _set_module(new, bn_name, bn)
        cons = _module(new, g.consumer)
        if g.consumer_kind == "conv":
            cons.weight = nn.Parameter(cons.weight[:, idx].clone())
            cons.in_channels = k
        else:
            cols = torch.tensor(_linear_columns(idx.tolist(), g.channels, g.consumer_hw))
            cons.weight = nn.Parameter(cons.weight[:, cols].clone())
            cons.in_features = len(cols)
    return new


@torch.no_grad()
def zero_channels(model: nn.Module, input_shape: tuple[int, int],
                  keep: dict[str, list[int]]) -> nn.Module:
    """A copy of ``model`` whose dropped channels output exactly zero (the masked equivalent of
    ``remove_channels``): producer and depthwise filters and biases, and their BatchNorms' scale
    and shift, are zeroed, so every layer of the group writes 0 into those channels."""
    groups = _groups_and_keep(model, input_shape, keep)
    new = copy.deepcopy(model)
    for g in groups:
        if g.producer not in keep:
            continue
        drop = torch.tensor(sorted(set(range(g.channels)) - set(keep[g.producer])),
                            dtype=torch.long)
        if not len(drop):
            continue
        for name in [g.producer, *g.depthwise]:
            conv = _module(new, name)
            conv.weight[drop] = 0
            if conv.bias is not None:
                conv.bias[drop] = 0
        for bn_name in g.bn_of.values():
            bn = _module(new, bn_name)
            bn.weight[drop] = 0
            bn.bias[drop] = 0
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
