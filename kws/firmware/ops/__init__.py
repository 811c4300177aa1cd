"""The op table: TFLite builtin op name -> the ``Kernel`` class of the one module that checks,
sizes, counts and emits it (like TFLM's op resolver). ``generate_model`` walks the graph
through this table; an op that is not in it is a CodegenError naming it.

Adding an op: a module here with ``OPS = {"NAME": KernelClass}`` (see common.Kernel), its C
kernel in firmware/runtime/kws_op_<op>.{c,h}, and its models in tests/test_firmware_ops.py.
"""

from __future__ import annotations

from kws.firmware.ops import (activations, add, concatenation, conv_2d, depthwise_conv_2d, fully_connected,
                              logistic, mean, mul, pad, pooling, quantize, reshape, softmax)

MODULES = (conv_2d, depthwise_conv_2d, fully_connected, pooling, add, mul, reshape, softmax,
           logistic, quantize, mean, pad, concatenation, activations)
TABLE = {name: cls for m in MODULES for name, cls in m.OPS.items()}
