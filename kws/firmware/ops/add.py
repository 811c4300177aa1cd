"""ADD and SUB: int8, two activations or an activation and a constant, with broadcasting
(TFLM's quantized Add/Sub: both inputs rescaled to twice the larger scale with 20 bits of
headroom, summed or subtracted, rescaled to the output). C: firmware/runtime/kws_op_add.c."""

from __future__ import annotations

from kws.firmware.ops.common import (Emit, Kernel, activation_range, broadcast, c_struct,
                                     check_int8, quantize_multiplier)


class Add(Kernel):
    header = "kws_op_add.h"

    def check(self):
        a, b = self.ins[0], self.ins[1]
        for t in (a, b, self.out):
            check_int8(t, f"{self.where}")
        self.bc = broadcast(a, b, self.out, self.where)
        self.left = 20
        twice_max = 2.0 * max(a.s, b.s)
        self.m1, self.s1 = quantize_multiplier(a.s / twice_max)
        self.m2, self.s2 = quantize_multiplier(b.s / twice_max)
        self.mo, self.so = quantize_multiplier(twice_max / ((1 << self.left) * self.out.s))
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        self.a, self.b = a, b

    def in_place(self) -> bool:
        return not self.bc["broadcast"]

    def emit(self, e: Emit) -> None:
        in1, in2 = self.operand(e, 0), self.operand(e, 1)
        e.decls.append(c_struct("kws_add_t", e.tag, {
            "size": self.out.size, "in1_offset": -self.a.zp, "in2_offset": -self.b.zp,
            "out_offset": self.out.zp, "left_shift": self.left, "in1_mult": self.m1,
            "in1_shift": self.s1, "in2_mult": self.m2, "in2_shift": self.s2,
            "out_mult": self.mo, "out_shift": self.so, "act_min": self.lo,
            "act_max": self.hi, "subtract": int(self.op.name == "SUB"), "bc": self.bc}))
        e.calls.append(f"kws_add_s8(&{e.tag}, {in1}, {in2}, {e.ptr(self.op.outputs[0])});")


OPS = {"ADD": Add, "SUB": Add}
