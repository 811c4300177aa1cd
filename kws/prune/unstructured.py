"""Unstructured pruning: one global magnitude threshold over all conv and dense weights.

The masks are ``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured`` (the
smallest ``round(sparsity * N)`` weights by absolute value, over the ``N`` weights of every
conv and dense layer together -- the weighted kinds of kws.layers -- so layers lose different
shares). Biases and BatchNorm parameters are not pruned (they are a few hundred values, and
the int8 deployment keeps biases in int32).
While the masks are attached, fine-tuning trains ``weight_orig`` and the mask keeps the pruned
weights at zero; ``make_permanent`` bakes them in.
"""

from __future__ import annotations

import copy

import torch.nn as nn
import torch.nn.utils.prune as tprune

from kws import layers
from kws.errors import KwsError


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") of every layer of a weighted kind (conv, linear)."""
    return [(m, "weight") for _, m, kind in layers.named_layers(model, "unstructured pruning: ")
            if kind.weighted]


def magnitude_prune(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with global magnitude masks removing ``sparsity`` of its conv and
    dense weights (masks attached: fine-tuning keeps them)."""
    if not 0 <= sparsity < 1:
        raise KwsError(f"sparsity {sparsity} must be in [0, 1)")
    new = copy.deepcopy(model)
    params = prunable(new)
    if not params:
        raise KwsError("unstructured pruning: the model has no Conv2d or Linear weights")
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=float(sparsity))
    return new


def make_permanent(model: nn.Module) -> nn.Module:
    """Bake the masks into the weights (plain ``weight`` parameters again), in place."""
    for m, name in prunable(model):
        if tprune.is_pruned(m) and hasattr(m, f"{name}_mask"):
            tprune.remove(m, name)
    return model


def sparsity_stats(model: nn.Module) -> dict:
    """Zeros among the prunable weights and non-zero parameters of the whole model (masks, if
    attached, are applied: the effective weights are counted)."""
    weights = [getattr(m, name).detach() for m, name in prunable(model)]
    n_w = sum(w.numel() for w in weights)
    zeros_w = sum(int((w == 0).sum()) for w in weights)
    # the trained tensor behind each counted weight (weight_orig while a mask is attached)
    names = {id(getattr(m, n + "_orig") if hasattr(m, n + "_orig") else getattr(m, n))
             for m, n in prunable(model)}
    total = nonzero = 0
    for p in model.parameters():
        if id(p) in names:
            continue  # counted through the masked weights below
        total += p.numel()
        nonzero += int((p != 0).sum())
    total += n_w
    nonzero += n_w - zeros_w
    return {"weights": n_w, "zero_weights": zeros_w,
            "weight_sparsity": zeros_w / n_w if n_w else 0.0,
            "params": total, "nonzero_params": nonzero}
