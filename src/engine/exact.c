/* Exact GMSE of scalar grids, X ~ N(0,1): sums of cell integrals
 * (exact_cell.c) over a scaled grid, the MSE-optimal scale, and a planned
 * pipeline's exact path. */
#include <capmetric/exact.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_min.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"
#include "exact_int.h"
#include "plan_int.h"
#include "util_int.h"

/* GMSE of stochastic rounding onto s*v (unique, sorted), saturating beyond
 * the ends; intervals beyond |x| > D->cut or narrower than NARROW are left
 * out as for nearest rounding. */
static double grid_mse_sr(const cm_dens *D, const double *v, size_t k, double s, int xe)
{
    if (k == 1)
        return xe ? 1.0 : 1.0 + s * v[0] * s * v[0];
    if (xe) /* E[R(x) | x] = x between the ends: x (x - R(x)) averages to 0 there */
        return cm_dens_xe_cell(D, -INFINITY, s * v[0], s * v[0]) +
               cm_dens_xe_cell(D, s * v[k - 1], INFINITY, s * v[k - 1]);
    double total = cm_dens_cell(D, -INFINITY, s * v[0], s * v[0]) +
                   cm_dens_cell(D, s * v[k - 1], INFINITY, s * v[k - 1]);
    for (size_t j = 0; j + 1 < k; j++) {
        double A = s * v[j], B = s * v[j + 1];
        if (B < -D->cut || A > D->cut || B - A < 1e-10)
            continue;
        total += cm_dens_sr_cell(D, A, B, A, B);
    }
    return total;
}

/* First index j with v[j] * s >= x (v sorted ascending), by bisection. */
static size_t lower_index(const double *v, size_t k, double s, double x)
{
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s * v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* MSE of unique sorted levels v[0..k) at scale s; sym != 0 when v is
 * symmetric about 0 (then only the upper half is integrated).
 * Two kinds of cells are left out, each with a bound far below the 1e-9
 * relative target: cells wholly beyond |x| > D->cut (N(0,1): 12, probability
 * < 2e-33, times a squared width), and inner cells narrower than NARROW, whose
 * contribution is at most f(0) w^3 < 4e-31 each (f(0) < 5 for every
 * distribution of dist.h). The two outermost cells (the saturation regions)
 * are always integrated. */
static double grid_mse_unique(const cm_dens *D, const double *v, size_t k, double s, int sym,
                              int xe)
{
    if (k == 1)
        return xe ? 1.0 : 1.0 + s * v[0] * s * v[0]; /* E X(X - c), E(X - c)^2 */
    double (*cell)(const cm_dens *, double, double, double) = xe ? cm_dens_xe_cell : cm_dens_cell;
    double total = 0.0;
    /* cells j0..j1 can reach into [-cut, cut] */
    size_t j0 = lower_index(v, k, s, -D->cut);
    size_t j1 = lower_index(v, k, s, D->cut);
    j0 = j0 > 0 ? j0 - 1 : 0;
    j1 = j1 < k ? j1 : k - 1;
    if (sym && j0 < k / 2)
        j0 = k / 2;
    for (size_t j = j0; j <= j1; j++) {
        double a = j == 0 ? -INFINITY : 0.5 * s * (v[j - 1] + v[j]);
        double b = j + 1 == k ? INFINITY : 0.5 * s * (v[j] + v[j + 1]);
        if (sym && a < 0)
            a = 0.0; /* the centre cell of an odd symmetric grid: its upper half */
        if (b - a < NARROW)
            continue;
        total += cell(D, a, b, s * v[j]);
    }
    if (!sym) {
        if (j0 > 0)
            total += cell(D, -INFINITY, 0.5 * s * (v[0] + v[1]), s * v[0]);
        if (j1 + 1 < k)
            total += cell(D, 0.5 * s * (v[k - 2] + v[k - 1]), INFINITY, s * v[k - 1]);
    } else if (j1 + 1 < k) {
        total += cell(D, 0.5 * s * (v[k - 2] + v[k - 1]), INFINITY, s * v[k - 1]);
    }
    return sym ? 2.0 * total : total;
}

/* Copy, check and de-duplicate levels; detect symmetry. */
static cm_status prep(const double *levels, size_t k, double **out, size_t *ku, int *sym,
                      cm_diag *d)
{
    if (!levels || k == 0)
        return cm_diag_set(d, CM_EINVAL, "empty grid");
    double *v = malloc(k * sizeof *v);
    if (!v)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(levels[i])) {
            free(v);
            return cm_diag_set(d, CM_EINVAL, "grid value %zu is not finite", i);
        }
        if (i && levels[i] < levels[i - 1]) {
            free(v);
            return cm_diag_set(d, CM_EINVAL, "grid is not sorted at value %zu", i);
        }
        if (n == 0 || levels[i] != v[n - 1])
            v[n++] = levels[i] == 0.0 ? 0.0 : levels[i]; /* -0 -> +0 */
    }
    *sym = 1;
    for (size_t i = 0; i < n / 2 + 1 && i < n; i++)
        if (v[i] != -v[n - 1 - i]) {
            *sym = 0;
            break;
        }
    *out = v;
    *ku = n;
    return CM_OK;
}

