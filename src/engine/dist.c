/* Distributions besides N(0, 1) (dist.h): names, densities, tails, cell
 * integrals and samplers. Every distribution has unit variance.
 *
 * Cell integrals ∫ (x - c)^2 f(x) dx: the Gaussian keeps its closed form
 * (exact_cell.c). The others are integrated by 16-point Gauss–Legendre on
 * pieces no wider than half the distance from the piece to the density's
 * nearest complex singularity (logistic: poles at ±i sqrt(3); Student-t: at
 * ±i sqrt(nu - 2); Laplace: entire on either side of its kink at 0, pieces of
 * at most 1.4 b), where the rule converges geometrically to round-off; narrow
 * cells, far inside that radius, take 8 points. Cells are split at 0 (the
 * Laplace kink; all densities are symmetric, so the negative side is the
 * mirror of the positive one). Infinite cells end in closed-form tails:
 *   Laplace:   ∫_x^∞ (t - c)^2 f = P(X > x) ((x-c)^2 + 2b(x-c) + 2b^2)
 *              (memoryless: X - x given X > x is exponential with mean b),
 *   Student-t: with T = X/k ~ t_nu and t = x/k,
 *              ∫_t^∞ s f = (nu + t^2)/(nu - 1) f(t),
 *              ∫_t^∞ s^2 f = nu/(nu-2) Q_{nu-2}(t sqrt((nu-2)/nu)) + t (nu + t^2)/(nu-1) f(t)
 *              (integration by parts; the second uses that (1 + s^2/nu)^(-(nu-1)/2)
 *              is a t_{nu-2} density up to scale), taken beyond x + 20 (1 + x) where
 *              their cancellation for large nu no longer matters, quadrature before,
 *   logistic:  quadrature to where the density is below 1e-40 (|x| < 52).
 * Samplers: inverse CDF (Laplace, logistic, uniform), Bailey's polar method
 * for Student-t (Math. Comp. 62, 1994), the engine's ziggurat for gauss. */
#include <capmetric/dist.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dist_int.h"
#include "exact_int.h"

#define LAPLACE_B 0.70710678118654752440  /* 1/sqrt(2) */
#define LOGISTIC_S 0.55132889542179204315 /* sqrt(3)/pi */
#define UNIFORM_A 1.73205080756887729353  /* sqrt(3) */

/* ---- names -------------------------------------------------------------------- */

void cm_dist_default(cm_dist *d)
{
    d->kind = CM_DIST_GAUSS;
    d->nu = 0;
    d->sigma = 1.0;
}

double cm_dist_sigma(const cm_dist *d) { return d->sigma == 0 ? 1.0 : d->sigma; }

int cm_dist_is_default(const cm_dist *d)
{
    return d->kind == CM_DIST_GAUSS && cm_dist_sigma(d) == 1.0;
}

static const char *const names[] = {"gauss", "laplace", "logistic", "student", "uniform"};

cm_status cm_dist_parse(const char *t, cm_dist *out, cm_diag *diag)
{
    static const char accepted[] = "gauss, laplace, logistic, student:nu=V (V > 2), uniform";
    for (int k = 0; k < 5; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(t, names[k], n) != 0)
            continue;
        if (k != CM_DIST_STUDENT) {
            if (t[n] != 0)
                break;
            out->kind = (cm_dist_kind)k;
            out->nu = 0;
            return CM_OK;
        }
        const char *v = t + n;
        if (strncmp(v, ":nu=", 4) != 0)
            return cm_diag_set(diag, CM_EPARSE,
                               "distribution '%s': Student-t needs its degrees of freedom, "
                               "e.g. student:nu=5",
                               t);
        char *end;
        double nu = strtod(v + 4, &end);
        if (end == v + 4 || *end)
            return cm_diag_set(diag, CM_EPARSE, "distribution '%s': nu must be a number", t);
        if (!(nu > 2.0 && nu <= CM_DIST_NU_MAX))
            return cm_diag_set(diag, CM_ERANGE,
                               "distribution '%s': nu must be above 2 (the variance is "
                               "infinite at 2 and below) and at most %g (beyond, use gauss)",
                               t, CM_DIST_NU_MAX);
        out->kind = CM_DIST_STUDENT;
        out->nu = nu;
        return CM_OK;
    }
    char hint[96];
    return cm_diag_set(diag, CM_EPARSE, "unknown distribution '%s'%s (accepted: %s)", t,
                       cm_did_you_mean(cm_suggest(t, names, sizeof names / sizeof *names), hint,
                                       sizeof hint),
                       accepted);
}

