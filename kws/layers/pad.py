"""Constant padding: ``F.pad`` (how the registry models write TF's asymmetric SAME padding),
nn.ZeroPad2d and nn.ConstantPad2d.

Not an op in the deployed graph: the converter merges the pad into the conv after it (see
kws.models). A zero pad keeps a quantized tensor on its grid (real 0 is exactly the zero
point), so in integers it pads the codes with the zero point; other pads are left to float.
It is channel-wise, so channel pruning passes through a zero pad.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import ALIAS, PASS, Kind, NotSupported, QTensor


def is_zero_pad(use) -> bool:
    if use.module is not None:
        return not use.module.value
    return use.arg(2, "mode", "constant") == "constant" and not use.arg(3, "value", None)


class Pad(Kind):
    name = "pad"
    deploy = ALIAS

    def passthrough(self, use):
        return is_zero_pad(use)

    def integer(self, x, use):
        if not is_zero_pad(use) or not isinstance(x, QTensor):
            raise ValueError("integer emulation supports only zero padding of a quantized tensor")
        return QTensor(use.apply(x.q - x.zp) + x.zp, x.scale, x.zp, x.qmin, x.qmax)

    def channel_role(self, m):
        if m.value:
            raise NotSupported("a non-zero pad writes into the channels that pruning zeroes")
        return PASS


PAD = Pad()
KINDS = {nn.ZeroPad2d: PAD, nn.ConstantPad2d: PAD}
FUNCTIONS = {F.pad: PAD}