typedef struct objective {
    const cm_dens *D;   /* the data's distribution (unit variance) */
    const double *v;
    size_t k;
    int sym;
    int sr;             /* stochastic rounding */
    int xe;             /* E[x (x - R(x))] (the misalignment's numerator), not E[(x - R(x))^2] */
    const cm_weight *w; /* values selected by a preceding stage, or NULL */
} objective;

static double objective_at(const objective *o, double s)
{
    if (o->w && o->w->type)
        return cm_exact_grid_weighted(o->v, o->k, s, o->w, o->xe);
    return o->sr ? grid_mse_sr(o->D, o->v, o->k, s, o->xe)
                 : grid_mse_unique(o->D, o->v, o->k, s, o->sym, o->xe);
}

cm_status cm_exact_grid_mse(const double *levels, size_t k, double s, double *mse, cm_diag *d)
{
    return cm_exact_grid_mse_ex(levels, k, s, CM_ROUND_NEAREST, mse, d);
}

static cm_status grid_mse_dens(const cm_dens *D, const double *levels, size_t k, double s,
                               unsigned rounding, int xe, double *mse, cm_diag *d);

cm_status cm_exact_grid_mse_ex(const double *levels, size_t k, double s, unsigned rounding,
                               double *mse, cm_diag *d)
{
    return grid_mse_dens(&cm_dens_gauss, levels, k, s, rounding, 0, mse, d);
}

static cm_status grid_mse_dens(const cm_dens *D, const double *levels, size_t k, double s,
                               unsigned rounding, int xe, double *mse, cm_diag *d)
{
    if (!(s > 0) || !isfinite(s))
        return cm_diag_set(d, CM_EINVAL, "scale must be positive and finite");
    double *v;
    size_t n;
    int sym;
    cm_status st = prep(levels, k, &v, &n, &sym, d);
    if (st)
        return st;
    objective o = {.D = D, .v = v, .k = n, .sym = sym,
                   .sr = (rounding & 0xff) == CM_ROUND_STOCHASTIC, .xe = xe};
    *mse = objective_at(&o, s);
    free(v);
    return CM_OK;
}

/* ---- optimal scale ------------------------------------------------------------ */

static double f_logscale(double ls, void *arg) { return objective_at(arg, exp(ls)); }

typedef struct shifted {
    objective *o;
    double x0;
} shifted;

static double f_shifted(double u, void *arg)
{
    const shifted *sh = arg;
    return f_logscale(sh->x0 + u, sh->o);
}

/* Brent (GSL) on log s inside [lo, hi] around mid with known values. The
 * variable is the offset from mid, so that GSL's own tolerance (relative to
 * |x|) does not stall the search when |log s| is large. */
