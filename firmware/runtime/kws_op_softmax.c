/* SOFTMAX: TFLM's int8 algorithm (reference_ops::Softmax on gemmlowp fixed point), bit for
 * bit: per row, exp(beta * (x - max)) in Q5.26 -> F0, summed in F12, one reciprocal, and the
 * outputs rounded to 1/256. */
#include "kws_op_softmax.h"

#include "kws_fixedpoint.h"

static int32_t exp_of_diff(const kws_softmax_t *p, int32_t diff)
{
    const int32_t scaled = kws_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                     p->input_multiplier);
    return kws_fp_exp_neg(scaled, 5);
}

void kws_softmax_s8(const kws_softmax_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
        int32_t max = -128;
        for (int32_t c = 0; c < p->depth; ++c) max = in[c] > max ? in[c] : max;
        int32_t sum = 0;  /* F12 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) sum += kws_rdbpot(exp_of_diff(p, diff), 12);
        }
        /* TFLite's GetReciprocal(sum, 12): 1 / sum scaled by 2^num_bits_over_unit */
        const int headroom = kws_clz32((uint32_t)sum);
        const int32_t bits_over_unit = 12 - headroom;
        const int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        const int32_t scale = kws_fp_one_over_one_plus_x(shifted);
        const int32_t exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                v = kws_rdbpot(kws_srdhm(scale, exp_of_diff(p, diff)), exponent) - 128;
            }
            out[c] = (int8_t)kws_clamp(v, -128, 127);
        }
    }
}
