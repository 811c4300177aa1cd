"""Quantization, written here on purpose (it is the subject of this project): nothing comes from
``torch.ao.quantization``.

- ``fake``       uniform integer quantization: scales, zero points, round/clamp, STE
- ``minifloat``  ExMy minifloat formats (sign, exponent, mantissa, bias, subnormals, overflow)
- ``calibrate``  activation range observers: min/max, percentile, EMA
- ``wrap``       ``quantize_model``: BN folding + fake quantizers for any registry model
- ``integer``    integer-only emulation of a fake-quantized model, and their agreement
- ``qat``        evaluation and the QAT fine-tuning loop
- ``sweep``      inputs, the fixed calibration subset, the resumable point cache
- ``run``        the PTQ, QAT and minifloat sweeps the stages call
"""

from kws.quant.fake import (dequantize, fake_quantize, qrange, quantize, round_nearest,
                            round_ste, scale_zero_point)
from kws.quant.minifloat import Minifloat, parse_format
from kws.quant.wrap import (FloatFormat, IntFormat, QuantConfig, QuantModel, fold_batchnorm,
                            quantize_model, size_bytes)

__all__ = ["dequantize", "fake_quantize", "qrange", "quantize", "round_nearest", "round_ste",
           "scale_zero_point", "Minifloat", "parse_format", "FloatFormat", "IntFormat",
           "QuantConfig", "QuantModel", "fold_batchnorm", "quantize_model", "size_bytes"]
