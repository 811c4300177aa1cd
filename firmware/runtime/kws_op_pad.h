/* PAD and PADV2 (int8, constant padding of a tensor of up to 4 dims). */
#ifndef KWS_OP_PAD_H
#define KWS_OP_PAD_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t in_shape[4], out_shape[4];
    int32_t before[4];            /* padding before each axis (after = out - in - before) */
    int32_t value;                /* the pad value: the output zero point (PAD) or PADV2's */
} kws_pad_t;

void kws_pad_s8(const kws_pad_t *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
