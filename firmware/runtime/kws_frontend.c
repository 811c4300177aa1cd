/* The MFCC frontend (see kws_frontend.h). Hand-written on purpose: CMSIS-DSP is not available
 * in the Arduino IDE without a library, and the same source must give the same bits on the
 * board and on any x86-64 host.
 *
 * Same bits everywhere: float32 only, each operation in the order written, no libm (the log is
 * below), and no contraction of a*b+c into a fused multiply-add (gcc contracts by default on
 * the Cortex-M4F, which would round differently from the host).
 *
 * Cost (Cortex-M4F, kws/firmware/timing.py model): the 1024-point real FFT is a 512-point
 * complex FFT of (even, odd) sample pairs, radix-4 decimation in frequency: the window is
 * applied while the first stage loads its inputs, the zero padding is skipped there, the
 * output stays in digit-reversed order and the real split reads it through a table (no
 * bit-reversal pass). Only the bins the mel filterbank uses are split and squared.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "kws_frontend.h"

#include <string.h>

#define N KWS_FRONTEND_FFT
#ifdef KWS_FRONTEND_PROFILE  /* -DKWS_FRONTEND_PROFILE: stages as functions for the profiler */
#define KWS_PROFILE_NOINLINE __attribute__((noinline))
#else
#define KWS_PROFILE_NOINLINE
#endif

/* one radix-4 DIF butterfly on p[0], p[q], p[2q], p[3q] (complex, interleaved), twiddles
 * w = (W^j, W^2j, W^3j); outputs r = 0..3 are multiplied by W^(r j). */
static inline void bfly4(float *restrict p, int q, const float *restrict w)
{
    const float w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3], w3r = w[4], w3i = w[5];
    float *p1 = p + 2 * q, *p2 = p + 4 * q, *p3 = p + 6 * q;
    const float a0r = p[0], a0i = p[1], a1r = p1[0], a1i = p1[1];
    const float a2r = p2[0], a2i = p2[1], a3r = p3[0], a3i = p3[1];
    const float t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
    const float t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
    const float y1r = t1r + t3i, y1i = t1i - t3r;
    const float y2r = t0r - t2r, y2i = t0i - t2i;
    const float y3r = t1r - t3i, y3i = t1i + t3r;
    p[0] = t0r + t2r;
    p[1] = t0i + t2i;
    p1[0] = y1r * w1r - y1i * w1i;
    p1[1] = y1r * w1i + y1i * w1r;
    p2[0] = y2r * w2r - y2i * w2i;
    p2[1] = y2r * w2i + y2i * w2r;
    p3[0] = y3r * w3r - y3i * w3i;
    p3[1] = y3r * w3i + y3i * w3r;
}

/* the same with every twiddle 1 (j = 0) */
static inline void bfly4_j0(float *p, int q)
{
    float *p1 = p + 2 * q, *p2 = p + 4 * q, *p3 = p + 6 * q;
    const float a0r = p[0], a0i = p[1], a1r = p1[0], a1i = p1[1];
    const float a2r = p2[0], a2i = p2[1], a3r = p3[0], a3i = p3[1];
    const float t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
    const float t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
    p[0] = t0r + t2r;
    p[1] = t0i + t2i;
    p1[0] = t1r + t3i;
    p1[1] = t1i - t3r;
    p2[0] = t0r - t2r;
    p2[1] = t0i - t2i;
    p3[0] = t1r - t3i;
    p3[1] = t1i + t3r;
}

/* First stage (q = N/4), loading the windowed samples on the way: complex point n is
 * (x[2n] h[2n], x[2n+1] h[2n+1]), zero from n >= nz (the zero padding). `with_a2` says whether
 * points j + N/2 are inside the window; points j + 3N/4 are not (window <= 3N/2 samples). */
