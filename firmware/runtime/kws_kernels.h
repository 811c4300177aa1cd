/* What every kernel of the engine shares: TFLite's fixed-point requantization, the clamp,
 * the convolution parameters (CONV_2D and DEPTHWISE_CONV_2D), and the switch between the
 * portable C and the Cortex-M4 DSP-extension paths.
 *
 * One op, one home: each TFLite op the engine runs has one C file kws_op_<op>.c (its
 * reference kernel with TFLM's int8 semantics, bit for bit, and its DSP path beside it), one
 * header kws_op_<op>.h (its parameter struct) and one Python module kws/firmware/ops/<op>.py
 * (checks, memory, MACs, C emission), like TFLM's kernels and op resolver.
 * Layout is NHWC, batch 1; filters are [out_c][k_h][k_w][in_c] (depthwise: [k_h][k_w][out_c]).
 * No dynamic memory: working memory ("scratch") is planned in the arena by codegen.
 */
#ifndef KWS_KERNELS_H
#define KWS_KERNELS_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -DKWS_FORCE_DSP builds the DSP paths on the host too (C models of the instructions,
 * kws_dsp.h); -DKWS_PORTABLE leaves them out (the plain-C baseline, same bits). */
#if (defined(__ARM_FEATURE_DSP) || defined(KWS_FORCE_DSP)) && !defined(KWS_PORTABLE)
#define KWS_USE_DSP 1
#else
#define KWS_USE_DSP 0
#endif

static inline int32_t kws_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* gemmlowp SaturatingRoundingDoublingHighMul */
static inline int32_t kws_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    {
        const int64_t ab = (int64_t)a * (int64_t)b;
        const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
        return (int32_t)((ab + nudge) / (1LL << 31));
    }
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero */
static inline int32_t kws_rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((1LL << e) - 1);
    const int32_t rem = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (double rounding: SRDHM, then RoundingDivideByPOT) */
static inline int32_t kws_requantize(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t hi = kws_srdhm((int32_t)((uint32_t)x << left), mult);
    return shift >= 0 ? hi : kws_rdbpot(hi, -shift);
}

/* A 2-channel x 3-pixel SIMD tile kernel unrolled for one k (kws_op_conv_2d.h) */
typedef void (*kws_mm3_fn)(const uint32_t *col, const int16_t *w16, int8_t *out,
                           const void *args);

/* CONV_2D and DEPTHWISE_CONV_2D */
typedef struct {
    int16_t in_h, in_w, in_c;
    int16_t out_h, out_w, out_c;
    int16_t k_h, k_w;
    int16_t stride_h, stride_w;
    int16_t dil_h, dil_w;
    int16_t pad_h, pad_w;         /* top/left padding (TFLite's ComputePadding) */
    int16_t depth_multiplier;     /* depthwise only */
    int32_t in_offset;            /* -input zero point */
    int32_t out_offset;           /* output zero point */
    int32_t act_min, act_max;     /* fused activation clamp, in the output's int8 domain */
    const int8_t *weights;
    const int32_t *bias;          /* may be NULL */
    const int32_t *mult;          /* per output channel (or one for per-tensor) */
    const int32_t *shift;
    int16_t per_channel;          /* 1: mult/shift have out_c entries; 0: one entry */
    /* For the SIMD paths (codegen computes both): bias + in_offset * (sum of the channel's
     * weights), so the inner loops multiply raw int8 values and padding reads the input
     * zero point; and per output channel {multiplier, right shift, 1 << (right shift - 1)}
     * for the short requantization, or NULL when the layer does not qualify for it (a left
     * shift, or an accumulator that might overflow when doubled): then the portable kernel runs. */
    const int32_t *bias_eff;
    const int32_t *rq;
    /* DSP builds, CONV_2D with k % 8 == 0 and an even out_c: the weights doubled and widened to
     * int16 in SXTB16 pair order for the 2-channel x 3-pixel tile, per channel pair and 4
     * inputs (a0, a2), (b0, b2), (a1, a3), (b1, b3); else NULL */
    const int16_t *w16;
    /* with w16 (weights doubled) and every right shift e <= 22: per channel pair
     * {2 bias_eff[a], 2 bias_eff[b], m[a], m[b], r[a] + (zp << e[a]), r[b] + ..., e[a], e[b]} */
    const int32_t *mm3;
    /* Cortex-M4 builds: that tile kernel unrolled for this layer's k (instantiated in model.c
     * with KWS_MM3_UNROLLED), or NULL: the looped ones */
    kws_mm3_fn mm3_kernel;
} kws_conv_t;

/* Elementwise ops on two inputs (ADD, MUL): the output's 4D shape and each input's element
 * stride along each output axis (0 where it is broadcast); broadcast == 0: same shapes, flat. */
typedef struct {
    int32_t broadcast;
    int32_t shape[4];
    int32_t stride1[4], stride2[4];
} kws_broadcast_t;

/* One output element of an elementwise op from one element of each input; p: the op's params. */
typedef int8_t (*kws_elementwise_fn)(const void *p, int32_t x1, int32_t x2);

/* The walk ADD, SUB and MUL share: out[k] = f(p, in1[..], in2[..]) over the output in order,
 * flat when nothing is broadcast. static inline and called with a known f, so the compiler
 * inlines f into the loops. */
static inline void kws_elementwise_s8(const kws_broadcast_t *b, int32_t size, const int8_t *in1,
                                      const int8_t *in2, int8_t *out, kws_elementwise_fn f,
                                      const void *p)
{
    if (!b->broadcast) {
        for (int32_t i = 0; i < size; ++i) out[i] = f(p, in1[i], in2[i]);
        return;
    }
    for (int32_t i0 = 0; i0 < b->shape[0]; ++i0)
        for (int32_t i1 = 0; i1 < b->shape[1]; ++i1)
            for (int32_t i2 = 0; i2 < b->shape[2]; ++i2)
                for (int32_t i3 = 0; i3 < b->shape[3]; ++i3) {
                    const int32_t a = i0 * b->stride1[0] + i1 * b->stride1[1] + i2 * b->stride1[2] + i3 * b->stride1[3];
                    const int32_t c = i0 * b->stride2[0] + i1 * b->stride2[1] + i2 * b->stride2[2] + i3 * b->stride2[3];
                    *out++ = f(p, in1[a], in2[c]);
                }
}

/* Same bytes, other shape (RESHAPE, SQUEEZE, ... when codegen could not alias them). */
static inline void kws_copy_s8(const int8_t *in, int8_t *out, int32_t n)
{
    if (in != out) memmove(out, in, (size_t)n);
}

#ifdef __cplusplus
}
#endif
#endif
