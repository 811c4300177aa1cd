/* Cortex-M4 DSP-extension paths of the int8 kernels (same bits as the portable C).
 * Each returns 1 when it handled the layer, 0 to fall back to the portable kernel.
 * -DKWS_FORCE_DSP builds them on the host too (C models of the instructions, kws_dsp.h);
 * -DKWS_PORTABLE leaves them out (the plain-C baseline). */
#ifndef KWS_KERNELS_DSP_H
#define KWS_KERNELS_DSP_H

#include "kws_kernels.h"

#if (defined(__ARM_FEATURE_DSP) || defined(KWS_FORCE_DSP)) && !defined(KWS_PORTABLE)
#define KWS_USE_DSP 1
int kws_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
int kws_depthwise_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
#else
#define KWS_USE_DSP 0
#endif

#endif
