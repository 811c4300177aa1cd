/* DEPTHWISE_CONV_2D: the reference kernel (TFLM's reference_integer_ops::DepthwiseConvPerChannel,
 * bit for bit) and the Cortex-M4 DSP-extension path (depth multiplier 1, same bits):
 * 3x3 at stride 1 on column-major int16 planes, four outputs of one channel per step
 * (kws_dw3x3_quads, see dw3x3_pixels); otherwise four channels at a time, SMLABB/SMLATT on
 * SXTB16-widened inputs and weights. bias_eff and rq as for CONV_2D (kws_op_conv_2d.c).
 */
#include "kws_op_depthwise_conv_2d.h"

#if KWS_USE_DSP
#include "kws_dsp.h"

#define KWS_MAX_TAPS 64

/* Any kernel, stride, dilation and padding (depth multiplier 1), four channels at a time: the
 * group's input is copied into a plane of one word per pixel (scratch, KWS_DEPTHWISE_SCRATCH)
 * before its outputs are written, so the output may overwrite the input (codegen plans the
 * op in place). SMLABB/SMLATT on SXTB16-widened inputs and weights. */
KWS_INLINE void depthwise_pixels(const kws_conv_t *p, const int8_t *in, int8_t *out,
                                 int8_t *scratch, int plain)
{
    const int taps = p->k_h * p->k_w;
    const int ch = p->out_c;
    const int in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *weights = p->weights;
    const int32_t *beff = p->bias_eff, *rq = p->rq;
    const int32_t n_in = (int32_t)in_h * in_w;
    uint32_t *plane = (uint32_t *)(void *)scratch;
    const int8_t *pad = (const int8_t *)(plane + n_in);
    const int8_t *src[KWS_MAX_TAPS];
    plane[n_in] = (uint32_t)(uint8_t)(-p->in_offset) * 0x01010101u;
    for (int c = 0; c < ch; c += 4) {
        const int nc = ch - c < 4 ? ch - c : 4;
        if (nc == 4) {
            for (int32_t i = 0; i < n_in; ++i) plane[i] = kws_read32(in + i * ch + c);
        } else {
            for (int32_t i = 0; i < n_in; ++i) {
                int8_t *d = (int8_t *)(plane + i);
                for (int j = 0; j < 4; ++j) d[j] = j < nc ? in[i * ch + c + j] : 0;
            }
        }
        for (int oy = 0; oy < out_h; ++oy) {
            for (int ox = 0; ox < out_w; ++ox) {
                const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                int t = 0;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    for (int kx = 0; kx < p->k_w; ++kx, ++t) {
                        const int ix = ix0 + kx * p->dil_w;
                        src[t] = (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w)
                                     ? pad : (const int8_t *)(plane + (int32_t)iy * in_w + ix);
                    }
                }
                int8_t *o = out + ((int32_t)oy * out_w + ox) * ch + c;
                const int32_t *q = rq + 3 * c;
                if (nc < 4) {
                    for (int j = 0; j < nc; ++j) {
                        int32_t a = beff[c + j];
                        for (t = 0; t < taps; ++t) a += src[t][j] * weights[t * ch + c + j];
                        o[j] = rq_out(a, q + 3 * j, zp, lo, hi, plain);
                    }
                    continue;
                }
                int32_t a0 = beff[c], a1 = beff[c + 1], a2 = beff[c + 2], a3 = beff[c + 3];
                const int8_t *w = weights + c;
#if defined(__ARM_FEATURE_DSP)
                if (taps == 9) {  /* 3x3, unrolled by the assembler (.irp) */
                    uint32_t px, wv, xe, xo;
                    __asm volatile(
                        ".irp off, 0, 4, 8, 12, 16, 20, 24, 28, 32\n\t"
                        "ldr    %[px], [%[src], #\\off]\n\t"
                        "ldr    %[wv], [%[w]]\n\t"
                        "ldr    %[px], [%[px]]\n\t"
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
                        : [src] "r"(src), [ch] "r"(ch)
                        : "memory");
                } else
#endif
                for (t = 0; t < taps; ++t, w += ch) {
                    const uint32_t x = kws_read32(src[t]);
                    const uint32_t wv = kws_read32(w);
                    const uint32_t xe = kws_sxtb16(x), xo = kws_sxtb16_ror8(x);
                    const uint32_t we = kws_sxtb16(wv), wo = kws_sxtb16_ror8(wv);
                    a0 = kws_smlabb(xe, we, a0);
                    a2 = kws_smlatt(xe, we, a2);
                    a1 = kws_smlabb(xo, wo, a1);
                    a3 = kws_smlatt(xo, wo, a3);
                }
                o[0] = rq_out(a0, q, zp, lo, hi, plain);
                o[1] = rq_out(a1, q + 3, zp, lo, hi, plain);
                o[2] = rq_out(a2, q + 6, zp, lo, hi, plain);
                o[3] = rq_out(a3, q + 9, zp, lo, hi, plain);
            }
        }
    }
}

