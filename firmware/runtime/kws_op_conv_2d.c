/* CONV_2D: the reference kernel (TFLM's reference_integer_ops::ConvPerChannel, bit for bit)
 * and the Cortex-M4 DSP-extension path (same bits), in the manner of CMSIS-NN (written here
 * because CMSIS-NN is not in the Arduino IDE without a library, and so the bits provably
 * match TFLM's reference kernels):
 *
 * - receptive field a multiple of 4 values: each output pixel's field is gathered (im2col; a
 *   1x1 conv needs no gather) and widened once to int16 pairs with SXTB16, in (x0,x2),(x1,x3)
 *   order; weights are widened the same way on the fly, so SMLAD multiplies matching pairs.
 *   Two pixels times two output channels per inner loop (2x2 tiling): each weight word and
 *   column word loaded serves two accumulators (kws_mm2_k16/k8/k4, assembly).
 * - k a multiple of 8, even out_c, plain clamp: three pixels (read in place for a 1x1, else
 *   gathered) widened at once and 2-channel x 3-pixel tiles on weights that codegen
 *   pre-widened to int16 and doubled (kws_conv_t.w16 and its requantization table mm3, DSP
 *   builds only), no SXTB16 in the inner loop (kws_mm3_k8/16/32/64, assembly).
 * - The input offset is folded into the bias (bias_eff, from codegen) and padding reads the
 *   input zero point, so (x + offset) * w sums exactly as the reference.
 * - Requantization: SMMULR(2a, m) then (v + 2^(e-1) + (v >> 31)) >> e (rq_out in kws_dsp.h;
 *   the proof is in kws/firmware/ops/common.py simd_constants).
 */
#include "kws_op_conv_2d.h"

#include <string.h>