static cm_status brent(objective *o, double lo, double flo, double mid, double fmid, double hi,
                       double fhi, double *xbest, double *fbest)
{
    *xbest = mid;
    *fbest = fmid;
    if (!(fmid < flo && fmid < fhi))
        return CM_OK; /* flat: the scan point is as good as it gets */
    gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!m)
        return CM_ENOMEM;
    shifted sh = {o, mid};
    gsl_function F = {.function = f_shifted, .params = &sh};
    int rc = gsl_min_fminimizer_set_with_values(m, &F, 0.0, fmid, lo - mid, flo, hi - mid, fhi);
    for (int it = 0; rc == GSL_SUCCESS && it < 100; it++) {
        rc = gsl_min_fminimizer_iterate(m);
        if (rc != GSL_SUCCESS)
            break;
        double a = gsl_min_fminimizer_x_lower(m), b = gsl_min_fminimizer_x_upper(m);
        /* 1e-7 in log s: the objective is flat there (a relative scale error
         * e changes GMSE by ~e^2), and Brent cannot resolve much below
         * sqrt(machine epsilon) anyway */
        if (gsl_min_test_interval(a, b, 1e-7, 0.0) == GSL_SUCCESS)
            break;
    }
    double x = gsl_min_fminimizer_x_minimum(m), fx = gsl_min_fminimizer_f_minimum(m);
    gsl_min_fminimizer_free(m);
    if (rc != GSL_SUCCESS && rc != GSL_CONTINUE)
        return CM_ENUMERIC;
    if (fx < *fbest) {
        *xbest = mid + x;
        *fbest = fx;
    }
    return CM_OK;
}

/* Scan settings. FP grids repeat every octave, so a coarse step that is a
 * simple fraction of an octave can alias and hide a basin: grids up to
 * SMALL_GRID levels (each evaluation costs microseconds) get a 1/8-octave
 * coarse scan and four basins; larger grids, whose octave-periodic
 * modulation is far below the 1e-9 target because the Gaussian spans many
 * binades, a 1/2-octave scan and two basins (2^16 levels in < 50 ms). */
#define SMALL_GRID 4096
#define FINE_PER_COARSE 8          /* fine step = coarse step / 8 */
#define SCAN_MAX 8192
#define N_COARSE_MAX 4             /* coarse minima whose neighbourhood is scanned finely */
#define N_REFINE 3                 /* fine minima refined by Brent */

/* Indices of the (at most) `want` lowest local minima of f[0..n), edges
 * included, lowest first. */
static size_t local_minima(const double *f, size_t n, size_t *out, size_t want)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && f[i] > f[i - 1]) || (i + 1 < n && f[i] > f[i + 1]))
            continue;
        size_t j;
        if (m < want) {
            j = m++;
        } else { /* full: replace the highest kept minimum if this one is lower */
            j = want - 1;
            if (f[i] >= f[out[j]])
                continue;
        }
        out[j] = i;
        while (j > 0 && f[out[j]] < f[out[j - 1]]) { /* keep sorted */
            size_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j--;
        }
    }
    return m;
}

cm_status cm_exact_opt_scale(const double *levels, size_t k, double *s_out, double *mse,
                             cm_diag *d)
{
    return cm_exact_opt_scale_ex(levels, k, CM_ROUND_NEAREST, s_out, mse, d);
}


cm_status cm_exact_opt_scale_ex(const double *levels, size_t k, unsigned rounding, double *s_out,
                                double *mse, cm_diag *d)
{
    return cm_exact_opt_scale_w(&cm_dens_gauss, levels, k, rounding, NULL, s_out, mse, d);
}

cm_status cm_exact_opt_scale_dens(const cm_dens *D, const double *levels, size_t k,
                                  unsigned rounding, double *s_out, double *mse, cm_diag *d)
{
    return cm_exact_opt_scale_w(D, levels, k, rounding, NULL, s_out, mse, d);
}

/* Step 1 of opt_scale: a coarse scan of log s in steps of `step` into
 * xs/fs (SCAN_MAX each); returns the number of points. */