/* 3x3 depthwise at stride 1 (any padding), channels a multiple of 4, out_h + 4 <= KWS_DW_COL:
 * four channels at a time are spread into four column-major int16 planes (columns of
 * KWS_DW_COL values, padded with the input zero point); each channel then walks down its
 * plane's columns with its weights in registers, doubled (so the accumulator is already the
 * 2a of the short requantization) and paired down each kernel column as (w0,w1), (w1,w2):
 * two vertically adjacent outputs per step, (x0,x1).(w0,w1) + x2*w2 and
 * x1*w0 + (x2,x3).(w1,w2), so each kernel column costs two word loads and four MAC
 * instructions for six MACs. Plain clamp and every shift e <= 22 only: the output zero point
 * is folded into the rounding constant (zp << e added before the exact arithmetic shift). */
#define KWS_DW_COL 32

static int dw3x3_fits(const kws_conv_t *p)
{
    if (!(p->k_h == 3 && p->k_w == 3 && p->stride_h == 1 && p->stride_w == 1 &&
          p->dil_h == 1 && p->dil_w == 1 && p->pad_h >= 0 && p->pad_w >= 0 &&
          (p->out_c & 3) == 0 && p->out_h + 4 <= KWS_DW_COL && p->act_min == -128 &&
          p->act_max == 127)) {
        return 0;
    }
    for (int c = 0; c < p->out_c; ++c) {  /* |v| < 2^30: v + r + (zp << e) cannot overflow */
        if (p->rq[3 * c + 1] > 22) return 0;
    }
    return 1;
}

/* Four vertically adjacent outputs of one channel per step, n_quads steps down one plane
 * column: s is the column's int16 values (the kernel's columns at s, s + KWS_DW_COL,
 * s + 2 * KWS_DW_COL), outputs at o, o + row, ... (row = k[11] bytes). k: {W01, W12} per kernel
 * column (k[0..5]), 2 * bias_eff (k[6]), m (k[7]), r + (zp << e) (k[8]), e (k[9]), row (k[11]).
 * Plain clamp only. Each column word (x_i, x_i+1) feeds two outputs, so 3 x 3 loads + 6 weight
 * loads serve 36 MACs. */
