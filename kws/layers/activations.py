"""Activations: ReLU (module, ``torch.relu`` / ``F.relu``, ``x.relu()``) and ReLU6.

Deployed as the fused activation of the op before them (TFLite's RELU / RELU6 fused into a
conv's requantization), an op of their own only when there is none. In the fake-quant model a
ReLU right after a weighted layer is fused as well: the layer's output quantizer goes after
it. ReLU keeps a quantized tensor on its grid (``max(q, z)``) and is exact on an accumulator
(``max(acc, 0)``). ReLU6 is counted and pruned through, but neither quantized around nor
emulated in integers: the fake-quant model keeps it as a float op between quantizers.
Both are channel-wise.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import FUSE, PASS, Acc, Kind, QTensor


def relu(x):
    if isinstance(x, Acc):
        return Acc(torch.clamp(x.acc, min=0), x.scale)
    return QTensor(torch.clamp(x.q, min=x.zp), x.scale, x.zp, x.qmin, x.qmax)


class ReLU(Kind):
    name = "relu"
    deploy = FUSE
    fused_relu = True

    def op(self, m):
        return "RELU"

    def passthrough(self, use):
        return True

    def integer(self, x, use):
        return relu(x)

    def channel_role(self, m):
        return PASS


class ReLU6(Kind):
    name = "relu6"
    deploy = FUSE

    def op(self, m):
        return "RELU6"

    def channel_role(self, m):
        return PASS


RELU = ReLU()
KINDS = {nn.ReLU: RELU, nn.ReLU6: ReLU6()}
FUNCTIONS = {torch.relu: RELU, F.relu: RELU}
METHODS = {"relu": RELU}