static size_t coarse_scan(objective *o, double amax, double aminpos, double step, double *xs,
                          double *fs)
{
    /* 1. Coarse scan of log s from "largest level at 0.1 sigma" to "smallest
     * non-zero level at 16 sigma" (at least 4, at most 20 octaves), widened
     * while the best point sits on an edge. */
    double ls0 = log(0.1 / amax), ls1 = log(16.0 / aminpos);
    if (ls1 - ls0 > 20 * M_LN2)
        ls1 = ls0 + 20 * M_LN2;
    if (ls1 < ls0 + 4 * M_LN2)
        ls1 = ls0 + 4 * M_LN2;
    size_t nc = (size_t)ceil((ls1 - ls0) / step) + 1;
    for (size_t i = 0; i < nc; i++) {
        xs[i] = ls0 + (double)i * step;
        fs[i] = f_logscale(xs[i], o);
    }
    for (int widen = 0; widen < 40 && nc + 4 < SCAN_MAX / 2; widen++) {
        size_t ib = 0;
        for (size_t i = 1; i < nc; i++)
            if (fs[i] < fs[ib])
                ib = i;
        if (ib == nc - 1) {
            for (int j = 0; j < 4; j++, nc++) {
                xs[nc] = xs[nc - 1] + step;
                fs[nc] = f_logscale(xs[nc], o);
            }
        } else if (ib == 0) {
            memmove(xs + 4, xs, nc * sizeof *xs);
            memmove(fs + 4, fs, nc * sizeof *fs);
            for (int j = 3; j >= 0; j--) {
                xs[j] = xs[j + 1] - step;
                fs[j] = f_logscale(xs[j], o);
            }
            nc += 4;
        } else {
            break;
        }
    }
    return nc;
}

cm_status cm_exact_opt_scale_w(const cm_dens *D, const double *levels, size_t k, unsigned rounding,
                           const cm_weight *w, double *s_out, double *mse, cm_diag *d)
{
    cm_gsl_quiet();
    double *v;
    size_t n;
    int sym;
    cm_status st = prep(levels, k, &v, &n, &sym, d);
    if (st)
        return st;
    double amax = 0, aminpos = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(v[i]);
        if (a > amax)
            amax = a;
        if (a > 0 && a < aminpos)
            aminpos = a;
    }
    if (amax == 0) {
        free(v);
        return cm_diag_set(d, CM_EINVAL, "grid has no non-zero value: no scale to optimize");
    }
    objective o = {.D = D, .v = v, .k = n, .sym = sym,
                   .sr = (rounding & 0xff) == CM_ROUND_STOCHASTIC, .w = w};
    const double COARSE_STEP = n <= SMALL_GRID ? M_LN2 / 8 : M_LN2 / 2;
    const size_t N_COARSE = n <= SMALL_GRID ? 4 : 2;
    double *xs = malloc(SCAN_MAX * sizeof *xs), *fs = malloc(SCAN_MAX * sizeof *fs);
    if (!xs || !fs) {
        free(v);
        free(xs);
        free(fs);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    size_t nc = coarse_scan(&o, amax, aminpos, COARSE_STEP, xs, fs);
    /* 2. Fine scan, one coarse step either side of the best coarse minima.
     * The objective is not unimodal (FP grids repeat every octave, tables
     * with outliers have separate basins): several basins are kept. */
    size_t cm[N_COARSE_MAX] = {0};
    size_t ncm = local_minima(fs, nc, cm, N_COARSE);
    double bx = xs[cm[0]], bf = fs[cm[0]];
    double *fx = xs + nc, *ff = fs + nc;
    size_t nf = 0;
    for (size_t c = 0; c < ncm; c++) {
        double x0 = xs[cm[c]];
        for (int j = -FINE_PER_COARSE; j <= FINE_PER_COARSE && nc + nf < SCAN_MAX; j++) {
            fx[nf] = x0 + j * (COARSE_STEP / FINE_PER_COARSE);
            ff[nf] = j == 0 ? fs[cm[c]] : f_logscale(fx[nf], &o);
            nf++;
        }
    }
    /* 3. Brent on the lowest interior minima of the fine scans (each fine
     * scan is its own segment: neighbours must come from the same one). */
    const size_t seg = 2 * FINE_PER_COARSE + 1;
    size_t cand[N_REFINE * N_COARSE_MAX];
    size_t ncand = 0;
    for (size_t c = 0; c < ncm; c++) {
        size_t loc[N_REFINE];
        size_t m = local_minima(ff + c * seg, seg, loc, N_REFINE);
        for (size_t j = 0; j < m; j++)
            cand[ncand++] = c * seg + loc[j];
    }
    for (size_t i = 0; i < nf; i++)
        if (ff[i] < bf) {
            bf = ff[i];
            bx = fx[i];
        }
    /* refine the N_REFINE lowest candidates */
    for (size_t r = 0; r < N_REFINE && r < ncand && !st; r++) {
        size_t best = r;
        for (size_t j = r + 1; j < ncand; j++)
            if (ff[cand[j]] < ff[cand[best]])
                best = j;
        size_t t = cand[r];
        cand[r] = cand[best];
        cand[best] = t;
        size_t i = cand[r], pos = i % seg;
        if (pos == 0 || pos == seg - 1)
            continue; /* on the edge of its fine scan: no bracket */
        double x, fxv;
        st = brent(&o, fx[i - 1], ff[i - 1], fx[i], ff[i], fx[i + 1], ff[i + 1], &x, &fxv);
        if (!st && fxv < bf) {
            bf = fxv;
            bx = x;
        }
    }
    free(xs);
    free(fs);
    free(v);
    if (st)
        return cm_diag_set(d, st, "optimal scale search failed (%s)", cm_strerror(st));
    *s_out = exp(bx);
    *mse = bf;
    return CM_OK;
}

