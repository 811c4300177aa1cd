/* PAD / PADV2: TFLM's reference_ops::Pad for int8 (values copied, the rest the pad value). */
#include "kws_op_pad.h"

#include <string.h>

void kws_pad_s8(const kws_pad_t *p, const int8_t *in, int8_t *out)
{
    const int32_t *is = p->in_shape, *os = p->out_shape, *b = p->before;
    const int8_t v = (int8_t)p->value;
    const int32_t after3 = os[3] - is[3] - b[3];
    for (int32_t o0 = 0; o0 < os[0]; ++o0)
        for (int32_t o1 = 0; o1 < os[1]; ++o1)
            for (int32_t o2 = 0; o2 < os[2]; ++o2) {
                const int32_t i0 = o0 - b[0], i1 = o1 - b[1], i2 = o2 - b[2];
                if (i0 < 0 || i0 >= is[0] || i1 < 0 || i1 >= is[1] || i2 < 0 || i2 >= is[2]) {
                    memset(out, v, (size_t)os[3]);
                } else {
                    memset(out, v, (size_t)b[3]);
                    memcpy(out + b[3], in + ((i0 * is[1] + i1) * is[2] + i2) * is[3], (size_t)is[3]);
                    memset(out + b[3] + is[3], v, (size_t)after3);
                }
                out += os[3];
            }
}