static inline void first_stage_range(const int16_t *restrict x, const float *restrict h,
                                     float *restrict z, int j0, int j1,
                                     const float *restrict tw, const int with_a2)
{
    const int q = N / 4;
    for (int j = j0; j < j1; ++j) {
        const float *w = tw + 6 * j;
        const float w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3], w3r = w[4], w3i = w[5];
        const int s0 = 2 * j, s1 = 2 * (j + q), s2 = 2 * (j + 2 * q);
        const float a0r = (float)x[s0] * h[s0], a0i = (float)x[s0 + 1] * h[s0 + 1];
        const float a1r = (float)x[s1] * h[s1], a1i = (float)x[s1 + 1] * h[s1 + 1];
        float t0r = a0r, t0i = a0i, t1r = a0r, t1i = a0i;
        if (with_a2) {
            const float a2r = (float)x[s2] * h[s2], a2i = (float)x[s2 + 1] * h[s2 + 1];
            t0r = a0r + a2r;
            t0i = a0i + a2i;
            t1r = a0r - a2r;
            t1i = a0i - a2i;
        }
        /* a3 = 0: t2 = t3 = a1 */
        const float y1r = t1r + a1i, y1i = t1i - a1r;
        const float y2r = t0r - a1r, y2i = t0i - a1i;
        const float y3r = t1r - a1i, y3i = t1i + a1r;
        float *p = z + 2 * j, *p1 = p + 2 * q, *p2 = p + 4 * q, *p3 = p + 6 * q;
        p[0] = t0r + a1r;
        p[1] = t0i + a1i;
        p1[0] = y1r * w1r - y1i * w1i;
        p1[1] = y1r * w1i + y1i * w1r;
        p2[0] = y2r * w2r - y2i * w2i;
        p2[1] = y2r * w2i + y2i * w2r;
        p3[0] = y3r * w3r - y3i * w3i;
        p3[1] = y3r * w3i + y3i * w3r;
    }
}

/* Any window up to 2N samples: every input loaded only when inside the window. */
static void first_stage_general(const int16_t *x, const float *h, float *z, int nz,
                                const float *tw)
{
    const int q = N / 4;
    for (int j = 0; j < q; ++j) {
        for (int r = 0; r < 4; ++r) {
            const int n = j + r * q;
            z[2 * n] = n < nz ? (float)x[2 * n] * h[2 * n] : 0.0f;
            z[2 * n + 1] = n < nz ? (float)x[2 * n + 1] * h[2 * n + 1] : 0.0f;
        }
        if (j == 0) {
            bfly4_j0(z, q);
        } else {
            bfly4(z + 2 * j, q, tw + 6 * j);
        }
    }
}

KWS_PROFILE_NOINLINE static void fft512(const int16_t *x, const float *h, int window, const float *tw, float *z)
{
    const int nz = window / 2;
    if (nz >= N / 2 && nz <= 3 * N / 4) {
        first_stage_range(x, h, z, 0, nz - N / 2, tw, 1);
        first_stage_range(x, h, z, nz - N / 2, N / 4, tw, 0);
    } else {
        first_stage_general(x, h, z, nz, tw);
    }
    tw += 6 * (N / 4);
    for (int q = N / 16; q >= 2; q >>= 2) {
        const int len = 4 * q;
        for (int b = 0; b < N; b += len) {
            bfly4_j0(z + 2 * b, q);
        }
        for (int j = 1; j < q; ++j) {
            const float *w = tw + 6 * j;
            for (int b = j; b < N; b += len) {
                bfly4(z + 2 * b, q, w);
            }
        }
        tw += 6 * q;
    }
    /* last stage, radix 2 (N = 2 * 4^4) */
    for (int b = 0; b < 2 * N; b += 4) {
        const float ar = z[b], ai = z[b + 1], br = z[b + 2], bi = z[b + 3];
        z[b] = ar + br;
        z[b + 1] = ai + bi;
        z[b + 2] = ar - br;
        z[b + 3] = ai - bi;
    }
}