/* ---- pipelines ------------------------------------------------------------------ */

#define MAX_LEVELS ((size_t)1 << 24)

cm_status cm_exact_pipeline_levels(const cm_pipeline *p, size_t i, double **out, size_t *k,
                                   cm_diag *d)
{
    const cm_stage *st = &p->st[i];
    const cm_format *f = st->fmt;
    *out = NULL;
    if (!CM_FORMAT_HAS(f, levels))
        return cm_diag_set(d, CM_EUNSUPPORTED, "format '%s' has no grid", f->name);
    size_t n = 0;
    cm_status s = f->levels(st->params, NULL, 0, &n);
    if (s == CM_EUNSUPPORTED)
        return cm_diag_set(d, s, "format '%s' cannot list its grid here", f->name);
    if (s || n == 0 || n > MAX_LEVELS)
        return cm_diag_set(d, s ? s : CM_EPLUGIN, "format '%s': levels() failed (%s, %zu values)",
                           f->name, cm_strerror(s), n);
    double *v = malloc(n * sizeof *v);
    if (!v)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    size_t n2 = 0;
    s = f->levels(st->params, v, n, &n2);
    if (s || n2 != n) {
        free(v);
        return cm_diag_set(d, CM_EPLUGIN, "format '%s': levels() failed on the second call",
                           f->name);
    }
    for (size_t j = 0; j < n; j++)
        if (!isfinite(v[j]) || (j && v[j] < v[j - 1])) {
            free(v);
            return cm_diag_set(d, CM_EPLUGIN,
                               "format '%s': levels() returned a non-finite or unsorted grid",
                               f->name);
        }
    *out = v;
    *k = n;
    return CM_OK;
}

/* Stage i's grid at unit scale, checked, sorted and de-duplicated (prep). */
cm_status cm_exact_stage_grid(const cm_pipeline *p, size_t i, double **v, size_t *n, cm_diag *d)
{
    double *lv;
    size_t k;
    int sym;
    cm_status s = cm_exact_pipeline_levels(p, i, &lv, &k, d);
    if (s)
        return s;
    s = prep(lv, k, v, n, &sym, d);
    free(lv);
    return s;
}

/* the scale optimum of stage i (> 0) after a selecting stage i-1 that sees
 * N(0,1) input: minimizes the error over the passing values */
