/* The exact path after a selecting stage (sparsity, outliers) on N(0,1)
 * data: the passing values' cells weighted by their pass probability and
 * the settled values' own error (exact.c puts them together). */
#include <capmetric/exact.h>

#include <gsl/gsl_integration.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "exact_int.h"
#include "plan_int.h"

/* ---- values selected by a preceding stage (sparsity, outliers) ---------------
 * A stage after a selecting one sees the values that pass, each with
 * probability π(|x|): an indicator |x| > t or |x| < t (integrated in closed
 * form on clipped cells) or a smooth probability (N:M: 20-point
 * Gauss–Legendre on pieces of width <= 1/8, where π and φ are analytic). */

/* 20-point Gauss-Legendre from GSL (gsl_integration_glfixed), one table for
 * every thread (read only once made) */
static gsl_integration_glfixed_table *gl20;
static pthread_once_t gl20_once = PTHREAD_ONCE_INIT;
static void gl20_make(void) { gl20 = gsl_integration_glfixed_table_alloc(20); }

typedef double (*wfun)(const cm_weight *w, double x, double c);

/* ∫_a^b g(x) dx, finite a < b, by 20-point Gauss–Legendre on pieces of <= 1/ppu */
static double gl_integrate(wfun g, const cm_weight *w, double a, double b, double c)
{
    pthread_once(&gl20_once, gl20_make);
    if (!gl20)
        return NAN; /* out of memory: the caller's result is not finite */
    int pieces = (int)ceil((b - a) * w->ppu);
    pieces = pieces < 1 ? 1 : pieces;
    double h = (b - a) / pieces, tot = 0;
    for (int i = 0; i < pieces; i++) {
        double lo = a + i * h, hi = lo + h;
        for (size_t j = 0; j < 20; j++) {
            double xj, wj;
            gsl_integration_glfixed_point(lo, hi, j, &xj, &wj, gl20);
            tot += wj * g(w, xj, c);
        }
    }
    return tot;
}

static double pass_sq(const cm_weight *w, double x, double c)
{
    return w->f->pass_prob(w->params, fabs(x)) * (x - c) * (x - c) * cm_normal_pdf(x);
}

static double pass_xe(const cm_weight *w, double x, double c)
{
    return w->f->pass_prob(w->params, fabs(x)) * x * (x - c) * cm_normal_pdf(x);
}

static double reject_fn(const cm_weight *w, double x, double c)
{
    (void)c;
    double a = fabs(x), pr = w->type == 3 ? w->f->pass_prob(w->params, a) : 0.0;
    return (1.0 - pr) * w->f->reject_mse(w->params, a) * cm_normal_pdf(x);
}

/* ∫_a^b π(|x|) (x - c)^2 φ(x) dx, or (xe) ∫_a^b π(|x|) x (x - c) φ(x) dx */
static double weighted_cell(const cm_weight *w, double a, double b, double c, int xe)
{
    double (*cell)(double, double, double) = xe ? cm_exact_xe_cell : cm_exact_cell;
    const wfun pass = xe ? pass_xe : pass_sq;
    switch (w->type) {
    case 1: { /* (-inf, -t] and [t, inf) */
        double r = 0;
        if (a < -w->t)
            r += cell(a, fmin(b, -w->t), c);
        if (b > w->t)
            r += cell(fmax(a, w->t), b, c);
        return r;
    }
    case 2: { /* [-t, t] */
        double lo = fmax(a, -w->t), hi = fmin(b, w->t);
        return hi > lo ? cell(lo, hi, c) : 0.0;
    }
    case 3: {
        double lo = fmax(a, -TAIL_CUT), hi = fmin(b, TAIL_CUT), r = 0;
        if (!(hi > lo))
            return 0.0;
        if (lo < 0 && hi > 0) /* π(|x|) has a kink at 0 */
            return gl_integrate(pass, w, lo, 0, c) + gl_integrate(pass, w, 0, hi, c);
        r = gl_integrate(pass, w, lo, hi, c);
        return r;
    }
    default:
        return cell(a, b, c);
    }
}

/* error of the values the selecting stage settles itself: ∫ (1 - π) reject φ */
double cm_exact_reject_part(const cm_weight *w)
{
    switch (w->type) {
    case 1: return 2.0 * gl_integrate(reject_fn, w, 0, w->t, 0);
    case 2: return w->t < TAIL_CUT ? 2.0 * gl_integrate(reject_fn, w, w->t, TAIL_CUT, 0) : 0.0;
    case 3: return 2.0 * gl_integrate(reject_fn, w, 0, TAIL_CUT, 0);
    default: return 0.0;
    }
}

/* the weight a selecting stage puts on the next one (type 0: none usable) */
cm_weight cm_exact_stage_weight(const cm_stage *st)
{
    cm_weight w = {0, 0, st->fmt, st->params, 8.0};
    if (!st->sel)
        return w;
    int above = 1;
    double t = CM_FORMAT_HAS(st->fmt, pass_threshold) ? st->fmt->pass_threshold(st->params, &above)
                                                        : NAN;
    if (!isnan(t)) {
        w.type = above ? 1 : 2;
        w.t = t;
    } else if (CM_FORMAT_HAS(st->fmt, pass_prob) && !isnan(st->fmt->pass_prob(st->params, 1.0))) {
        w.type = 3;
    }
    return w;
}

int cm_exact_after_selection(const cm_pipeline *p, size_t i)
{
    return i == 1 && p->st[0].sel && cm_exact_stage_weight(&p->st[0]).type &&
           (cm_stage_rounding(&p->st[1]) & 0xff) == CM_ROUND_NEAREST;
}

/* nearest rounding onto s*v (unique, sorted) of the passing values */
double cm_exact_grid_weighted(const double *v, size_t k, double s, const cm_weight *w, int xe)
{
    double total = 0;
    for (size_t j = 0; j < k; j++) {
        double a = j == 0 ? -INFINITY : 0.5 * s * (v[j - 1] + v[j]);
        double b = j + 1 == k ? INFINITY : 0.5 * s * (v[j] + v[j + 1]);
        if (j != 0 && j + 1 != k && (a > TAIL_CUT || b < -TAIL_CUT || b - a < NARROW))
            continue;
        total += weighted_cell(w, a, b, s * v[j], xe);
    }
    return total;
}

