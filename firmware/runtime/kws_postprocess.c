/* RecognizeCommands (see kws_postprocess.h). */
#include "kws_postprocess.h"

void kws_recognizer_init(kws_recognizer_t *r)
{
    r->head = 0;
    r->count = 0;
    r->previous_top = -1;
    r->previous_time_ms = INT32_MIN / 2;
    r->threshold = KWS_DETECTION_THRESHOLD;
}

kws_recognition_t kws_recognizer_update(kws_recognizer_t *r, const int8_t *logits, int32_t now_ms)
{
    kws_recognition_t res = { -1, 0.0f, 0 };
    /* softmax of the dequantized logits: exp((q_i - q_max) * scale) from the table */
    float *p = r->prob[r->head];
    int32_t mx = logits[0];
    for (int i = 1; i < KWS_N_LABELS; ++i) {
        if (logits[i] > mx) mx = logits[i];
    }
    float sum = 0.0f;
    for (int i = 0; i < KWS_N_LABELS; ++i) {
        p[i] = kws_softmax_exp[mx - logits[i]];
        sum += p[i];
    }
    for (int i = 0; i < KWS_N_LABELS; ++i) p[i] /= sum;
    r->time_ms[r->head] = now_ms;
    r->head = (r->head + 1) % KWS_PP_CAPACITY;
    if (r->count < KWS_PP_CAPACITY) r->count++;

    /* average the results inside the window, newest first */
    float avg[KWS_N_LABELS] = { 0 };
    int n = 0;
    for (int j = 0; j < r->count; ++j) {
        const int idx = (r->head - 1 - j + KWS_PP_CAPACITY) % KWS_PP_CAPACITY;
        if (now_ms - r->time_ms[idx] > KWS_AVERAGE_WINDOW_MS) break;
        for (int i = 0; i < KWS_N_LABELS; ++i) avg[i] += r->prob[idx][i];
        ++n;
    }
    if (n < KWS_MINIMUM_COUNT) return res;
    int top = 0;
    for (int i = 0; i < KWS_N_LABELS; ++i) {
        avg[i] /= (float)n;
        if (avg[i] > avg[top]) top = i;
    }
    res.label = top;
    res.score = avg[top];
    if (res.score > r->threshold &&
        (top != r->previous_top || now_ms - r->previous_time_ms > KWS_SUPPRESSION_MS)) {
        res.is_new = 1;
        r->previous_top = top;
        r->previous_time_ms = now_ms;
    }
    return res;
}
