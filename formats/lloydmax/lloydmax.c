/* Family `lloydmax`: the MSE-optimal N-level scalar quantizer for N(0,1)
 * (Lloyd 1957/1982; Max 1960), designed at run time.
 *
 * Optimality: every level is the centroid of its cell and every threshold
 * the midpoint of its neighbours. Lloyd's iteration converges slowly for
 * large N (its error modes decay like 1 - O(1/N^2)), so the design starts
 * from the high-resolution (Panter–Dite) point density, which for N(0,1) is
 * ∝ φ^(1/3), i.e. levels at sqrt(3) Φ^-1((i + 1/2)/N); runs a few Lloyd
 * steps; and finishes with Newton's method on the centroid conditions
 *     g_i(y) = y_i P_i - M_i = 0,   P_i = Φ(t_i) - Φ(t_{i-1}),
 *                                    M_i = φ(t_{i-1}) - φ(t_i),
 * whose Jacobian is tridiagonal (t_i depends on y_i and y_{i+1} only):
 *     ∂g_i/∂t_i = (y_i - t_i) φ(t_i),  ∂g_i/∂t_{i-1} = (t_{i-1} - y_i) φ(t_{i-1}).
 * The levels are then used as a fixed grid under the host's scale
 * (scale=opt finds s = 1 up to rounding). */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"

#define INV_SQRT_2PI 0.39894228040143267794

typedef struct lm_params {
    cm_grid g;
    int pack;
} lm_params;

static const cm_param lm_keys[] = {
    {.key = "levels", .type = CM_PARAM_INT, .def = "16", .doc = "number of levels N",
     .min = 2, .max = 65536},
    {.key = "pack", .type = CM_PARAM_ENUM, .def = "code",
     .doc = "bits reported: code = ceil(log2 N); dense = log2 N", .choices = "code|dense"},
};

static inline double npdf(double x) { return isinf(x) ? 0.0 : INV_SQRT_2PI * exp(-0.5 * x * x); }
static inline double nq(double x) { return 0.5 * erfc(x * M_SQRT1_2); }

/* P(a < X < b), accurate in the tails */
static inline double nprob(double a, double b)
{
    if (a >= 0)
        return nq(a) - nq(b);
    if (b <= 0)
        return nq(-b) - nq(-a);
    return 1.0 - nq(b) - nq(-a);
}

/* Design N levels; y receives them. Returns CM_OK or CM_ENUMERIC. */
static cm_status design(double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sqrt(3.0) * gsl_cdf_ugaussian_Pinv(((double)i + 0.5) / (double)n);
    double *t = malloc((n + 1) * sizeof *t); /* t[0] = -inf .. t[n] = +inf */
    gsl_vector *diag = gsl_vector_alloc(n), *rhs = gsl_vector_alloc(n), *dy = gsl_vector_alloc(n);
    gsl_vector *up = n > 1 ? gsl_vector_alloc(n - 1) : NULL, *lo = n > 1 ? gsl_vector_alloc(n - 1) : NULL;
    double *yn = malloc(n * sizeof *yn);
    cm_status st = CM_OK;
    if (!t || !diag || !rhs || !dy || !up || !lo || !yn) {
        st = CM_ENOMEM;
        goto out;
    }
    t[0] = -INFINITY;
    t[n] = INFINITY;
    for (int it = 0; it < 20; it++) { /* Lloyd steps */
        for (size_t i = 1; i < n; i++)
            t[i] = 0.5 * (y[i - 1] + y[i]);
        for (size_t i = 0; i < n; i++)
            y[i] = (npdf(t[i]) - npdf(t[i + 1])) / nprob(t[i], t[i + 1]);
    }
    int converged = 0;
    double prev = INFINITY;
    for (int it = 0; it < 100 && !converged; it++) {
        for (size_t i = 1; i < n; i++)
            t[i] = 0.5 * (y[i - 1] + y[i]);
        for (size_t i = 0; i < n; i++) {
            double a = t[i], b = t[i + 1];
            double P = nprob(a, b), M = npdf(a) - npdf(b);
            double gb = isinf(b) ? 0.0 : (y[i] - b) * npdf(b); /* ∂g_i/∂t_i     */
            double ga = isinf(a) ? 0.0 : (a - y[i]) * npdf(a); /* ∂g_i/∂t_{i-1} */
            gsl_vector_set(rhs, i, -(y[i] * P - M));
            gsl_vector_set(diag, i, P + 0.5 * (gb + ga));
            if (i + 1 < n)
                gsl_vector_set(up, i, 0.5 * gb);
            if (i > 0)
                gsl_vector_set(lo, i - 1, 0.5 * ga);
        }
        if (gsl_linalg_solve_tridiag(diag, up, lo, rhs, dy) != GSL_SUCCESS) {
            st = CM_ENUMERIC;
            goto out;
        }
        /* damped step: keep the levels strictly increasing */
        double lambda = 1.0, maxstep = 0;
        for (int tries = 0; tries < 60; tries++) {
            int ok = 1;
            for (size_t i = 0; i < n && ok; i++) {
                yn[i] = y[i] + lambda * gsl_vector_get(dy, i);
                ok = isfinite(yn[i]) && (i == 0 || yn[i] > yn[i - 1]);
            }
            if (ok)
                break;
            lambda *= 0.5;
        }
        for (size_t i = 0; i < n; i++) {
            double s = fabs(yn[i] - y[i]) / (1.0 + fabs(y[i]));
            if (s > maxstep)
                maxstep = s;
            y[i] = yn[i];
        }
        /* converged when quadratic convergence has hit the rounding floor of
         * the residuals (about 1e-13 relative): the step no longer shrinks */
        converged = maxstep < 1e-14 || (maxstep < 1e-9 && maxstep > 0.25 * prev);
        prev = maxstep;
    }
    /* the optimum is symmetric: remove rounding asymmetry */
    for (size_t i = 0; i < n / 2; i++) {
        double m = 0.5 * (y[n - 1 - i] - y[i]);
        y[i] = -m;
        y[n - 1 - i] = m;
    }
    if (n % 2)
        y[n / 2] = 0.0;
    if (!converged)
        st = CM_ENUMERIC;
out:
    free(t);
    free(yn);
    gsl_vector_free(diag);
    gsl_vector_free(rhs);
    gsl_vector_free(dy);
    if (up)
        gsl_vector_free(up);
    if (lo)
        gsl_vector_free(lo);
    return st;
}

