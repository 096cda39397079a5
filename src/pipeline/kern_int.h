/* Private (pipeline layer): fused kernels. For the Monte-Carlo engine's
 * hottest case — one scalar stage, integer or FP element grid, nearest
 * rounding, one scale or blocks of a multiple of 8 values — the scale rule,
 * the rounding and the squared error run in one pass over a chunk, and give
 * the same bits as the generic path (cm_pipeline_apply, then cm_kern_sumsq):
 * the same IEEE operations per value, and the errors summed in 8 lanes by
 * value index, lanes combined ((0+1)+(2+3))+((4+5)+(6+7)).
 *
 * kern_body.h is compiled once per instruction set (kern_scalar.c,
 * kern_avx2.c, kern_avx512.c); cm_isa_active() picks one at run time. */
#ifndef CM_KERN_INT_H
#define CM_KERN_INT_H

#include <stddef.h>

#include <capmetric/grid.h>

#include "scaling_int.h"

enum { CM_KERN_NONE = 0, CM_KERN_INT = 1, CM_KERN_FP = 2, CM_KERN_GRID = 3, CM_KERN_NM = 4 };

#define CM_KERN_GRID_MAX 256 /* GRID: levels at most */

typedef struct cm_kern {
    int kind;
    double lo, hi;          /* INT: the codes' range (levels lo..hi, step 1) */
    cm_fpgrid g;            /* FP: the grid, with subnormals */
    /* GRID: nearest of k sorted levels, as cm_grid_quantize: the midpoints t
     * padded with +inf to P (a power of two), ties to the even index */
    size_t k, P;
    size_t nkeep, m;        /* NM: keep the nkeep largest |x| of every m (m = 2, 4, 8) */
    double lv[CM_KERN_GRID_MAX], t[CM_KERN_GRID_MAX];
    const cm_blockspec *b;  /* block scaling (K % 8 == 0), or NULL: one scale */
    int sfast;              /* absmax blocks whose scales round to sgrid (2) or are
                               exact (1): W block scales at a time */
    cm_fpgrid sgrid;
    double scale;           /* without blocks: the scale */
} cm_kern;

/* One value at unit scale, as the kernel of kind k rounds it (the vector loops'
 * tails, and the probes that admit a kernel): INT the integer grid lo..hi
 * (cm_round_even, as the int family), FP cm_fp_round_sub, GRID the host's
 * nearest-level search. */
static inline double cm_kern_round(const cm_kern *k, double u)
{
    if (k->kind == CM_KERN_INT) {
        double q = cm_round_even(u);
        q = q < k->lo ? k->lo : q;
        return q > k->hi ? k->hi : q;
    }
    if (k->kind == CM_KERN_FP)
        return cm_fp_round_sub(&k->g, u);
    const cm_grid g = {(double *)k->lv, (double *)k->t, k->k, k->P};
    return u == u ? k->lv[cm_grid_index(&g, u)] : u;
}

/* the generic path's error sums in 8 lanes: returns sum (x - y)^2, *sxe
 * receives sum x (x - y) (the misalignment's numerator) */
double cm_kern_sumsq_scalar(const double *x, const double *y, size_t n, double *sxe);
double cm_kern_sumsq_avx2(const double *x, const double *y, size_t n, double *sxe);
double cm_kern_sumsq_avx512(const double *x, const double *y, size_t n, double *sxe);
double cm_kern_sumsq(const double *x, const double *y, size_t n, double *sxe);

/* the fused error sums of x[0..n) (n whole blocks), the same two; sc: n/K
 * scratch; sxe may be NULL */
double cm_kern_sse_scalar(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe);
double cm_kern_sse_avx2(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe);
double cm_kern_sse_avx512(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe);
double cm_kern_sse(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe);

/* y = R(x) by the same loops (not N:M), the bits of cm_pipeline_apply */
void cm_kern_apply_scalar(const cm_kern *k, const double *x, double *y, size_t n, double *sc);
void cm_kern_apply_avx2(const cm_kern *k, const double *x, double *y, size_t n, double *sc);
void cm_kern_apply_avx512(const cm_kern *k, const double *x, double *y, size_t n, double *sc);

#endif
