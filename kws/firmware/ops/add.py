"""ADD: the sum of two int8 activations of one shape (TFLM's quantized Add: both inputs
rescaled to twice the larger scale with 20 bits of headroom). C: firmware/runtime/kws_op_add.c."""

from __future__ import annotations

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import (Emit, Kernel, activation_range, c_struct, check_int8,
                                     quantize_multiplier)


class Add(Kernel):
    header = "kws_op_add.h"

    def check(self):
        a, b = self.ins[0], self.ins[1]
        for t in (a, b):
            check_int8(t, f"{self.where} input")
            if t.data is not None or t.size != self.out.size:
                raise CodegenError(f"{self.where}: only the sum of two activation tensors of the "
                                   "same shape is supported (no broadcasting or constants)")
        check_int8(self.out, f"{self.where} output")
        self.left = 20
        twice_max = 2.0 * max(a.s, b.s)
        self.m1, self.s1 = quantize_multiplier(a.s / twice_max)
        self.m2, self.s2 = quantize_multiplier(b.s / twice_max)
        self.mo, self.so = quantize_multiplier(twice_max / ((1 << self.left) * self.out.s))
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        self.a, self.b = a, b

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_add_t", e.tag, {
            "size": self.out.size, "in1_offset": -self.a.zp, "in2_offset": -self.b.zp,
            "out_offset": self.out.zp, "left_shift": self.left, "in1_mult": self.m1,
            "in1_shift": self.s1, "in2_mult": self.m2, "in2_shift": self.s2,
            "out_mult": self.mo, "out_shift": self.so, "act_min": self.lo,
            "act_max": self.hi}))
        e.calls.append(f"kws_add_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.inputs[1])}, {e.ptr(self.op.outputs[0])});")


OPS = {"ADD": Add}
