/* SIMD int8 kernels for the Cortex-M4 DSP extension, in the manner of CMSIS-NN (written here
 * because CMSIS-NN is not in the Arduino IDE without a library, and so the bits provably
 * match TFLite's reference kernels):
 *
 * - CONV_2D (receptive field a multiple of 4 values): each output pixel's field is gathered (im2col; a 1x1 conv needs no
 *   gather) and widened once to int16 pairs with SXTB16, in (x0,x2),(x1,x3) order; weights
 *   are widened the same way on the fly, so SMLAD multiplies matching pairs. Two pixels times
 *   two output channels per inner loop (2x2 tiling): each weight word and column word loaded
 *   serves two accumulators.
 * - DEPTHWISE_CONV_2D (depth multiplier 1): four channels at a time, SMLABB/SMLATT on
 *   SXTB16-widened inputs and weights.
 * - The input offset is folded into the bias (bias_eff, from codegen) and padding reads the
 *   input zero point, so (x + offset) * w sums exactly as the reference.
 * - Requantization: TFLite's SaturatingRoundingDoublingHighMul(a, m) then
 *   RoundingDivideByPOT(., e) is, for m > 0 and e >= 1, v = SMMULR(2a, m) then
 *   (v + 2^(e-1) + (v >> 31)) >> e (proof in kws/firmware/codegen.py simd_constants, which
 *   also checks 2a cannot overflow and emits the per-channel table {m, e, 2^(e-1)}).
 */
#include "kws_kernels_dsp.h"

#if KWS_USE_DSP
#include "kws_dsp.h"

/* Each kernel body is instantiated twice (plain int8 clamp or not) so the compiler folds it. */
#define KWS_INLINE static inline __attribute__((always_inline))

/* One output: the short requantization with the channel's {m, e, 2^(e-1)}, the zero point,
 * and the activation clamp (``plain``: the clamp is the int8 range, one SSAT). */
KWS_INLINE int8_t rq_out(int32_t acc, const int32_t *q, int32_t zp, int32_t lo, int32_t hi,
                            int plain)
{
    int32_t v = kws_smmulr((int32_t)((uint32_t)acc << 1), q[0]);
    v = ((v + q[2] + (v >> 31)) >> q[1]) + zp;
    if (plain) return (int8_t)kws_ssat8(v);
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

/* Two receptive fields widened to int16 in SMLAD pair order and interleaved per 4 values:
 * words (a0,a2), (a1,a3), (b0,b2), (b1,b3), ... The k % 4 tail goes to tail_a / tail_b. */
static void widen2(const int8_t *a, const int8_t *b, int k, uint32_t *col, int16_t *tail_a,
                   int16_t *tail_b)
{
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        const uint32_t wa = kws_read32(a + i), wb = kws_read32(b + i);
        col[0] = kws_sxtb16(wa);
        col[1] = kws_sxtb16_ror8(wa);
        col[2] = kws_sxtb16(wb);
        col[3] = kws_sxtb16_ror8(wb);
        col += 4;
    }
    for (int j = 0; i < k; ++i, ++j) {
        tail_a[j] = a[i];
        tail_b[j] = b[i];
    }
}

/* The receptive field of output pixel pix, int8, padding = the input zero point. */
static const int8_t *gather(const kws_conv_t *p, const int8_t *in, int pix, int8_t *buf)
{
    const int oy = pix / p->out_w, ox = pix % p->out_w;
    const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)(-p->in_offset);
    if (p->k_h == 1 && p->k_w == 1 && iy0 >= 0 && ix0 >= 0 && iy0 < p->in_h && ix0 < p->in_w) {
        return in + ((int32_t)iy0 * p->in_w + ix0) * p->in_c;
    }
    int8_t *dst = buf;
    if (p->in_c == 1 && p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
        /* one input channel, the row fully inside: plain byte copies (the first conv) */
        for (int ky = 0; ky < p->k_h; ++ky, dst += p->k_w) {
            const int iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                for (int kx = 0; kx < p->k_w; ++kx) dst[kx] = zp;
            } else {
                const int8_t *s = in + (int32_t)iy * p->in_w + ix0;
                for (int kx = 0; kx < p->k_w; ++kx) dst[kx] = s[kx];
            }
        }
        return buf;
    }
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        for (int kx = 0; kx < p->k_w; ++kx) {
            const int ix = ix0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                memset(dst, zp, (size_t)p->in_c);
            } else {
                memcpy(dst, in + ((int32_t)iy * p->in_w + ix) * p->in_c, (size_t)p->in_c);
            }
            dst += p->in_c;
        }
    }
    return buf;
}

#if defined(__ARM_FEATURE_DSP)
/* The 2x2 tile's inner step, hand-scheduled: word loads come in pairs, so the second of each
 * pair pipelines (1 cycle instead of 2). 4 input channels x 2 pixels x 2 output channels. */