cm_status cm_exact_opt_scale_after(const cm_pipeline *p, size_t i, const double *lv, size_t k,
                                   unsigned rounding, double *s, double *mse, cm_diag *d)
{
    cm_weight w = {0, 0, NULL, NULL, 8.0};
    if (cm_exact_after_selection(p, i)) /* the one definition of what it can weigh */
        w = cm_exact_stage_weight(&p->st[0]);
    return cm_exact_opt_scale_w(&cm_dens_gauss, lv, k, rounding, w.type ? &w : NULL, s, mse, d);
}

/* selecting stage alone, or followed by one scalar grid stage (nearest
 * rounding, one global scale) */
static cm_status exact_selected(const cm_plan *plan, int xe, double *mse, double *err,
                                cm_diag *d)
{
    const cm_pipeline *p = plan->p;
    cm_weight w = cm_exact_stage_weight(&p->st[0]);
    if (!w.type)
        return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': this selection has no exact path", p->input);
    /* the values the selection settles are pruned (R = 0) or kept (R = x):
     * either way x (x - R) = (x - R)^2, so the same part serves xe */
    double r = cm_exact_reject_part(&w);
    /* the error estimate: the same integrals on pieces half as wide */
    cm_weight w2 = w;
    w2.ppu = 2 * w.ppu;
    if (p->n == 1) {
        *mse = r;
        *err = fabs(cm_exact_reject_part(&w2) - r);
        return CM_OK;
    }
    const cm_stage *q = &p->st[1];
    if (p->n != 2 || !q->scalar || q->blk.K || cm_stage_rounding(q) != CM_ROUND_NEAREST ||
        isnan(plan->scale[1]))
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "'%s': the exact path covers a selection followed by one grid format "
                           "with a global scale and nearest rounding",
                           p->input);
    double *v;
    size_t n;
    cm_status s = cm_exact_stage_grid(p, 1, &v, &n, d);
    if (s)
        return s;
    *mse = r + cm_exact_grid_weighted(v, n, plan->scale[1], &w, xe);
    *err = fabs(cm_exact_reject_part(&w2) + cm_exact_grid_weighted(v, n, plan->scale[1], &w2, xe) -
                *mse);
    free(v);
    return CM_OK;
}

/* the exact GMSE (xe: E[x (x - R(x))] / sigma^2, the misalignment's
 * numerator) and the error estimate of its quadratures (0 where there are none) */
