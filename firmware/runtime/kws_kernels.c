/* Portable int8 kernels (TFLite reference semantics); see kws_kernels.h.
 * The Cortex-M4 SIMD paths live in kws_kernels_dsp.c and are chosen per layer here. */
#include "kws_kernels.h"

#include <string.h>

#include "kws_kernels_dsp.h"

static inline int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void kws_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
#if KWS_USE_DSP
    if (kws_conv2d_s8_dsp(p, in, out, scratch)) return;
#else
    (void)scratch;
#endif
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
                    (int8_t)clamp32(acc, p->act_min, p->act_max);
            }
        }
    }
}

void kws_depthwise_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
#if KWS_USE_DSP
    if (kws_depthwise_conv2d_s8_dsp(p, in, out, scratch)) return;
#else
    (void)scratch;
#endif
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_h;
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int ic = 0; ic < p->in_c; ++ic) {
                for (int m = 0; m < p->depth_multiplier; ++m) {
                    const int oc = ic * p->depth_multiplier + m;
                    int32_t acc = 0;
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            acc += (in[((int32_t)iy * p->in_w + ix) * p->in_c + ic] + p->in_offset) *
                                   p->weights[((int32_t)ky * p->k_w + kx) * p->out_c + oc];
                        }
                    }
                    if (p->bias) acc += p->bias[oc];
                    const int q = p->per_channel ? oc : 0;
                    acc = kws_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                    out[((int32_t)oy * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)clamp32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void kws_fully_connected_s8(const kws_fc_t *p, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->weights + o * p->in_depth;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_depth; ++i) {
                acc += (x[i] + p->in_offset) * (w[i] + p->w_offset);
            }
            if (p->bias) acc += p->bias[o];
            acc = (p->per_channel ? kws_requantize_single(acc, p->mult[o], p->shift[o])
                                  : kws_requantize(acc, p->mult[0], p->shift[0])) + p->out_offset;
            out[r * p->out_depth + o] = (int8_t)clamp32(acc, p->act_min, p->act_max);
        }
    }
}

static void pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out, int is_max)
{
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_h;
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int ky0 = iy0 < 0 ? -iy0 : 0;
            const int ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            int c = 0;
            if (!is_max) {  /* four channels at a time, the window walked once per group */
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                for (; c + 4 <= p->ch && count > 0; c += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (int ky = ky0; ky < ky1; ++ky) {
                        const int8_t *s = in + ((int32_t)(iy0 + ky) * p->in_w + ix0 + kx0) * p->ch + c;
                        for (int kx = kx0; kx < kx1; ++kx, s += p->ch) {
                            a0 += s[0];
                            a1 += s[1];
                            a2 += s[2];
                            a3 += s[3];
                        }
                    }
                    int32_t acc[4] = {a0, a1, a2, a3};
                    for (int j = 0; j < 4; ++j) {
                        const int32_t a = acc[j];
                        const int32_t v = a > 0 ? (a + count / 2) / count : (a - count / 2) / count;
                        out[((int32_t)oy * p->out_w + ox) * p->ch + c + j] =
                            (int8_t)clamp32(v, p->act_min, p->act_max);
                    }
                }
            }
            for (; c < p->ch; ++c) {
                int32_t acc = is_max ? -128 : 0;
                int32_t count = 0;
                for (int ky = ky0; ky < ky1; ++ky) {
                    for (int kx = kx0; kx < kx1; ++kx) {
                        const int32_t v = in[((int32_t)(iy0 + ky) * p->in_w + ix0 + kx) * p->ch + c];
                        if (is_max) {
                            if (v > acc) acc = v;
                        } else {
                            acc += v;
                        }
                        ++count;
                    }
                }
                if (!is_max && count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[((int32_t)oy * p->out_w + ox) * p->ch + c] =
                    (int8_t)clamp32(acc, p->act_min, p->act_max);
            }
        }
    }
}

void kws_avg_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out) { pool_s8(p, in, out, 0); }
void kws_max_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out) { pool_s8(p, in, out, 1); }

void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = (int32_t)((uint32_t)(in1[i] + p->in1_offset) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(in2[i] + p->in2_offset) << p->left_shift);
        const int32_t sa = kws_requantize(a, p->in1_mult, p->in1_shift);
        const int32_t sb = kws_requantize(b, p->in2_mult, p->in2_shift);
        const int32_t o = kws_requantize(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
        out[i] = (int8_t)clamp32(o, p->act_min, p->act_max);
    }
}

void kws_copy_s8(const int8_t *in, int8_t *out, int32_t n)
{
    if (in != out) memmove(out, in, (size_t)n);
}
