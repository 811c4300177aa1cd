"""FULLY_CONNECTED: int8 input of any rank (rows = size / in_depth), int8 weights per-tensor
(any zero point) or per-channel, optional int32 bias. C: firmware/runtime/kws_op_fully_connected.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import (Emit, Kernel, activation_range, c_struct, quantize_multiplier)


class FullyConnected(Kernel):
    header = "kws_op_fully_connected.h"

    def check(self):
        x, w = self.weighted_inputs()
        self.od, self.idp = w.shape
        if x.size % self.idp:
            raise CodegenError(f"{self.where}: input of {x.size} values is not a multiple of the "
                               f"weights' depth {self.idp}")
        self.rows = x.size // self.idp
        ws = np.asarray(w.scale, np.float64)
        if len(ws) not in (1, self.od):
            raise CodegenError(f"{self.where}: {len(ws)} weight scales for {self.od} outputs")
        self.per_ch = len(ws) > 1
        if self.per_ch and np.any(w.zero_point != 0):
            raise CodegenError(f"{self.where}: per-channel weights must be symmetric")
        self.mults, self.shifts = zip(*[quantize_multiplier(
            float(np.float64(x.s) * s / np.float64(self.out.s))) for s in ws])
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        self.x, self.w = x, w
        self.macs = self.rows * self.od * self.idp

    def emit(self, e: Emit) -> None:
        w = self.const(e, "int8_t", "w", self.w.data, weights=True)
        bias = "0"
        if self.b is not None and self.b.data is not None:
            bias = self.const(e, "int32_t", "b", self.b.data.astype(np.int64), weights=True)
        m = self.const(e, "int32_t", "m", np.array(self.mults))
        s = self.const(e, "int32_t", "s", np.array(self.shifts))
        e.decls.append(c_struct("kws_fc_t", e.tag, {
            "in_depth": self.idp, "out_depth": self.od, "rows": self.rows,
            "in_offset": -self.x.zp, "w_offset": -self.w.zp, "out_offset": self.out.zp,
            "act_min": self.lo, "act_max": self.hi, "weights": w, "bias": bias, "mult": m,
            "shift": s, "per_channel": int(self.per_ch)}))
        e.calls.append(f"kws_fully_connected_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


OPS = {"FULLY_CONNECTED": FullyConnected}
