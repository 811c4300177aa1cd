/* The few Cortex-M4 DSP-extension instructions the SIMD kernels use, as inline functions:
 * the instruction itself under __ARM_FEATURE_DSP, otherwise a C model of it (so the SIMD
 * kernels also build and run on the host, under the sanitizers, with -DKWS_FORCE_DSP). */
#ifndef KWS_DSP_H
#define KWS_DSP_H

#include <stdint.h>
#include <string.h>

static inline uint32_t kws_read32(const void *p)  /* unaligned-safe word load (one LDR on M4) */
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(__ARM_FEATURE_DSP)
static inline uint32_t kws_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t kws_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t kws_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t kws_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t kws_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t kws_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t kws_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* SXTAB16 acc, x (ROR #8): acc's two halfwords plus x's bytes 0 and 2 (1 and 3), sign-extended */
static inline uint32_t kws_sxtab16(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
static inline uint32_t kws_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
/* PKHBT a, b, LSL #16: the low halfword of a, the low halfword of b on top */
static inline uint32_t kws_pkhbt(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* PKHTB a, b, ASR #16: the high halfword of a on top, the high halfword of b below */
static inline uint32_t kws_pkhtb(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t kws_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t kws_ssat8(int32_t a)
{
    int32_t r;
    __asm("ssat %0, #8, %1" : "=r"(r) : "r"(a));
    return r;
}
#else
static inline int32_t lo16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static inline int32_t hi16(uint32_t x) { return (int16_t)(x >> 16); }
static inline uint32_t kws_sxtb16(uint32_t x)
{
    return ((uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu) |
           ((uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) << 16);
}
static inline uint32_t kws_sxtb16_ror8(uint32_t x) { return kws_sxtb16((x >> 8) | (x << 24)); }
static inline int32_t kws_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)) + (uint32_t)(hi16(a) * hi16(b)));
}
static inline int32_t kws_smlabb(uint32_t a, uint32_t b, int32_t acc) { return acc + lo16(a) * lo16(b); }
static inline int32_t kws_smlatt(uint32_t a, uint32_t b, int32_t acc) { return acc + hi16(a) * hi16(b); }
static inline int32_t kws_smlabt(uint32_t a, uint32_t b, int32_t acc) { return acc + lo16(a) * hi16(b); }
static inline int32_t kws_smlatb(uint32_t a, uint32_t b, int32_t acc) { return acc + hi16(a) * lo16(b); }
static inline uint32_t kws_sxtab16(uint32_t acc, uint32_t x)
{
    const uint32_t e = kws_sxtb16(x);
    return ((acc + e) & 0xFFFFu) | (((acc >> 16) + (e >> 16)) << 16);
}
static inline uint32_t kws_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    return kws_sxtab16(acc, (x >> 8) | (x << 24));
}
static inline uint32_t kws_pkhbt(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t kws_pkhtb(uint32_t a, uint32_t b) { return (a & 0xFFFF0000u) | (b >> 16); }
static inline int32_t kws_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + 0x80000000LL) >> 32);
}
static inline int32_t kws_ssat8(int32_t a) { return a < -128 ? -128 : (a > 127 ? 127 : a); }
#endif

/* Each DSP kernel body is instantiated twice (plain int8 clamp or not) so the compiler folds it. */
#define KWS_INLINE static inline __attribute__((always_inline))

/* One output: the short requantization with the channel's {m, e, 2^(e-1)} (see
 * kws/firmware/ops/common.py simd_constants), the zero point, and the activation clamp
 * (``plain``: the clamp is the int8 range, one SSAT). */
KWS_INLINE int8_t rq_out(int32_t acc, const int32_t *q, int32_t zp, int32_t lo, int32_t hi,
                         int plain)
{
    int32_t v = kws_smmulr((int32_t)((uint32_t)acc << 1), q[0]);
    v = ((v + q[2] + (v >> 31)) >> q[1]) + zp;
    if (plain) return (int8_t)kws_ssat8(v);
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

#endif
