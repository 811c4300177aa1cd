/* The MFCC frontend (see kws_frontend.h). Hand-written on purpose: CMSIS-DSP is not available
 * in the Arduino IDE without a library, and the same source must give the same bits on the
 * board and on any x86-64 host.
 *
 * Same bits everywhere: float32 only, each operation in the order written, no libm (the log is
 * below), and no contraction of a*b+c into a fused multiply-add (gcc contracts by default on
 * the Cortex-M4F, which would round differently from the host).
 *
 * Cost (Cortex-M4F, kws/firmware/timing.py model; `python -m kws.bench frontend`): the
 * 1024-point real FFT is a 512-point complex FFT of (even, odd) sample pairs in three radix-8
 * decimation-in-frequency stages (8 x 8 x 8: three passes over the data; a butterfly's 16
 * values fit the FPU's 32 registers). The first stage applies the window while it loads its
 * inputs and skips the zero padding (inputs 5..7 of every butterfly for the 640-sample
 * window); the last stage has no twiddles and writes its outputs straight to their bins in
 * natural order (no bit-reversal pass, no index table). The real split reads bins k and
 * 512 - k with two pointers and adds each power to its two mel bands at once (HTK triangles
 * overlap only by neighbours), so the power spectrum is never stored. The log is a table of
 * 128 mantissa intervals and a quadratic (no division); the DCT uses the symmetry of its rows.
 * Butterflies are written out without loops, so that their values stay in registers with any
 * compiler. Every table is computed by kws/frontend.py.
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
#define Q1 (N / 8)   /* stage 1: butterflies on points j + 64 s */
#define Q2 (N / 64)  /* stage 2: on points j + 8 s of each block of 64 */
#define SQRT_HALF 0.707106781f

#if defined(__GNUC__)
#define KWS_INLINE static inline __attribute__((always_inline))
#define KWS_STAGE static __attribute__((noinline))  /* a function each: the profiler's parts */
#else
#define KWS_INLINE static inline
#define KWS_STAGE static
#endif

/* a[16] = the 8 complex values p[s st], p[s st + 1], s = 0..7 */
#define KWS_GATHER8(a, p, st)                                                               \
    do {                                                                                    \
        a[0] = (p)[0];                                                                      \
        a[1] = (p)[1];                                                                      \
        a[2] = (p)[(st)];                                                                   \
        a[3] = (p)[(st) + 1];                                                               \
        a[4] = (p)[2 * (st)];                                                               \
        a[5] = (p)[2 * (st) + 1];                                                           \
        a[6] = (p)[3 * (st)];                                                               \
        a[7] = (p)[3 * (st) + 1];                                                           \
        a[8] = (p)[4 * (st)];                                                               \
        a[9] = (p)[4 * (st) + 1];                                                           \
        a[10] = (p)[5 * (st)];                                                              \
        a[11] = (p)[5 * (st) + 1];                                                          \
        a[12] = (p)[6 * (st)];                                                              \
        a[13] = (p)[6 * (st) + 1];                                                          \
        a[14] = (p)[7 * (st)];                                                              \
        a[15] = (p)[7 * (st) + 1];                                                          \
    } while (0)

/* the reverse: p[s st], p[s st + 1] = y[2 s], y[2 s + 1] */
#define KWS_SCATTER8(p, st, y)                                                              \
    do {                                                                                    \
        (p)[0] = y[0];                                                                      \
        (p)[1] = y[1];                                                                      \
        (p)[(st)] = y[2];                                                                   \
        (p)[(st) + 1] = y[3];                                                               \
        (p)[2 * (st)] = y[4];                                                               \
        (p)[2 * (st) + 1] = y[5];                                                           \
        (p)[3 * (st)] = y[6];                                                               \
        (p)[3 * (st) + 1] = y[7];                                                           \
        (p)[4 * (st)] = y[8];                                                               \
        (p)[4 * (st) + 1] = y[9];                                                           \
        (p)[5 * (st)] = y[10];                                                              \
        (p)[5 * (st) + 1] = y[11];                                                          \
        (p)[6 * (st)] = y[12];                                                              \
        (p)[6 * (st) + 1] = y[13];                                                          \
        (p)[7 * (st)] = y[14];                                                              \
        (p)[7 * (st) + 1] = y[15];                                                          \
    } while (0)

