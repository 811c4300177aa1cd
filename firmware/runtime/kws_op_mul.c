/* MUL: TFLM's reference_integer_ops::Mul / BroadcastMul, bit for bit. */
#include "kws_op_mul.h"

static inline int8_t mul1(const void *vp, int32_t x1, int32_t x2)
{
    const kws_mul_t *p = (const kws_mul_t *)vp;
    const int32_t prod = (x1 + p->in1_offset) * (x2 + p->in2_offset);
    const int32_t o = kws_requantize(prod, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)kws_clamp(o, p->act_min, p->act_max);
}

void kws_mul_s8(const kws_mul_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    kws_elementwise_s8(&p->bc, p->size, in1, in2, out, mul1, p);
}
