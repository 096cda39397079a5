/* Plans: the engine resolves what a pipeline leaves open (the optimal scale
 * of scale=opt stages) into an object of its own, so the pipeline is never
 * written after parsing. */
#include <capmetric/exact.h>
#include <capmetric/plan.h>

#include <math.h>
#include <stdlib.h>

#include "exact_int.h"
#include "plan_int.h"

void cm_plan_free(cm_plan *plan)
{
    if (!plan)
        return;
    free(plan->scale);
    free(plan->opt_mse);
    free(plan);
}

/* the optimum of stage i, from its grid and what the previous stage passes */
static cm_status resolve_stage(cm_plan *plan, size_t i, cm_diag *d)
{
    const cm_pipeline *p = plan->p;
    const cm_stage *st = &p->st[i];
    double *lv = NULL;
    size_t k = 0;
    cm_status s = cm_exact_pipeline_levels(p, i, &lv, &k, d);
    if (s == CM_EUNSUPPORTED)
        return cm_diag_set(d, s,
                           "'%s': scale=opt needs the format's grid, which '%s' cannot "
                           "list (the exact path lists grids of up to 2^21 values, e.g. fp "
                           "with e + m <= 20); give scale=VALUE to evaluate it by Monte Carlo",
                           p->input, st->fmt->name);
    if (s)
        return s;
    if (i > 0 && p->st[i - 1].sel)
        s = cm_exact_opt_scale_after(p, i, lv, k, cm_stage_rounding(st), &plan->scale[i],
                                     &plan->opt_mse[i], d);
    else
        s = cm_exact_opt_scale_ex(lv, k, cm_stage_rounding(st), &plan->scale[i],
                                  &plan->opt_mse[i], d);
    free(lv);
    return s;
}

cm_status cm_plan_alloc(const cm_pipeline *p, cm_plan **out, cm_diag *d)
{
    *out = NULL;
    cm_plan *plan = calloc(1, sizeof *plan);
    if (!plan || !(plan->scale = malloc(p->n * sizeof *plan->scale)) ||
        !(plan->opt_mse = malloc(p->n * sizeof *plan->opt_mse))) {
        cm_plan_free(plan);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    plan->p = p;
    for (size_t i = 0; i < p->n; i++) {
        plan->scale[i] = p->st[i].scale;
        plan->opt_mse[i] = NAN;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!p->st[i].scalar || !p->st[i].scale_opt || !isnan(p->st[i].scale))
            continue;
        cm_status s = resolve_stage(plan, i, d);
        if (s) {
            cm_plan_free(plan);
            return s;
        }
    }
    *out = plan;
    return CM_OK;
}

const cm_pipeline *cm_plan_pipeline(const cm_plan *plan) { return plan->p; }

double cm_plan_scale(const cm_plan *plan, size_t i) { return plan->scale[i]; }

cm_status cm_plan_state_alloc(const cm_plan *plan, size_t chunk, cm_pipeline_state **out,
                              cm_diag *d)
{
    return cm_pipeline_state_alloc(plan->p, plan->scale, chunk, out, d);
}
