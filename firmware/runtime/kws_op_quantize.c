/* QUANTIZE and DEQUANTIZE: TFLM's AffineQuantize (round(x / scale) in float, half away from
 * zero), Requantize and ReluQuantized (MultiplyByQuantizedMultiplier, clamp) and Dequantize (scale * (q - zp) in
 * double, then float), bit for bit. */
#include "kws_op_quantize.h"

#include <math.h>

void kws_quantize_f32_s8(const kws_quantize_t *p, const float *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float q = roundf(in[i] / p->scale);
        const int32_t v = (q > 1e9f ? 1000000000 : (q < -1e9f ? -1000000000 : (int32_t)q));
        out[i] = (int8_t)kws_clamp(v + p->out_zero_point, -128, 127);
    }
}

void kws_requantize_s8(const kws_quantize_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = kws_requantize(in[i] - p->in_zero_point, p->multiplier, p->shift);
        out[i] = (int8_t)kws_clamp(v + p->out_zero_point, p->act_min, p->act_max);
    }
}

void kws_clamp_s8(const kws_quantize_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) out[i] = (int8_t)kws_clamp(in[i], p->act_min, p->act_max);
}

void kws_dequantize_s8_f32(const kws_quantize_t *p, const int8_t *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = (float)((double)p->scale * (double)(in[i] - p->in_zero_point));
    }
}
