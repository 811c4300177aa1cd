/* int8 kernels with TFLite's int8 reference semantics (hand-written C99, no dynamic memory).
 *
 * Every kernel reproduces tensorflow/lite/kernels/internal/reference/integer_ops/ bit for bit:
 * int32 accumulation of (input - input_zero_point) * weight, a per-channel fixed-point
 * requantization (MultiplyByQuantizedMultiplier, double rounding), the output zero point and
 * the fused activation clamp. Under __ARM_FEATURE_DSP (Cortex-M4) the hot kernels take
 * SIMD paths (SMLAD on int8 pairs widened with SXTB16) that give the same bits.
 * Layout is NHWC, batch 1; filters are [out_c][k_h][k_w][in_c] (depthwise: [k_h][k_w][out_c]).
 */
#ifndef KWS_KERNELS_H
#define KWS_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    /* DSP builds, CONV_2D with k % 16 == 0 and an even out_c: the weights widened to int16 in
     * SXTB16 pair order for the 2-channel x 3-pixel tile, per channel pair and 4 inputs
     * (a0, a2), (b0, b2), (a1, a3), (b1, b3); else NULL */
    const int16_t *w16;
} kws_conv_t;

typedef struct {
    int32_t in_depth, out_depth;  /* FULLY_CONNECTED: [rows] x in_depth -> out_depth */
    int32_t rows;
    int32_t in_offset, w_offset, out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;        /* [out_depth][in_depth] */
    const int32_t *bias;
    const int32_t *mult;          /* per output (per_channel) or one */
    const int32_t *shift;
    int32_t per_channel;
} kws_fc_t;

typedef struct {
    int16_t in_h, in_w, ch, out_h, out_w;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} kws_pool_t;

typedef struct {
    int32_t size;
    int32_t in1_offset, in2_offset, out_offset;
    int32_t left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t act_min, act_max;
} kws_add_t;

/* TFLite's MultiplyByQuantizedMultiplier (gemmlowp SaturatingRoundingDoublingHighMul
 * followed by RoundingDivideByPOT). */
static inline int32_t kws_requantize(int32_t x, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int32_t a = (int32_t)((uint32_t)x << left);
    int32_t hi;
    if (a == INT32_MIN && mult == INT32_MIN) {
        hi = INT32_MAX;
    } else {
        int64_t ab = (int64_t)a * (int64_t)mult;
        int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
        hi = (int32_t)((ab + nudge) / (1LL << 31));
    }
    if (right == 0) return hi;
    {
        int32_t mask = (int32_t)((1u << right) - 1u);
        int32_t rem = hi & mask;
        int32_t threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
        return (hi >> right) + (rem > threshold ? 1 : 0);
    }
}

/* One rounding of the 64-bit product (x * mult) >> (31 - shift): what LiteRT's per-channel
 * FULLY_CONNECTED does (measured: it, not the double rounding above, matches LiteRT's
 * reference kernel on every output of the trained ds_cnn). */
static inline int32_t kws_requantize_single(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t total = 31 - shift;
    const int64_t round = (int64_t)1 << (total - 1);
    const int64_t r = ((int64_t)x * mult + round) >> total;
    return (int32_t)(r < INT32_MIN ? INT32_MIN : (r > INT32_MAX ? INT32_MAX : r));
}

/* scratch: KWS_CONV_SCRATCH bytes for the SIMD paths (codegen sizes one static buffer) */
void kws_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
void kws_depthwise_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
void kws_fully_connected_s8(const kws_fc_t *p, const int8_t *in, int8_t *out);
void kws_avg_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out);
void kws_max_pool_s8(const kws_pool_t *p, const int8_t *in, int8_t *out);
void kws_add_s8(const kws_add_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void kws_copy_s8(const int8_t *in, int8_t *out, int32_t n);

/* Scratch bytes the SIMD paths need: conv (interleaved int16 columns + two int8 gathers) and
 * depthwise (one row of the input zero point). */
#define KWS_CONV_SCRATCH(k_h, k_w, in_c) (6 * (k_h) * (k_w) * (in_c))
#define KWS_DEPTHWISE_SCRATCH(in_c) ((in_c) + 8)
/* the 3x3 stride-1 depthwise path (channels a multiple of 4, out_h + 4 <= 32): four
 * column-major int16 planes of out_w + 2 columns of 32 values */
#define KWS_DW3X3_SCRATCH(out_w) (4 * 2 * 32 * ((out_w) + 2))

#ifdef __cplusplus
}
#endif
#endif