#define KWS_DOT_STEP \
    "ldr    %[wae], [%[wa]], #4\n\t"                                     \
    "ldr    %[wbe], [%[wb]], #4\n\t"                                     \
    "ldr    %[c0], [%[col]], #4\n\t"                                     \
    "ldr    %[c1], [%[col]], #4\n\t"                                     \
    "sxtb16 %[wao], %[wae], ror #8\n\t"                                  \
    "sxtb16 %[wae], %[wae]\n\t"                                          \
    "sxtb16 %[wbo], %[wbe], ror #8\n\t"                                  \
    "sxtb16 %[wbe], %[wbe]\n\t"                                          \
    "smlad  %[a0], %[c0], %[wae], %[a0]\n\t"                             \
    "smlad  %[a1], %[c0], %[wbe], %[a1]\n\t"                             \
    "smlad  %[a0], %[c1], %[wao], %[a0]\n\t"                             \
    "smlad  %[a1], %[c1], %[wbo], %[a1]\n\t"                             \
    "ldr    %[c0], [%[col]], #4\n\t"                                     \
    "ldr    %[c1], [%[col]], #4\n\t"                                     \
    "smlad  %[b0], %[c0], %[wae], %[b0]\n\t"                             \
    "smlad  %[b1], %[c0], %[wbe], %[b1]\n\t"                             \
    "smlad  %[b0], %[c1], %[wao], %[b0]\n\t"                             \
    "smlad  %[b1], %[c1], %[wbo], %[b1]\n\t"