/* The 8-point DFT y of a (complex, interleaved: a[2r], a[2r+1]), radix-2 decimation in
 * frequency written out; top3_zero: inputs 5, 6, 7 are zero (not read). Output s in y[2s],
 * y[2s+1]. 56 float operations (44 with top3_zero). */
KWS_INLINE void dft8(float *restrict y, const float *restrict a, const int top3_zero)
{
    float b0r, b0i, b1r, b1i, b2r, b2i, b3r, b3i, c0r, c0i, c1r, c1i, c2r, c2i, c3r, c3i;
    b0r = a[0] + a[8];
    b0i = a[1] + a[9];
    c0r = a[0] - a[8];
    c0i = a[1] - a[9];
    if (top3_zero) {
        b1r = c1r = a[2];
        b1i = c1i = a[3];
        b2r = c2r = a[4];
        b2i = c2i = a[5];
        b3r = c3r = a[6];
        b3i = c3i = a[7];
    } else {
        b1r = a[2] + a[10];
        b1i = a[3] + a[11];
        c1r = a[2] - a[10];
        c1i = a[3] - a[11];
        b2r = a[4] + a[12];
        b2i = a[5] + a[13];
        c2r = a[4] - a[12];
        c2i = a[5] - a[13];
        b3r = a[6] + a[14];
        b3i = a[7] + a[15];
        c3r = a[6] - a[14];
        c3i = a[7] - a[15];
    }
    /* even outputs: the 4-point DFT of b */
    {
        const float e0r = b0r + b2r, e0i = b0i + b2i, f0r = b0r - b2r, f0i = b0i - b2i;
        const float e1r = b1r + b3r, e1i = b1i + b3i, f1r = b1r - b3r, f1i = b1i - b3i;
        y[0] = e0r + e1r;
        y[1] = e0i + e1i;
        y[8] = e0r - e1r;
        y[9] = e0i - e1i;
        y[4] = f0r + f1i;   /* f0 - i f1 */
        y[5] = f0i - f1r;
        y[12] = f0r - f1i;  /* f0 + i f1 */
        y[13] = f0i + f1r;
    }
    /* odd outputs: the 4-point DFT of c_r W8^r, W8 = (1 - i) / sqrt 2 */
    {
        const float g0r = c0r + c2i, g0i = c0i - c2r;  /* c0 + c2 W8^2 = c0 - i c2 */
        const float h0r = c0r - c2i, h0i = c0i + c2r;
        const float u1r = c1r + c1i, u1i = c1i - c1r;  /* sqrt 2 c1 W8 */
        const float u3r = c3i - c3r, u3i = -(c3r + c3i);  /* sqrt 2 c3 W8^3 */
        const float g1r = (u1r + u3r) * SQRT_HALF, g1i = (u1i + u3i) * SQRT_HALF;
        const float h1r = (u1r - u3r) * SQRT_HALF, h1i = (u1i - u3i) * SQRT_HALF;
        y[2] = g0r + g1r;
        y[3] = g0i + g1i;
        y[10] = g0r - g1r;
        y[11] = g0i - g1i;
        y[6] = h0r + h1i;   /* h0 - i h1 */
        y[7] = h0i - h1r;
        y[14] = h0r - h1i;  /* h0 + i h1 */
        y[15] = h0i + h1r;
    }
}

/* p[0], p[1] = (yr + i yi) (w[0] + i w[1]) */
KWS_INLINE void twiddle_store(float *restrict p, const float yr, const float yi,
                              const float *restrict w)
{
    p[0] = yr * w[0] - yi * w[1];
    p[1] = yr * w[1] + yi * w[0];
}

/* p[s st], p[s st + 1] = y_s W^(j s), s = 0..7; w = the butterfly's 7 twiddles */
KWS_INLINE void store_twiddled(float *restrict p, const int st, const float *restrict y,
                               const float *restrict w)
{
    p[0] = y[0];
    p[1] = y[1];
    twiddle_store(p + st, y[2], y[3], w);
    twiddle_store(p + 2 * st, y[4], y[5], w + 2);
    twiddle_store(p + 3 * st, y[6], y[7], w + 4);
    twiddle_store(p + 4 * st, y[8], y[9], w + 6);
    twiddle_store(p + 5 * st, y[10], y[11], w + 8);
    twiddle_store(p + 6 * st, y[12], y[13], w + 10);
    twiddle_store(p + 7 * st, y[14], y[15], w + 12);
}

