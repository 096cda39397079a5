/* capmetric — nearest-value rounding onto a sorted scalar grid.
 *
 * A helper for formats (built-in and plugins) whose quantizer is "round to
 * the nearest of these values": O(log k) branch-free search, ties to the
 * even index, saturation beyond the ends, NaN passed through. Formats reach
 * the functions through the host table (format.h: cm_host), so a plugin needs
 * no host symbol; the library exports them for other callers. The inline
 * helpers below need nothing.
 *
 * Thread safety: a cm_grid is immutable after cm_grid_init; any number of
 * threads may round with it at once. */
#ifndef CAPMETRIC_GRID_H
#define CAPMETRIC_GRID_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_grid {
    double *lv;      /* k sorted distinct values */
    double *t;       /* P thresholds: midpoints, padded with +inf (P = power of two) */
    size_t k, P;
} cm_grid;

/*! cm_round_even() : round to the nearest integer, ties to even, without a
 * libm call (baseline x86-64 has no rounding instruction): adding and
 * subtracting 1.5 * 2^52 lets the FPU round in its default mode. Exact for
 * |v| < 2^51 (zero comes back as +0); larger values come back as large values
 * of the same sign (callers clamp); inf stays inf and NaN stays NaN. Needs
 * IEEE double arithmetic: not for -ffast-math or x87 excess precision. */
static inline double cm_round_even(double v)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    return (v + magic) - magic;
}

/* A binary floating-point grid for cm_fp_round(): M mantissa bits, smallest
 * normal exponent emin, largest finite value maxv, with or without
 * subnormals. emin - M >= -1022 and maxv < 2^1023 (normal doubles). */
typedef struct cm_fpgrid {
    int M, emin, subnormals;
    double maxv;
} cm_fpgrid;

/* 2^k for -1022 <= k <= 1023, from the bits (no libm call) */
static inline double cm_pow2i(int k)
{
    union {
        uint64_t u;
        double d;
    } r;
    r.u = (uint64_t)(k + 1023) << 52;
    return r.d;
}

/* floor(log2 a) for a normal positive double a */
static inline int cm_ilog2(double a)
{
    union {
        double d;
        uint64_t u;
    } r;
    r.d = a;
    return (int)((r.u >> 52) & 0x7ff) - 1023;
}

/*! cm_fp_round() : v rounded to the nearest value of the FP grid g, ties to
 * the even mantissa; |v| beyond the largest value (and +-inf) saturates to
 * +-maxv; NaN stays NaN; the sign of zero is kept. Used by the fp family and
 * by the host for scale formats (E4M3, E5M2, BF16, FP16, FP32). */
/*! cm_fp_round_sub() : the same for a grid with subnormals, branch-free (the
 * loops calling it vectorize): below the smallest normal the step stays
 * that of the smallest binade, which is the subnormal one; saturation and
 * NaN are blends (for |v| >= maxv, inf and NaN the exponent arithmetic gives
 * values the blends discard). */
static inline double cm_fp_round_sub(const cm_fpgrid *g, double v)
{
    double a = fabs(v);
    int e = cm_ilog2(a);
    e = e < g->emin ? g->emin : e;
    e = e > 1000 ? 1000 : e;
    double r = cm_round_even(a * cm_pow2i(g->M - e)) * cm_pow2i(e - g->M);
    r = a < g->maxv ? r : g->maxv;
    r = v == v ? r : v;
    return copysign(r, v);
}

static inline double cm_fp_round(const cm_fpgrid *g, double v)
{
    if (g->subnormals)
        return cm_fp_round_sub(g, v);
    double a = fabs(v), r, minnorm = cm_pow2i(g->emin);
    if (!(a < g->maxv)) {
        if (v != v)
            return v;
        r = g->maxv;
    } else if (a < minnorm) {
        r = a > 0.5 * minnorm ? minnorm : 0.0; /* the tie goes to 0, the even code */
    } else {
        int e = cm_ilog2(a);
        r = cm_round_even(a * cm_pow2i(g->M - e)) * cm_pow2i(e - g->M);
    }
    return copysign(r, v);
}

/*! cm_binary_entropy() : H(p) = -p log2 p - (1-p) log2(1-p) bits, the cost
 * per value of an entropy-coded mask that keeps a fraction p. */
static inline double cm_binary_entropy(double p)
{
    if (!(p > 0) || !(p < 1))
        return 0.0;
    return -p * log2(p) - (1 - p) * log2(1 - p);
}

/* The `mask` key of the selecting formats (sparse, nm, outlier): how the
 * positions of the kept values are paid for. Its ENUM choices, in this order: */
#define CM_MASK_CHOICES "entropy|bitmap|none"
enum { CM_MASK_ENTROPY, CM_MASK_BITMAP, CM_MASK_NONE };

/*! cm_mask_bits() : mask bits per value: `entropy` is log2 C(group, kept)/group
 * for a fixed count per group, H(frac) for a population threshold (group 0);
 * `bitmap` one bit; `none` nothing. */
static inline double cm_mask_bits(int mask, double group, double kept, double frac)
{
    if (mask == CM_MASK_BITMAP)
        return 1.0;
    if (mask == CM_MASK_NONE)
        return 0.0;
    if (group > 0)
        return (lgamma(group + 1) - lgamma(kept + 1) - lgamma(group - kept + 1)) / log(2.0) /
               group;
    return cm_binary_entropy(frac);
}

/*! cm_grid_init() : copy k >= 1 values (sorted ascending, distinct, finite).
 * @return CM_OK, CM_EINVAL (not sorted, repeated or not finite), CM_ENOMEM. */
CM_API cm_status cm_grid_init(cm_grid *g, const double *levels, size_t k, cm_diag *diag);

/*! cm_grid_fini() : release; accepts a zeroed or already released grid. */
CM_API void cm_grid_fini(cm_grid *g);

/*! cm_grid_index() : index of the value nearest to v (ties to the even index;
 * saturating); v must not be NaN. */
CM_API size_t cm_grid_index(const cm_grid *g, double v);

/*! cm_grid_quantize() : y[i] = nearest value to x[i] (NaN stays NaN). */
CM_API void cm_grid_quantize(const cm_grid *g, const double *x, double *y, size_t n);

/*! cm_grid_levels() : the levels() member of a grid-backed format. */
CM_API cm_status cm_grid_levels(const cm_grid *g, double *out, size_t cap, size_t *count);

/*! cm_grid_encode() / cm_grid_decode() : codes = indices into the grid;
 * NaN has no code (CM_EUNSUPPORTED), a code >= k is CM_ERANGE. */
CM_API cm_status cm_grid_encode(const cm_grid *g, const double *x, uint64_t *codes, size_t n);
CM_API cm_status cm_grid_decode(const cm_grid *g, const uint64_t *codes, double *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
