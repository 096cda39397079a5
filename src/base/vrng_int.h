/* Private (base layer): the Monte-Carlo engine's generator of N(0,1) values
 * for vector lanes (stream version 2).
 *
 * Eight xoshiro256++ generators (Blackman & Vigna 2021, "Scrambled linear
 * pseudorandom number generators", ACM TOMS 47(4)) run side by side; value t
 * of a fill comes from lane t % 8, and a fill of n values advances every lane
 * ceil(n / 8) times (the values past n are dropped). Each output u gives one
 * ziggurat draw: layer u & 0xff, sign bit 8, a 52-bit integer u >> 12; a
 * rejected draw (about 1 %) takes its slow path on its own lane's generator.
 * The AVX2 and AVX-512 fills do the same integer and IEEE operations in the
 * same order as the portable one (cm_isa.h): every path gives the same bits. */
#ifndef CM_VRNG_INT_H
#define CM_VRNG_INT_H

#include <stddef.h>
#include <stdint.h>

#define CM_VLANES 8
#define CM_ZN 256

typedef struct cm_vrng {
    _Alignas(64) uint64_t s[4][CM_VLANES]; /* s[word][lane] */
} cm_vrng;

/* The ziggurat's tables (rng.c builds them once; see there). */
typedef struct cm_zig_tab {
    double x[CM_ZN + 1]; /* layer right edges */
    double f[CM_ZN + 1]; /* exp(-x^2/2) */
    double w52[CM_ZN];   /* x[i] * 2^-52: scales a 52-bit integer to [0, x[i]) */
    uint64_t k52[CM_ZN]; /* fast accept if the 52-bit integer < k52[i] */
    double r;            /* the tail's start */
} cm_zig_tab;

const cm_zig_tab *cm_zig_tables(void);

/* the generator of stream `stream` of seed `seed` (batch b of the engine) */
void cm_vrng_stream(cm_vrng *g, uint64_t seed, uint64_t stream);
/* n N(0,1) values by the active instruction set's fill */
void cm_vgauss_fill(cm_vrng *g, double *out, size_t n);

/* ---- for the fills of each instruction set ---- */
static inline uint64_t cm_rotl64(uint64_t x, unsigned k) { return (x << k) | (x >> (64 - k)); }

/* one step of lane l: the xoshiro256++ output */
static inline uint64_t cm_vrng_lane_next(cm_vrng *g, int l)
{
    uint64_t *s0 = &g->s[0][l], *s1 = &g->s[1][l], *s2 = &g->s[2][l], *s3 = &g->s[3][l];
    uint64_t r = cm_rotl64(*s0 + *s3, 23) + *s0, t = *s1 << 17;
    *s2 ^= *s0;
    *s3 ^= *s1;
    *s1 ^= *s2;
    *s0 ^= *s3;
    *s2 ^= t;
    *s3 = cm_rotl64(*s3, 45);
    return r;
}

/* the value of a draw u that the fast test rejected, drawing more from lane l */
double cm_vgauss_slow(cm_vrng *g, int l, uint64_t u);

/* the fills; the vector ones exist when the build has their instruction set */
void cm_vgauss_fill_scalar(cm_vrng *g, double *out, size_t n);
void cm_vgauss_fill_avx2(cm_vrng *g, double *out, size_t n);
void cm_vgauss_fill_avx512(cm_vrng *g, double *out, size_t n);

#define CM_TWO52 4503599627370496.0 /* 2^52 */
#define CM_TWO52_BITS UINT64_C(0x4330000000000000)

#endif
