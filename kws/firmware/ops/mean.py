"""MEAN: int8 over any set of axes (constant) of a tensor of up to 4 dims, keep_dims or not:
TFLM's QuantizedMeanOrSum (int32 sums, one rescale folding in 1 / count). kws_op_mean.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, quantize_multiplier, shape4


class Mean(Kernel):
    header = "kws_op_mean.h"

    def check(self):
        x, axes = self.ins[0], self.ins[1]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if axes is None or axes.data is None:
            raise CodegenError(f"{self.where}: the axes are not constant")
        rank = len(x.shape)
        s4 = shape4(x)
        red = sorted({(int(a) + rank) % rank + 4 - rank for a in np.asarray(axes.data).ravel()})
        out4 = [1 if d in red else s4[d] for d in range(4)]
        row = [int(np.prod(out4[d + 1:])) for d in range(4)]
        self.in_shape = list(s4)
        self.out_stride = [0 if d in red else row[d] for d in range(4)]
        self.count = int(np.prod([s4[d] for d in red])) if red else 1
        if int(np.prod(out4)) != self.out.size:
            raise CodegenError(f"{self.where}: output shape {list(self.out.shape)} does not match "
                               f"the mean of {list(x.shape)} over axes {red}")
        m, s = quantize_multiplier(float(np.float64(x.s) / np.float64(self.out.s)))
        if self.count > 1:  # TFLM folds 1 / count into the multiplier
            sh = min(self.count.bit_length() - 1, 32, 31 + s)
            m = (m << sh) // self.count
            s -= sh
        self.mult, self.shift = m, s
        self.scratch = 4 * self.out.size

    def emit(self, e: Emit) -> None:
        x = self.ins[0]
        e.decls.append(c_struct("kws_mean_t", e.tag, {
            "in_shape": self.in_shape, "out_stride": self.out_stride,
            "out_size": self.out.size, "count": self.count, "in_zero_point": x.zp,
            "out_zero_point": self.out.zp, "multiplier": self.mult, "shift": self.shift}))
        e.calls.append(f"kws_mean_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])}, {e.scratch});")


OPS = {"MEAN": Mean}