cm_status cm_dist_check(const cm_dist *d, cm_diag *diag)
{
    if ((unsigned)d->kind > CM_DIST_UNIFORM)
        return cm_diag_set(diag, CM_EINVAL, "unknown distribution kind %d", (int)d->kind);
    if (d->kind == CM_DIST_STUDENT && !(d->nu > 2.0 && d->nu <= CM_DIST_NU_MAX))
        return cm_diag_set(diag, CM_ERANGE, "Student-t nu must be in (2, %g], not %g",
                           CM_DIST_NU_MAX, d->nu);
    if (!(d->sigma >= 0) || !isfinite(d->sigma) || (d->sigma > 0 && d->sigma < 1e-300))
        return cm_diag_set(diag, CM_ERANGE, "sigma must be positive and finite, not %g",
                           d->sigma);
    return CM_OK;
}

const char *cm_dist_name(const cm_dist *d, char *buf, size_t cap)
{
    if (d->kind != CM_DIST_STUDENT) {
        snprintf(buf, cap, "%s", (unsigned)d->kind <= CM_DIST_UNIFORM ? names[d->kind] : "?");
        return buf;
    }
    int p = 1; /* the shortest text that reads back */
    for (char t[64]; p < 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, d->nu);
        if (strtod(t, NULL) == d->nu)
            break;
    }
    snprintf(buf, cap, "student:nu=%.*g", p, d->nu);
    return buf;
}

/* ---- densities ------------------------------------------------------------------ */

const cm_dens cm_dens_gauss = {.d = {CM_DIST_GAUSS, 0, 1.0}, .k = 1, .r = INFINITY, .cut = 12.0};

void cm_dens_init(cm_dens *D, const cm_dist *d)
{
    memset(D, 0, sizeof *D);
    D->d = *d;
    D->k = 1;
    switch (d->kind) {
    case CM_DIST_GAUSS: *D = cm_dens_gauss; D->d = *d; break;
    case CM_DIST_LAPLACE: D->r = 2 * LAPLACE_B; D->cut = 56.0; break;
    case CM_DIST_LOGISTIC: D->r = UNIFORM_A; D->cut = 52.0; break;
    case CM_DIST_UNIFORM: D->r = INFINITY; D->cut = UNIFORM_A; break;
    case CM_DIST_STUDENT:
        D->k = sqrt((d->nu - 2) / d->nu);
        D->logc = lgamma(0.5 * (d->nu + 1)) - lgamma(0.5 * d->nu) - 0.5 * log(d->nu * M_PI);
        D->r = sqrt(d->nu - 2);
        D->cut = INFINITY;
        break;
    }
}

/* t_nu density at t (T units) */
static double t_pdf(const cm_dens *D, double t)
{
    return exp(D->logc - 0.5 * (D->d.nu + 1) * log1p(t * t / D->d.nu));
}

double cm_dens_pdf(const cm_dens *D, double x)
{
    double a = fabs(x);
    switch (D->d.kind) {
    case CM_DIST_GAUSS: return cm_normal_pdf(x);
    case CM_DIST_LAPLACE: return isinf(a) ? 0 : exp(-a / LAPLACE_B) / (2 * LAPLACE_B);
    case CM_DIST_LOGISTIC: {
        if (isinf(a))
            return 0;
        double e = exp(-a / LOGISTIC_S);
        return e / (LOGISTIC_S * (1 + e) * (1 + e));
    }
    case CM_DIST_UNIFORM: return a <= UNIFORM_A ? 1 / (2 * UNIFORM_A) : 0;
    case CM_DIST_STUDENT: return isinf(a) ? 0 : t_pdf(D, x / D->k) / D->k;
    }
    return NAN;
}

double cm_dens_sf(const cm_dens *D, double x)
{
    if (x < 0)
        return 1 - cm_dens_sf(D, -x);
    switch (D->d.kind) {
    case CM_DIST_GAUSS: return 0.5 * erfc(x * M_SQRT1_2);
    case CM_DIST_LAPLACE: return 0.5 * exp(-x / LAPLACE_B);
    case CM_DIST_LOGISTIC: {
        double e = exp(-x / LOGISTIC_S);
        return e / (1 + e);
    }
    case CM_DIST_UNIFORM: return x >= UNIFORM_A ? 0 : 0.5 * (UNIFORM_A - x) / UNIFORM_A;
    case CM_DIST_STUDENT: return gsl_cdf_tdist_Q(x / D->k, D->d.nu);
    }
    return NAN;
}

