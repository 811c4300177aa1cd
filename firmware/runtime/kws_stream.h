/* Always-on keyword spotting on a microphone stream, one module for the board (the Arduino
 * sketch), the host build and the emulated Cortex-M4 build, as TF micro_speech does it:
 *
 *   audio in any chunk size -> one MFCC frame (kws_features.h) per KWS_STRIDE_SAMPLES of new
 *   audio, quantized into a ring of the last KWS_N_FRAMES int8 frames (only new frames are
 *   computed) -> every KWS_PERIOD_FRAMES new frames (stream.period_ms), once the ring is
 *   full, the network on the ring (oldest frame first) -> RecognizeCommands
 *   (kws_postprocess.h: posterior average, threshold, suppression) -> a result, with
 *   is_new = 1 for a detection.
 *
 * The network's input after frame f holds frames f-KWS_N_FRAMES+1 .. f, i.e. exactly
 * kws_features_clip() of the clip starting KWS_STRIDE_SAMPLES * (f - KWS_N_FRAMES + 1)
 * samples into the stream: the model sees what it was trained on. Stream time is counted in
 * samples: an inference after frame f happens at the end of that frame's window,
 * (f * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES) / KWS_SAMPLE_RATE seconds into the stream.
 *
 * No dynamic memory and no pointers inside the state (kws_stream_t can be copied, which the
 * emulator harness does between runs). */
#ifndef KWS_STREAM_H
#define KWS_STREAM_H

#include <stdint.h>

#include "kws_features.h"
#include "kws_postprocess.h"
#include "model.h"
#include "model_settings.h"
#include "stream_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The module needs int8 features that are the model's whole input and int8 scores (a
 * model.h without KWS_MODEL_INPUT_INT8, a hand-written stub, is int8). */
#ifdef KWS_MODEL_INPUT_INT8
#define KWS_STREAM_AVAILABLE (KWS_FEATURES_MATCH_MODEL && KWS_MODEL_INPUT_INT8 && \
                              KWS_MODEL_OUTPUT_INT8)
#else
#define KWS_STREAM_AVAILABLE KWS_FEATURES_MATCH_MODEL
#endif

/* The stages a profiling build (-DKWS_PROFILE_OPS, the emulator harness) reports through
 * kws_mark(stage): the same numbers as the harness's stages. */
#define KWS_STREAM_MARK_IDLE 0
#define KWS_STREAM_MARK_FEATURES 1
#define KWS_STREAM_MARK_NETWORK 2
#define KWS_STREAM_MARK_POSTPROCESS 3

typedef struct {
    int16_t window[KWS_WINDOW_SAMPLES];      /* samples of the next frame */
    int32_t filled;                          /* of window */
    int32_t skip;                            /* samples to drop (a stride longer than a window) */
    int8_t frames[KWS_N_FRAMES][KWS_N_MFCC];  /* the ring of quantized frames */
    int32_t head;                            /* slot of the oldest frame = the next written */
    uint32_t n_frames;                       /* frames computed since init */
    uint32_t n_inferences;
    kws_recognizer_t recognizer;
} kws_stream_t;

typedef struct {
    int32_t time_ms;  /* stream time of the inference (end of its newest frame) */
    int32_t label;    /* the recognizer's top label (-1: too few results yet) */
    float score;      /* its averaged probability */
    int32_t is_new;   /* 1: a detection (label's score above the threshold, not suppressed) */
} kws_stream_result_t;

void kws_stream_init(kws_stream_t *s);

/* FNV-1a (32 bits) of the ring's frames, oldest first (= the model input of the last
 * inference): the harnesses report it so host and device features can be compared frame
 * for frame without shipping them. Not called by the recognizer itself. */
uint32_t kws_stream_input_hash(const kws_stream_t *s);

/* Consumes samples until the network has run once or all n are used; returns how many it
 * consumed. *ran is 1 when the network ran: then *res holds the recognizer's result and
 * kws_model_output() the network's scores. Call again with the rest. */
int32_t kws_stream_process(kws_stream_t *s, const int16_t *samples, int32_t n, int *ran,
                           kws_stream_result_t *res);

#ifdef __cplusplus
}
#endif
#endif
