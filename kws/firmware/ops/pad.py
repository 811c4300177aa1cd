"""PAD and PADV2: int8, constant paddings of a tensor of up to 4 dims, padded with the output
zero point (PAD) or the given value (PADV2). C: kws_op_pad.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8, same_quant, shape4


class Pad(Kernel):
    header = "kws_op_pad.h"

    def check(self):
        x, pads = self.ins[0], self.ins[1]
        check_int8(x, f"{self.where} input")
        check_int8(self.out, f"{self.where} output")
        if pads is None or pads.data is None:
            raise CodegenError(f"{self.where}: the paddings are not constant")
        if not same_quant(x, self.out):
            raise CodegenError(f"{self.where}: input and output quantization differ")
        p = np.asarray(pads.data, np.int64).reshape(-1, 2)
        if np.any(p < 0):
            raise CodegenError(f"{self.where}: negative paddings")
        rank = len(x.shape)
        self.in_shape = list(shape4(x))
        self.out_shape = list(shape4(self.out))
        self.before = [0] * (4 - rank) + [int(v) for v in p[:, 0]]
        if [i + int(a) + int(b) for i, a, b in zip(x.shape, p[:, 0], p[:, 1])] != \
                list(self.out.shape):
            raise CodegenError(f"{self.where}: paddings do not give the output shape")
        self.value = self.out.zp
        if self.op.name == "PADV2" and len(self.ins) > 2 and self.ins[2] is not None:
            v = self.ins[2]
            if v.data is None:
                raise CodegenError(f"{self.where}: the pad value is not constant")
            self.value = int(np.asarray(v.data).ravel()[0])

    def emit(self, e: Emit) -> None:
        e.decls.append(c_struct("kws_pad_t", e.tag, {
            "in_shape": self.in_shape, "out_shape": self.out_shape, "before": self.before,
            "value": self.value}))
        e.calls.append(f"kws_pad_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])});")


OPS = {"PAD": Pad, "PADV2": Pad}
