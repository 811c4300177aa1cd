/* LOGISTIC (int8 in, int8 out with scale 1/256 and zero point -128). */
#ifndef KWS_OP_LOGISTIC_H
#define KWS_OP_LOGISTIC_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    int32_t in_zero_point;
    int32_t range_radius;         /* |x - zp| at or beyond this saturates */
    int32_t multiplier, shift;    /* input scale * 2^27 as frexp (TFLM's LogisticPrepare) */
} kws_logistic_t;

void kws_logistic_s8(const kws_logistic_t *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
