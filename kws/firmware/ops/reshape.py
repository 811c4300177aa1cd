"""RESHAPE, SQUEEZE, EXPAND_DIMS: the same bytes in another shape. The planner gives the
output the input's buffer, so no code runs (a copy only if it could not)."""

from __future__ import annotations

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import Emit, Kernel, same_quant


class Reshape(Kernel):
    header = "kws_kernels.h"
    alias = True

    def check(self):
        x = self.ins[0]
        if x.dtype != self.out.dtype or x.size != self.out.size:
            raise CodegenError(f"{self.where}: input {x.dtype}{list(x.shape)} and output "
                               f"{self.out.dtype}{list(self.out.shape)} differ in type or size")
        if x.dtype == "int8" and not same_quant(x, self.out):
            raise CodegenError(f"{self.where}: input and output quantization differ")

    def emit(self, e: Emit) -> None:
        src, dst = e.ptr(self.op.inputs[0]), e.ptr(self.op.outputs[0])
        if src != dst:
            e.calls.append(f"kws_copy_s8({src}, {dst}, {self.out.nbytes});")


OPS = {"RESHAPE": Reshape, "SQUEEZE": Reshape, "EXPAND_DIMS": Reshape}
