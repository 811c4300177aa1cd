/* Host test harness: runs the generated engine on batches read from stdin.
 *   kws_host net       inputs [n][KWS_MODEL_INPUT_SIZE] -> outputs [n][KWS_MODEL_OUTPUT_SIZE]
 *                      (int8, or float32 for a model with float ends)
 *   kws_host features  int16 clips  [n][KWS_CLIP_SAMPLES]      -> int8 features [n][KWS_MODEL_INPUT_SIZE]
 *   kws_host mfcc      int16 clips  [n][KWS_CLIP_SAMPLES]      -> float32 MFCC [n][frames][mfcc]
 *   kws_host trace     like net, but writes every op's output (built with -DKWS_TRACE_OPS)
 *   kws_host post      int8 logits  [n][KWS_MODEL_OUTPUT_SIZE], one per stride -> text events
 * Binary little-endian on stdin/stdout; exit status 2 on a short read. */
#include <stdio.h>
#include <string.h>

#include "kws_features.h"
#include "kws_postprocess.h"
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
    fprintf(stderr, "usage: kws_host net|features|mfcc|post < input > output\n");
    return 1;
}
