/* CONV_2D (int8, per-channel or per-tensor weights, any stride, dilation and padding). */
#ifndef KWS_OP_CONV_2D_H
#define KWS_OP_CONV_2D_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* scratch: KWS_CONV_SCRATCH bytes (the DSP path's int16 columns of three pixels and their
 * int8 gathers) */
void kws_conv2d_s8(const kws_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
#define KWS_CONV_SCRATCH(k_h, k_w, in_c) (9 * (k_h) * (k_w) * (in_c))
/* plus, for one padded input channel, the padded input */
#define KWS_CONV_PADDED(out_h, out_w, k_h, k_w, stride_h, stride_w, dil_h) \
    ((((out_h) - 1) * (stride_h) + ((k_h) - 1) * (dil_h) + 1) * (((out_w) - 1) * (stride_w) + (k_w)))

/* The arguments of the 2-channel x 3-pixel tile kernels (words at 0, 4, 8, 12 on the M4):
 * the per-pair requantization table (kws_conv_t.mm3), out_c / 2, k, the output pixel stride */
typedef struct {
    const int32_t *tbl;
    int32_t tiles, k, delta;
} kws_mm3_args_t;

#if defined(__ARM_FEATURE_DSP) && !defined(KWS_PORTABLE)
/* Steps of 4 inputs: two groups of five word loads (2 weight pairs of the channel pair, 3
 * pixels' widened inputs) feed six SMLADs each. r1: the int16 weights, r0: the pixels'
 * columns, r3-r8: the six accumulators. */
#define KWS_MM3_STEPS(STEPS) \
    "    .irp   s, " STEPS "\n" \
    "    ldr    r9, [r1, #(16 * \\s)]\n" \
    "    ldr    r10, [r1, #(16 * \\s + 4)]\n" \
    "    ldr    r11, [r0, #(24 * \\s)]\n" \
    "    ldr    r12, [r0, #(24 * \\s + 4)]\n" \
    "    ldr    r2, [r0, #(24 * \\s + 8)]\n" \
    "    smlad  r3, r11, r9, r3\n" \
    "    smlad  r4, r11, r10, r4\n" \
    "    smlad  r5, r12, r9, r5\n" \
    "    smlad  r6, r12, r10, r6\n" \
    "    smlad  r7, r2, r9, r7\n" \
    "    smlad  r8, r2, r10, r8\n" \
    "    ldr    r9, [r1, #(16 * \\s + 8)]\n" \
    "    ldr    r10, [r1, #(16 * \\s + 12)]\n" \
    "    ldr    r11, [r0, #(24 * \\s + 12)]\n" \
    "    ldr    r12, [r0, #(24 * \\s + 16)]\n" \
    "    ldr    r2, [r0, #(24 * \\s + 20)]\n" \
    "    smlad  r3, r11, r9, r3\n" \
    "    smlad  r4, r11, r10, r4\n" \
    "    smlad  r5, r12, r9, r5\n" \
    "    smlad  r6, r12, r10, r6\n" \
    "    smlad  r7, r2, r9, r7\n" \
    "    smlad  r8, r2, r10, r8\n" \
    "    .endr\n"

/* One output of the tile: SSAT8((SMMULR(2a, m) + sign + r + (zp << e)) >> e), with m in r9,
 * r + (zp << e) in r10, e in r12 */
#define KWS_MM3_RQ(x)                                                           \
    "    smmulr " x ", " x ", r9\n"                                             \
    "    add    " x ", " x ", " x ", asr #31\n"                                 \
    "    add    " x ", " x ", r10\n"                                            \
    "    asr    " x ", " x ", r12\n"                                            \
    "    ssat   " x ", #8, " x "\n"

/* A tile kernel with the k loop unrolled for one k (STEPS: "0, 1, ..., k/4 - 1", WINC: 4k):
 * codegen instantiates it in model.c for each distinct k, so no loop runs inside a tile and
 * the table pointer stays in lr. Stack: [0] out, [4] delta, [8] columns, [12] weights end. */
#define KWS_MM3_UNROLLED(NAME, STEPS, WINC) __asm__( \
    "    .text\n" \
    "    .syntax unified\n" \
    "    .thumb\n" \
    "    .align 2\n" \
    "    .global " NAME "\n" \
    "    .thumb_func\n" \
    "    .type " NAME ", %function\n" \
    "" NAME ":\n" \
    "    push   {r4-r11, lr}\n" \
    "    sub    sp, sp, #16\n" \
    "    ldr    r4, [r3]\n" \
    "    ldr    r5, [r3, #4]\n" \
    "    ldr    r6, [r3, #8]\n" \
    "    ldr    r7, [r3, #12]\n" \
    "    lsl    r6, r6, #2\n" \
    "    mul    r5, r5, r6\n" \
    "    add    r5, r1, r5\n" \
    "    str    r2, [sp]\n" \
    "    str    r7, [sp, #4]\n" \
    "    str    r0, [sp, #8]\n" \
    "    str    r5, [sp, #12]\n" \
    "    mov    lr, r4\n" \
    "2:\n" \
    "    ldr    r3, [lr]\n" \
    "    ldr    r4, [lr, #4]\n" \
    "    ldr    r0, [sp, #8]\n" \
    "    mov    r5, r3\n" \
    "    mov    r6, r4\n" \
    "    mov    r7, r3\n" \
    "    mov    r8, r4\n" \
    KWS_MM3_STEPS(STEPS) \
    "    add    r1, r1, #" WINC "\n" \
    "    ldr    r9, [lr, #8]\n" \
    "    ldr    r10, [lr, #16]\n" \
    "    ldr    r12, [lr, #24]\n" \
    KWS_MM3_RQ("r3") KWS_MM3_RQ("r5") KWS_MM3_RQ("r7") \
    "    ldr    r9, [lr, #12]\n" \
    "    ldr    r10, [lr, #20]\n" \
    "    ldr    r12, [lr, #28]\n" \
    "    add    lr, lr, #32\n" \
    KWS_MM3_RQ("r4") KWS_MM3_RQ("r6") KWS_MM3_RQ("r8") \
    "    ldr    r0, [sp]\n" \
    "    ldr    r2, [sp, #4]\n" \
    "    strb   r3, [r0]\n" \
    "    strb   r4, [r0, #1]\n" \
    "    add    r9, r0, #2\n" \
    "    str    r9, [sp]\n" \
    "    add    r0, r0, r2\n" \
    "    strb   r5, [r0]\n" \
    "    strb   r6, [r0, #1]\n" \
    "    add    r0, r0, r2\n" \
    "    strb   r7, [r0]\n" \
    "    strb   r8, [r0, #1]\n" \
    "    ldr    r9, [sp, #12]\n" \
    "    cmp    r1, r9\n" \
    "    bne    2b\n" \
    "    add    sp, sp, #16\n" \
    "    pop    {r4-r11, pc}\n" \
    "    .size " NAME ", . - " NAME "\n")
#endif

#ifdef __cplusplus
}
#endif
#endif
