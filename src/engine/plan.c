/* Plans: the engine resolves what a pipeline leaves open (the optimal scale
 * of scale=opt stages) into an object of its own, so the pipeline is never
 * written after parsing. */
#include <capmetric/exact.h>
#include <capmetric/plan.h>
#include <capmetric/rng.h>

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
    /* (after a selection the Gaussian optimum; on other data it only starts
     * the sample-based refinement below) */
    if (i > 0 && p->st[i - 1].sel)
        s = cm_exact_opt_scale_after(p, i, lv, k, cm_stage_rounding(st), &plan->scale[i],
                                     &plan->opt_mse[i], d);
    else
        s = cm_exact_opt_scale_dens(&plan->dens, lv, k, cm_stage_rounding(st), &plan->scale[i],
                                    &plan->opt_mse[i], d);
    free(lv);
    /* data of standard deviation sigma: the optimum scales with it, the
     * error relative to sigma^2 does not */
    plan->scale[i] *= cm_dist_sigma(&plan->dens.d);
    return s;
}

/* ---- stages whose input the exact path cannot describe --------------------------
 * A stage after another one (other than a selection it can weigh exactly, on
 * N(0,1) data) sees the earlier stages' output, not the data: its scale=opt is
 * the optimum for the whole pipeline's error, found on a fixed sample of
 * REFINE_N values of the data's distribution
 * (a scan over +-2 octaves around the Gaussian optimum, then golden section;
 * the same sample and rounding seeds for every trial, so the search is smooth
 * and reproducible). */
#define REFINE_N 65536u

static int needs_refine(const cm_plan *plan, size_t i)
{
    const cm_pipeline *p = plan->p;
    const cm_stage *st = &p->st[i];
    /* after a leading rotation, Gaussian data are Gaussian again (an
     * orthonormal map of i.i.d. N(0, sigma^2) values): the exact optimum holds */
    if (i == 1 && p->st[0].rot && cm_dens_is_gauss(&plan->dens))
        return 0;
    return i > 0 && st->scalar && st->scale_opt && !st->blk.K &&
           !(cm_exact_after_selection(p, i) && cm_dist_is_default(&plan->dens.d));
}

typedef struct trial {
    cm_plan *plan;
    cm_pipeline_state *ps;
    const double *x;
    double *y;
    size_t n, i;
} trial;

static double trial_mse(trial *t, double ls)
{
    t->ps->scale[t->i] = exp(ls); /* the plan takes the winner at the end */
    cm_pipeline_state_seed(t->plan->p, t->ps, 0x5ca1e);
    cm_pipeline_apply(t->plan->p, t->ps, t->x, t->y, t->n);
    double e = 0;
    for (size_t j = 0; j < t->n; j++)
        e += (t->x[j] - t->y[j]) * (t->x[j] - t->y[j]);
    return isnan(e) ? INFINITY : e / (double)t->n;
}

static cm_status refine_stage(cm_plan *plan, size_t i, cm_diag *d)
{
    const cm_pipeline *p = plan->p;
    size_t n = REFINE_N / p->group * p->group;
    n = n ? n : p->group;
    double *x = malloc(2 * n * sizeof *x);
    cm_pipeline_state *ps = NULL;
    if (!x)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    cm_status s = cm_plan_state_alloc(plan, n, &ps, d);
    if (s) {
        free(x);
        return s;
    }
    cm_pcg64 g;
    cm_pcg64_stream(&g, 0x5ca1e, 0);
    cm_dens_fill(&plan->dens, &g, x, n);
    const double sigma = cm_dist_sigma(&plan->dens.d);
    for (size_t j = 0; sigma != 1.0 && j < n; j++)
        x[j] *= sigma;
    trial t = {plan, ps, x, x + n, n, i};
    double l0 = log(plan->scale[i]), best_l = l0, best = trial_mse(&t, l0);
    for (int k = -16; k <= 16; k++) { /* eighth octaves over +-2 octaves */
        double l = l0 + k * M_LN2 / 8, f = trial_mse(&t, l);
        if (f < best) {
            best = f;
            best_l = l;
        }
    }
    const double gr = 0.6180339887498949;
    double a = best_l - M_LN2 / 8, b = best_l + M_LN2 / 8;
    double c = b - (b - a) * gr, e = a + (b - a) * gr, fc = trial_mse(&t, c), fe = trial_mse(&t, e);
    for (int it = 0; it < 24; it++) {
        if (fc < fe) {
            b = e, e = c, fe = fc;
            c = b - (b - a) * gr;
            fc = trial_mse(&t, c);
        } else {
            a = c, c = e, fc = fe;
            e = a + (b - a) * gr;
            fe = trial_mse(&t, e);
        }
    }
    double lm = fc < fe ? c : e, fm = fc < fe ? fc : fe;
    plan->scale[i] = exp(fm < best ? lm : best_l);
    plan->opt_mse[i] = NAN; /* an optimum of the sample, not an exact GMSE */
    cm_pipeline_state_free(p, ps);
    free(x);
    return CM_OK;
}

cm_status cm_plan_alloc(const cm_pipeline *p, cm_plan **out, cm_diag *d)
{
    return cm_plan_alloc_dist(p, NULL, out, d);
}

cm_status cm_plan_alloc_dist(const cm_pipeline *p, const cm_dist *dist, cm_plan **out,
                             cm_diag *d)
{
    *out = NULL;
    cm_status ds = dist ? cm_dist_check(dist, d) : CM_OK;
    if (ds)
        return ds;
    cm_plan *plan = calloc(1, sizeof *plan);
    if (!plan || !(plan->scale = malloc(p->n * sizeof *plan->scale)) ||
        !(plan->opt_mse = malloc(p->n * sizeof *plan->opt_mse))) {
        cm_plan_free(plan);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    plan->p = p;
    cm_dist unit;
    cm_dist_default(&unit);
    cm_dens_init(&plan->dens, dist ? dist : &unit);
    plan->dens.d.sigma = cm_dist_sigma(&plan->dens.d);
    plan->tensor_amax = 0; /* (a tensor's own: set by the array path) */
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
    /* then, in order, the stages that see what earlier stages made of the data */
    for (size_t i = 0; i < p->n; i++) {
        cm_status s = needs_refine(plan, i) ? refine_stage(plan, i, d) : CM_OK;
        if (s) {
            cm_plan_free(plan);
            return s;
        }
    }
    *out = plan;
    return CM_OK;
}

const cm_pipeline *cm_plan_pipeline(const cm_plan *plan) { return plan->p; }

const cm_dist *cm_plan_dist(const cm_plan *plan) { return &plan->dens.d; }

double cm_plan_scale(const cm_plan *plan, size_t i) { return plan->scale[i]; }

cm_status cm_plan_state_alloc(const cm_plan *plan, size_t chunk, cm_pipeline_state **out,
                              cm_diag *d)
{
    cm_status s = cm_pipeline_state_alloc(plan->p, plan->scale, chunk, out, d);
    if (!s) {
        (*out)->tamax_abs = plan->tensor_amax;
        (*out)->tamax_mul = plan->dens.d.sigma;
    }
    return s;
}
