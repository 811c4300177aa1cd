/* Host test harness: runs the generated engine on batches read from stdin.
 *   kws_host net       inputs [n][KWS_MODEL_INPUT_SIZE] -> outputs [n][KWS_MODEL_OUTPUT_SIZE]
 *                      (int8, or float32 for a model with float ends)
 *   kws_host features  int16 clips  [n][KWS_CLIP_SAMPLES]      -> int8 features [n][KWS_MODEL_INPUT_SIZE]
 *   kws_host mfcc      int16 clips  [n][KWS_CLIP_SAMPLES]      -> float32 MFCC [n][frames][mfcc]
 *   kws_host trace     like net, but writes every op's output (built with -DKWS_TRACE_OPS)
 *   kws_host post      int8 logits  [n][KWS_MODEL_OUTPUT_SIZE], one per stride -> text events
 *   kws_host stream [THRESHOLD]
 *                      int16 audio, any length (kws_stream.h: new frames only, the network
 *                      every stream.period_ms, RecognizeCommands) -> one record per inference:
 *                      int32 time_ms, int8 scores [KWS_MODEL_OUTPUT_SIZE], int32 label,
 *                      float32 score, int32 is_new, uint32 input_hash (kws_stream_input_hash;
 *                      threshold: stream_settings.h's unless given)
 *   kws_host stream-inputs
 *                      int16 audio -> the network's int8 input [KWS_MODEL_INPUT_SIZE] at each
 *                      inference (what the ring of frames hands the model)
 *   kws_host replay THRESHOLD...
 *                      records of int32 time_ms + int8 scores [KWS_MODEL_OUTPUT_SIZE] (the
 *                      network outputs of a stream) -> for each threshold k in turn, a fresh
 *                      recognizer over all records; each detection as int32 k, int32 time_ms,
 *                      int32 label, float32 score
 * Binary little-endian on stdin/stdout; exit status 2 on a short read. */
#include <stdio.h>
#include <stdlib.h>
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

static int16_t clip[KWS_CLIP_SAMPLES];

#ifdef KWS_TRACE_OPS
/* kws_host trace: the output of every op, in order, for each input */
void kws_trace(int op, const int8_t *data, int32_t size)
{
    (void)op;
    fwrite(data, 1, (size_t)size, stdout);
}
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "net") == 0 || strcmp(mode, "trace") == 0) {
        const int trace = mode[0] == 't';
        size_t got;
        while ((got = fread(kws_model_input(), sizeof(kws_model_input_t), KWS_MODEL_INPUT_SIZE,
                            stdin)) == KWS_MODEL_INPUT_SIZE) {
            kws_model_invoke();
            if (!trace) {
                fwrite(kws_model_output(), sizeof(kws_model_output_t), KWS_MODEL_OUTPUT_SIZE,
                       stdout);
            }
        }
        return got == 0 ? 0 : 2;
    }
    if (strcmp(mode, "features") == 0 || strcmp(mode, "mfcc") == 0) {
        size_t got;
        while ((got = fread(clip, sizeof clip[0], KWS_CLIP_SAMPLES, stdin)) == KWS_CLIP_SAMPLES) {
            if (mode[0] == 'f') {
                static int8_t q[KWS_N_FRAMES * KWS_N_MFCC];  /* = the model input when they match */
                kws_features_clip(clip, q);
                fwrite(q, 1, sizeof q, stdout);
            } else {
                float m[KWS_N_MFCC];
                for (int t = 0; t < KWS_N_FRAMES; ++t) {
                    kws_mfcc_frame(clip + t * KWS_STRIDE_SAMPLES, m);
                    fwrite(m, sizeof m[0], KWS_N_MFCC, stdout);
                }
            }
        }
        return got == 0 ? 0 : 2;
    }
    if (strcmp(mode, "post") == 0) {
        static kws_recognizer_t rec;
        int8_t logits[KWS_MODEL_OUTPUT_SIZE];
        int32_t t = 0;
        kws_recognizer_init(&rec);
        while (fread(logits, 1, sizeof logits, stdin) == sizeof logits) {
            kws_recognition_t r = kws_recognizer_update(&rec, logits, t);
            printf("%ld %d %.6f %d\n", (long)t, r.label, (double)r.score, r.is_new);
            t += (int32_t)KWS_STRIDE_MS;
        }
        return 0;
    }
#if KWS_STREAM_AVAILABLE
    if (strcmp(mode, "stream") == 0 || strcmp(mode, "stream-inputs") == 0) {
        static kws_stream_t st;
        static int16_t chunk[4096];
        const int inputs = mode[6] == '-';
        size_t got;
        kws_stream_init(&st);
        if (argc > 2) st.recognizer.threshold = strtof(argv[2], NULL);
        while ((got = fread(chunk, sizeof chunk[0], sizeof chunk / sizeof chunk[0], stdin)) > 0) {
            const int16_t *p = chunk;
            int32_t left = (int32_t)got;
            while (left > 0) {
                kws_stream_result_t r;
                int ran;
                const int32_t used = kws_stream_process(&st, p, left, &ran, &r);
                p += used;
                left -= used;
                if (!ran) continue;
                if (inputs) {
                    /* the ring again, oldest first (the model input may be overwritten) */
                    for (int k = 0; k < KWS_N_FRAMES; ++k) {
                        fwrite(st.frames[(st.head + k) % KWS_N_FRAMES], 1, KWS_N_MFCC, stdout);
                    }
                    continue;
                }
                fwrite(&r.time_ms, sizeof r.time_ms, 1, stdout);
                fwrite(kws_model_output(), 1, KWS_MODEL_OUTPUT_SIZE, stdout);
                fwrite(&r.label, sizeof r.label, 1, stdout);
                fwrite(&r.score, sizeof r.score, 1, stdout);
                fwrite(&r.is_new, sizeof r.is_new, 1, stdout);
                const uint32_t hash = kws_stream_input_hash(&st);
                fwrite(&hash, sizeof hash, 1, stdout);
            }
        }
        return 0;
    }
#endif
#if KWS_MODEL_OUTPUT_INT8
    if (strcmp(mode, "replay") == 0) {
        /* all records in memory, then one pass per threshold */
        size_t cap = 1024, n = 0;
        const size_t rec = sizeof(int32_t) + KWS_MODEL_OUTPUT_SIZE;
        unsigned char *buf = malloc(cap * rec);
        if (buf == NULL) return 3;
        while (fread(buf + n * rec, 1, rec, stdin) == rec) {
            if (++n == cap) {
                unsigned char *b = realloc(buf, 2 * cap * rec);
                if (b == NULL) return 3;
                buf = b;
                cap *= 2;
            }
        }
        static kws_recognizer_t rec_;
        for (int32_t k = 0; k + 2 < argc; ++k) {
            kws_recognizer_init(&rec_);
            rec_.threshold = strtof(argv[k + 2], NULL);
            for (size_t i = 0; i < n; ++i) {
                int32_t t;
                memcpy(&t, buf + i * rec, sizeof t);
                const kws_recognition_t r = kws_recognizer_update(
                    &rec_, (const int8_t *)(buf + i * rec + sizeof t), t);
                if (r.is_new) {
                    fwrite(&k, sizeof k, 1, stdout);
                    fwrite(&t, sizeof t, 1, stdout);
                    fwrite(&r.label, sizeof r.label, 1, stdout);
                    fwrite(&r.score, sizeof r.score, 1, stdout);
                }
            }
        }
        free(buf);
        return 0;
    }
#endif
    fprintf(stderr, "usage: kws_host net|features|mfcc|post|stream|stream-inputs|replay < input > output\n");
    return 1;
}
