"""MUL: int8, two activations or an activation and a constant, with broadcasting (TFLM's
quantized Mul: (x1 - zp1) * (x2 - zp2) rescaled by s1 * s2 / s_out). C: kws_op_mul.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.ops.common import (Emit, Kernel, activation_range, broadcast, c_struct,
                                     check_int8, quantize_multiplier)


class Mul(Kernel):
    header = "kws_op_mul.h"

    def check(self):
        a, b = self.ins[0], self.ins[1]
        for t in (a, b, self.out):
            check_int8(t, f"{self.where}")
        self.bc = broadcast(a, b, self.out, self.where)
        self.m, self.s = quantize_multiplier(
            float(np.float64(a.s) * np.float64(b.s) / np.float64(self.out.s)))
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        self.a, self.b = a, b

    def in_place(self) -> bool:
        return not self.bc["broadcast"]

    def emit(self, e: Emit) -> None:
        in1, in2 = self.operand(e, 0), self.operand(e, 1)
        e.decls.append(c_struct("kws_mul_t", e.tag, {
            "size": self.out.size, "in1_offset": -self.a.zp, "in2_offset": -self.b.zp,
            "out_offset": self.out.zp, "out_mult": self.m, "out_shift": self.s,
            "act_min": self.lo, "act_max": self.hi, "bc": self.bc}))
        e.calls.append(f"kws_mul_s8(&{e.tag}, {in1}, {in2}, {e.ptr(self.op.outputs[0])});")


OPS = {"MUL": Mul}
