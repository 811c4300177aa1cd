"""AVERAGE_POOL_2D and MAX_POOL_2D (one module, as TFLM's pooling.cc): int8, the same
quantization in and out, any window, stride and padding. C: firmware/runtime/kws_op_pool_2d.c."""

from __future__ import annotations

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import (Emit, Kernel, activation_range, c_struct, check_int8,
                                     padding, same_quant, shape4)


class Pool2D(Kernel):
    header = "kws_op_pool_2d.h"

    def check(self):
        x = self.ins[0]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if not same_quant(x, self.out):
            raise CodegenError(f"{self.where}: input and output quantization differ")
        o = self.op.options
        _, self.ih, self.iw, self.c = shape4(x)
        _, self.oh, self.ow, _ = shape4(self.out)
        self.kh, self.kw, self.sh, self.sw = o.filterHeight, o.filterWidth, o.strideH, o.strideW
        self.ph = padding(o.padding, self.ih, self.oh, self.sh, self.kh, 1)
        self.pw = padding(o.padding, self.iw, self.ow, self.sw, self.kw, 1)
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_pool_t", e.tag, {
            "in_h": self.ih, "in_w": self.iw, "ch": self.c, "out_h": self.oh, "out_w": self.ow,
            "k_h": self.kh, "k_w": self.kw, "stride_h": self.sh, "stride_w": self.sw,
            "pad_h": self.ph, "pad_w": self.pw, "act_min": self.lo, "act_max": self.hi}))
        fn = "kws_avg_pool_s8" if self.op.name == "AVERAGE_POOL_2D" else "kws_max_pool_s8"
        e.calls.append(f"{fn}(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


OPS = {"AVERAGE_POOL_2D": Pool2D, "MAX_POOL_2D": Pool2D}
