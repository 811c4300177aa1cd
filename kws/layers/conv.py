"""Convolutions (nn.Conv2d, nn.Conv1d), regular, depthwise or grouped.

Counting: ``Cout * OH * OW * (Cin / groups) * KH * KW`` MACs (padding zeros are multiplied too,
as the int8 kernels do), one bias add per output element. Deployed as CONV_2D, or
DEPTHWISE_CONV_2D when every input channel has its own filter (TFLite has no 1-D conv: a
Conv1d runs as a 2-D one of height 1). Channel pruning: a regular conv writes new channels
(and takes the previous group's), a depthwise conv carries them with one filter each; grouped
convs mix channels within groups only, which the groups of kws.prune.structured do not model.
Pruning follows [N, C, H, W] maps, so Conv1d is refused there.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import (CARRIER, PRODUCER, Counts, Kind, NotSupported, numel,
                               slice_params, zero_params)


def is_depthwise(m: nn.Module) -> bool:
    """One filter per input channel, as many outputs as inputs (TFLite's DEPTHWISE_CONV_2D with
    depth multiplier 1)."""
    return m.groups > 1 and m.groups == m.in_channels == m.out_channels


class Conv(Kind):
    name = "conv"
    weighted = True

    def __init__(self, fn):
        self.fn = fn  # F.conv2d / F.conv1d

    def op(self, m):
        return "DEPTHWISE_CONV_2D" if is_depthwise(m) else "CONV_2D"

    def counts(self, m, in_shape, out_shape):
        macs = numel(out_shape) * (m.in_channels // m.groups) * numel(m.kernel_size)
        params = m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
        return Counts(params, macs, numel(out_shape) if m.bias is not None else 0)

    def check_quantizable(self, m):
        if m.padding_mode != "zeros":
            raise ValueError(f"padding_mode {m.padding_mode!r} is not supported (zeros only)")

    def forward(self, m, x, w, b):
        return self.fn(x, w, b, m.stride, m.padding, m.dilation, m.groups)

    def channel_role(self, m):
        if self.fn is not F.conv2d:
            raise NotSupported("channel pruning follows [N, C, H, W] maps (Conv2d)")
        if is_depthwise(m):
            return CARRIER
        if m.groups != 1:
            raise NotSupported(f"grouped conv (groups={m.groups}); only regular and depthwise "
                               "convs")
        return PRODUCER

    def keep_outputs(self, m, idx):
        slice_params(m, idx)
        if is_depthwise(m):
            m.in_channels = m.groups = len(idx)
        m.out_channels = len(idx)
        return m

    def zero_outputs(self, m, drop):
        zero_params(m, drop)

    def keep_inputs(self, m, idx, channels, hw):
        m.weight = nn.Parameter(m.weight[:, idx].clone())
        m.in_channels = len(idx)
        return m


KINDS = {nn.Conv2d: Conv(F.conv2d), nn.Conv1d: Conv(F.conv1d)}
