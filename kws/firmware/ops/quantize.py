"""QUANTIZE (float32 -> int8, the input end of a model with float inputs; int8 -> int8 with
another scale) and DEQUANTIZE (int8 -> float32, the output end). C: kws_op_quantize.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, quantize_multiplier


def _f32(v: float) -> str:
    return f"{float(np.float32(v))!r}f"


class Quantize(Kernel):
    header = "kws_op_quantize.h"

    def check(self):
        x = self.ins[0]
        check_int8(self.out, f"{self.where} output")
        if x.dtype not in ("float32", "int8"):
            raise CodegenError(f"{self.where}: input is {x.dtype}; the engine quantizes float32 "
                               "or int8")
        self.m, self.s = (0, 0) if x.dtype == "float32" else quantize_multiplier(
            float(np.float64(x.s) / np.float64(self.out.s)))

    def in_place(self) -> bool:
        return self.ins[0].dtype == "int8"

    def emit(self, e: Emit) -> None:
        x = self.ins[0]
        e.decls.append(c_struct("kws_quantize_t", e.tag, {
            "size": self.out.size, "scale": _f32(self.out.s),
            "in_zero_point": x.zp if x.dtype == "int8" else 0, "out_zero_point": self.out.zp,
            "multiplier": self.m, "shift": self.s, "act_min": -128, "act_max": 127}))
        src, dst = e.ptr(self.op.inputs[0]), e.ptr(self.op.outputs[0])
        if x.dtype == "float32":
            e.calls.append(f"kws_quantize_f32_s8(&{e.tag}, (const float *)(void *){src}, {dst});")
        else:
            e.calls.append(f"kws_requantize_s8(&{e.tag}, {src}, {dst});")


class Dequantize(Kernel):
    header = "kws_op_quantize.h"

    def check(self):
        check_int8(self.ins[0], f"{self.where} input")
        if self.out.dtype != "float32":
            raise CodegenError(f"{self.where}: output is {self.out.dtype}; the engine "
                               "dequantizes to float32")

    def emit(self, e: Emit) -> None:
        x = self.ins[0]
        e.decls.append(c_struct("kws_quantize_t", e.tag, {
            "size": self.out.size, "scale": _f32(x.s), "in_zero_point": x.zp,
            "out_zero_point": 0, "multiplier": 0, "shift": 0, "act_min": 0, "act_max": 0}))
        e.calls.append(f"kws_dequantize_s8_f32(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"(float *)(void *){e.ptr(self.op.outputs[0])});")


OPS = {"QUANTIZE": Quantize, "DEQUANTIZE": Dequantize}