#if defined(__ARM_FEATURE_DSP)
/* n_quads down each of k[12] plane columns (outputs k[13] bytes apart) */
void kws_dw3x3_quads(const int16_t *s, int8_t *o, const int32_t *k, int32_t n_quads);
__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .thumb\n"
    "    .align 2\n"
    "    .global kws_dw3x3_quads\n"
    "    .thumb_func\n"
    "    .type kws_dw3x3_quads, %function\n"
    "kws_dw3x3_quads:\n"
    "    push   {r4-r11, lr}\n"
    "    sub    sp, sp, #16\n"
    "    str    r0, [sp]\n"                 /* this column's start in the plane */
    "    str    r1, [sp, #4]\n"             /* and in the output */
    "    str    r3, [sp, #8]\n"             /* quads per column */
    "    ldr    r4, [r2, #48]\n"
    "    str    r4, [sp, #12]\n"            /* columns left */
    "4:\n"
    "    ldr    r0, [sp]\n"
    "    ldr    r1, [sp, #4]\n"
    "    ldr    r3, [sp, #8]\n"
    "    add    lr, r0, r3, lsl #3\n"       /* column end */
    "    ldr    r3, [r2, #44]\n"            /* row */
    "1:\n"
    "    ldr    r8, [r0]\n"
    "    ldr    r9, [r0, #4]\n"
    "    ldr    r10, [r0, #8]\n"
    "    ldr    r11, [r2]\n"
    "    ldr    r12, [r2, #4]\n"
    "    ldr    r7, [r2, #24]\n"            /* 2 * bias */
    "    smlad  r4, r8, r11, r7\n"
    "    smlatb r5, r8, r11, r7\n"
    "    smlad  r6, r9, r11, r7\n"
    "    smlatb r7, r9, r11, r7\n"
    "    smlabt r4, r9, r12, r4\n"
    "    smlad  r5, r9, r12, r5\n"
    "    smlabt r6, r10, r12, r6\n"
    "    smlad  r7, r10, r12, r7\n"
    "    .irp   col, 1, 2\n"
    "    ldr    r8, [r0, #(64 * \\col)]\n"
    "    ldr    r9, [r0, #(64 * \\col + 4)]\n"
    "    ldr    r10, [r0, #(64 * \\col + 8)]\n"
    "    ldr    r11, [r2, #(8 * \\col)]\n"
    "    ldr    r12, [r2, #(8 * \\col + 4)]\n"
    "    smlad  r4, r8, r11, r4\n"
    "    smlatb r5, r8, r11, r5\n"
    "    smlad  r6, r9, r11, r6\n"
    "    smlatb r7, r9, r11, r7\n"
    "    smlabt r4, r9, r12, r4\n"
    "    smlad  r5, r9, r12, r5\n"
    "    smlabt r6, r10, r12, r6\n"
    "    smlad  r7, r10, r12, r7\n"
    "    .endr\n"
    "    ldr    r8, [r2, #28]\n"            /* m */
    "    ldr    r9, [r2, #32]\n"            /* r + (zp << e) */
    "    ldr    r10, [r2, #36]\n"           /* e */
    "    smmulr r4, r4, r8\n"
    "    smmulr r5, r5, r8\n"
    "    smmulr r6, r6, r8\n"
    "    smmulr r7, r7, r8\n"
    "    add    r4, r4, r4, asr #31\n"
    "    add    r5, r5, r5, asr #31\n"
    "    add    r6, r6, r6, asr #31\n"
    "    add    r7, r7, r7, asr #31\n"
    "    add    r4, r4, r9\n"
    "    add    r5, r5, r9\n"
    "    add    r6, r6, r9\n"
    "    add    r7, r7, r9\n"
    "    asr    r4, r4, r10\n"
    "    asr    r5, r5, r10\n"
    "    asr    r6, r6, r10\n"
    "    asr    r7, r7, r10\n"
    "    ssat   r4, #8, r4\n"
    "    ssat   r5, #8, r5\n"
    "    ssat   r6, #8, r6\n"
    "    ssat   r7, #8, r7\n"
    "    strb   r4, [r1]\n"
    "    strb   r5, [r1, r3]\n"
    "    add    r1, r1, r3, lsl #1\n"
    "    strb   r6, [r1]\n"
    "    strb   r7, [r1, r3]\n"
    "    add    r1, r1, r3, lsl #1\n"
    "    adds   r0, r0, #8\n"
    "    cmp    r0, lr\n"
    "    bne    1b\n"
    "    ldr    r0, [sp]\n"
    "    ldr    r1, [sp, #4]\n"
    "    ldr    r4, [r2, #52]\n"            /* channels: the next output column */
    "    add    r0, r0, #64\n"              /* the next plane column */
    "    add    r1, r1, r4\n"
    "    str    r0, [sp]\n"
    "    str    r1, [sp, #4]\n"
    "    ldr    r4, [sp, #12]\n"
    "    subs   r4, r4, #1\n"
    "    str    r4, [sp, #12]\n"
    "    bne    4b\n"
    "    add    sp, sp, #16\n"
    "    pop    {r4-r11, pc}\n"
    "    .size kws_dw3x3_quads, . - kws_dw3x3_quads\n");