/* Stage 1: complex point n = (x[2n] h[2n], x[2n+1] h[2n+1]) for n < nz = window / 2, zero
 * above (the zero padding). The window is stored in the order the butterflies read it,
 * hw[2 (j R + r) + 0, 1] = h[2 (j + 64 r) + 0, 1] with R = ceil(nz / 64) (one pointer). For
 * the 640-sample window nz = 320 = 5 Q1: inputs 5..7 of every butterfly are zero. */
#define KWS_WINDOWED(a, r, x, hw, j, R)                                                     \
    do {                                                                                    \
        a[2 * (r)] = (float)(x)[2 * ((j) + Q1 * (r))] * (hw)[2 * ((j) * (R) + (r))];        \
        a[2 * (r) + 1] = (float)(x)[2 * ((j) + Q1 * (r)) + 1] * (hw)[2 * ((j) * (R) + (r)) + 1]; \
    } while (0)

KWS_INLINE void stage1_640_bfly(const int16_t *restrict x, const float *restrict hw,
                                float *restrict z, const float *restrict tw, const int j)
{
    float a[10], y[16];
    KWS_WINDOWED(a, 0, x, hw, j, 5);
    KWS_WINDOWED(a, 1, x, hw, j, 5);
    KWS_WINDOWED(a, 2, x, hw, j, 5);
    KWS_WINDOWED(a, 3, x, hw, j, 5);
    KWS_WINDOWED(a, 4, x, hw, j, 5);
    dft8(y, a, 1);
    store_twiddled(z + 2 * j, 2 * Q1, y, tw + 14 * j);
}

KWS_STAGE void stage1_640(const int16_t *restrict x, const float *restrict hw,
                          float *restrict z, const float *restrict tw)
{
    for (int j = 0; j < Q1; j += 2) {  /* two butterflies a turn share the pointer updates */
        stage1_640_bfly(x, hw, z, tw, j);
        stage1_640_bfly(x, hw, z, tw, j + 1);
    }
}

/* any window: only the samples inside it are read */
#define KWS_WINDOWED_IF(a, r, x, hw, j, R, nz)                                              \
    do {                                                                                    \
        if ((j) + Q1 * (r) < (nz)) {                                                        \
            KWS_WINDOWED(a, r, x, hw, j, R);                                                \
        } else {                                                                            \
            a[2 * (r)] = a[2 * (r) + 1] = 0.0f;                                             \
        }                                                                                   \
    } while (0)

KWS_STAGE void stage1_general(const int16_t *x, const float *hw, const int nz, float *z,
                              const float *tw)
{
    const int R = (nz + Q1 - 1) / Q1;
    for (int j = 0; j < Q1; ++j) {
        float a[16], y[16];
        KWS_WINDOWED_IF(a, 0, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 1, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 2, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 3, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 4, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 5, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 6, x, hw, j, R, nz);
        KWS_WINDOWED_IF(a, 7, x, hw, j, R, nz);
        dft8(y, a, 0);
        store_twiddled(z + 2 * j, 2 * Q1, y, tw + 14 * j);
    }
}

/* Stage 2, in place: in each block of 64 points, butterflies on j + 8 s, twiddles W64^(j s)
 * (w = NULL for j = 0: none). */
KWS_INLINE void stage2_bfly(float *restrict p, const float *restrict w)
{
    float a[16], y[16];
    KWS_GATHER8(a, p, 2 * Q2);
    dft8(y, a, 0);
    if (w) {
        store_twiddled(p, 2 * Q2, y, w);
    } else {
        KWS_SCATTER8(p, 2 * Q2, y);
    }
}

KWS_STAGE void stage2(float *restrict z, const float *restrict tw)
{
    for (int b = 0; b < N; b += 16 * Q2) {  /* two butterflies a turn */
        stage2_bfly(z + 2 * b, 0);
        stage2_bfly(z + 2 * (b + 8 * Q2), 0);
    }
    for (int j = 1; j < Q2; ++j) {
        const float *w = tw + 14 * (j - 1);
        for (int b = j; b < N; b += 16 * Q2) {
            stage2_bfly(z + 2 * b, w);
            stage2_bfly(z + 2 * (b + 8 * Q2), w);
        }
    }
}

/* Stage 3: 8-point DFTs of 8 neighbours, no twiddles. The block at 64 s1 + 8 s2 holds bins
 * s1 + 8 s2 + 64 s3 (s3 = 0..7, base-8 digit reversal): they are written there, in natural
 * order, to the spectrum f (bins 0..512; bin 512 = bin 0, for the split). */
