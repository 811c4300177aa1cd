/* MUL (int8: two activations, or an activation and a constant, with broadcasting). */
#ifndef KWS_OP_MUL_H
#define KWS_OP_MUL_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    int32_t in1_offset, in2_offset, out_offset;
    int32_t out_mult, out_shift;  /* in1 scale * in2 scale / out scale */
    int32_t act_min, act_max;
    kws_broadcast_t bc;
} kws_mul_t;

void kws_mul_s8(const kws_mul_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