#if KWS_USE_DSP
#include "kws_dsp.h"

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
    if (p->in_c == 1 && p->dil_w == 1) {
        /* one input channel (the first conv): rows of bytes, the part outside the input
         * the zero point; word copies where the row is fully inside */
        const int kx0 = ix0 < 0 ? -ix0 : 0;
        const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
        for (int ky = 0; ky < p->k_h; ++ky, dst += p->k_w) {
            const int iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                for (int kx = 0; kx < p->k_w; ++kx) dst[kx] = zp;
                continue;
            }
            const int8_t *s = in + (int32_t)iy * p->in_w + ix0;
            if (kx0 == 0 && kx1 == p->k_w) {
                int kx = 0;
                for (; kx + 4 <= p->k_w; kx += 4) {  /* word copies (unaligned LDR/STR) */
                    const uint32_t v = kws_read32(s + kx);
                    memcpy(dst + kx, &v, 4);
                }
                for (; kx < p->k_w; ++kx) dst[kx] = s[kx];
            } else {
                for (int kx = 0; kx < p->k_w; ++kx) dst[kx] = (kx < kx0 || kx >= kx1) ? zp : s[kx];
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

#if defined(__ARM_FEATURE_DSP)
/* mat_mult_2 for the plain clamp and k a multiple of 16, as one assembly function: the same
 * 2x2 tiles (KWS_DOT_STEP's arithmetic, four steps per loop turn), the tile's state in all 14
 * registers, the per-layer values on the stack. a: {bias_eff, rq, tiles (out_c / 2), k, delta,
 * zp}; the weight rows are walked in order, as in mat_mult_2. */
void kws_mm2_k16(const uint32_t *col, const int8_t *w, int8_t *out, const int32_t *a);
void kws_mm2_k8(const uint32_t *col, const int8_t *w, int8_t *out, const int32_t *a);
void kws_mm2_k4(const uint32_t *col, const int8_t *w, int8_t *out, const int32_t *a);
#define KWS_MM2_STEP                                                            \
    "    ldr    r7, [r1], #4\n"                                                 \
    "    ldr    r9, [r2], #4\n"                                                 \
    "    ldr    r11, [r0], #4\n"                                                \
    "    ldr    r12, [r0], #4\n"                                                \
    "    sxtb16 r8, r7, ror #8\n"                                               \
    "    sxtb16 r7, r7\n"                                                       \
    "    sxtb16 r10, r9, ror #8\n"                                              \
    "    sxtb16 r9, r9\n"                                                       \
    "    smlad  r3, r11, r7, r3\n"                                              \
    "    smlad  r4, r11, r9, r4\n"                                              \
    "    smlad  r3, r12, r8, r3\n"                                              \
    "    smlad  r4, r12, r10, r4\n"                                             \
    "    ldr    r11, [r0], #4\n"                                                \
    "    ldr    r12, [r0], #4\n"                                                \
    "    smlad  r5, r11, r7, r5\n"                                              \
    "    smlad  r6, r11, r9, r6\n"                                              \
    "    smlad  r5, r12, r8, r5\n"                                              \
    "    smlad  r6, r12, r10, r6\n"
#define KWS_MM2_RQ(x, y)                                                        \
    "    add    " x ", " x ", " x "\n"                                          \
    "    add    " y ", " y ", " y "\n"                                          \
    "    smmulr " x ", " x ", r7\n"                                             \
    "    smmulr " y ", " y ", r7\n"                                             \
    "    add    " x ", " x ", " x ", asr #31\n"                                 \
    "    add    " y ", " y ", " y ", asr #31\n"                                 \
    "    add    " x ", " x ", r9\n"                                             \
    "    add    " y ", " y ", r9\n"                                             \
    "    asr    " x ", " x ", r8\n"                                             \
    "    asr    " y ", " y ", r8\n"                                             \
    "    add    " x ", " x ", r10\n"                                            \
    "    add    " y ", " y ", r10\n"                                            \
    "    ssat   " x ", #8, " x "\n"                                             \
    "    ssat   " y ", #8, " y "\n"
#define KWS_MM2_FUNC(NAME, STEPS) __asm__( \
    "    .text\n" \
    "    .syntax unified\n" \
    "    .thumb\n" \
    "    .align 2\n" \
    "    .global " NAME "\n" \
    "    .thumb_func\n" \
    "    .type " NAME ", %function\n" \
    "" NAME ":\n" \
    "    push   {r4-r11, lr}\n" \
    "    sub    sp, sp, #32\n" \
    "    ldr    r4, [r3]\n"                 /* bias_eff */ \
    "    ldr    r5, [r3, #4]\n"             /* rq */ \
    "    ldr    r9, [r3, #8]\n"             /* tiles */ \
    "    ldr    r6, [r3, #12]\n"            /* k */ \
    "    ldr    r7, [r3, #16]\n"            /* delta */ \
    "    ldr    r8, [r3, #20]\n"            /* zp */ \
    "    str    r4, [sp]\n" \
    "    str    r5, [sp, #4]\n" \
    "    str    r2, [sp, #8]\n" \
    "    str    r6, [sp, #12]\n" \
    "    str    r7, [sp, #16]\n" \
    "    str    r8, [sp, #20]\n" \
    "    str    r9, [sp, #24]\n" \
    "    str    r0, [sp, #28]\n" \
    "    mov    r2, r1\n" \
    "2:\n" \
    "    ldr    r12, [sp, #12]\n" \
    "    ldr    r0, [sp, #28]\n" \
    "    ldr    r11, [sp]\n" \
    "    ldr    r3, [r11]\n" \
    "    ldr    r4, [r11, #4]\n" \
    "    add    r11, r11, #8\n" \
    "    str    r11, [sp]\n" \
    "    mov    r1, r2\n" \
    "    add    r2, r1, r12\n" \
    "    mov    lr, r2\n" \
    "    mov    r5, r3\n" \
    "    mov    r6, r4\n" \
    "3:\n" \
    STEPS \
    "    cmp    r1, lr\n" \
    "    bne    3b\n" \
    "    ldr    r11, [sp, #4]\n"            /* rq: {m, e, r} per channel */ \
    "    ldr    r7, [r11]\n" \
    "    ldr    r8, [r11, #4]\n" \
    "    ldr    r9, [r11, #8]\n" \
    "    ldr    r10, [sp, #20]\n" \
    KWS_MM2_RQ("r3", "r5") \
    "    ldr    r7, [r11, #12]\n" \
    "    ldr    r8, [r11, #16]\n" \
    "    ldr    r9, [r11, #20]\n" \
    "    add    r11, r11, #24\n" \
    "    str    r11, [sp, #4]\n" \
    KWS_MM2_RQ("r4", "r6") \
    "    ldr    r11, [sp, #8]\n"            /* out */ \
    "    ldr    r12, [sp, #16]\n"           /* delta */ \
    "    strb   r3, [r11]\n" \
    "    strb   r4, [r11, #1]\n" \
    "    strb   r5, [r11, r12]\n" \
    "    add    r12, r12, #1\n" \
    "    strb   r6, [r11, r12]\n" \
    "    add    r11, r11, #2\n" \
    "    str    r11, [sp, #8]\n" \
    "    ldr    r12, [sp, #24]\n" \
    "    subs   r12, r12, #1\n" \
    "    str    r12, [sp, #24]\n" \
    "    bne    2b\n" \
    "    add    sp, sp, #32\n" \
    "    pop    {r4-r11, pc}\n" \
    "    .size " NAME ", . - " NAME "\n")
KWS_MM2_FUNC("kws_mm2_k16", KWS_MM2_STEP KWS_MM2_STEP KWS_MM2_STEP KWS_MM2_STEP);
KWS_MM2_FUNC("kws_mm2_k8", KWS_MM2_STEP KWS_MM2_STEP);
KWS_MM2_FUNC("kws_mm2_k4", KWS_MM2_STEP);
#endif

/* Three pixels (1x1 conv read in place, k a multiple of 16), widened once to int16 in SXTB16
 * pair order, per 4 values: (a0,a2), (b0,b2), (c0,c2), (a1,a3), (b1,b3), (c1,c3). */
static void widen3(const int8_t *a, int k, uint32_t *col)
{
    const int8_t *b = a + k, *c = b + k;
    for (int i = 0; i < k; i += 4, col += 6) {
        const uint32_t wa = kws_read32(a + i), wb = kws_read32(b + i), wc = kws_read32(c + i);
        col[0] = kws_sxtb16(wa);
        col[1] = kws_sxtb16(wb);
        col[2] = kws_sxtb16(wc);
        col[3] = kws_sxtb16_ror8(wa);
        col[4] = kws_sxtb16_ror8(wb);
        col[5] = kws_sxtb16_ror8(wc);
    }
}

/* Three pixels times all output channels (out_c even), 2-channel x 3-pixel tiles on the
 * pre-widened, doubled weights (kws_conv_t.w16: 2w as int16, so the accumulators are already
 * the 2a of the short requantization): per 4 inputs two groups of five word loads feed six
 * SMLADs each, no SXTB16 in the loop. Per channel pair the table kws_conv_t.mm3 holds
 * {2 bias_eff, m, r + (zp << e), e} for both channels (interleaved): an output is
 * SSAT8((SMMULR(2a, m) + sign + r + (zp << e)) >> e), five instructions. Plain clamp only.
 * Outputs of pixel j at out + j * delta. */
#if defined(__ARM_FEATURE_DSP)
void kws_mm3_k8(const uint32_t *col, const int16_t *w16, int8_t *out, const kws_mm3_args_t *a);
void kws_mm3_k16(const uint32_t *col, const int16_t *w16, int8_t *out, const kws_mm3_args_t *a);
void kws_mm3_k32(const uint32_t *col, const int16_t *w16, int8_t *out, const kws_mm3_args_t *a);
void kws_mm3_k64(const uint32_t *col, const int16_t *w16, int8_t *out, const kws_mm3_args_t *a);
/* stack: [0] table, [4] out, [8] delta, [12] w16 bytes per channel pair, [16] col, [20] w16 end */
#define KWS_MM3_FUNC(NAME, STEPS, WINC, CINC) __asm__( \
    "    .text\n" \
    "    .syntax unified\n" \
    "    .thumb\n" \
    "    .align 2\n" \
    "    .global " NAME "\n" \
    "    .thumb_func\n" \
    "    .type " NAME ", %function\n" \
    "" NAME ":\n" \
    "    push   {r4-r11, lr}\n" \
    "    sub    sp, sp, #24\n" \
    "    ldr    r4, [r3]\n" \
    "    ldr    r5, [r3, #4]\n" \
    "    ldr    r6, [r3, #8]\n" \
    "    ldr    r7, [r3, #12]\n" \
    "    lsl    r6, r6, #2\n" \
    "    mul    r5, r5, r6\n" \
    "    add    r5, r1, r5\n" \
    "    str    r4, [sp]\n" \
    "    str    r2, [sp, #4]\n" \
    "    str    r7, [sp, #8]\n" \
    "    str    r6, [sp, #12]\n" \
    "    str    r0, [sp, #16]\n" \
    "    str    r5, [sp, #20]\n" \
    "2:\n" \
    "    ldr    r11, [sp]\n" \
    "    ldr    r12, [sp, #12]\n" \
    "    ldr    r0, [sp, #16]\n" \
    "    ldr    r3, [r11]\n" \
    "    ldr    r4, [r11, #4]\n" \
    "    add    lr, r1, r12\n" \
    "    mov    r5, r3\n" \
    "    mov    r6, r4\n" \
    "    mov    r7, r3\n" \
    "    mov    r8, r4\n" \
    "3:\n" \
    KWS_MM3_STEPS(STEPS) \
    "    add    r1, r1, #" WINC "\n" \
    "    add    r0, r0, #" CINC "\n" \
    "    cmp    r1, lr\n" \
    "    bne    3b\n" \
    "    ldr    r11, [sp]\n" \
    "    ldr    r9, [r11, #8]\n" \
    "    ldr    r10, [r11, #16]\n" \
    "    ldr    r12, [r11, #24]\n" \
    KWS_MM3_RQ("r3") KWS_MM3_RQ("r5") KWS_MM3_RQ("r7") \
    "    ldr    r9, [r11, #12]\n" \
    "    ldr    r10, [r11, #20]\n" \
    "    ldr    r12, [r11, #28]\n" \
    "    add    r11, r11, #32\n" \
    "    str    r11, [sp]\n" \
    KWS_MM3_RQ("r4") KWS_MM3_RQ("r6") KWS_MM3_RQ("r8") \
    "    ldr    r0, [sp, #4]\n" \
    "    ldr    r2, [sp, #8]\n" \
    "    strb   r3, [r0]\n" \
    "    strb   r4, [r0, #1]\n" \
    "    add    r9, r0, #2\n" \
    "    str    r9, [sp, #4]\n" \
    "    add    r0, r0, r2\n" \
    "    strb   r5, [r0]\n" \
    "    strb   r6, [r0, #1]\n" \
    "    add    r0, r0, r2\n" \
    "    strb   r7, [r0]\n" \
    "    strb   r8, [r0, #1]\n" \
    "    ldr    r9, [sp, #20]\n" \
    "    cmp    r1, r9\n" \
    "    bne    2b\n" \
    "    add    sp, sp, #24\n" \
    "    pop    {r4-r11, pc}\n" \
    "    .size " NAME ", . - " NAME "\n")
