"""RELU and RELU6 as ops of their own (not fused), int8, as TFLM runs them: RELU is
ReluQuantized (rescale to the output's quantization, clamp at 0); RELU6 is Relu6Quantized, a
clamp to [0, 6] in the input's own quantization that ignores the output's (LiteRT rescales).
C: kws_requantize_s8 / kws_clamp_s8 in kws_op_quantize.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, quantize_multiplier


class Relu(Kernel):
    header = "kws_op_quantize.h"

    def check(self):
        x = self.ins[0]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        self.m, self.s = quantize_multiplier(float(np.float64(x.s) / np.float64(self.out.s)))
        if self.op.name == "RELU":  # TFLM's CalculateReluOpData: zp + roundf(0 / scale)
            self.lo, self.hi = max(-128, self.out.zp), 127
        else:  # TFLM's Relu6Prepare: FloatToQuantizedType(6.0f, input scale, input zp)
            self.lo = x.zp
            self.hi = max(-128, min(127, _roundf(np.float32(6.0) / np.float32(x.s)) + x.zp))

    def in_place(self) -> bool:
        return True

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_quantize_t", e.tag, {
            "size": self.out.size, "scale": "0.0f", "in_zero_point": self.ins[0].zp,
            "out_zero_point": self.out.zp, "multiplier": self.m, "shift": self.s,
            "act_min": self.lo, "act_max": self.hi}))
        fn = "kws_requantize_s8" if self.op.name == "RELU" else "kws_clamp_s8"
        e.calls.append(f"{fn}(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


def _roundf(v) -> int:
    return int(np.copysign(np.floor(np.abs(np.float64(v)) + 0.5), v))


OPS = {"RELU": Relu, "RELU6": Relu}