double cm_dens_isf(const cm_dens *D, double q)
{
    switch (D->d.kind) {
    case CM_DIST_GAUSS: return gsl_cdf_ugaussian_Qinv(q);
    case CM_DIST_LAPLACE: return -LAPLACE_B * log(2 * q);
    case CM_DIST_LOGISTIC: return LOGISTIC_S * (log1p(-q) - log(q));
    case CM_DIST_UNIFORM: return UNIFORM_A * (1 - 2 * q);
    case CM_DIST_STUDENT: return D->k * gsl_cdf_tdist_Qinv(q, D->d.nu);
    }
    return NAN;
}

/* ---- cell integrals --------------------------------------------------------------- */

/* the weight under the density: (x - c)^2, or (x - A)(B - x) for stochastic rounding */
typedef struct wt {
    int sr;  /* 1: (y - A)(B - y); 2: (y - c); 0: (y - c)^2 */
    double c, A, B;
    double sign; /* -1: integrating the mirror image of a negative piece */
} wt;

static inline double wt_at(const wt *w, double x)
{
    double y = w->sign * x;
    return w->sr == 1 ? (y - w->A) * (w->B - y) : w->sr == 2 ? y - w->c : (y - w->c) * (y - w->c);
}

static gsl_integration_glfixed_table *gl16, *gl8;
static pthread_once_t gl_once = PTHREAD_ONCE_INIT;
static void gl_make(void)
{
    gl16 = gsl_integration_glfixed_table_alloc(16);
    gl8 = gsl_integration_glfixed_table_alloc(8);
}

static double gl_piece(const cm_dens *D, const wt *w, double lo, double hi, int narrow)
{
    const gsl_integration_glfixed_table *t = narrow ? gl8 : gl16;
    double s = 0;
    for (size_t j = 0; j < t->n; j++) {
        double x, wj;
        gsl_integration_glfixed_point(lo, hi, j, &x, &wj, t);
        s += wj * wt_at(w, x) * cm_dens_pdf(D, x);
    }
    return s;
}

/* ∫_a^b on 0 <= a < b < inf, marching in pieces of at most half the
 * distance to the nearest singularity */
static double pos_finite(const cm_dens *D, const wt *w, double a, double b)
{
    if (D->d.kind == CM_DIST_UNIFORM) { /* a polynomial on the support: 3 points are exact */
        b = fmin(b, UNIFORM_A);
        return b > a ? gl_piece(D, w, a, b, 1) : 0;
    }
    double s = 0;
    for (double x = a; x < b;) {
        double dist = hypot(x, D->r), step = 0.5 * dist;
        double hi = b - x <= step ? b : x + step;
        s += gl_piece(D, w, x, hi, hi - x < 0.02 * dist);
        x = hi;
    }
    return s;
}

/* Student-t: ∫_x^∞ (y - c)^2 f_X(y) dy, x >= 0, from the closed forms */
static double t_tail(const cm_dens *D, double x, double c)
{
    const double nu = D->d.nu, k = D->k, t = x / D->k, f = t_pdf(D, t);
    double T0 = gsl_cdf_tdist_Q(t, nu);
    double T1 = (nu + t * t) / (nu - 1) * f;
    double T2 = nu / (nu - 2) * gsl_cdf_tdist_Q(t * sqrt((nu - 2) / nu), nu - 2) + t * T1;
    return k * k * T2 - 2 * c * k * T1 + c * c * T0;
}

/* Student-t: ∫_x^∞ (y - c) f_X(y) dy, x >= 0 */
static double t_tail1(const cm_dens *D, double x, double c)
{
    const double nu = D->d.nu, k = D->k, t = x / D->k, f = t_pdf(D, t);
    double T0 = gsl_cdf_tdist_Q(t, nu);
    double T1 = (nu + t * t) / (nu - 1) * f;
    return k * T1 - c * T0;
}

/* ∫_a^∞ on a >= 0 */
static double pos_tail(const cm_dens *D, const wt *w, double a)
{
    switch (D->d.kind) {
    case CM_DIST_LAPLACE: {
        /* memoryless: beyond a the excess is exponential of mean b */
        double d = a - w->sign * w->c, b = LAPLACE_B;
        if (!w->sr)
            return cm_dens_sf(D, a) * (d * d + 2 * b * d + 2 * b * b);
        if (w->sr == 2) /* sign (y - sign c) in the mirror's terms */
            return w->sign * cm_dens_sf(D, a) * (d + b);
        return pos_finite(D, w, a, fmax(a, D->cut));
    }
    case CM_DIST_STUDENT: {
        double x1 = a + 20 * (1 + a), tail = 0;
        if (!w->sr)
            tail = t_tail(D, x1, w->sign * w->c);
        else if (w->sr == 2)
            tail = w->sign * t_tail1(D, x1, w->sign * w->c);
        return pos_finite(D, w, a, x1) + tail;
    }
    default: return a < D->cut ? pos_finite(D, w, a, D->cut) : 0;
    }
}

