"""The layer table: module type -> the ``Kind`` (kws.layers.common) of the one module that
knows what counting (kws.profiling), fake quantization (kws.quant.wrap), integer emulation
(kws.quant.integer) and channel pruning (kws.prune) need about that kind of layer; the
PyTorch-side twin of the firmware's op table (kws.firmware.ops). Each concern loops over the
model's layers and asks the table; a module that is not in it is an ``UnknownLayerKind``
naming it.

Adding a layer kind: a module here with ``KINDS = {ModuleType: KindInstance}`` (and
``FUNCTIONS`` / ``METHODS`` for its functional forms, which the fx-traced quantization sees),
listed in ``MODULES`` below. A module with a kind is one layer to every concern: fx does not
trace into it, and the profiler hooks it rather than its children.
"""

from __future__ import annotations

from typing import Optional

import torch.fx as fx
import torch.nn as nn

from kws.layers import activations, batchnorm, conv, layout, linear, pad, pooling
from kws.layers.common import Kind, UnknownLayerKind, Use

MODULES = (conv, linear, batchnorm, activations, pooling, layout, pad)
TABLE: dict[type, Kind] = {t: k for m in MODULES for t, k in m.KINDS.items()}
FUNCTIONS: dict[object, Kind] = {f: k for m in MODULES for f, k in getattr(m, "FUNCTIONS", {}).items()}
METHODS: dict[str, Kind] = {n: k for m in MODULES for n, k in getattr(m, "METHODS", {}).items()}


def find(m: nn.Module) -> Optional[Kind]:
    """The kind of ``m`` (its class or the nearest base class in the table), or None."""
    for t in type(m).__mro__:
        k = TABLE.get(t)
        if k is not None:
            return k
    return None


def kind_of(m: nn.Module, where: str = "") -> Kind:
    """The kind of ``m``; an UnknownLayerKind (one line, prefixed by ``where``) if it has none."""
    k = find(m)
    if k is None:
        t = type(m)
        raise UnknownLayerKind(f"{where + ': ' if where else ''}{t.__name__} ({t.__module__}."
                               f"{t.__qualname__}) is not supported: no layer kind; add a module "
                               "for it to kws/layers/ and list it in MODULES in "
                               "kws/layers/__init__.py")
    return k


def named_layers(model: nn.Module, what: str = "") -> list[tuple[str, nn.Module, Kind]]:
    """(name, module, kind) of every layer of ``model``, in registration order, each module
    once: a module with a kind is a layer (not looked into); any other module without children
    is an UnknownLayerKind (``what``: the concern, for the message)."""
    out: list[tuple[str, nn.Module, Kind]] = []
    seen: set[int] = set()

    def walk(prefix: str, m: nn.Module) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        k = find(m)
        children = list(m.named_children())
        if k is not None or not children:
            out.append((prefix, m, k or kind_of(m, f"{what}layer {prefix or '(model)'}")))
            return
        for n, c in children:
            walk(f"{prefix}.{n}" if prefix else n, c)

    walk("", model)
    return out


def use_of(gm: fx.GraphModule, node: fx.Node) -> tuple[Optional[Kind], Optional[Use]]:
    """The kind of an fx node (a module, function or method call) and the call, or Nones."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        return find(m), Use(m, node.target, node.args, node.kwargs)
    if node.op == "call_function":
        return FUNCTIONS.get(node.target), Use(None, node.target, node.args, node.kwargs)
    if node.op == "call_method":
        return METHODS.get(node.target), Use(None, node.target, node.args, node.kwargs)
    return None, None
