"""LOGISTIC: int8 in, int8 out (zero point -128): TFLM's gemmlowp logistic on Q4.27
(kws_op_logistic.c)."""

from __future__ import annotations

import math

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, tfl_round

INPUT_INTEGER_BITS = 4


class Logistic(Kernel):
    header = "kws_op_logistic.h"

    def check(self):
        x = self.ins[0]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if self.out.zp != -128:
            raise CodegenError(f"{self.where}: int8 output must have zero point -128 (TFLM's "
                               f"requirement), got {self.out.zp}")
        # TFLM's CalculateArithmeticOpDataLogistic: frexp of scale * 2^27, then the radius
        q, self.shift = math.frexp(float(x.s) * (1 << (31 - INPUT_INTEGER_BITS)))
        self.mult = tfl_round(q * (1 << 31))
        if self.mult >= 1 << 31 or not 0 <= self.shift <= 30:
            raise CodegenError(f"{self.where}: input scale {x.s:g} is outside what TFLM's int8 "
                               "logistic handles")
        self.radius = math.floor(1.0 * ((1 << INPUT_INTEGER_BITS) - 1)
                                 * (1 << (31 - INPUT_INTEGER_BITS)) / (1 << self.shift))

    def in_place(self) -> bool:
        return True

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_logistic_t", e.tag, {
            "size": self.out.size, "in_zero_point": self.ins[0].zp,
            "range_radius": self.radius, "multiplier": self.mult, "shift": self.shift}))
        e.calls.append(f"kws_logistic_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


OPS = {"LOGISTIC": Logistic}
