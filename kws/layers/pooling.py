"""Pooling: average (nn.AvgPool2d, ``F.avg_pool2d``), global average (nn.AdaptiveAvgPool2d to
1x1, ``F.adaptive_avg_pool2d``, ``torch.mean`` / ``x.mean()`` over axes) and max (nn.MaxPool2d,
nn.MaxPool1d, ``F.max_pool2d``, ``F.max_pool1d``).

Counting: average pooling is a fixed-weight depthwise conv, ``KH * KW`` MACs per output
element (sum, times 1/N; adaptive: every input element once); max pooling compares, 0 MACs.
Max pooling selects values, so it keeps a quantized tensor on its grid and moves codes in
integers. Average pooling does not: in integers it sums ``q - z`` over the window into an
accumulator at scale ``s / N``, which the next quantizer requantizes. All are channel-wise.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import PASS, Acc, Counts, Kind, NotSupported, QTensor, numel, on_codes


def total(x, dims, keepdim=False):
    """Sum of ``q - z`` over ``dims``, at scale ``s / N``."""
    if not isinstance(x, QTensor):
        raise ValueError("average of a non-quantized tensor is not supported")
    dims = [dims] if isinstance(dims, int) else list(dims)
    n = 1
    for d in dims:
        n *= x.q.shape[d]
    s = (x.q - x.zp).sum(dim=dims, keepdim=keepdim)
    return Acc(s, torch.tensor(x.scale / n, dtype=torch.float64))


def avg_pool(x: QTensor, kernel, stride=None, padding=0, ceil_mode=False,
             count_include_pad=True, divisor_override=None):
    k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if divisor_override or ceil_mode or (padding not in (0, (0, 0)) and not count_include_pad):
        raise ValueError("average pooling with varying window sizes is not supported")
    n = k[0] * k[1]
    avg = F.avg_pool2d((x.q - x.zp).double(), k, stride, padding)
    return Acc(torch.round(avg * n).to(torch.int64), torch.tensor(x.scale / n, dtype=torch.float64))


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _Pool(Kind):
    def op(self, m):
        return "AVERAGE_POOL_2D"

    def channel_role(self, m):
        return PASS


class AvgPool(_Pool):
    name = "avg_pool"

    def counts(self, m, in_shape, out_shape):
        kh, kw = _pair(m.kernel_size)
        return Counts(0, numel(out_shape) * kh * kw, 0)

    def integer(self, x, use):
        m = use.module
        if m is None:
            return avg_pool(x, *use.args[1:], **use.kwargs)
        return avg_pool(x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                        m.divisor_override)


def _global(x, output_size):
    if output_size not in (1, (1, 1), [1, 1]):
        raise ValueError("adaptive average pooling to more than 1x1 is not supported")
    return total(x, (2, 3), keepdim=True)


class AdaptiveAvgPool(_Pool):
    name = "adaptive_avg_pool"

    def counts(self, m, in_shape, out_shape):
        return Counts(0, numel(in_shape), 0)  # every input element summed once

    def integer(self, x, use):
        if use.module is not None:
            return _global(x, use.module.output_size)
        return _global(x, use.arg(1, "output_size"))


class Mean(_Pool):
    """``torch.mean`` / ``x.mean(dims)``: functions only (no module), so never counted."""

    name = "mean"

    def integer(self, x, use):
        return total(x, use.arg(1, "dim"), use.arg(2, "keepdim", False))


class MaxPool(_Pool):
    name = "max_pool"

    def __init__(self, maps: bool = True):
        self.maps = maps  # MaxPool1d runs on [N, C, L]

    def op(self, m):
        return "MAX_POOL_2D"

    def passthrough(self, use):
        return True

    def integer(self, x, use):
        return on_codes(x, lambda t: use.apply(t.double()).to(torch.int64))

    def channel_role(self, m):
        if not self.maps:
            raise NotSupported("channel pruning follows [N, C, H, W] maps")
        return PASS


AVG, ADAPTIVE, MAX, MAX1D = AvgPool(), AdaptiveAvgPool(), MaxPool(), MaxPool(maps=False)
KINDS = {nn.AvgPool2d: AVG, nn.AdaptiveAvgPool2d: ADAPTIVE, nn.MaxPool2d: MAX, nn.MaxPool1d: MAX1D}
FUNCTIONS = {F.avg_pool2d: AVG, F.adaptive_avg_pool2d: ADAPTIVE, torch.mean: Mean(),
             F.max_pool2d: MAX, F.max_pool1d: MAX1D}
METHODS = {"mean": FUNCTIONS[torch.mean]}
