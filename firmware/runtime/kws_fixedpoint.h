/* gemmlowp's fixed-point functions as TFLite's int8 SOFTMAX and LOGISTIC use them (Q-format
 * int32 values: "F<n>" has n integer bits and 31 - n fractional bits), written out in C so
 * the results are TFLM's to the bit: exp on negative values, 1 / (1 + x) on [0, 1), logistic. */
#ifndef KWS_FIXEDPOINT_H
#define KWS_FIXEDPOINT_H

#include "kws_kernels.h"

/* SaturatingRoundingMultiplyByPOT<e> for e > 0: x * 2^e, saturated to the int32 range */
static inline int32_t kws_fp_shl_sat(int32_t x, int e)
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), F0 -> F0 (a Taylor expansion around -1/8) */
static inline int32_t kws_fp_exp_quarter(int32_t a)
{
    const int32_t exp_m1_8 = 1895147668;   /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);       /* a + 1/8 */
    const int32_t x2 = kws_srdhm(x, x), x3 = kws_srdhm(x2, x), x4 = kws_srdhm(x2, x2);
    const int32_t x4_over_4 = kws_rdbpot(x4, 2);
    const int32_t poly = kws_rdbpot(kws_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_m1_8 + kws_srdhm(exp_m1_8, x + poly);
}

/* exp(a) for a <= 0 in F<int_bits> (int_bits <= 5), result F0 */
static inline int32_t kws_fp_exp_neg(int32_t a, int int_bits)
{
    static const int32_t mult[7] = {  /* exp(-2^k), k = -2 .. 4, F0 */
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac = 31 - int_bits;
    const int32_t quarter = (int32_t)1 << (frac - 2);
    const int32_t a_mod = (a & (quarter - 1)) - quarter;
    int32_t result = kws_fp_exp_quarter(kws_fp_shl_sat(a_mod, int_bits));
    const int32_t rem = a_mod - a;
    for (int k = -2; k <= 4; ++k) {
        if (int_bits > k && (rem & ((int32_t)1 << (frac + k)))) {
            result = kws_srdhm(result, mult[k + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), F0 -> F0 (Newton-Raphson, three steps) */
static inline int32_t kws_fp_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + kws_srdhm(half_den, -1010580540);  /* 48/17 - 32/17 d, F2 */
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - kws_srdhm(half_den, x);
        x = x + kws_fp_shl_sat(kws_srdhm(x, one_minus), 2);
    }
    return kws_fp_shl_sat(x, 1);
}

static inline int kws_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* logistic(a), a in F<int_bits>, result F0 */
static inline int32_t kws_fp_logistic(int32_t a, int int_bits)
{
    if (a == 0) return 1 << 30;
    {
        const int32_t pos = kws_fp_one_over_one_plus_x(kws_fp_exp_neg(a > 0 ? -a : a, int_bits));
        return a > 0 ? pos : INT32_MAX - pos;
    }
}

#endif
