"""CONCATENATION: int8, up to 8 inputs along any axis. Bytes are copied as they are, as TFLM
does (it does not rescale an input whose quantization differs from the output's; LiteRT
does). C: kws_op_concatenation.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, c_struct, check_int8

MAX_INPUTS = 8


class Concatenation(Kernel):
    header = "kws_op_concatenation.h"

    def check(self):
        check_int8(self.out, f"{self.where} output")
        if not 1 <= len(self.ins) <= MAX_INPUTS:
            raise CodegenError(f"{self.where}: {len(self.ins)} inputs (at most {MAX_INPUTS})")
        if self.act:
            raise CodegenError(f"{self.where}: a fused activation is not supported")
        rank = len(self.out.shape)
        axis = (int(self.op.options.axis) + rank) % rank
        for t in self.ins:
            check_int8(t, f"{self.where} input")
            if len(t.shape) != rank:
                raise CodegenError(f"{self.where}: inputs of different ranks")
        self.outer = int(np.prod(self.out.shape[:axis]))
        self.bytes = [int(np.prod(t.shape[axis:])) for t in self.ins]

    def emit(self, e: Emit) -> None:
        srcs = [self.operand(e, i) for i in range(len(self.ins))]
        e.consts.append(f"static const int8_t *const {e.tag}_in[{len(srcs)}] = "
                        f"{{ {', '.join(srcs)} }};\n")
        e.decls.append(c_struct("kws_concat_t", e.tag, {
            "n_inputs": len(srcs), "outer": self.outer, "bytes": self.bytes}))
        e.calls.append(f"kws_concat_s8(&{e.tag}, {e.tag}_in, {e.ptr(self.op.outputs[0])});")


OPS = {"CONCATENATION": Concatenation}
