/* Private (engine layer): what the exact engine's files share. */
#ifndef CM_EXACT_INT_H
#define CM_EXACT_INT_H

#include <stddef.h>

#include <capmetric/errors.h>

#include "dist_int.h"
#include "pipeline_int.h"

#define TAIL_CUT 12.0 /* P(|X| > 12) < 4e-33 */

/* relative accuracy of a closed-form cell integral, and so of a sum of them
 * (the cells are non-negative): the floor of every gmse_err */
#define CM_EXACT_CELL_REL 1e-14

/* the relative error the exact path promises (DESIGN §2): a quadrature
 * whose own estimate exceeds it is a failure, not a result */
#define CM_EXACT_REL_TOL 1e-9

/* φ(x), 0 at ±inf (GSL's gsl_ran_ugaussian_pdf). */
double cm_normal_pdf(double x);

/* ∫_a^b (x - c)^2 φ(x) dx, a < b (either may be infinite). */
double cm_exact_cell(double a, double b, double c);

/* ∫_a^b (x - c) φ(x) dx, and ∫_a^b x (x - c) φ(x) dx: the misalignment's
 * cell (its numerator E[x (x - R(x))]). */
double cm_exact_dev_cell(double a, double b, double c);
double cm_exact_xe_cell(double a, double b, double c);

/* ∫_lo^hi (x - A)(B - x) φ(x) dx: stochastic rounding between A < B. */
double cm_exact_sr_cell(double lo, double hi, double A, double B);

/* 1 when the exact path knows what stage i sees: the values a selecting stage 0
 * passes (a threshold or a pass probability), under nearest rounding. */
int cm_exact_after_selection(const cm_pipeline *p, size_t i);

/* The optimal scale of stage i given what the selecting stage i-1 passes. */
cm_status cm_exact_opt_scale_after(const cm_pipeline *p, size_t i, const double *lv, size_t k,
                                   unsigned rounding, double *s, double *mse, cm_diag *d);

/* Exact GMSE (xe: the misalignment's numerator E[x (x - R(x))] instead) of a
 * block format whose scale is a function of the block
 * maximum (every rule but mse), for the unit grid lv[0..k) (sorted, unique)
 * and the stage's rounding (nearest or stochastic), on i.i.d. data of D
 * times its sigma (the result relative to sigma^2). */
cm_status cm_block_exact(const cm_dens *D, const cm_blockspec *b, const double *lv, size_t k,
                         unsigned rounding, int xe, double *mse, double *err, cm_diag *diag);

/* cells narrower than this are left out (at most f(0) w^3 < 4e-31 each) */
#define NARROW 1e-10

/* What a selecting stage passes on: the weight on the next stage's cells. */
typedef struct cm_weight {
    int type;       /* 0 none, 1 |x| > t passes, 2 |x| < t passes, 3 probability */
    double t;
    const cm_format *f;
    const void *params;
    double ppu;     /* Gauss-Legendre pieces per unit of x (8; 16 for the error check) */
} cm_weight;

/* nearest rounding onto s*v (unique, sorted) of the values w passes (exact_select.c):
 * E[(x - R(x))^2; passed], or (xe) E[x (x - R(x)); passed] */
double cm_exact_grid_weighted(const double *v, size_t k, double s, const cm_weight *w, int xe);

/* the weight a selecting stage puts on the next one (type 0: none usable), and
 * the error of the values it settles itself: ∫ (1 - π) reject φ (exact_select.c) */
cm_weight cm_exact_stage_weight(const cm_stage *st);
double cm_exact_reject_part(const cm_weight *w);

/* stage i's grid at unit scale, checked, sorted and de-duplicated (exact.c) */
cm_status cm_exact_stage_grid(const cm_pipeline *p, size_t i, double **v, size_t *n,
                              cm_diag *d);

/* the optimal scale of a grid for data of D, of the values w passes if w (exact.c) */
cm_status cm_exact_opt_scale_w(const cm_dens *D, const double *levels, size_t k,
                               unsigned rounding, const cm_weight *w, double *s, double *mse,
                               cm_diag *d);

/* The optimal scale of a grid for unit-variance data of distribution D. */
cm_status cm_exact_opt_scale_dens(const cm_dens *D, const double *levels, size_t k,
                                  unsigned rounding, double *s, double *mse, cm_diag *d);

#endif
