/* ADD: TFLM's reference_integer_ops::Add, bit for bit. */
#include "kws_op_add.h"

void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = (int32_t)((uint32_t)(in1[i] + p->in1_offset) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(in2[i] + p->in2_offset) << p->left_shift);
        const int32_t sa = kws_requantize(a, p->in1_mult, p->in1_shift);
        const int32_t sb = kws_requantize(b, p->in2_mult, p->in2_shift);
        const int32_t o = kws_requantize(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
        out[i] = (int8_t)kws_clamp(o, p->act_min, p->act_max);
    }
}
