"""DEPTHWISE_CONV_2D: int8, per-channel or per-tensor symmetric weights, any depth
multiplier, kernel, stride, dilation and padding. C: firmware/runtime/kws_op_depthwise_conv_2d.c."""

from __future__ import annotations

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, c_struct
from kws.firmware.ops.conv_2d import ConvBase

DW_COL = 32  # KWS_DW_COL: the 3x3 path's plane columns


class DepthwiseConv2D(ConvBase):
    header = "kws_op_depthwise_conv_2d.h"
    depthwise = True

    def shape_check(self):
        _, self.kh, self.kw, wc = self.w.shape
        if wc != self.oc:
            raise CodegenError(f"{self.where}: filter has {wc} channels, output {self.oc}")
        self.dm = getattr(self.op.options, "depthMultiplier", 0) or self.oc // self.ic
        if self.ic * self.dm != self.oc:
            raise CodegenError(f"{self.where}: {self.ic} input channels x depth multiplier "
                               f"{self.dm} != {self.oc} output channels")
        self.macs = self.oh * self.ow * self.oc * self.kh * self.kw
        self.scratch = 4 * (self.ih * self.iw + 1)  # KWS_DEPTHWISE_SCRATCH
        o = self.op.options
        if (self.kh, self.kw, o.strideH, o.strideW, o.dilationHFactor or 1,
                o.dilationWFactor or 1) == (3, 3, 1, 1, 1, 1) and self.oc % 4 == 0 \
                and self.oh + 4 <= DW_COL:
            self.scratch = max(self.scratch, 4 * 2 * DW_COL * (self.ow + 2))  # KWS_DW3X3_SCRATCH

    def in_place(self) -> bool:
        """Depth multiplier 1: every path copies a channel group of the input into scratch
        before writing those channels' outputs."""
        return self.dm == 1

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_conv_t", e.tag, {**self.fields(e), "mm3": "0",
                                                      "mm3_kernel": "0"}))
        e.calls.append(f"kws_depthwise_conv2d_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])}, {e.scratch});")


OPS = {"DEPTHWISE_CONV_2D": DepthwiseConv2D}
