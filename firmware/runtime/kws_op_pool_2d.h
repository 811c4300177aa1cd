/* AVERAGE_POOL_2D and MAX_POOL_2D (int8, same quantization in and out). */
#ifndef KWS_OP_POOL_2D_H
#define KWS_OP_POOL_2D_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int16_t in_h, in_w, ch, out_h, out_w;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} kws_pool_t;

void kws_avg_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out);
void kws_max_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