static cm_status lm_parse(const cm_value *v, void **out, cm_diag *d)
{
    size_t n = (size_t)v[0].num;
    double *y = malloc(n * sizeof *y);
    lm_params *p = malloc(sizeof *p);
    if (!y || !p) {
        free(y);
        free(p);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    /* GSL's aborting handler is the library's to turn off (once, when a
     * registry is made): a format's parse changes no global state */
    cm_status st = design(y, n);
    if (st == CM_OK)
        st = CM_HOST->grid_init(&p->g, y, n, d);
    else
        cm_diag_set_key(d, st, "levels", "lloydmax: design of %zu levels did not converge", n);
    free(y);
    if (st) {
        free(p);
        return st;
    }
    p->pack = (int)v[1].num;
    *out = p;
    return CM_OK;
}

static void lm_free(void *pp)
{
    lm_params *p = pp;
    if (!p)
        return;
    CM_HOST->grid_fini(&p->g);
    free(p);
}

static double lm_bits(const void *pp)
{
    const lm_params *p = pp;
    double b = log2((double)p->g.k);
    return p->pack ? b : ceil(b);
}

static size_t lm_group(const void *p)
{
    (void)p;
    return 1;
}

static void lm_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const lm_params *p = pp;
    (void)state;
    CM_HOST->grid_quantize(&p->g, x, y, n);
}

static cm_status lm_levels(const void *pp, double *out, size_t cap, size_t *count)
{
    const lm_params *p = pp;
    *count = p->g.k;
    if (!out)
        return CM_OK;
    if (cap < p->g.k)
        return CM_ERANGE;
    memcpy(out, p->g.lv, p->g.k * sizeof *out);
    return CM_OK;
}

static cm_status lm_encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    const lm_params *p = pp;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return CM_EUNSUPPORTED;
        codes[i] = CM_HOST->grid_index(&p->g, x[i]);
    }
    return CM_OK;
}

static cm_status lm_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    const lm_params *p = pp;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >= p->g.k)
            return CM_ERANGE;
        x[i] = p->g.lv[codes[i]];
    }
    return CM_OK;
}

const cm_format cm_format_lloydmax = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "lloydmax",
    .summary = "MSE-optimal N-level scalar quantizer for N(0,1) (Lloyd-Max), designed at run time",
    .params = lm_keys,
    .n_params = sizeof lm_keys / sizeof lm_keys[0],
    .flags = CM_FORMAT_SCALAR,
    .params_parse = lm_parse,
    .params_free = lm_free,
    .bits_per_value = lm_bits,
    .group = lm_group,
    .quantize = lm_quantize,
    .levels = lm_levels,
    .encode = lm_encode,
    .decode = lm_decode,
};
