/* Emulator harness: the emulator writes a job into kws_mailbox, runs from reset to the
 * final kws_mark(KWS_STAGE_DONE), and reads the results back. kws_mark() calls delimit the
 * stages the timing model attributes cycles to (their addresses come from the ELF symbols).
 *   mode 0: audio clip -> features -> network -> post-processing
 *   mode 1: model input (int8 features, already quantized; float for a float-input model)
 *           -> network
 *   mode 2: a stream segment: n_samples of audio through kws_stream (new frames, the network
 *           every period, RecognizeCommands) -> one result per inference (time, label, score,
 *           is_new, the network's scores). The stream state lives in the mailbox, so the
 *           emulator continues a stream by passing the mailbox of one run to the next
 *           (stream_reset = 1 starts a new one, at the threshold in stream_threshold).
 * Post-processing runs on int8 outputs only (a float-output model reports label -1). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kws_features.h"
#include "kws_postprocess.h"
#include "kws_stream.h"
#include "model.h"
#include "model_settings.h"

#ifndef KWS_MODEL_INPUT_INT8  /* a model.h without float ends (hand-written stubs): int8 */
#define KWS_MODEL_INPUT_INT8 1
#define KWS_MODEL_OUTPUT_INT8 1
typedef int8_t kws_model_input_t;
typedef int8_t kws_model_output_t;
#endif

enum { KWS_STAGE_IDLE = 0, KWS_STAGE_FEATURES = 1, KWS_STAGE_NETWORK = 2,
       KWS_STAGE_POSTPROCESS = 3, KWS_STAGE_DONE = 4 };

/* at most one inference per stride of audio */
#define KWS_STREAM_MAX_RESULTS (KWS_CLIP_SAMPLES / KWS_STRIDE_SAMPLES + 1)

typedef struct {
    int32_t time_ms, label;
    float score;
    int32_t is_new;
    uint32_t input_hash;  /* kws_stream_input_hash: the network's input, frame for frame */
    int8_t scores[KWS_MODEL_OUTPUT_SIZE];
} kws_stream_record_t;

typedef struct {
    uint32_t mode;
    int16_t audio[KWS_CLIP_SAMPLES];
    kws_model_input_t features[KWS_MODEL_INPUT_SIZE];
    kws_model_output_t logits[KWS_MODEL_OUTPUT_SIZE];
    int32_t label;
    float score;
    int32_t is_new;
    /* mode 2 */
    uint32_t stream_reset;
    uint32_t stream_samples;   /* of audio[] */
    float stream_threshold;
    uint32_t stream_results;   /* out: inferences in this segment */
    kws_stream_record_t stream_record[KWS_STREAM_MAX_RESULTS];
#if KWS_STREAM_AVAILABLE
    kws_stream_t stream;       /* carried from run to run by the emulator */
#endif
} kws_mailbox_t;

__attribute__((section(".noinit"), used, aligned(8))) volatile kws_mailbox_t kws_mailbox;

/* The mailbox layout, read by the emulator from the ELF (nothing hand-copied to Python):
 * offsets of mode, audio, features, logits, label, score, is_new; then the sizes of
 * audio (samples), features and logits; then the bytes of one feature and one logit. */
__attribute__((used, section(".rodata.kws_keep"))) const uint32_t kws_mailbox_layout[12] = {
    offsetof(kws_mailbox_t, mode), offsetof(kws_mailbox_t, audio),
    offsetof(kws_mailbox_t, features), offsetof(kws_mailbox_t, logits),
    offsetof(kws_mailbox_t, label), offsetof(kws_mailbox_t, score),
    offsetof(kws_mailbox_t, is_new),
    KWS_CLIP_SAMPLES, KWS_MODEL_INPUT_SIZE, KWS_MODEL_OUTPUT_SIZE,
    sizeof(kws_model_input_t), sizeof(kws_model_output_t),
};

/* mode 2's fields: offsets of stream_reset, stream_samples, stream_threshold,
 * stream_results, stream_record and stream; the record's size, the records' capacity, the
 * bytes of kws_stream_t (0: no stream module for this model), the offset of the scores in a
 * record (the input hash right before them). */