#define KWS_DOT_OPERANDS                                                        \
    [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [wa] "+r"(wa),  \
    [wb] "+r"(wb), [col] "+r"(c), [wae] "=&r"(wae), [wao] "=&r"(wao),          \
    [wbe] "=&r"(wbe), [wbo] "=&r"(wbo), [c0] "=&r"(c0), [c1] "=&r"(c1)
#endif

#if defined(__ARM_FEATURE_DSP)
/* rq_out for the plain clamp, as one asm statement: out[0] and out[delta] from two
 * accumulators of one channel with its {m, e, 2^(e-1)} at q (see rq_out). */
#define KWS_RQ2_PLAIN(acc_a, acc_b, q_, out_a_, out_b_)                          \
    do {                                                                        \
        uint32_t m_, e_, r_, t_;                                                \
        int32_t x_ = (acc_a), y_ = (acc_b);                                     \
        __asm volatile(                                                         \
            "ldr    %[m], [%[q]]\n\t"        /* not LDM: its list must ascend */ \
            "ldr    %[e], [%[q], #4]\n\t"                                      \
            "ldr    %[r], [%[q], #8]\n\t"                                      \
            "lsl    %[x], %[x], #1\n\t"                                        \
            "lsl    %[y], %[y], #1\n\t"                                        \
            "smmulr %[x], %[x], %[m]\n\t"                                      \
            "smmulr %[y], %[y], %[m]\n\t"                                      \
            "add    %[t], %[r], %[x], asr #31\n\t"                             \
            "add    %[x], %[x], %[t]\n\t"                                      \
            "add    %[t], %[r], %[y], asr #31\n\t"                             \
            "add    %[y], %[y], %[t]\n\t"                                      \
            "asr    %[x], %[x], %[e]\n\t"                                      \
            "asr    %[y], %[y], %[e]\n\t"                                      \
            "add    %[x], %[x], %[zp]\n\t"                                     \
            "add    %[y], %[y], %[zp]\n\t"                                     \
            "ssat   %[x], #8, %[x]\n\t"                                        \
            "ssat   %[y], #8, %[y]\n\t"                                        \
            "strb   %[x], [%[oa]]\n\t"                                         \
            "strb   %[y], [%[ob]]"                                              \
            : [x] "+&r"(x_), [y] "+&r"(y_), [m] "=&r"(m_), [e] "=&r"(e_),       \
              [r] "=&r"(r_), [t] "=&r"(t_)                                      \
            : [q] "r"(q_), [zp] "r"(zp), [oa] "r"(out_a_), [ob] "r"(out_b_)     \
            : "memory");                                                        \
    } while (0)
#endif

/* Two columns (pixels, outputs at out and out + delta) times all output channels, 2x2 tiles;
 * k is a multiple of 4. The weight rows are walked in order (row b of one tile is followed by
 * row a of the next), the layer's fields are locals and the accumulators scalars, so the
 * compiler keeps the tile loop in registers. */
KWS_INLINE void mat_mult_2(const kws_conv_t *p, const uint32_t *col, int k, int8_t *out,
                           int delta, int plain)
{
    const int out_c = p->out_c;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *wb = p->weights;
    const int32_t *be = p->bias_eff, *q = p->rq;
    int8_t *const out_end = out + (out_c & ~1);
    for (; out < out_end; out += 2, be += 2, q += 6) {
        const int8_t *wa = wb;
        wb = wa + k;
        int32_t a0 = be[0], a1 = be[1], b0 = a0, b1 = a1;
        const uint32_t *c = col;
#if defined(__ARM_FEATURE_DSP)
        uint32_t wae, wao, wbe, wbo, c0, c1;
        if (k & 4) {
            __asm volatile(KWS_DOT_STEP : KWS_DOT_OPERANDS : : "cc", "memory");
        }
        if (k >= 8) {
            const int8_t *wend = wa + (k & ~7);
            __asm volatile("1:\n\t" KWS_DOT_STEP "\n\t" KWS_DOT_STEP "\n\t"
                           "cmp    %[wa], %[wend]\n\t"
                           "bne    1b"
                           : KWS_DOT_OPERANDS : [wend] "r"(wend) : "cc", "memory");
        }
#else
        for (int i = 0; i < k; i += 4, wa += 4, wb += 4, c += 4) {
            const uint32_t w4a = kws_read32(wa), w4b = kws_read32(wb);
            const uint32_t wae = kws_sxtb16(w4a), wao = kws_sxtb16_ror8(w4a);
            const uint32_t wbe = kws_sxtb16(w4b), wbo = kws_sxtb16_ror8(w4b);
            a0 = kws_smlad(c[0], wae, a0);
            a1 = kws_smlad(c[0], wbe, a1);
            a0 = kws_smlad(c[1], wao, a0);
            a1 = kws_smlad(c[1], wbo, a1);
            b0 = kws_smlad(c[2], wae, b0);
            b1 = kws_smlad(c[2], wbe, b1);
            b0 = kws_smlad(c[3], wao, b0);
            b1 = kws_smlad(c[3], wbo, b1);
        }
#endif
#if defined(__ARM_FEATURE_DSP)
        if (plain) {
            int8_t *ob = out + delta;
            KWS_RQ2_PLAIN(a0, b0, q, out, ob);
            KWS_RQ2_PLAIN(a1, b1, q + 3, out + 1, ob + 1);
            continue;
        }
#endif
        out[0] = rq_out(a0, q, zp, lo, hi, plain);
        out[1] = rq_out(a1, q + 3, zp, lo, hi, plain);
        out[delta] = rq_out(b0, q, zp, lo, hi, plain);
        out[delta + 1] = rq_out(b1, q + 3, zp, lo, hi, plain);
    }
    if (out_c & 1) {  /* the last, odd output channel: its row twice */
        const int8_t *wa = wb;
        int32_t a0 = be[0], a1 = a0, b0 = a0, b1 = a0;
        const uint32_t *c = col;
        for (int i = 0; i < k; i += 4, wa += 4, c += 4) {
            const uint32_t w4a = kws_read32(wa);
            const uint32_t wae = kws_sxtb16(w4a), wao = kws_sxtb16_ror8(w4a);
            a0 = kws_smlad(c[0], wae, a0);
            a0 = kws_smlad(c[1], wao, a0);
            b0 = kws_smlad(c[2], wae, b0);
            b0 = kws_smlad(c[3], wao, b0);
        }
        (void)a1;
        (void)b1;
        out[0] = rq_out(a0, q, zp, lo, hi, plain);
        out[delta] = rq_out(b0, q, zp, lo, hi, plain);
    }
}

KWS_INLINE void conv_pixels(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch,
                            int plain)
{
    const int k = p->k_h * p->k_w * p->in_c;
    uint32_t *col = (uint32_t *)(void *)scratch;            /* 2 * k int16 = k words */
    int8_t *buf_a = (int8_t *)(col + k);                     /* gathers: k bytes each */
    int8_t *buf_b = buf_a + k;
    int16_t tail_a[4], tail_b[4];
    const int n_pix = p->out_h * p->out_w, out_c = p->out_c;
    /* a 1x1 conv at stride 1 without padding reads its input pixels in place */
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                       p->pad_h == 0 && p->pad_w == 0 && p->out_w == p->in_w;
    for (int pix = 0; pix < n_pix; pix += 2) {
        const int pb = pix + 1 < n_pix ? pix + 1 : pix;  /* odd count: the last one twice */
        const int8_t *a = direct ? in + (int32_t)pix * k : gather(p, in, pix, buf_a);
        const int8_t *b = direct ? in + (int32_t)pb * k : gather(p, in, pb, buf_b);
        widen2(a, b, k, col, tail_a, tail_b);
        mat_mult_2(p, col, k, out + (int32_t)pix * out_c, (pb - pix) * out_c, plain);
    }
}

int kws_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    if (!p->bias_eff || !p->rq || !scratch || (p->k_h * p->k_w * p->in_c) % 4 != 0) return 0;
    if (p->act_min == -128 && p->act_max == 127) {
        conv_pixels(p, in, out, scratch, 1);
    } else {
        conv_pixels(p, in, out, scratch, 0);
    }
    return 1;
}

