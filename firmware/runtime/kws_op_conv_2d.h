/* CONV_2D (int8, per-channel or per-tensor weights, any stride, dilation and padding). */
#ifndef KWS_OP_CONV_2D_H
#define KWS_OP_CONV_2D_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* scratch: KWS_CONV_SCRATCH bytes (the DSP path's int16 columns of three pixels and their
 * int8 gathers) */
void kws_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
#define KWS_CONV_SCRATCH(k_h, k_w, in_c) (9 * (k_h) * (k_w) * (in_c))

#ifdef __cplusplus
}
#endif
#endif
