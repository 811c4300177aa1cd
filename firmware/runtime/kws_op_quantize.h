/* QUANTIZE (float32 -> int8, or int8 -> int8 with another scale), DEQUANTIZE (int8 ->
 * float32): the ends of models with float inputs or outputs; and RELU (a requantize with a
 * clamp, TFLM's ReluQuantized), RELU6 (TFLM's Relu6Quantized: a clamp, no rescale). */
#ifndef KWS_OP_QUANTIZE_H
#define KWS_OP_QUANTIZE_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    float scale;                  /* float -> int8: the output scale */
    int32_t in_zero_point, out_zero_point;
    int32_t multiplier, shift;    /* int8 -> int8: input scale / output scale */
    int32_t act_min, act_max;     /* int8 -> int8: the clamp (RELU, RELU6 use this kernel too) */
} kws_quantize_t;

void kws_quantize_f32_s8(const kws_quantize_t *p, const float *in, int8_t *out);
void kws_requantize_s8(const kws_quantize_t *p, const int8_t *in, int8_t *out);
/* RELU6 as TFLM runs it: a clamp in the input's own quantization */
void kws_clamp_s8(const kws_quantize_t *p, const int8_t *in, int8_t *out);
void kws_dequantize_s8_f32(const kws_quantize_t *p, const int8_t *in, float *out);

#ifdef __cplusplus
}
#endif
#endif
