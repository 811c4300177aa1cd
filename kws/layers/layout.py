"""Layout ops: dropout and identity (values as they are at inference), and flatten / reshape /
view / permute / transpose / squeeze / unsqueeze / contiguous (the same values, moved).

None of them is an op in the deployed graph (dropout is gone, a flatten is a RESHAPE that
TFLM does in place, the registry's NHWC flatten needs no TRANSPOSE), none costs a MAC, and
all keep a quantized tensor on its grid. In integers they move the codes. Channel pruning
passes through dropout; a flatten module flattens in NCHW order, which the dense consumer's
NHWC column mapping (kws.layers.linear) does not follow, so it is refused there.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.layers.common import ALIAS, PASS, Kind, NotSupported, on_codes


class Dropout(Kind):
    name = "dropout"
    deploy = ALIAS

    def __init__(self, maps: bool = True):
        self.maps = maps  # Dropout1d runs on [N, C, L]

    def passthrough(self, use):
        return True

    def integer(self, x, use):
        return x

    def channel_role(self, m):
        if not self.maps:
            raise NotSupported("channel pruning follows [N, C, H, W] maps")
        return PASS


class Reshape(Kind):
    name = "reshape"
    deploy = ALIAS

    def passthrough(self, use):
        return True

    def integer(self, x, use):
        return on_codes(x, use.apply)

    def channel_role(self, m):
        raise NotSupported("a flatten module flattens in NCHW order; the dense layer's columns "
                           "are mapped for kws.models.flatten_nhwc")


DROPOUT, RESHAPE = Dropout(), Reshape()
KINDS = {nn.Dropout: DROPOUT, nn.Dropout2d: DROPOUT, nn.Identity: DROPOUT,
         nn.Dropout1d: Dropout(maps=False), nn.Flatten: RESHAPE}
FUNCTIONS = {F.dropout: DROPOUT, **{f: RESHAPE for f in (torch.flatten, torch.reshape,
                                                          torch.permute, torch.transpose,
                                                          torch.squeeze, torch.unsqueeze)}}
METHODS = {m: RESHAPE for m in ("flatten", "view", "reshape", "permute", "transpose",
                                "contiguous", "squeeze", "unsqueeze")}
