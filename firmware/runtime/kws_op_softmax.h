/* SOFTMAX (int8 in, int8 out with scale 1/256 and zero point -128, over the last axis). */
#ifndef KWS_OP_SOFTMAX_H
#define KWS_OP_SOFTMAX_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t rows, depth;          /* outer size x last axis */
    int32_t input_multiplier;     /* beta * input scale * 2^26, as TFLite's PreprocessSoftmaxScaling */
    int32_t input_left_shift;
    int32_t diff_min;             /* differences below this contribute exp() = 0 */
} kws_softmax_t;

void kws_softmax_s8(const kws_softmax_t *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
