/* CONCATENATION (int8, any axis, up to 8 inputs). */
#ifndef KWS_OP_CONCATENATION_H
#define KWS_OP_CONCATENATION_H

#include "kws_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_CONCAT_MAX_INPUTS 8

typedef struct {
    int32_t n_inputs;
    int32_t outer;                /* product of the dims before the axis */
    int32_t bytes[KWS_CONCAT_MAX_INPUTS];  /* per input: its axis dim x the dims after it */
} kws_concat_t;

void kws_concat_s8(const kws_concat_t *p, const int8_t *const *in, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
