/* capmetric — random numbers: PCG (O'Neill 2014) and a ziggurat Gaussian.
 *
 * pcg32 = PCG XSH RR 64/32, pcg64 = PCG XSL RR 128/64, with the seeding of
 * the reference C library (pcg32_srandom_r / pcg64_srandom_r); checked
 * against the reference outputs (tests/anchors/gaussian.json). The structs are
 * public so that callers can keep generators on the stack; treat the members
 * as private. All functions are reentrant; a generator is used by one thread. */
#ifndef CAPMETRIC_RNG_H
#define CAPMETRIC_RNG_H

#include <capmetric/export.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_pcg32 {
    uint64_t state, inc;
} cm_pcg32;

typedef struct cm_pcg64 {
    uint64_t state_hi, state_lo, inc_hi, inc_lo;
} cm_pcg64;

/*! cm_pcg32_seed() : pcg32_srandom_r(initstate, initseq). */
CM_API void cm_pcg32_seed(cm_pcg32 *g, uint64_t initstate, uint64_t initseq);
/*! cm_pcg32_next() : next 32-bit output. */
CM_API uint32_t cm_pcg32_next(cm_pcg32 *g);

/*! cm_pcg64_seed() : pcg64_srandom_r with 128-bit initstate/initseq given as
 * (hi, lo) halves. */
CM_API void cm_pcg64_seed(cm_pcg64 *g, uint64_t state_hi, uint64_t state_lo, uint64_t seq_hi,
                   uint64_t seq_lo);
/*! cm_pcg64_next() : next 64-bit output. */
CM_API uint64_t cm_pcg64_next(cm_pcg64 *g);

/*! cm_pcg64_stream() : the generator of stream `stream` of seed `seed`: the
 * Monte-Carlo engine's batch i uses cm_pcg64_stream(g, seed, i). Distinct
 * streams have distinct increments and decorrelated start states. */
CM_API void cm_pcg64_stream(cm_pcg64 *g, uint64_t seed, uint64_t stream);

/*! cm_uniform01() : uniform double in [0, 1) with 53 random bits. */
CM_API double cm_uniform01(cm_pcg64 *g);

/*! cm_gauss_fill() : n independent N(0,1) variates (256-layer ziggurat,
 * Marsaglia & Tsang 2000, tables built at first use, thread-safe). */
CM_API void cm_gauss_fill(cm_pcg64 *g, double *out, size_t n);

/*! cm_gauss() : one N(0,1) variate. */
CM_API double cm_gauss(cm_pcg64 *g);

#ifdef __cplusplus
}
#endif
#endif
