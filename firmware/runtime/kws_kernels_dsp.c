/* Cortex-M4 SIMD kernels (see kws_kernels_dsp.h). Empty on other targets. */
#include "kws_kernels_dsp.h"

#if KWS_USE_DSP
int kws_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    (void)p; (void)in; (void)out; (void)scratch;
    return 0;
}

int kws_depthwise_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out)
{
    (void)p; (void)in; (void)out;
    return 0;
}
#else
typedef int kws_kernels_dsp_empty_t; /* ISO C forbids an empty translation unit */
#endif
