/* AVERAGE_POOL_2D and MAX_POOL_2D: TFLM's reference_integer_ops::AveragePool / MaxPool,
 * bit for bit (the average rounds half away from zero, over the taps inside the input). */
#include "kws_op_pool_2d.h"

#if KWS_USE_DSP
#include "kws_dsp.h"

/* AVERAGE_POOL_2D, four channels per word: SXTAB16 adds two channels' bytes to two 16-bit
 * sums at once (exact while a window holds at most 256 values: |sum| <= 32768). */
static int avg_pool_dsp(const kws_pool_t *p, const int8_t *in, int8_t *out)
{
    if ((p->ch & 3) || p->k_h * p->k_w > 256) return 0;
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_h;
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int ky0 = iy0 < 0 ? -iy0 : 0;
            const int ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            const int32_t count = (ky1 - ky0) * (kx1 - kx0);
            int8_t *o = out + ((int32_t)oy * p->out_w + ox) * p->ch;
            for (int c = 0; c < p->ch; c += 4) {
                uint32_t se = 0, so = 0;
                for (int ky = ky0; ky < ky1; ++ky) {
                    const int8_t *s = in + ((int32_t)(iy0 + ky) * p->in_w + ix0 + kx0) * p->ch + c;
                    for (int kx = kx0; kx < kx1; ++kx, s += p->ch) {
                        const uint32_t v = kws_read32(s);
                        se = kws_sxtab16(se, v);
                        so = kws_sxtab16_ror8(so, v);
                    }
                }
                const int32_t acc[4] = {(int16_t)(se & 0xFFFFu), (int16_t)(so & 0xFFFFu),
                                        (int16_t)(se >> 16), (int16_t)(so >> 16)};
                for (int j = 0; j < 4; ++j) {
                    const int32_t a = acc[j];
                    const int32_t v = count == 0 ? 0 : (a > 0 ? (a + count / 2) / count
                                                              : (a - count / 2) / count);
                    o[c + j] = (int8_t)kws_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
    return 1;
}
#endif

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
                            (int8_t)kws_clamp(v, p->act_min, p->act_max);
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
                    (int8_t)kws_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

void kws_avg_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out)
{
#if KWS_USE_DSP
    if (avg_pool_dsp(p, in, out)) return;
#endif
    pool_s8(p, in, out, 0);
}
void kws_max_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out) { pool_s8(p, in, out, 1); }
