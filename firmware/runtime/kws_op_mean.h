/* MEAN (int8, over any set of axes of a tensor of up to 4 dims). */
#ifndef KWS_OP_MEAN_H
#define KWS_OP_MEAN_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t in_shape[4];          /* the input as 4D (leading 1s) */
    int32_t out_stride[4];        /* output element stride per input axis (0: reduced) */
    int32_t out_size;
    int32_t count;                /* elements summed into each output */
    int32_t in_zero_point, out_zero_point;
    int32_t multiplier, shift;    /* input scale / output scale / count (TFLM's QuantizedMeanOrSum) */
} kws_mean_t;

/* scratch: 4 * out_size bytes (the int32 sums) */
void kws_mean_s8(const kws_mean_t *p, const int8_t *in, int8_t *out, int8_t *scratch);

#ifdef __cplusplus
}
#endif
#endif
