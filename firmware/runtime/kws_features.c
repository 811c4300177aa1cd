/* MFCC in float32 (see kws_features.h). Hand-written: CMSIS-DSP is not available in the
 * Arduino IDE without a library and a plain radix-2 FFT keeps the sketch self-contained. */
#include "kws_features.h"

#include <math.h>

static float fft_re[KWS_N_FFT];
static float fft_im[KWS_N_FFT];

static unsigned bit_reverse(unsigned x, int bits)
{
    unsigned r = 0;
    for (int i = 0; i < bits; ++i) {
        r = (r << 1) | (x & 1u);
        x >>= 1;
    }
    return r;
}

/* In-place iterative radix-2 decimation-in-time FFT of fft_re/fft_im (input already in
 * bit-reversed order). */
static void fft_inplace(void)
{
    for (int len = 2; len <= KWS_N_FFT; len <<= 1) {
        const int half = len >> 1;
        const int step = KWS_N_FFT / len;
        for (int i = 0; i < KWS_N_FFT; i += len) {
            for (int j = 0; j < half; ++j) {
                const float wr = kws_twiddle_re[j * step];
                const float wi = kws_twiddle_im[j * step];
                const int a = i + j, b = a + half;
                const float tr = fft_re[b] * wr - fft_im[b] * wi;
                const float ti = fft_re[b] * wi + fft_im[b] * wr;
                fft_re[b] = fft_re[a] - tr;
                fft_im[b] = fft_im[a] - ti;
                fft_re[a] += tr;
                fft_im[a] += ti;
            }
        }
    }
}

void kws_mfcc_frame(const int16_t *window, float *mfcc)
{
    float power[KWS_N_BINS];
    float log_mel[KWS_N_MELS];
    for (unsigned i = 0; i < KWS_N_FFT; ++i) {
        const unsigned src = bit_reverse(i, KWS_LOG2_N_FFT);
        fft_re[i] = src < KWS_WINDOW_SAMPLES
                        ? ((float)window[src] * (1.0f / 32768.0f)) * kws_hann[src] : 0.0f;
        fft_im[i] = 0.0f;
    }
    fft_inplace();
    for (int k = 0; k < KWS_N_BINS; ++k) {
        power[k] = fft_re[k] * fft_re[k] + fft_im[k] * fft_im[k];
    }
    const float *w = kws_mel_weights;
    for (int m = 0; m < KWS_N_MELS; ++m) {
        float acc = 0.0f;
        const float *p = power + kws_mel_start[m];
        for (int k = 0; k < kws_mel_len[m]; ++k) acc += p[k] * w[k];
        w += kws_mel_len[m];
        log_mel[m] = logf(acc + KWS_LOG_FLOOR);
    }
    for (int j = 0; j < KWS_N_MFCC; ++j) {
        float acc = 0.0f;
        for (int m = 0; m < KWS_N_MELS; ++m) acc += log_mel[m] * kws_dct[m * KWS_N_MFCC + j];
        mfcc[j] = acc;
    }
}

void kws_quantize_features(const float *x, int8_t *q, int n)
{
    for (int i = 0; i < n; ++i) {
        const float v = x[i] / KWS_INPUT_SCALE;
        const float r = v >= 0.0f ? floorf(v + 0.5f) : -floorf(-v + 0.5f);
        float o = r + (float)KWS_INPUT_ZERO_POINT;
        if (o < -128.0f) o = -128.0f;
        if (o > 127.0f) o = 127.0f;
        q[i] = (int8_t)o;
    }
}

void kws_features_clip(const int16_t *clip, int8_t *out)
{
    float mfcc[KWS_N_MFCC];
    for (int t = 0; t < KWS_N_FRAMES; ++t) {
        kws_mfcc_frame(clip + t * KWS_STRIDE_SAMPLES, mfcc);
        kws_quantize_features(mfcc, out + t * KWS_N_MFCC, KWS_N_MFCC);
    }
}
