/* Posterior smoothing as TF micro_speech's RecognizeCommands: softmax of the int8 logits,
 * averaged over the results of the last KWS_AVERAGE_WINDOW_MS, a detection threshold, and
 * suppression of repeats of the same word for KWS_SUPPRESSION_MS (settings from params.yaml
 * stream:, generated into stream_settings.h).
 *
 * Same bits on every machine: the softmax takes exp() from a table of the 256 possible
 * logit differences (kws_softmax_exp, generated from the model's output scale into
 * postprocess_tables.c), so no libm is called, and the rest is float32 adds, multiplies and
 * divides in a fixed order: the host build, the emulated Cortex-M4 and the board give the
 * same scores and the same decisions. */
#ifndef KWS_POSTPROCESS_H
#define KWS_POSTPROCESS_H

#include <stdint.h>

#include "model_settings.h"
#include "stream_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_PP_CAPACITY 64  /* results kept; more than a window's worth (checked by config) */

/* exp(-d * KWS_OUTPUT_SCALE) for d = 0..255 (postprocess_tables.c) */
extern const float kws_softmax_exp[256];

typedef struct {
    int32_t time_ms[KWS_PP_CAPACITY];
    float prob[KWS_PP_CAPACITY][KWS_N_LABELS];
    int32_t head, count;
    int32_t previous_top;
    int32_t previous_time_ms;
    float threshold;  /* KWS_DETECTION_THRESHOLD after init; a replay may set another */
} kws_recognizer_t;

typedef struct {
    int32_t label;    /* index of the top averaged label, -1 if too few results */
    float score;      /* its averaged probability */
    int32_t is_new;   /* 1 when this is a new detection above the threshold */
} kws_recognition_t;

void kws_recognizer_init(kws_recognizer_t *r);
/* Feed one network output (int8 logits) at time now_ms (non-decreasing; int32 ms, so a
 * stream of more than 24 days must restart the clock). */
kws_recognition_t kws_recognizer_update(kws_recognizer_t *r, const int8_t *logits, int32_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