KWS_MM3_FUNC("kws_mm3_k8", "0, 1", "32", "48");
KWS_MM3_FUNC("kws_mm3_k16", "0, 1, 2, 3", "64", "96");
KWS_MM3_FUNC("kws_mm3_k32", "0, 1, 2, 3, 4, 5, 6, 7", "128", "192");
KWS_MM3_FUNC("kws_mm3_k64", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15", "256", "384");
#else
static void kws_mm3_k8(const uint32_t *col, const int16_t *w16, int8_t *out,
                       const kws_mm3_args_t *a)
{
    const int32_t *t = a->tbl;
    const int32_t k = a->k, delta = a->delta;
    for (int32_t n = 0; n < a->tiles; ++n, out += 2, t += 8) {
        int32_t acc[3][2] = {{t[0], t[1]}, {t[0], t[1]}, {t[0], t[1]}};
        const uint32_t *c = col;
        for (int32_t i = 0; i < k; i += 4, c += 6, w16 += 8) {
            for (int h = 0; h < 2; ++h) {
                const uint32_t wa = kws_read32(w16 + 4 * h), wb = kws_read32(w16 + 4 * h + 2);
                for (int j = 0; j < 3; ++j) {
                    acc[j][0] = kws_smlad(c[3 * h + j], wa, acc[j][0]);
                    acc[j][1] = kws_smlad(c[3 * h + j], wb, acc[j][1]);
                }
            }
        }
        for (int j = 0; j < 3; ++j) {
            for (int o = 0; o < 2; ++o) {
                const int32_t v = kws_smmulr(acc[j][o], t[2 + o]);
                out[j * delta + o] = (int8_t)kws_ssat8((v + (v >> 31) + t[4 + o]) >> t[6 + o]);
            }
        }
    }
}
#define kws_mm3_k16 kws_mm3_k8
#define kws_mm3_k32 kws_mm3_k8
#define kws_mm3_k64 kws_mm3_k8
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
#if defined(__ARM_FEATURE_DSP)
    if (plain && out_c >= 2) {
        const int32_t a[6] = {(int32_t)(intptr_t)be, (int32_t)(intptr_t)q, out_c >> 1, k, delta,
                              zp};
        if ((k & 15) == 0) {
            kws_mm2_k16(col, wb, out, a);
        } else if ((k & 7) == 0) {
            kws_mm2_k8(col, wb, out, a);  /* two steps (8 values) per loop turn */
        } else {
            kws_mm2_k4(col, wb, out, a);  /* one step (4 values) per loop turn */
        }
        const int done = out_c & ~1;
        out += done;
        be += done;
        q += 3 * done;
        wb += (int32_t)done * k;
    }
#endif
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

/* One input channel with padding (the first conv): the input copied once into a border of
 * its zero point (scratch after the gathers, KWS_CONV_PADDED bytes), so every receptive field
 * is a plain block of rows. Returns the parameters for the padded input. */
static kws_conv_t pad_input(const kws_conv_t *p, const int8_t **in, int8_t *buf)
{
    kws_conv_t q = *p;
    const int h = (p->out_h - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
    const int w = (p->out_w - 1) * p->stride_w + p->k_w;
    const int8_t zp = (int8_t)(-p->in_offset);
    for (int y = 0; y < h; ++y) {
        const int iy = y - p->pad_h;
        for (int x = 0; x < w; ++x) {
            const int ix = x - p->pad_w;
            buf[y * w + x] = (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                                 ? zp : (*in)[iy * p->in_w + ix];
        }
    }
    q.in_h = (int16_t)h;
    q.in_w = (int16_t)w;
    q.pad_h = q.pad_w = 0;
    *in = buf;
    return q;
}

/* The receptive field of output pixel (oy, ox) of a one-channel input without padding (the
 * padded copy): k_h rows of k_w bytes, copied a word at a time */
static void gather_rows(const kws_conv_t *p, const int8_t *in, int oy, int ox, int8_t *dst)
{
    const int8_t *s = in + (int32_t)oy * p->stride_h * p->in_w + ox * p->stride_w;
    const int32_t step = (int32_t)p->dil_h * p->in_w;
    for (int ky = 0; ky < p->k_h; ++ky, s += step, dst += p->k_w) {
        int kx = 0;
        for (; kx + 4 <= p->k_w; kx += 4) {
            const uint32_t v = kws_read32(s + kx);
            memcpy(dst + kx, &v, 4);
        }
        for (; kx < p->k_w; ++kx) dst[kx] = s[kx];
    }
}

KWS_INLINE void conv_pixels(const kws_conv_t *p0, const int8_t *in, int8_t *out,
                            int8_t *scratch, int plain)
{
    const int k = p0->k_h * p0->k_w * p0->in_c;
    uint32_t *col = (uint32_t *)(void *)scratch;            /* 3 pixels x k int16 */
    int8_t *buf_a = (int8_t *)(col + (3 * k) / 2);           /* gathers: k bytes each */
    int8_t *buf_b = buf_a + k, *buf_c = buf_b + k;
    kws_conv_t padded;
    const kws_conv_t *p = p0;
    if (p0->in_c == 1 && p0->dil_w == 1 && (p0->pad_h || p0->pad_w)) {
        padded = pad_input(p0, &in, buf_c + k);
        p = &padded;
    }
    int16_t tail_a[4], tail_b[4];
    const int n_pix = p->out_h * p->out_w, out_c = p->out_c;
    /* a 1x1 conv at stride 1 without padding reads its input pixels in place */
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                       p->pad_h == 0 && p->pad_w == 0 && p->out_w == p->in_w;
    int pix = 0;
    if (plain && p->w16 && p->mm3 && (k & 7) == 0 && (out_c & 1) == 0) {
        /* three pixels at a time (gathered unless read in place) on the int16 weights */
        const kws_mm3_args_t a = {p->mm3, out_c >> 1, k, out_c};
        const kws_mm3_fn unrolled = p->mm3_kernel;
        int oy = 0, ox = 0;  /* of pix, for gather_rows */
        for (; pix + 3 <= n_pix; pix += 3) {
            const int8_t *x = in + (int32_t)pix * k;
            if (p == &padded) {
                int8_t *bufs[3] = {buf_a, buf_b, buf_c};
                for (int j = 0; j < 3; ++j) {
                    gather_rows(p, in, oy, ox, bufs[j]);
                    if (++ox == p->out_w) {
                        ox = 0;
                        ++oy;
                    }
                }
                x = buf_a;
            } else if (!direct) {
                const int8_t *g;
                if ((g = gather(p, in, pix, buf_a)) != buf_a) memcpy(buf_a, g, (size_t)k);
                if ((g = gather(p, in, pix + 1, buf_b)) != buf_b) memcpy(buf_b, g, (size_t)k);
                if ((g = gather(p, in, pix + 2, buf_c)) != buf_c) memcpy(buf_c, g, (size_t)k);
                x = buf_a;
            }
            widen3(x, k, col);
            int8_t *o = out + (int32_t)pix * out_c;
            if (unrolled) {
                unrolled(col, p->w16, o, &a);
            } else if ((k & 63) == 0) {
                kws_mm3_k64(col, p->w16, o, &a);
            } else if ((k & 31) == 0) {
                kws_mm3_k32(col, p->w16, o, &a);
            } else if ((k & 15) == 0) {
                kws_mm3_k16(col, p->w16, o, &a);
            } else {
                kws_mm3_k8(col, p->w16, o, &a);
            }
        }
    }
    for (; pix < n_pix; pix += 2) {
        const int pb = pix + 1 < n_pix ? pix + 1 : pix;  /* odd count: the last one twice */
        const int8_t *a = direct ? in + (int32_t)pix * k : gather(p, in, pix, buf_a);
        const int8_t *b = direct ? in + (int32_t)pb * k : gather(p, in, pb, buf_b);
        widen2(a, b, k, col, tail_a, tail_b);
        mat_mult_2(p, col, k, out + (int32_t)pix * out_c, (pb - pix) * out_c, plain);
    }
}

static int conv2d_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    if (!p->bias_eff || !p->rq || !scratch || (p->k_h * p->k_w * p->in_c) % 4 != 0) return 0;
    if (p->act_min == -128 && p->act_max == 127) {
        conv_pixels(p, in, out, scratch, 1);
    } else {
        conv_pixels(p, in, out, scratch, 0);
    }
    return 1;
}
#endif

void kws_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
#if KWS_USE_DSP
    if (conv2d_dsp(p, in, out, scratch)) return;
#endif
    if (in == out) {  /* in place (1x1 at stride 1, out_c <= in_c): each pixel copied first */
        const int32_t n_pix = (int32_t)p->out_h * p->out_w;
        for (int32_t pix = 0; pix < n_pix; ++pix) {
            memcpy(scratch, in + pix * p->in_c, (size_t)p->in_c);
            for (int oc = 0; oc < p->out_c; ++oc) {
                const int8_t *w = p->weights + (int32_t)oc * p->in_c;
                int32_t acc = p->bias ? p->bias[oc] : 0;
                for (int ic = 0; ic < p->in_c; ++ic) acc += (scratch[ic] + p->in_offset) * w[ic];
                const int q = p->per_channel ? oc : 0;
                acc = kws_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                out[pix * p->out_c + oc] = (int8_t)kws_clamp(acc, p->act_min, p->act_max);
            }
        }
        return;
    }
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_h;
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                const int8_t *w = p->weights + (int32_t)oc * p->k_h * p->k_w * p->in_c;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) continue;
                        const int8_t *x = in + ((int32_t)iy * p->in_w + ix) * p->in_c;
                        const int8_t *wk = w + ((int32_t)ky * p->k_w + kx) * p->in_c;
                        for (int ic = 0; ic < p->in_c; ++ic) {
                            acc += (x[ic] + p->in_offset) * wk[ic];
                        }
                    }
                }
                if (p->bias) acc += p->bias[oc];
                const int q = p->per_channel ? oc : 0;
                acc = kws_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                out[((int32_t)oy * p->out_w + ox) * p->out_c + oc] =
                    (int8_t)kws_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
