"""MUL: int8, two activations or an activation and a constant, with broadcasting (TFLM's
quantized Mul: (x1 - zp1) * (x2 - zp2) rescaled by s1 * s2 / s_out). C: kws_op_mul.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.ops.common import Elementwise, Emit, quantize_multiplier


class Mul(Elementwise):
    header = "kws_op_mul.h"

    def rescale(self):
        self.m, self.s = quantize_multiplier(
            float(np.float64(self.a.s) * np.float64(self.b.s) / np.float64(self.out.s)))

    def emit(self, e: Emit) -> None:
        self.emit_call(e, "kws_mul_t", "kws_mul_s8", {"out_mult": self.m, "out_shift": self.s})


OPS = {"MUL": Mul}
