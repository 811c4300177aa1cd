/* Posterior smoothing as TF micro_speech's RecognizeCommands: softmax of the int8 logits,
 * averaged over the last KWS_AVERAGE_WINDOW_MS, a detection threshold, and suppression of
 * repeats for KWS_SUPPRESSION_MS (settings from params.yaml firmware:). */
#ifndef KWS_POSTPROCESS_H
#define KWS_POSTPROCESS_H

#include <stdint.h>

#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_PP_CAPACITY 64  /* results kept; more than a window's worth at any stride */

typedef struct {
    int32_t time_ms[KWS_PP_CAPACITY];
    float prob[KWS_PP_CAPACITY][KWS_N_LABELS];
    int head, count;
    int previous_top;
    int32_t previous_time_ms;
} kws_recognizer_t;

typedef struct {
    int label;        /* index of the top averaged label, -1 if too few results */
    float score;      /* its averaged probability */
    int is_new;       /* 1 when this is a new detection above the threshold */
} kws_recognition_t;

void kws_recognizer_init(kws_recognizer_t *r);
/* Feed one network output (int8 logits) at time now_ms (non-decreasing). */
kws_recognition_t kws_recognizer_update(kws_recognizer_t *r, const int8_t *logits, int32_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