KWS_INLINE void stage3_block(const float *restrict p, float *restrict o)
{
    float a[16], y[16];
    KWS_GATHER8(a, p, 2);
    dft8(y, a, 0);
    KWS_SCATTER8(o, 2 * 64, y);
}

KWS_STAGE void stage3(const float *restrict z, float *restrict f)
{
    for (int s1 = 0; s1 < 8; ++s1) {
        for (int s2 = 0; s2 < 8; s2 += 2) {  /* two blocks a turn */
            stage3_block(z + 16 * (8 * s1 + s2), f + 2 * (s1 + 8 * s2));
            stage3_block(z + 16 * (8 * s1 + s2 + 1), f + 2 * (s1 + 8 * s2 + 8));
        }
    }
    f[2 * N] = f[0];
    f[2 * N + 1] = f[1];
}

/* The real split and the mel filterbank. With Z the 512-point FFT of (even, odd) samples,
 * 2 X[k] = (Z[k] + conj Z[N-k]) - i W^k (Z[k] - conj Z[N-k]), W = e^(-2 pi i / 1024), and
 * power[k] = |2 X[k]|^2 (the mel weights carry the 1/4). Segment i holds the bins between
 * mel edges i and i + 1, where band i rises with weight w[k] and band i - 1 falls with
 * 1 - w[k] (HTK triangles): with P and Q the segment's sums of power and of power x w / 4,
 * band i - 1 gets P / 4 - Q and band i starts with Q, so one pass keeps every sum in
 * registers, at 3 float operations a bin. */
#define KWS_SPLIT_BIN(zk, zm, t, P, Q)                                                      \
    do {                                                                                    \
        const float ar = (zk)[0], ai = (zk)[1], br = (zm)[0], bi = (zm)[1];                 \
        const float c = (t)[0], s = (t)[1], w = (t)[2];                                     \
        const float sr = ar + br, si = ai - bi, dr = ar - br, di = ai + bi;                 \
        const float xr = sr + (c * di - s * dr);                                            \
        const float xi = si - (c * dr + s * di);                                            \
        const float p = xr * xr + xi * xi;                                                  \
        P = P + p;                                                                          \
        Q = Q + p * w;                                                                      \
    } while (0)

KWS_STAGE void split_mel(const kws_frontend_cfg *cfg, const float *restrict f,
                         float *restrict mel)
{
    const float *t = cfg->bins;
    const float *zk = f + 2 * cfg->bin_lo, *zm = f + 2 * (N - cfg->bin_lo);
    const uint16_t *len = cfg->seg_len;
    float rising = 0.0f;  /* band i - 1 up to segment i */
    for (int i = 0; i <= cfg->n_mels; ++i) {
        float P = 0.0f, Q = 0.0f;
        int n = len[i];
        for (; n >= 4; n -= 4) {  /* four bins a turn: fewer loop overheads */
            KWS_SPLIT_BIN(zk, zm, t, P, Q);
            KWS_SPLIT_BIN(zk + 2, zm - 2, t + 3, P, Q);
            KWS_SPLIT_BIN(zk + 4, zm - 4, t + 6, P, Q);
            KWS_SPLIT_BIN(zk + 6, zm - 6, t + 9, P, Q);
            zk += 8;
            zm -= 8;
            t += 12;
        }
        if (n >= 2) {
            KWS_SPLIT_BIN(zk, zm, t, P, Q);
            KWS_SPLIT_BIN(zk + 2, zm - 2, t + 3, P, Q);
            zk += 4;
            zm -= 4;
            t += 6;
            n -= 2;
        }
        if (n) {
            KWS_SPLIT_BIN(zk, zm, t, P, Q);
            zk += 2;
            zm -= 2;
            t += 3;
        }
        mel[i] = rising + (P * 0.25f - Q);  /* band i - 1 (mel[0]: below the first band) */
        rising = Q;
    }
}

/* ln x = e ln 2 + ln m, m = x 2^-e in [1, 2); m in interval i = [1 + i/128, 1 + (i+1)/128):
 * ln m = -ln c_i + ln(1 + r), r = m c_i - 1, |r| < 1/256, ln(1 + r) = r - r^2/2 (truncation
 * < 2.1e-8; r has the rounding of one product, < 6e-8); ln 2 split so e ln2_hi is exact. */
