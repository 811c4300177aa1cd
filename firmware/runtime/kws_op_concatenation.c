/* CONCATENATION: TFLM's reference_ops::Concatenation for int8 (bytes copied as they are: TFLM
 * does not rescale inputs whose quantization differs from the output's). */
#include "kws_op_concatenation.h"

#include <string.h>

void kws_concat_s8(const kws_concat_t *p, const int8_t *const *in, int8_t *out)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->n_inputs; ++i) {
            memcpy(out, in[i] + o * p->bytes[i], (size_t)p->bytes[i]);
            out += p->bytes[i];
        }
    }
}
