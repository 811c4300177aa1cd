/* The streaming recognizer (see kws_stream.h). */
#include "kws_stream.h"

#include <string.h>

#if KWS_STREAM_AVAILABLE

#ifdef KWS_PROFILE_OPS  /* the emulator attributes cycles to stages by watching kws_mark */
void kws_mark(int stage);
#define KWS_STREAM_MARK(stage) kws_mark(stage)
#else
#define KWS_STREAM_MARK(stage) ((void)0)
#endif

#if KWS_PERIOD_FRAMES < 1
#error "stream_settings.h: KWS_PERIOD_FRAMES must be >= 1"
#endif

void kws_stream_init(kws_stream_t *s)
{
    memset(s, 0, sizeof *s);
    kws_recognizer_init(&s->recognizer);
}

/* Only the new frame: its MFCC, quantized into the ring's oldest slot. */
static void new_frame(kws_stream_t *s)
{
    float mfcc[KWS_N_MFCC];
    KWS_STREAM_MARK(KWS_STREAM_MARK_FEATURES);
    kws_mfcc_frame(s->window, mfcc);
    kws_quantize_features(mfcc, s->frames[s->head], KWS_N_MFCC);
    s->head = s->head + 1 == KWS_N_FRAMES ? 0 : s->head + 1;
    s->n_frames++;
#if KWS_STRIDE_SAMPLES < KWS_WINDOW_SAMPLES
    memmove(s->window, s->window + KWS_STRIDE_SAMPLES,
            (KWS_WINDOW_SAMPLES - KWS_STRIDE_SAMPLES) * sizeof s->window[0]);
    s->filled = KWS_WINDOW_SAMPLES - KWS_STRIDE_SAMPLES;
#else
    s->filled = 0;
    s->skip = KWS_STRIDE_SAMPLES - KWS_WINDOW_SAMPLES;
#endif
    KWS_STREAM_MARK(KWS_STREAM_MARK_IDLE);
}

static void infer(kws_stream_t *s, kws_stream_result_t *res)
{
    KWS_STREAM_MARK(KWS_STREAM_MARK_NETWORK);
    /* the ring, oldest frame first, is the model input */
    int8_t *in = kws_model_input();
    const size_t older = (size_t)(KWS_N_FRAMES - s->head) * KWS_N_MFCC;
    memcpy(in, s->frames[s->head], older);
    memcpy(in + older, s->frames[0], (size_t)s->head * KWS_N_MFCC);
    kws_model_invoke();
    KWS_STREAM_MARK(KWS_STREAM_MARK_POSTPROCESS);
    /* time at the end of the newest frame's window, from the sample count */
    const uint64_t samples = (uint64_t)(s->n_frames - 1) * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES;
    const int32_t now_ms = (int32_t)(samples * 1000u / KWS_SAMPLE_RATE);
    const kws_recognition_t r = kws_recognizer_update(&s->recognizer, kws_model_output(), now_ms);
    KWS_STREAM_MARK(KWS_STREAM_MARK_IDLE);
    s->n_inferences++;
    res->time_ms = now_ms;
    res->label = r.label;
    res->score = r.score;
    res->is_new = r.is_new;
}

uint32_t kws_stream_input_hash(const kws_stream_t *s)
{
    uint32_t h = 2166136261u;
    for (int k = 0; k < KWS_N_FRAMES; ++k) {
        const int8_t *f = s->frames[(s->head + k) % KWS_N_FRAMES];
        for (int i = 0; i < KWS_N_MFCC; ++i) {
            h = (h ^ (uint8_t)f[i]) * 16777619u;
        }
    }
    return h;
}

int32_t kws_stream_process(kws_stream_t *s, const int16_t *samples, int32_t n, int *ran,
                           kws_stream_result_t *res)
{
    int32_t used = 0;
    *ran = 0;
    while (used < n) {
        if (s->skip > 0) {
            const int32_t k = n - used < s->skip ? n - used : s->skip;
            s->skip -= k;
            used += k;
            continue;
        }
        int32_t take = KWS_WINDOW_SAMPLES - s->filled;
        if (take > n - used) take = n - used;
        memcpy(s->window + s->filled, samples + used, (size_t)take * sizeof samples[0]);
        s->filled += take;
        used += take;
        if (s->filled < KWS_WINDOW_SAMPLES) break;
        new_frame(s);
        if (s->n_frames >= KWS_N_FRAMES &&
            (s->n_frames - KWS_N_FRAMES) % KWS_PERIOD_FRAMES == 0) {
            infer(s, res);
            *ran = 1;
            break;
        }
    }
    return used;
}

#endif  /* KWS_STREAM_AVAILABLE */
