/* LOGISTIC: TFLM's reference_integer_ops::Logistic (gemmlowp logistic on Q4.27), bit for bit. */
#include "kws_op_logistic.h"

#include "kws_fixedpoint.h"

void kws_logistic_s8(const kws_logistic_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = in[i] - p->in_zero_point;
        int32_t v;
        if (x <= -p->range_radius) {
            v = -128;
        } else if (x >= p->range_radius) {
            v = 127;
        } else {
            const int32_t q4 = kws_requantize(x, p->multiplier, p->shift);
            v = kws_clamp(kws_rdbpot(kws_fp_logistic(q4, 4), 23) - 128, -128, 127);
        }
        out[i] = (int8_t)v;
    }
}
