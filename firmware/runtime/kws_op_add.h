/* ADD and SUB (int8: two activations, or an activation and a constant, with broadcasting). */
#ifndef KWS_OP_ADD_H
#define KWS_OP_ADD_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    int32_t in1_offset, in2_offset, out_offset;
    int32_t left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t act_min, act_max;
    int32_t subtract;             /* 1: SUB (in1 - in2) */
    kws_broadcast_t bc;
} kws_add_t;

void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