#else
static void kws_dw3x3_quads(const int16_t *s0, int8_t *o0, const int32_t *k, int32_t n_quads)
{
    const int32_t row = k[11];
    for (int32_t x = 0; x < k[12]; ++x) {
        const int16_t *s = s0 + x * KWS_DW_COL;
        int8_t *o = o0 + x * k[13];
        for (int32_t n = 0; n < n_quads; ++n, s += 4) {
            int32_t acc[4] = {k[6], k[6], k[6], k[6]};
            for (int kx = 0; kx < 3; ++kx) {
                const int16_t *c = s + kx * KWS_DW_COL;
                const uint32_t d0 = kws_read32(c), d1 = kws_read32(c + 2), d2 = kws_read32(c + 4);
                const uint32_t wa = (uint32_t)k[2 * kx], wb = (uint32_t)k[2 * kx + 1];
                acc[0] = kws_smlabt(d1, wb, kws_smlad(d0, wa, acc[0]));
                acc[1] = kws_smlad(d1, wb, kws_smlatb(d0, wa, acc[1]));
                acc[2] = kws_smlabt(d2, wb, kws_smlad(d1, wa, acc[2]));
                acc[3] = kws_smlad(d2, wb, kws_smlatb(d1, wa, acc[3]));
            }
            for (int i = 0; i < 4; ++i, o += row) {
                int32_t v = kws_smmulr(acc[i], k[7]);
                *o = (int8_t)kws_ssat8((v + (v >> 31) + k[8]) >> k[9]);
            }
        }
    }
}
#endif

static void dw3x3_pixels(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    const int ch = p->out_c, in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int plane = (out_w + 2) * KWS_DW_COL;                     /* KWS_DW3X3_SCRATCH */
    const int pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t zp = p->out_offset;
    int16_t *pl = (int16_t *)(void *)scratch;
    const int16_t zin = (int16_t)(-p->in_offset);
    for (int i = 0; i < 4 * plane; ++i) pl[i] = zin;
    const int y1 = in_h < out_h + 2 - pad_h ? in_h : out_h + 2 - pad_h;  /* rows in the plane */
    const int x1 = in_w < out_w + 2 - pad_w ? in_w : out_w + 2 - pad_w;
    const int y0 = pad_h & 1;  /* rows before y0 one at a time, so the word stores are aligned */
    for (int c = 0; c < ch; c += 4) {
        for (int x = 0; x < x1; ++x) {
            const int8_t *s = in + (int32_t)x * ch + c;
            int16_t *d = pl + (pad_w + x) * KWS_DW_COL + pad_h;
            int y = 0;
            for (; y < y0 && y < y1; ++y) {
                const uint32_t v = kws_read32(s + (int32_t)y * in_w * ch);
                const uint32_t e = kws_sxtb16(v), o = kws_sxtb16_ror8(v);
                d[y] = (int16_t)e;
                d[y + plane] = (int16_t)o;
                d[y + 2 * plane] = (int16_t)(e >> 16);
                d[y + 3 * plane] = (int16_t)(o >> 16);
            }
            /* two rows per step: each channel's pair of int16 as one word */
            const int32_t row = (int32_t)in_w * ch;
            for (; y + 2 <= y1; y += 2) {
                const uint32_t v0 = kws_read32(s + y * row), v1 = kws_read32(s + (y + 1) * row);
                const uint32_t e0 = kws_sxtb16(v0), o0 = kws_sxtb16_ror8(v0);
                const uint32_t e1 = kws_sxtb16(v1), o1 = kws_sxtb16_ror8(v1);
                uint32_t *dw = (uint32_t *)(void *)(d + y);
                dw[0] = kws_pkhbt(e0, e1);
                dw[plane / 2] = kws_pkhbt(o0, o1);
                dw[plane] = kws_pkhtb(e1, e0);
                dw[3 * plane / 2] = kws_pkhtb(o1, o0);
            }
            for (; y < y1; ++y) {
                const uint32_t v = kws_read32(s + (int32_t)y * row);
                const uint32_t e = kws_sxtb16(v), o = kws_sxtb16_ror8(v);
                d[y] = (int16_t)e;
                d[y + plane] = (int16_t)o;
                d[y + 2 * plane] = (int16_t)(e >> 16);
                d[y + 3 * plane] = (int16_t)(o >> 16);
            }
        }
        for (int j = 0; j < 4; ++j) {
            const int cc = c + j;
            const int8_t *w = p->weights + cc;
            uint32_t wp[6];
            for (int kx = 0; kx < 3; ++kx) {
                const uint32_t a = (uint32_t)(2 * w[kx * ch]) & 0xFFFFu;
                const uint32_t b = (uint32_t)(2 * w[(3 + kx) * ch]) & 0xFFFFu;
                const uint32_t d = (uint32_t)(2 * w[(6 + kx) * ch]) & 0xFFFFu;
                wp[kx] = a | (b << 16);
                wp[3 + kx] = b | (d << 16);
            }
            const int32_t b2 = (int32_t)((uint32_t)p->bias_eff[cc] << 1);
            const int32_t *q = p->rq + 3 * cc;
            const int32_t m = q[0], e = q[1], r = q[2];
            {  /* the asm's constants, see kws_dw3x3_quads */
                int32_t k[14];
                for (int i = 0; i < 3; ++i) {
                    k[2 * i] = (int32_t)wp[i];
                    k[2 * i + 1] = (int32_t)wp[3 + i];
                }
                k[6] = b2;
                k[7] = m;
                k[8] = r + (int32_t)((uint32_t)zp << e);
                k[9] = e;
                k[10] = 0;
                k[11] = (int32_t)out_w * ch;
                k[12] = out_w;
                k[13] = ch;
                const int nq = out_h >> 2;
                const int16_t *col = pl + j * plane;
                int8_t *o = out + cc;
                if (nq) kws_dw3x3_quads(col, o, k, nq);  /* every column */
                /* the rows after the last quad, one at a time */
                const uint32_t w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3], w4 = wp[4],
                               w5 = wp[5];
                const int32_t rz = k[8], row = k[11];
                for (int oy = 4 * nq; oy < out_h; ++oy) {
                    const int16_t *c0 = col + oy;
                    int8_t *ob = o + (int32_t)oy * row;
                    for (int ox = 0; ox < out_w; ++ox, c0 += KWS_DW_COL, ob += ch) {
                        int32_t u = kws_smlad(kws_read32(c0), w0, b2);
                        u = kws_smlabt(kws_read32(c0 + 2), w3, u);
                        u = kws_smlad(kws_read32(c0 + KWS_DW_COL), w1, u);
                        u = kws_smlabt(kws_read32(c0 + KWS_DW_COL + 2), w4, u);
                        u = kws_smlad(kws_read32(c0 + 2 * KWS_DW_COL), w2, u);
                        u = kws_smlabt(kws_read32(c0 + 2 * KWS_DW_COL + 2), w5, u);
                        const int32_t v = kws_smmulr(u, m);
                        *ob = (int8_t)kws_ssat8((v + (v >> 31) + rz) >> e);
                    }
                }
            }
        }
    }
}

