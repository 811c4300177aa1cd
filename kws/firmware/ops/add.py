"""ADD and SUB: int8, two activations or an activation and a constant, with broadcasting
(TFLM's quantized Add/Sub: both inputs rescaled to twice the larger scale with 20 bits of
headroom, summed or subtracted, rescaled to the output). C: firmware/runtime/kws_op_add.c."""

from __future__ import annotations

from kws.firmware.ops.common import Elementwise, Emit, quantize_multiplier


class Add(Elementwise):
    header = "kws_op_add.h"

    def rescale(self):
        self.left = 20
        twice_max = 2.0 * max(self.a.s, self.b.s)
        self.m1, self.s1 = quantize_multiplier(self.a.s / twice_max)
        self.m2, self.s2 = quantize_multiplier(self.b.s / twice_max)
        self.mo, self.so = quantize_multiplier(twice_max / ((1 << self.left) * self.out.s))

    def emit(self, e: Emit) -> None:
        self.emit_call(e, "kws_add_t", "kws_add_s8", {
            "left_shift": self.left, "in1_mult": self.m1, "in1_shift": self.s1,
            "in2_mult": self.m2, "in2_shift": self.s2, "out_mult": self.mo,
            "out_shift": self.so, "subtract": int(self.op.name == "SUB")})


OPS = {"ADD": Add, "SUB": Add}
