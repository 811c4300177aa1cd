/* MUL: TFLM's reference_integer_ops::Mul / BroadcastMul, bit for bit. */
#include "kws_op_mul.h"

static inline int8_t mul1(const kws_mul_t *p, int32_t x1, int32_t x2)
{
    const int32_t prod = (x1 + p->in1_offset) * (x2 + p->in2_offset);
    const int32_t o = kws_requantize(prod, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)kws_clamp(o, p->act_min, p->act_max);
}

void kws_mul_s8(const kws_mul_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const kws_broadcast_t *b = &p->bc;
    if (!b->broadcast) {
        for (int32_t i = 0; i < p->size; ++i) out[i] = mul1(p, in1[i], in2[i]);
        return;
    }
    for (int32_t i0 = 0; i0 < b->shape[0]; ++i0)
        for (int32_t i1 = 0; i1 < b->shape[1]; ++i1)
            for (int32_t i2 = 0; i2 < b->shape[2]; ++i2)
                for (int32_t i3 = 0; i3 < b->shape[3]; ++i3) {
                    const int32_t a = i0 * b->stride1[0] + i1 * b->stride1[1] + i2 * b->stride1[2] + i3 * b->stride1[3];
                    const int32_t c = i0 * b->stride2[0] + i1 * b->stride2[1] + i2 * b->stride2[2] + i3 * b->stride2[3];
                    *out++ = mul1(p, in1[a], in2[c]);
                }
}