KWS_INLINE float log_table(const float *restrict table, const float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    const int e = (int)(u >> 23) - 127;  /* x > 0: no sign bit */
    const float *c = table + 2 * ((u >> (23 - KWS_FRONTEND_LOG_BITS)) &
                                  ((1u << KWS_FRONTEND_LOG_BITS) - 1u));
    u = (u & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &u, 4);
    const float r = m * c[0] - 1.0f;
    const float p = r - r * r * 0.5f;
    const float fe = (float)e;
    return fe * 0.693145751953125f + (fe * 1.42860677e-06f + (c[1] + p));
}

float kws_frontend_log(const kws_frontend_cfg *cfg, float x)
{
    return log_table(cfg->log_table, x);
}

/* acc_j += v D[m, j] for the 10 outputs of a DCT block (even j: v = sum, odd j: difference) */
#define KWS_DCT_STEP(d, s, o)                                                               \
    do {                                                                                    \
        a0 = a0 + (s) * (d)[0];                                                             \
        a1 = a1 + (o) * (d)[1];                                                             \
        a2 = a2 + (s) * (d)[2];                                                             \
        a3 = a3 + (o) * (d)[3];                                                             \
        a4 = a4 + (s) * (d)[4];                                                             \
        a5 = a5 + (o) * (d)[5];                                                             \
        a6 = a6 + (s) * (d)[6];                                                             \
        a7 = a7 + (o) * (d)[7];                                                             \
        a8 = a8 + (s) * (d)[8];                                                             \
        a9 = a9 + (o) * (d)[9];                                                             \
    } while (0)

/* ln(mel + floor), then the DCT. Rows of D are even (j even) or odd (j odd) about the middle
 * band, so C[j] = sum over m < half of D[m, j] (L[m] +- L[n-1-m]); the outputs are computed
 * in blocks of KWS_FRONTEND_DCT_BLOCK with their sums in registers. */
KWS_STAGE void log_dct(const kws_frontend_cfg *cfg, const float *restrict mel,
                       float *restrict mfcc)
{
    const int n = cfg->n_mels, half = (n + 1) / 2;
    const float floor_ = cfg->log_floor;
    const float *lt = cfg->log_table;
    float sd[128];  /* (L[m] + L[n-1-m], L[m] - L[n-1-m]) for m < half */
    for (int m = 0; m < n / 2; ++m) {
        const float a = log_table(lt, mel[m] + floor_);
        const float b = log_table(lt, mel[n - 1 - m] + floor_);
        sd[2 * m] = a + b;
        sd[2 * m + 1] = a - b;
    }
    if (n & 1) {
        sd[2 * half - 2] = log_table(lt, mel[half - 1] + floor_);
        sd[2 * half - 1] = 0.0f;
    }
    const float *d = cfg->dct;
    for (int j0 = 0; j0 < cfg->n_mfcc; j0 += KWS_FRONTEND_DCT_BLOCK) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f;
        float a5 = 0.0f, a6 = 0.0f, a7 = 0.0f, a8 = 0.0f, a9 = 0.0f;
        for (int m = 0; m < half; ++m) {
            KWS_DCT_STEP(d, sd[2 * m], sd[2 * m + 1]);
            d += KWS_FRONTEND_DCT_BLOCK;
        }
        float *o = mfcc + j0;
        if (cfg->n_mfcc - j0 >= KWS_FRONTEND_DCT_BLOCK) {
            o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3, o[4] = a4;
            o[5] = a5, o[6] = a6, o[7] = a7, o[8] = a8, o[9] = a9;
        } else {  /* the last, partial block */
            const float out[KWS_FRONTEND_DCT_BLOCK] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9};
            for (int j = 0; j < cfg->n_mfcc - j0; ++j) {
                o[j] = out[j];
            }
        }
    }
}

void kws_frontend_mfcc(const kws_frontend_cfg *cfg, const int16_t *frame, float *mfcc,
                       float *work)
{
    float *z = work, *f = work + 2 * N;
    if (cfg->window == 10 * Q1) {
        stage1_640(frame, cfg->hann, z, cfg->twiddles);
    } else {
        stage1_general(frame, cfg->hann, cfg->window / 2, z, cfg->twiddles);
    }
    stage2(z, cfg->twiddles + 14 * Q1);
    stage3(z, f);
    float mel[129];
    split_mel(cfg, f, mel);
    log_dct(cfg, mel + 1, mfcc);
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