static int depthwise_conv2d_dsp(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    if (!p->bias_eff || !p->rq || !scratch || p->depth_multiplier != 1 ||
        p->k_h * p->k_w > KWS_MAX_TAPS) {
        return 0;
    }
    if (dw3x3_fits(p)) {
        dw3x3_pixels(p, in, out, scratch);
        return 1;
    }
    if (p->act_min == -128 && p->act_max == 127) {
        depthwise_pixels(p, in, out, scratch, 1);
    } else {
        depthwise_pixels(p, in, out, scratch, 0);
    }
    return 1;
}
#endif

void kws_depthwise_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
#if KWS_USE_DSP
    if (depthwise_conv2d_dsp(p, in, out, scratch)) return;
#endif
    const int32_t n_in = (int32_t)p->in_h * p->in_w;
    const int dm = p->depth_multiplier;
    for (int ic = 0; ic < p->in_c; ++ic) {
        /* depth multiplier 1: the channel is copied out first, so the op can run in place */
        const int8_t *x = in + ic;
        int32_t stride = p->in_c;
        if (dm == 1) {
            for (int32_t i = 0; i < n_in; ++i) scratch[i] = in[i * p->in_c + ic];
            x = scratch;
            stride = 1;
        }
        for (int m = 0; m < dm; ++m) {
            const int oc = ic * dm + m;
            const int q = p->per_channel ? oc : 0;
            for (int oy = 0; oy < p->out_h; ++oy) {
                for (int ox = 0; ox < p->out_w; ++ox) {
                    const int iy0 = oy * p->stride_h - p->pad_h;
                    const int ix0 = ox * p->stride_w - p->pad_w;
                    int32_t acc = 0;
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            acc += (x[((int32_t)iy * p->in_w + ix) * stride] + p->in_offset) *
                                   p->weights[((int32_t)ky * p->k_w + kx) * p->out_c + oc];
                        }
                    }
                    if (p->bias) acc += p->bias[oc];
                    acc = kws_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                    out[((int32_t)oy * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)kws_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
