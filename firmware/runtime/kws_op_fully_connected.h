/* FULLY_CONNECTED (int8, per-tensor or per-channel weights, any input rank). */
#ifndef KWS_OP_FULLY_CONNECTED_H
#define KWS_OP_FULLY_CONNECTED_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t in_depth, out_depth;  /* FULLY_CONNECTED: [rows] x in_depth -> out_depth */
    int32_t rows;
    int32_t in_offset, w_offset, out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;        /* [out_depth][in_depth] */
    const int32_t *bias;
    const int32_t *mult;          /* per output (per_channel) or one */
    const int32_t *shift;
    int32_t per_channel;
} kws_fc_t;

void kws_fully_connected_s8(const kws_fc_t *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
