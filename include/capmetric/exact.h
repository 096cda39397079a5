/* capmetric — exact GMSE of scalar grids on N(0,1) and the optimal scale.
 *
 * For nearest-value rounding onto s*G, GMSE is a sum over grid cells of
 * ∫ (x - c)^2 φ(x) dx, computed in closed form (with a Taylor series about the
 * cell midpoint where the closed form would cancel), relative error <= 1e-9.
 * The optimal scale is found by a scan in log s followed by Brent's method
 * (GSL) started from every local minimum of the scan that could be the best:
 * the objective is not unimodal for every grid.
 *
 * Thread safety: every function here is reentrant and only reads its
 * inputs; plans and pipelines may be shared between threads. */
#ifndef CAPMETRIC_EXACT_H
#define CAPMETRIC_EXACT_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/plan.h>
#include <capmetric/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

/*! cm_exact_grid_mse() : E[(X - s*Q_G(X/s))^2], X ~ N(0,1), for the k values
 * of `levels` (sorted ascending, finite, at least one; duplicates allowed).
 * @return CM_OK, CM_EINVAL (unsorted, non-finite, s <= 0), CM_ENOMEM. */
CM_API cm_status cm_exact_grid_mse(const double *levels, size_t k, double s, double *mse,
                            cm_diag *diag);

/*! cm_exact_opt_scale() : the s > 0 minimizing cm_exact_grid_mse, and that
 * minimum. @return CM_OK, CM_EINVAL (grid has no non-zero value), CM_ENOMEM,
 * CM_ENUMERIC (minimizer failed). */
CM_API cm_status cm_exact_opt_scale(const double *levels, size_t k, double *s, double *mse,
                             cm_diag *diag);

/*! cm_exact_grid_mse_ex() / cm_exact_opt_scale_ex() : the same for a given
 * rounding (CM_ROUND_NEAREST or CM_ROUND_STOCHASTIC, see format.h). */
CM_API cm_status cm_exact_grid_mse_ex(const double *levels, size_t k, double s, unsigned rounding,
                               double *mse, cm_diag *diag);
CM_API cm_status cm_exact_opt_scale_ex(const double *levels, size_t k, unsigned rounding, double *s,
                                double *mse, cm_diag *diag);

/*! cm_exact_pipeline_levels() : the unit-scale grid of stage i as a freshly
 * malloc'ed sorted array (free with free()). CM_EUNSUPPORTED if the stage
 * has no `levels`. */
CM_API cm_status cm_exact_pipeline_levels(const cm_pipeline *p, size_t i, double **levels, size_t *k,
                                   cm_diag *diag);

/*! cm_exact_gmse() : exact GMSE of a planned pipeline (plan.h), or
 * CM_EUNSUPPORTED when it has no exact path (more than one stage, or a stage
 * with neither a grid nor a closed form). */
CM_API cm_status cm_exact_gmse(const cm_plan *plan, double *mse, cm_diag *diag);

/*! cm_exact_gmse_err() : cm_exact_gmse and, in *err (may be NULL), a bound
 * on its numerical error: the adaptive quadrature's error estimate for block
 * formats, the change under halved Gauss-Legendre pieces for selections, at
 * least 1e-14 * GMSE (closed-form cells). A quadrature whose estimate exceeds
 * 1e-9 relative is CM_ENUMERIC, never a result. */
CM_API cm_status cm_exact_gmse_err(const cm_plan *plan, double *mse, double *err, cm_diag *diag);

/*! cm_exact_misalignment_err() : the exact misalignment 1 - E[x R(x)] / E[x^2]
 * = E[x (x - R(x))] / E[x^2] of a planned pipeline (Quartet II's magnitude
 * misalignment, arXiv 2601.22813), wherever cm_exact_gmse has a path but a
 * format's own closed form (exact_mse); *err as for cm_exact_gmse_err. The
 * values a selection settles are taken as pruned or kept exactly (their
 * x (x - R) is their reject_mse). NaN where values become Inf/NaN. */
CM_API cm_status cm_exact_misalignment_err(const cm_plan *plan, double *mis, double *err,
                                           cm_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
