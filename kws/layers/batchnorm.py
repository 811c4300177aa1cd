"""BatchNorm (nn.BatchNorm2d, nn.BatchNorm1d): a per-channel affine ``x * a + b`` at inference,
with ``a = gamma / sqrt(var + eps)`` and ``b = beta - mean * a``.

It folds into the weighted layer right before it, as deployed: ``w' = w * a`` (per output
channel), ``b' = (b - mean) * a + beta``; the deployed count then has no BatchNorm and the
layer always has a bias. Only a BatchNorm that cannot fold is an op (one MAC per element), and
the integer emulation has none (it runs fake-quantized models, where BN is already folded).
Channel pruning cuts its channels with the layer it follows and folds its scale into the
ranking (the raw filter norm would not say what a channel contributes).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from kws.layers.common import FOLD, SCALE, Counts, Kind, NotSupported, numel


class BatchNorm(Kind):
    name = "batchnorm"
    deploy = FOLD

    def __init__(self, maps: bool):
        self.maps = maps  # BatchNorm2d: over [N, C, H, W] maps

    def op(self, m):
        return "BATCH_NORM"

    def counts(self, m, in_shape, out_shape):
        params = (m.weight.numel() + m.bias.numel()) if m.affine else 0
        return Counts(params, numel(out_shape), 0)

    def stored(self, m):
        return m.num_features, m.num_features, m.num_features

    def fold(self, m, layer):
        if not m.track_running_stats or m.running_var is None:
            return None
        with torch.no_grad():
            inv = torch.rsqrt(m.running_var + m.eps)
            g = m.weight * inv if m.affine else inv
            beta = m.bias if m.affine else torch.zeros_like(inv)
            w = layer.weight * g.reshape([-1] + [1] * (layer.weight.dim() - 1))
            b0 = layer.bias if layer.bias is not None else torch.zeros_like(m.running_mean)
            b = (b0 - m.running_mean) * g + beta
            new = copy.deepcopy(layer)
            new.weight = nn.Parameter(w.detach().clone())
            new.bias = nn.Parameter(b.detach().clone())
        return new

    def channel_role(self, m):
        if not self.maps:
            raise NotSupported("channel pruning follows [N, C, H, W] maps (BatchNorm2d)")
        return SCALE

    def channel_scale(self, m):
        return m.weight.detach() / torch.sqrt(m.running_var + m.eps)

    def keep_outputs(self, m, idx):
        bn = type(m)(len(idx), eps=m.eps, momentum=m.momentum, affine=m.affine,
                     track_running_stats=m.track_running_stats)
        if m.affine:
            bn.weight.copy_(m.weight[idx])
            bn.bias.copy_(m.bias[idx])
        if m.track_running_stats:
            bn.running_mean.copy_(m.running_mean[idx])
            bn.running_var.copy_(m.running_var[idx])
            bn.num_batches_tracked.copy_(m.num_batches_tracked)
        bn.train(m.training)
        return bn

    def zero_outputs(self, m, drop):
        m.weight[drop] = 0
        m.bias[drop] = 0


KINDS = {nn.BatchNorm2d: BatchNorm(True), nn.BatchNorm1d: BatchNorm(False)}