static cm_status exact_gmse(const cm_plan *plan, int xe, double *mse, double *err, cm_diag *d)
{
    *err = 0;
    const cm_pipeline *p = plan->p;
    const cm_dens *D = &plan->dens;
    const double sigma = cm_dist_sigma(&D->d);
    const int gauss1 = cm_dist_is_default(&D->d);
    if (p->st[0].sel && !gauss1)
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "'%s': the exact path of a selection covers N(0,1) data only",
                           p->input);
    if (p->st[0].sel)
        return exact_selected(plan, xe, mse, err, d);
    if (p->n == 2 && p->st[0].rot) {
        /* an orthonormal rotation of i.i.d. Gaussian values gives i.i.d.
         * Gaussian values, and the error is measured back in the data's basis
         * by the same rotation: GMSE(rotation + F) = GMSE(F). Not so for
         * other distributions (Monte Carlo measures those). */
        if (!cm_dens_is_gauss(D))
            return cm_diag_set(d, CM_EUNSUPPORTED,
                               "'%s': a rotation keeps only Gaussian data Gaussian; on %s data "
                               "it has no exact path",
                               p->input, cm_dist_name(&D->d, (char[40]){0}, 40));
        cm_pipeline *rest = NULL;
        cm_status s = cm_pipeline_slice(p, 1, &rest, d);
        if (s)
            return s;
        cm_plan sub = *plan;
        sub.p = rest;
        sub.scale = plan->scale + 1;
        sub.opt_mse = plan->opt_mse + 1;
        s = exact_gmse(&sub, xe, mse, err, d);
        cm_pipeline_free(rest);
        return s;
    }
    if (p->n != 1)
        return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': no exact path for a composition",
                           p->input);
    const cm_stage *st = &p->st[0];
    const cm_format *f = st->fmt;
    unsigned rounding = cm_stage_rounding(st);
    if ((rounding & CM_ROUND_OVERFLOW_INF) && !st->blk.K) {
        /* one global scale: Gaussian values exceed any threshold with positive
         * probability (block rules may keep every element in range: below);
         * so do those of every distribution but the bounded uniform */
        if (D->d.kind == CM_DIST_UNIFORM)
            return cm_diag_set(d, CM_EUNSUPPORTED,
                               "'%s': overflow=inf on uniform data has no exact path", p->input);
        *mse = xe ? NAN : INFINITY;
        return CM_OK;
    }
    if (st->blk.K) {
        if (st->blk.rule == CM_RULE_MSE || st->blk.rule == CM_RULE_SEARCH ||
            st->blk.rule == CM_RULE_RMS)
            return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': scale=%s has no exact path", p->input,
                               st->blk.rule == CM_RULE_MSE      ? "mse"
                               : st->blk.rule == CM_RULE_SEARCH ? "search"
                                                                : "rms");
        if (st->blk.eden)
            return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': correct=%s has no exact path (give "
                               "--method mc)", p->input, st->blk.eden == CM_EDEN_SCALED ? "eden_scaled" : "eden");
        double *v;
        size_t n;
        cm_status s = cm_exact_stage_grid(p, 0, &v, &n, d);
        if (s)
            return s;
        s = cm_block_exact(D, &st->blk, v, n, rounding, xe, mse, err, d);
        free(v);
        return s;
    }
    const double scale = plan->scale[0];
    if (st->scalar && st->scale_opt && !isnan(plan->opt_mse[0]) && !xe) {
        *mse = plan->opt_mse[0];
        return CM_OK;
    }
    if (CM_FORMAT_HAS(f, levels) && (st->scalar ? !isnan(scale) : 1)) {
        double *v;
        size_t k;
        cm_status s = cm_exact_pipeline_levels(p, 0, &v, &k, d);
        if (s == CM_OK) {
            /* data sigma x: the error relative to sigma^2 is that of unit data
             * at scale / sigma */
            s = grid_mse_dens(D, v, k, (st->scalar ? scale : 1.0) / sigma, rounding, xe, mse, d);
            free(v);
            return s;
        }
        if (s != CM_EUNSUPPORTED)
            return s;
    }
    if (CM_FORMAT_HAS(f, exact_mse) && !st->scalar && gauss1 && !xe)
        return f->exact_mse(st->params, mse);
    return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': format '%s' has no exact path", p->input,
                       f->name);
}

/* the GMSE (xe 0) or the misalignment (xe 1) and the bound on its error:
 * closed-form cell sums are accurate to ~1e-14 relative each (the floor of
 * every estimate; GMSE's cells are all non-negative, so is their sum) */
static cm_status exact_with_err(const cm_plan *plan, int xe, double *v, double *err, cm_diag *d)
{
    double e = 0;
    cm_status s = exact_gmse(plan, xe, v, &e, d);
    if (s)
        return s;
    if (err)
        *err = isfinite(*v) ? fmax(e, CM_EXACT_CELL_REL * fabs(*v)) : NAN;
    return CM_OK;
}

cm_status cm_exact_gmse_err(const cm_plan *plan, double *mse, double *err, cm_diag *d)
{
    return exact_with_err(plan, 0, mse, err, d);
}

cm_status cm_exact_gmse(const cm_plan *plan, double *mse, cm_diag *d)
{
    return cm_exact_gmse_err(plan, mse, NULL, d);
}

/* Misalignment E[x (x - R(x))] / E[x^2] by the GMSE's own integrals with
 * x (x - c) in place of (x - c)^2 (unit-variance densities: E[x^2] = 1). */
cm_status cm_exact_misalignment_err(const cm_plan *plan, double *mis, double *err, cm_diag *d)
{
    return exact_with_err(plan, 1, mis, err, d);
}
