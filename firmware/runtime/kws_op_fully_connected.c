/* FULLY_CONNECTED: TFLM's reference_integer_ops::FullyConnected / FullyConnectedPerChannel,
 * bit for bit. Per-channel weights requantize with TFLM's double rounding; LiteRT's reference
 * kernel rounds once (64-bit product), so the two can differ by one step there: the engine
 * follows TFLM, the runtime a microcontroller would otherwise run. */
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
            const int32_t q = p->per_channel ? o : 0;
            acc = kws_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
            out[r * p->out_depth + o] = (int8_t)kws_clamp(acc, p->act_min, p->act_max);
        }
    }
}
