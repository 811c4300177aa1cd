/* MFCC of one window with the frontend training used (kws_frontend.h: the same C, the same
 * tables, the same bits), then the model's int8 input quantization. The tables are generated
 * into features_tables.c (kws/frontend.py), the sizes into model_settings.h. */
#ifndef KWS_FEATURES_H
#define KWS_FEATURES_H

#include <stdint.h>

#include "kws_frontend.h"
#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const kws_frontend_cfg kws_frontend_tables;  /* features_tables.c */

/* MFCC (KWS_N_MFCC floats) of KWS_WINDOW_SAMPLES int16 samples (full scale = 1.0). */
void kws_mfcc_frame(const int16_t *window, float *mfcc);
/* float -> int8 with the model's input scale and zero point (round half away, saturate). */
void kws_quantize_features(const float *x, int8_t *q, int n);
/* All KWS_N_FRAMES frames of a KWS_CLIP_SAMPLES clip, quantized, into out (frames x mfcc). */
void kws_features_clip(const int16_t *clip, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