#define KWS_MAX_TAPS 64

KWS_INLINE void depthwise_pixels(const kws_conv_t *p, const int8_t *in, int8_t *out,
                             int8_t *scratch, int plain)
{
    const int taps = p->k_h * p->k_w;
    const int ch = p->out_c, c4 = ch & ~3;
    const int in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *weights = p->weights;
    const int32_t *beff = p->bias_eff, *rq = p->rq;
    const int8_t *src[KWS_MAX_TAPS];
    memset(scratch, (int8_t)(-p->in_offset), (size_t)ch);
    for (int oy = 0; oy < out_h; ++oy) {
        for (int ox = 0; ox < out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
            int t = 0;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int iy = iy0 + ky * p->dil_h;
                for (int kx = 0; kx < p->k_w; ++kx, ++t) {
                    const int ix = ix0 + kx * p->dil_w;
                    src[t] = (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w)
                                 ? scratch : in + ((int32_t)iy * in_w + ix) * ch;
                }
            }
            int8_t *o = out + ((int32_t)oy * out_w + ox) * ch;
            int c = 0;
            for (; c < c4; c += 4) {
                int32_t a0 = beff[c], a1 = beff[c + 1], a2 = beff[c + 2], a3 = beff[c + 3];
                const int8_t *w = weights + c;
#if defined(__ARM_FEATURE_DSP)
                if (taps == 9) {  /* 3x3, unrolled by the assembler (.irp) */
                    uint32_t px, wv, xe, xo;
                    __asm volatile(
                        ".irp off, 0, 4, 8, 12, 16, 20, 24, 28, 32\n\t"
                        "ldr    %[px], [%[src], #\\off]\n\t"
                        "ldr    %[wv], [%[w]]\n\t"
                        "ldr    %[px], [%[px], %[c]]\n\t"
                        "add    %[w], %[w], %[ch]\n\t"
                        "sxtb16 %[xe], %[px]\n\t"
                        "sxtb16 %[xo], %[px], ror #8\n\t"
                        "sxtb16 %[px], %[wv]\n\t"
                        "sxtb16 %[wv], %[wv], ror #8\n\t"
                        "smlabb %[a0], %[xe], %[px], %[a0]\n\t"
                        "smlatt %[a2], %[xe], %[px], %[a2]\n\t"
                        "smlabb %[a1], %[xo], %[wv], %[a1]\n\t"
                        "smlatt %[a3], %[xo], %[wv], %[a3]\n\t"
                        ".endr"
                        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                          [w] "+r"(w), [px] "=&r"(px), [wv] "=&r"(wv), [xe] "=&r"(xe),
                          [xo] "=&r"(xo)
                        : [src] "r"(src), [c] "r"(c), [ch] "r"(ch)
                        : "memory");
                    t = taps;
                } else
#endif
                for (t = 0; t < taps; ++t, w += ch) {
                    const uint32_t x = kws_read32(src[t] + c);
                    const uint32_t wv = kws_read32(w);
                    const uint32_t xe = kws_sxtb16(x), xo = kws_sxtb16_ror8(x);
                    const uint32_t we = kws_sxtb16(wv), wo = kws_sxtb16_ror8(wv);
                    a0 = kws_smlabb(xe, we, a0);
                    a2 = kws_smlatt(xe, we, a2);
                    a1 = kws_smlabb(xo, wo, a1);
                    a3 = kws_smlatt(xo, wo, a3);
                }
                const int32_t *q = rq + 3 * c;
                o[c] = rq_out(a0, q, zp, lo, hi, plain);
                o[c + 1] = rq_out(a1, q + 3, zp, lo, hi, plain);
                o[c + 2] = rq_out(a2, q + 6, zp, lo, hi, plain);
                o[c + 3] = rq_out(a3, q + 9, zp, lo, hi, plain);
            }
            for (; c < ch; ++c) {
                int32_t a = beff[c];
                for (t = 0; t < taps; ++t) a += src[t][c] * weights[t * ch + c];
                o[c] = rq_out(a, rq + 3 * c, zp, lo, hi, plain);
            }
        }
    }
}

int kws_depthwise_conv2d_s8_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    if (!p->bias_eff || !p->rq || !scratch || p->depth_multiplier != 1 ||
        p->k_h * p->k_w > KWS_MAX_TAPS) {
        return 0;
    }
    if (p->act_min == -128 && p->act_max == 127) {
        depthwise_pixels(p, in, out, scratch, 1);
    } else {
        depthwise_pixels(p, in, out, scratch, 0);
    }
    return 1;
}
#else
typedef int kws_kernels_dsp_empty_t; /* ISO C forbids an empty translation unit */
#endif
