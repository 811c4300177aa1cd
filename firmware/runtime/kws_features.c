/* MFCC of the board's frames (see kws_features.h): the frontend (kws_frontend.c) with the
 * generated tables (features_tables.c), then the model's int8 input quantization. */
#include "kws_features.h"

static float kws_frontend_work[KWS_FRONTEND_WORK_FLOATS];

void kws_mfcc_frame(const int16_t *window, float *mfcc)
{
    kws_frontend_mfcc(&kws_frontend_tables, window, mfcc, kws_frontend_work);
}

void kws_quantize_features(const float *x, int8_t *q, int n)
{
    /* round half away from zero, then saturate: |v| + 0.5 truncated by the conversion is
     * floorf(|v| + 0.5) (no libm call); |v| is capped first so the int conversion is defined */
    for (int i = 0; i < n; ++i) {
        float v = x[i] / KWS_INPUT_SCALE;
        if (v > 1000.0f) v = 1000.0f;
        if (v < -1000.0f) v = -1000.0f;
        const int32_t r = v >= 0.0f ? (int32_t)(v + 0.5f) : -(int32_t)(-v + 0.5f);
        int32_t o = r + KWS_INPUT_ZERO_POINT;
        if (o < -128) o = -128;
        if (o > 127) o = 127;
        q[i] = (int8_t)o;
    }
}

void kws_features_clip(const int16_t *clip, int8_t *out)
{
    float mfcc[KWS_N_MFCC];
    for (int t = 0; t < KWS_N_FRAMES; ++t) {
        kws_mfcc_frame(clip + t * KWS_STRIDE_SAMPLES, mfcc);
        kws_quantize_features(mfcc, out + t * KWS_N_MFCC, KWS_N_MFCC);
    }
}
