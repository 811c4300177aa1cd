/* ADD and SUB: TFLM's reference_integer_ops::Add / BroadcastAdd and Sub, bit for bit (both inputs rescaled to
 * twice the larger scale with left_shift bits of headroom, summed, rescaled to the output). */
#include "kws_op_add.h"

static inline int8_t add1(const kws_add_t *p, int32_t x1, int32_t x2)
{
    const int32_t a = (int32_t)((uint32_t)(x1 + p->in1_offset) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)(x2 + p->in2_offset) << p->left_shift);
    const int32_t sa = kws_requantize(a, p->in1_mult, p->in1_shift);
    const int32_t sb = kws_requantize(b, p->in2_mult, p->in2_shift);
    const int32_t o = kws_requantize(p->subtract ? sa - sb : sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)kws_clamp(o, p->act_min, p->act_max);
}

void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const kws_broadcast_t *b = &p->bc;
    if (!b->broadcast) {
        for (int32_t i = 0; i < p->size; ++i) out[i] = add1(p, in1[i], in2[i]);
        return;
    }
    for (int32_t i0 = 0; i0 < b->shape[0]; ++i0)
        for (int32_t i1 = 0; i1 < b->shape[1]; ++i1)
            for (int32_t i2 = 0; i2 < b->shape[2]; ++i2)
                for (int32_t i3 = 0; i3 < b->shape[3]; ++i3) {
                    const int32_t a = i0 * b->stride1[0] + i1 * b->stride1[1] + i2 * b->stride1[2] + i3 * b->stride1[3];
                    const int32_t c = i0 * b->stride2[0] + i1 * b->stride2[1] + i2 * b->stride2[2] + i3 * b->stride2[3];
                    *out++ = add1(p, in1[a], in2[c]);
                }
}