/* ∫_a^b wt f, a < b; the negative part as the mirror image of a positive one */
static double integrate(const cm_dens *D, wt w, double a, double b)
{
    pthread_once(&gl_once, gl_make);
    if (!gl16 || !gl8)
        return NAN;
    double s = 0;
    if (a < 0) { /* [a, min(b, 0)] mirrored to [max(-b, 0), -a] */
        wt m = w;
        m.sign = -1;
        double lo = b < 0 ? -b : 0;
        s += isinf(a) ? pos_tail(D, &m, lo) : pos_finite(D, &m, lo, -a);
    }
    if (b > 0) {
        double lo = a > 0 ? a : 0;
        s += isinf(b) ? pos_tail(D, &w, lo) : pos_finite(D, &w, lo, b);
    }
    return s;
}

double cm_dens_cell(const cm_dens *D, double a, double b, double c)
{
    if (D->d.kind == CM_DIST_GAUSS)
        return cm_exact_cell(a, b, c);
    if (!(b > a))
        return 0;
    wt w = {.sr = 0, .c = c, .sign = 1};
    double r = integrate(D, w, a, b);
    return r > 0 ? r : 0;
}

/* ∫_a^b x (x - c) f(x) dx = ∫ (x - c)^2 f + c ∫ (x - c) f */
double cm_dens_xe_cell(const cm_dens *D, double a, double b, double c)
{
    if (D->d.kind == CM_DIST_GAUSS)
        return cm_exact_xe_cell(a, b, c);
    if (!(b > a))
        return 0;
    wt w = {.sr = 2, .c = c, .sign = 1};
    return cm_dens_cell(D, a, b, c) + c * integrate(D, w, a, b);
}

double cm_dens_sr_cell(const cm_dens *D, double lo, double hi, double A, double B)
{
    if (D->d.kind == CM_DIST_GAUSS)
        return cm_exact_sr_cell(lo, hi, A, B);
    if (!(hi > lo))
        return 0;
    wt w = {.sr = 1, .A = A, .B = B, .sign = 1};
    double r = integrate(D, w, lo, hi);
    return r > 0 ? r : 0;
}

/* ---- samplers --------------------------------------------------------------------- */

/* (0, 1) from the top 53 bits */
static inline double open01(uint64_t r) { return ((double)(r >> 11) + 0.5) * 0x1p-53; }

void cm_dens_fill(const cm_dens *D, cm_pcg64 *g, double *out, size_t n)
{
    switch (D->d.kind) {
    case CM_DIST_GAUSS: cm_gauss_fill(g, out, n); return;
    case CM_DIST_LAPLACE:
        for (size_t i = 0; i < n; i++) {
            uint64_t r = cm_pcg64_next(g);
            double e = -LAPLACE_B * log(open01(r)); /* (bit 0 is not among the top 53) */
            out[i] = (r & 1) ? -e : e;
        }
        return;
    case CM_DIST_LOGISTIC:
        for (size_t i = 0; i < n; i++) {
            double u = open01(cm_pcg64_next(g));
            out[i] = LOGISTIC_S * (log(u) - log1p(-u));
        }
        return;
    case CM_DIST_UNIFORM:
        for (size_t i = 0; i < n; i++)
            out[i] = UNIFORM_A * (2 * open01(cm_pcg64_next(g)) - 1);
        return;
    case CM_DIST_STUDENT: {
        const double nu = D->d.nu;
        for (size_t i = 0; i < n; i++) {
            double u, v, w;
            do { /* a point in the unit disc, not its centre */
                u = 2 * open01(cm_pcg64_next(g)) - 1;
                v = 2 * open01(cm_pcg64_next(g)) - 1;
                w = u * u + v * v;
            } while (w >= 1 || w == 0);
            out[i] = D->k * u * sqrt(nu * (pow(w, -2 / nu) - 1) / w);
        }
        return;
    }
    }
}

/* ---- the public density functions ------------------------------------------------- */

double cm_dist_pdf(const cm_dist *d, double x)
{
    cm_dens D;
    cm_dens_init(&D, d);
    return cm_dens_pdf(&D, x);
}

double cm_dist_sf(const cm_dist *d, double x)
{
    cm_dens D;
    cm_dens_init(&D, d);
    return cm_dens_sf(&D, x);
}

double cm_dist_isf(const cm_dist *d, double q)
{
    cm_dens D;
    cm_dens_init(&D, d);
    return q > 0.5 ? -cm_dens_isf(&D, 1 - q) : cm_dens_isf(&D, q);
}
