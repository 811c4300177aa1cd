/* MFCC of one window, exactly as kws/features.py (params.yaml features:), in float32.
 * Periodic Hann window -> zero-padded radix-2 FFT -> power -> HTK mel filterbank ->
 * ln(mel + log_floor) -> orthonormal DCT-II; then the model's int8 input quantization.
 * All tables come from model_settings.h / features_tables.c (generated from Python). */
#ifndef KWS_FEATURES_H
#define KWS_FEATURES_H

#include <stdint.h>

#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

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
