/* FULLY_CONNECTED: TFLM's reference_integer_ops::FullyConnected, bit for bit. */
#include "kws_op_fully_connected.h"

void kws_fully_connected_s8(const kws_fc_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->weights + o * p->in_depth;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_depth; ++i) {
                acc += (x[i] + p->in_offset) * (w[i] + p->w_offset);
            }
            if (p->bias) acc += p->bias[o];
            acc = (p->per_channel ? kws_requantize_single(acc, p->mult[o], p->shift[o])
                                  : kws_requantize(acc, p->mult[0], p->shift[0])) + p->out_offset;
            out[r * p->out_depth + o] = (int8_t)kws_clamp(acc, p->act_min, p->act_max);
        }
    }
}