__attribute__((used, section(".rodata.kws_keep"))) const uint32_t kws_stream_layout[10] = {
    offsetof(kws_mailbox_t, stream_reset), offsetof(kws_mailbox_t, stream_samples),
    offsetof(kws_mailbox_t, stream_threshold), offsetof(kws_mailbox_t, stream_results),
    offsetof(kws_mailbox_t, stream_record),
#if KWS_STREAM_AVAILABLE
    offsetof(kws_mailbox_t, stream), sizeof(kws_stream_record_t), KWS_STREAM_MAX_RESULTS,
    sizeof(kws_stream_t),
#else
    0, sizeof(kws_stream_record_t), KWS_STREAM_MAX_RESULTS, 0,
#endif
    offsetof(kws_stream_record_t, scores),
};

static kws_recognizer_t recognizer;

#if KWS_STREAM_AVAILABLE
static void run_stream(void)
{
    kws_stream_t *s = (kws_stream_t *)&kws_mailbox.stream;
    if (kws_mailbox.stream_reset) {
        kws_stream_init(s);
        s->recognizer.threshold = kws_mailbox.stream_threshold;
    }
    const int16_t *x = (const int16_t *)kws_mailbox.audio;
    int32_t left = (int32_t)kws_mailbox.stream_samples, n = 0;
    while (left > 0) {
        kws_stream_result_t r;
        int ran;
        const int32_t used = kws_stream_process(s, x, left, &ran, &r);
        x += used;
        left -= used;
        if (ran && n < KWS_STREAM_MAX_RESULTS) {
            volatile kws_stream_record_t *o = &kws_mailbox.stream_record[n++];
            o->time_ms = r.time_ms;
            o->label = r.label;
            o->score = r.score;
            o->is_new = r.is_new;
            o->input_hash = kws_stream_input_hash(s);  /* outside the timed stages */
            memcpy((void *)o->scores, kws_model_output(), KWS_MODEL_OUTPUT_SIZE);
        }
    }
    kws_mailbox.stream_results = (uint32_t)n;
}
#endif

__attribute__((noinline, used)) void kws_mark(int stage)
{
    __asm volatile("" : : "r"(stage) : "memory");
}

/* called by kws_model_invoke before each op (its index) and after the last (-1), built
 * with -DKWS_PROFILE_OPS: the emulator attributes cycles to ops by watching it */
__attribute__((noinline, used)) void kws_op_mark(int op)
{
    __asm volatile("" : : "r"(op) : "memory");
}

int main(void)
{
#if KWS_STREAM_AVAILABLE
    if (kws_mailbox.mode == 2) {
        run_stream();
        kws_mark(KWS_STAGE_DONE);
        return 0;
    }
#endif
    kws_recognizer_init(&recognizer);
#if KWS_FEATURES_MATCH_MODEL && KWS_MODEL_INPUT_INT8
    if (kws_mailbox.mode == 0) {
        kws_mark(KWS_STAGE_FEATURES);
        kws_features_clip((const int16_t *)kws_mailbox.audio, kws_model_input());
        kws_mark(KWS_STAGE_IDLE);  /* the copy-back is not part of the timed stages */
        memcpy((void *)kws_mailbox.features, kws_model_input(), sizeof kws_mailbox.features);
    } else
#endif
    {
        memcpy(kws_model_input(), (const void *)kws_mailbox.features, sizeof kws_mailbox.features);
    }
    kws_mark(KWS_STAGE_NETWORK);
    kws_model_invoke();
    kws_mark(KWS_STAGE_IDLE);  /* the warm-up below is neither network nor the timed update */
#if KWS_MODEL_OUTPUT_INT8
    /* a full averaging window of earlier results, so the timed update is the steady state */
    for (int32_t t = -KWS_AVERAGE_WINDOW_MS; t < 0; t += KWS_PERIOD_MS) {
        kws_recognizer_update(&recognizer, kws_model_output(), t);
    }
    kws_mark(KWS_STAGE_POSTPROCESS);
    kws_recognition_t r = kws_recognizer_update(&recognizer, kws_model_output(), 0);
    kws_mark(KWS_STAGE_IDLE);
#else
    kws_recognition_t r = {.label = -1, .score = 0.0f, .is_new = 0};
#endif
    memcpy((void *)kws_mailbox.logits, kws_model_output(), sizeof kws_mailbox.logits);
    kws_mailbox.label = r.label;
    kws_mailbox.score = r.score;
    kws_mailbox.is_new = r.is_new;
    kws_mark(KWS_STAGE_DONE);
    return 0;
}
