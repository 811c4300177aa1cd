/* DEPTHWISE_CONV_2D (int8, any depth multiplier, stride, dilation and padding). */
#ifndef KWS_OP_DEPTHWISE_CONV_2D_H
#define KWS_OP_DEPTHWISE_CONV_2D_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void kws_depthwise_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
/* one channel (portable) or four (DSP) of the input, copied out so the op can run in place,
 * and a word of the input zero point */
#define KWS_DEPTHWISE_SCRATCH(in_h, in_w) (4 * ((in_h) * (in_w) + 1))
/* the 3x3 stride-1 DSP path (channels a multiple of 4, out_h + 4 <= 32): four column-major
 * int16 planes of out_w + 2 columns of 32 values */
#define KWS_DW3X3_SCRATCH(out_w) (4 * 2 * 32 * ((out_w) + 2))

#ifdef __cplusplus
}
#endif
#endif
