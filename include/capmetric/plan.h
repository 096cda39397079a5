/* capmetric — an engine's plan for one pipeline: what the engine resolves
 * (the MSE-optimal scale of every `scale=opt` stage) kept beside the
 * pipeline, which stays immutable.
 *
 * Data flows one way: spec -> cm_pipeline (parser) -> cm_plan (engine) ->
 * result. A plan borrows its pipeline: the pipeline must outlive it.
 *
 * Thread safety: a plan is immutable once cm_plan_alloc returns; any number
 * of threads may read it and evaluate through it at once. */
#ifndef CAPMETRIC_PLAN_H
#define CAPMETRIC_PLAN_H

#include <stddef.h>

#include <capmetric/dist.h>
#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_plan cm_plan;

/*! cm_plan_alloc() : resolve the optimal scale of every `scale=opt` stage
 * of p (exact integration over the stage's grid, see exact.h).
 * @return CM_OK and a plan in *out (free with cm_plan_free); CM_EUNSUPPORTED
 *   when a stage asks for scale=opt but cannot list its grid; CM_ENOMEM;
 *   CM_ENUMERIC when the scale search fails. `diag` says which spec. */
CM_API cm_status cm_plan_alloc(const cm_pipeline *p, cm_plan **out, cm_diag *diag);

/*! cm_plan_alloc_dist() : the same for data of distribution `dist` (NULL:
 * N(0, 1)): optimal scales minimize the error on those data, and the exact
 * and Monte-Carlo engines measure on them. CM_ERANGE/CM_EINVAL for a bad
 * dist (cm_dist_check). */
CM_API cm_status cm_plan_alloc_dist(const cm_pipeline *p, const cm_dist *dist, cm_plan **out,
                                    cm_diag *diag);

/*! cm_plan_dist() : the data the plan was made for (sigma 0 read as 1). */
CM_API const cm_dist *cm_plan_dist(const cm_plan *plan);

/*! cm_plan_free() : release a plan (not its pipeline). NULL is accepted. */
CM_API void cm_plan_free(cm_plan *plan);

/*! cm_plan_pipeline() : the pipeline the plan was made for. */
CM_API const cm_pipeline *cm_plan_pipeline(const cm_plan *plan);

/*! cm_plan_scale() : the scale stage i applies: the resolved optimum for
 * scale=opt, else cm_pipeline_scale(). */
CM_API double cm_plan_scale(const cm_plan *plan, size_t i);

/*! cm_plan_state_alloc() : cm_pipeline_state_alloc with the plan's scales:
 * per-thread working memory for cm_pipeline_apply. */
CM_API cm_status cm_plan_state_alloc(const cm_plan *plan, size_t chunk, cm_pipeline_state **out,
                                     cm_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
