"""Dense layers (nn.Linear): ``in * out`` MACs per row, deployed as FULLY_CONNECTED.

Channel pruning: the dense classifier takes the last conv's channels and its outputs (the
labels) are never pruned. Its input comes through ``kws.models.flatten_nhwc``, so channel
``c`` of an ``H x W x C`` map is column ``(h * W + w) * C + c`` for every ``h, w``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import CONSUMER, Counts, Kind, NotSupported, numel


def nhwc_columns(keep: list[int], channels: int, hw: tuple[int, int]) -> list[int]:
    """Input columns of a dense layer after flatten_nhwc that belong to channels ``keep``."""
    h, w = hw
    return [(i * w + j) * channels + c for i in range(h) for j in range(w) for c in keep]


class Linear(Kind):
    name = "linear"
    weighted = True

    def op(self, m):
        return "FULLY_CONNECTED"

    def counts(self, m, in_shape, out_shape):
        rows = numel(out_shape[:-1])
        params = m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
        return Counts(params, rows * m.in_features * m.out_features,
                      rows * m.out_features if m.bias is not None else 0)

    def forward(self, m, x, w, b):
        return F.linear(x, w, b)

    def channel_role(self, m):
        return CONSUMER

    def consume(self, m, channels, last_map):
        ch, h, w = last_map[1:] if last_map is not None else (m.in_features, 1, 1)
        if ch != channels or ch * h * w != m.in_features:
            raise NotSupported(f"takes {m.in_features} inputs, not the {ch}x{h}x{w} map "
                               "before it flattened")
        return h, w

    def keep_inputs(self, m, idx, channels, hw):
        cols = torch.tensor(nhwc_columns(idx.tolist(), channels, hw))
        m.weight = nn.Parameter(m.weight[:, cols].clone())
        m.in_features = len(cols)
        return m


KINDS = {nn.Linear: Linear()}
