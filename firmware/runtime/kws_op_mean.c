/* MEAN: TFLM's reference_ops::QuantizedMeanOrSum (int32 sums, then one fixed-point rescale
 * that folds in 1 / count), bit for bit. */
#include "kws_op_mean.h"

void kws_mean_s8(const kws_mean_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    int32_t *sum = (int32_t *)(void *)scratch;
    const int32_t *s = p->in_shape, *st = p->out_stride;
    for (int32_t i = 0; i < p->out_size; ++i) sum[i] = 0;
    for (int32_t i0 = 0; i0 < s[0]; ++i0)
        for (int32_t i1 = 0; i1 < s[1]; ++i1)
            for (int32_t i2 = 0; i2 < s[2]; ++i2) {
                int32_t *acc = sum + i0 * st[0] + i1 * st[1] + i2 * st[2];
                for (int32_t i3 = 0; i3 < s[3]; ++i3) acc[i3 * st[3]] += *in++;
            }
    for (int32_t i = 0; i < p->out_size; ++i) {
        const int32_t v = kws_requantize(sum[i] - p->in_zero_point * p->count, p->multiplier,
                                         p->shift) + p->out_zero_point;
        out[i] = (int8_t)kws_clamp(v, -128, 127);
    }
}
