/* The MFCC frontend, one definition for the board, the emulator and the host.
 *
 * Training features are computed by this same C file (kws/features.py calls it through a host
 * shared library), so the board sees bit-for-bit the features the model was trained on, and
 * a featurized data set has the same bytes on any machine: float32 in a fixed order, no libm,
 * no fused multiply-add (see kws_frontend.c).
 *
 * Per frame of `window` int16 samples (full scale 1.0):
 *   periodic Hann window -> 1024-point real FFT (a 512-point complex FFT of the even/odd
 *   samples: three radix-8 decimation-in-frequency stages, the last one writing the bins in
 *   natural order; then the real split, bins bin_lo..n_bins-1 only) -> power -> HTK mel
 *   filterbank (folded into the split) -> ln(mel + log_floor) -> orthonormal DCT-II.
 * Every table (window, twiddles, split and mel weights, log, DCT) is computed by
 * kws/frontend.py and either passed in (host) or emitted as constants by the firmware codegen
 * (board).
 */
#ifndef KWS_FRONTEND_H
#define KWS_FRONTEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_FRONTEND_FFT 512            /* complex points: a 1024-point real FFT */
#define KWS_FRONTEND_TWIDDLES (14 * (64 + 7))  /* floats: stage 1 (j = 0..63), stage 2 (j = 1..7) */
#define KWS_FRONTEND_LOG_BITS 7         /* the log's table: 2^7 mantissa intervals */
#define KWS_FRONTEND_DCT_BLOCK 10       /* DCT outputs computed together */
/* the FFT's working array, then the spectrum in natural order (bins 0..512) */
#define KWS_FRONTEND_WORK_FLOATS (4 * KWS_FRONTEND_FFT + 2)

typedef struct {
    int window;                   /* samples per frame (<= 1024, even) */
    int bin_lo;                   /* FFT bins bin_lo..n_bins-1 reach the mel filterbank */
    int n_bins;                   /* (n_bins <= 513) */
    int n_mels;
    int n_mfcc;
    float log_floor;
    const float *hann;            /* [128 R], R = ceil(window / 128): Hann / 32768 (int16 full
                                     scale -> 1.0) in the FFT's reading order: samples
                                     2 (j + 64 r) and 2 (j + 64 r) + 1 at 2 (j R + r), zero
                                     past the window */
    const float *twiddles;        /* [KWS_FRONTEND_TWIDDLES]: per radix-8 butterfly j, W^(j s)
                                     for s = 1..7 as (cos, -sin); W = e^(-2 pi i / 512) in
                                     stage 1 (j = 0..63), e^(-2 pi i / 64) in stage 2 (j = 1..7) */
    const float *bins;            /* [3 (n_bins - bin_lo)]: per bin k, cos and sin of
                                     2 pi k / 1024, then w / 4: w = where k lies between the
                                     mel edges of its segment (0 .. 1, the rising weight) */
    const uint16_t *seg_len;      /* [n_mels + 1]: bins in segment i (between mel edges i and
                                     i + 1), segment after segment from bin_lo */
    const float *log_table;       /* [2 << KWS_FRONTEND_LOG_BITS]: c_i ~ 1 / (1 + (i + 1/2)
                                     / 128), then -ln c_i */
    const float *dct;             /* [ceil(n_mfcc / 10)][(n_mels + 1) / 2][10]: D[m, j] for m in
                                     the first half (D[n_mels-1-m, j] = (-1)^j D[m, j]), j in
                                     blocks of 10 outputs, zero past n_mfcc */
} kws_frontend_cfg;

/* MFCC (n_mfcc floats) of one frame; `work` holds KWS_FRONTEND_WORK_FLOATS floats. */
void kws_frontend_mfcc(const kws_frontend_cfg *cfg, const int16_t *frame, float *mfcc,
                       float *work);

/* ln(x) for a normal float x > 0 without libm: exponent + table + quadratic (within 1.5e-7
 * plus half an ulp of the result of ln x). */
float kws_frontend_log(const kws_frontend_cfg *cfg, float x);

/* Host batch entry (kws/features.py): n_clips clips of clip_len samples, frames every
 * `stride` samples, into out[n_clips][n_frames][n_mfcc]. */
void kws_frontend_batch(const kws_frontend_cfg *cfg, const int16_t *audio, int n_clips,
                        int clip_len, int stride, float *out);

#ifdef __cplusplus
}
#endif
#endif
