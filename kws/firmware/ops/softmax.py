"""SOFTMAX: int8 in, int8 out (scale 1/256, zero point -128, as TFLM requires), over the last
axis, any beta: TFLM's int8 algorithm (kws_op_softmax.c)."""

from __future__ import annotations

import math

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, quantize_multiplier

SCALED_DIFF_INTEGER_BITS = 5


class Softmax(Kernel):
    header = "kws_op_softmax.h"

    def check(self):
        x = self.ins[0]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if self.out.zp != -128 or np.float32(self.out.s) != np.float32(1.0 / 256):
            raise CodegenError(f"{self.where}: int8 output must have scale 1/256 and zero point "
                               f"-128 (TFLM's requirement), got {self.out.s:g} and {self.out.zp}")
        beta = float(np.float32(getattr(self.op.options, "beta", 1.0) or 1.0))
        ib = SCALED_DIFF_INTEGER_BITS
        # TFLite's PreprocessSoftmaxScaling and CalculateInputRadius
        real = min(beta * float(x.s) * (1 << (31 - ib)), (1 << 31) - 1.0)
        self.mult, self.shift = quantize_multiplier(real)
        if self.shift < 0:
            raise CodegenError(f"{self.where}: beta x input scale {beta * x.s:g} is too small")
        radius = math.floor(1.0 * ((1 << ib) - 1) * (1 << (31 - ib)) / (1 << self.shift))
        self.diff_min = -radius
        self.depth = int(x.shape[-1]) if x.shape else 1
        self.rows = x.size // self.depth

    def in_place(self) -> bool:
        return True

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_softmax_t", e.tag, {
            "rows": self.rows, "depth": self.depth, "input_multiplier": self.mult,
            "input_left_shift": self.shift, "diff_min": self.diff_min}))
        e.calls.append(f"kws_softmax_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


OPS = {"SOFTMAX": Softmax}
