/* ADD and SUB: TFLM's reference_integer_ops::Add / BroadcastAdd and Sub, bit for bit (both inputs rescaled to
 * twice the larger scale with left_shift bits of headroom, summed, rescaled to the output). */
#include "kws_op_add.h"

static inline int8_t add1(const void *vp, int32_t x1, int32_t x2)
{
    const kws_add_t *p = (const kws_add_t *)vp;
    const int32_t a = (int32_t)((uint32_t)(x1 + p->in1_offset) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)(x2 + p->in2_offset) << p->left_shift);
    const int32_t sa = kws_requantize(a, p->in1_mult, p->in1_shift);
    const int32_t sb = kws_requantize(b, p->in2_mult, p->in2_shift);
    const int32_t o = kws_requantize(p->subtract ? sa - sb : sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)kws_clamp(o, p->act_min, p->act_max);
}

void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    kws_elementwise_s8(&p->bc, p->size, in1, in2, out, add1, p);
}
