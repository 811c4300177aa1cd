/* The MFCC frontend, one definition for the board, the emulator and the host.
 *
 * Training features are computed by this same C file (kws/features.py calls it through a host
 * shared library), so the board sees bit-for-bit the features the model was trained on, and
 * a featurized data set has the same bytes on any machine: float32 in a fixed order, no libm,
 * no fused multiply-add (see kws_frontend.c).
 *
 * Per frame of `window` int16 samples (full scale 1.0):
 *   periodic Hann window -> 1024-point real FFT (a 512-point complex FFT of the even/odd
 *   samples, radix-4 decimation in frequency, then the real split, bins 0..n_bins-1 only) ->
 *   power -> HTK mel filterbank -> ln(mel + log_floor) -> orthonormal DCT-II.
 * Every table (window, twiddles, output order, mel rows, DCT) is computed by kws/features.py and
 * either passed in (host) or emitted as constants by the firmware codegen (board).
 */
#ifndef KWS_FRONTEND_H
#define KWS_FRONTEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_FRONTEND_FFT 512            /* complex points: a 1024-point real FFT */
#define KWS_FRONTEND_WORK_FLOATS (3 * KWS_FRONTEND_FFT + 1)  /* FFT, then the power of the used bins */

typedef struct {
    int window;                   /* samples per frame (<= 1024, even) */
    int n_bins;                   /* FFT bins 0..n_bins-1 reach the mel filterbank (<= 513) */
    int n_mels;
    int n_mfcc;
    float log_floor;
    const float *hann;            /* [window]: Hann / 32768 (int16 full scale -> 1.0) */
    const float *twiddles;        /* radix-4 stage twiddles, (W^j, W^2j, W^3j) per j */
    const float *split;           /* [2 * n_bins]: cos, sin of 2 pi k / 1024 */
    const uint16_t *order;        /* [513]: where FFT bin k (of 512) sits after the stages */
    const uint16_t *mel_start;    /* [n_mels]: first bin of each band */
    const uint16_t *mel_len;      /* [n_mels]: bins in each band */
    const float *mel_weights;     /* the bands' weights, band after band (x 1/4: see split) */
    const float *dct;             /* [n_mels * n_mfcc], row m = band m */
} kws_frontend_cfg;

/* MFCC (n_mfcc floats) of one frame; `work` holds KWS_FRONTEND_WORK_FLOATS floats. */
void kws_frontend_mfcc(const kws_frontend_cfg *cfg, const int16_t *frame, float *mfcc,
                       float *work);

/* ln(x) for x > 0 in float32 without libm: exponent + a polynomial (|error| < 2e-7). */
float kws_frontend_log(float x);

/* Host batch entry (kws/features.py): n_clips clips of clip_len samples, frames every
 * `stride` samples, into out[n_clips][n_frames][n_mfcc]. */
void kws_frontend_batch(const kws_frontend_cfg *cfg, const int16_t *audio, int n_clips,
                        int clip_len, int stride, float *out);

#ifdef __cplusplus
}
#endif
#endif