float kws_frontend_log(float x)
{
    /* x = 2^e m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(t), t = (m - 1) / (m + 1),
     * |t| < 0.172, series to t^7 (truncation < 3e-8); ln 2 split so e ln2_hi is exact. */
    uint32_t u;
    memcpy(&u, &x, 4);
    int e = (int)((u >> 23) & 0xffu) - 127;
    u = (u & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &u, 4);
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e += 1;
    }
    const float t = (m - 1.0f) / (m + 1.0f);
    const float t2 = t * t;
    const float p = t * (2.0f + t2 * (0.666666667f + t2 * (0.4f + t2 * 0.285714286f)));
    const float fe = (float)e;
    return fe * 0.693145751953125f + (fe * 1.42860677e-06f + p);
}

/* real split: 2 X[k] = (Z[k] + conj Z[N-k]) - i W^k (Z[k] - conj Z[N-k]), W = e^(-2 pi i/2N);
 * power[k] = |2 X[k]|^2 (the mel weights carry the 1/4) */
KWS_PROFILE_NOINLINE static void split_power(const kws_frontend_cfg *cfg, const float *restrict z,
                                             float *restrict power)
{
    const uint16_t *order = cfg->order;
    const float *cs = cfg->split;
    for (int k = 0; k < cfg->n_bins; ++k) {
        const float *zk = z + 2 * order[k];
        const float *zm = z + 2 * order[(N - k) & (N - 1)];
        const float sr = zk[0] + zm[0], di = zk[1] - zm[1];
        const float si = zk[1] + zm[1], dr = zk[0] - zm[0];
        const float c = cs[2 * k], s = cs[2 * k + 1];
        const float xr = sr + (c * si - s * dr);
        const float xi = di - (c * dr + s * si);
        power[k] = xr * xr + xi * xi;
    }
}

KWS_PROFILE_NOINLINE static void mel_log_dct(const kws_frontend_cfg *cfg,
                                             const float *restrict power, float *restrict mfcc)
{
    float log_mel[128];
    const float *w = cfg->mel_weights;
    for (int m = 0; m < cfg->n_mels; ++m) {
        const float *p = power + cfg->mel_start[m];
        const int len = cfg->mel_len[m];
        float acc = 0.0f;
        for (int k = 0; k < len; ++k) {
            acc += p[k] * w[k];
        }
        w += len;
        log_mel[m] = kws_frontend_log(acc + cfg->log_floor);
    }
    for (int j = 0; j < cfg->n_mfcc; ++j) {
        const float *d = cfg->dct + j;
        float acc = 0.0f;
        for (int m = 0; m < cfg->n_mels; ++m) {
            acc += log_mel[m] * d[m * cfg->n_mfcc];
        }
        mfcc[j] = acc;
    }
}

void kws_frontend_mfcc(const kws_frontend_cfg *cfg, const int16_t *frame, float *mfcc,
                       float *work)
{
    fft512(frame, cfg->hann, cfg->window, cfg->twiddles, work);
    split_power(cfg, work, work + 2 * N);
    mel_log_dct(cfg, work + 2 * N, mfcc);
}

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define KWS_SAVE_FP_MODE() const unsigned kws_csr = _mm_getcsr(); \
    _mm_setcsr(kws_csr & ~0xE040u) /* round to nearest, keep subnormals (no FTZ/DAZ) */
#define KWS_RESTORE_FP_MODE() _mm_setcsr(kws_csr)
#else
#define KWS_SAVE_FP_MODE() (void)0
#define KWS_RESTORE_FP_MODE() (void)0
#endif

void kws_frontend_batch(const kws_frontend_cfg *cfg, const int16_t *audio, int n_clips,
                        int clip_len, int stride, float *out)
{
    KWS_SAVE_FP_MODE();
    float work[KWS_FRONTEND_WORK_FLOATS];
    const int n_frames = 1 + (clip_len - cfg->window) / stride;
    for (int c = 0; c < n_clips; ++c) {
        const int16_t *clip = audio + (long)c * clip_len;
        for (int t = 0; t < n_frames; ++t) {
            kws_frontend_mfcc(cfg, clip + t * stride, out, work);
            out += cfg->n_mfcc;
        }
    }
    KWS_RESTORE_FP_MODE();
}
