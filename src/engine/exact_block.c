/* The exact GMSE of block formats (pipeline/scaling.c has the rules).
 * Exact GMSE (every rule whose scale is a function of the block maximum):
 * with M = max_i |x_i| over a block of K i.i.d. N(0,1) values, P(m) =
 * P(|X| < m) = erf(m/sqrt 2), f_M(m) = 2K φ(m) P(m)^(K-1), and, given M = m,
 * the other K-1 values i.i.d. N(0,1) truncated to (-m, m):
 *   GMSE = ∫ 2φ(m) P(m)^(K-1) e_max(m) dm + (K-1) ∫ 2φ(m) P(m)^(K-2) I(m) dm,
 *   e_max(m) = mean over the sign of (±m - s Q(±m/s))^2,
 *   I(m) = ∫_{-m}^{m} (x - s Q(x/s))^2 φ(x) dx (cells clipped to [-m, m]),
 * with s = s(m) the block scale. s(m) is a step function for power-of-two
 * rules and narrow scale formats: the outer integral is split where s(m)
 * steps (found by bisection; s is monotone in m) and where m crosses a cell
 * boundary (kinks), and each piece integrated by Gauss–Kronrod (GSL).
 *
 * Other distributions (dist.h): the same with f in place of φ, P(m) =
 * 1 - 2 P(X > m) and the cells of dist.c; data of standard deviation sigma
 * have block maximum sigma m, so the scale is s(sigma m) / sigma in unit
 * terms. Heavy tails are integrated in pieces of at most one octave up to
 * where K E[X^2; |X| > m] falls below 1e-18; the rest is added to the error
 * bound. */
#include <capmetric/grid.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exact_int.h"
#include "util_int.h"

/* ---- exact ---------------------------------------------------------------------- */

#define M_LO 1e-9  /* below: at most 4e-18 of GMSE */
#define M_HI 12.0  /* above: P(M > 12) < K * 4e-33 */

typedef struct bx {
    const cm_dens *D;
    double sigma;     /* the data's: block maxima are sigma m */
    const cm_blockspec *b;
    const double *lv; /* sorted unique unit grid */
    size_t k;
    cm_grid g;
    double s;         /* the scale on the current piece (NaN: compute from m) */
    int sr;           /* stochastic rounding */
    int xe;           /* x (x - R(x)) in place of (x - R(x))^2 */
} bx;

/* expected squared error of one value v (unit grid) under stochastic
 * rounding, in grid units: (v - lo)(hi - v) inside, squared distance outside */
static double sr_err(const bx *c, double v)
{
    const double *lv = c->lv;
    size_t k = c->k;
    if (v <= lv[0])
        return (v - lv[0]) * (v - lv[0]);
    if (v >= lv[k - 1])
        return (v - lv[k - 1]) * (v - lv[k - 1]);
    size_t lo = 0, hi = k - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (lv[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return (v - lv[lo]) * (lv[hi] - v);
}

static double nearest(const bx *c, double v) { return c->lv[cm_grid_index(&c->g, v)]; }

/* the block scale for a unit block maximum m, in unit terms */
static double bscale(const bx *c, double m)
{
    return c->sigma == 1.0 ? cm_block_scale(c->b, m)
                           : cm_block_scale(c->b, c->sigma * m) / c->sigma;
}

static double integrand(double m, void *arg)
{
    const bx *c = arg;
    const size_t K = c->b->K;
    double s = isnan(c->s) ? bscale(c, m) : c->s, emax;
    const double lo0 = s * c->lv[0], hik = s * c->lv[c->k - 1];
    if (c->xe && c->sr) { /* unbiased between the ends: x (x - end) beyond them */
        emax = 0.5 * ((m > hik ? m * (m - hik) : m < lo0 ? m * (m - lo0) : 0.0) +
                      (-m > hik ? -m * (-m - hik) : -m < lo0 ? -m * (-m - lo0) : 0.0));
    } else if (c->xe) {
        double ep = m - s * nearest(c, m / s), en = -m - s * nearest(c, -m / s);
        emax = 0.5 * (m * ep - m * en);
    } else if (c->sr) {
        emax = 0.5 * s * s * (sr_err(c, m / s) + sr_err(c, -m / s));
    } else {
        double ep = m - s * nearest(c, m / s), en = -m - s * nearest(c, -m / s);
        emax = 0.5 * (ep * ep + en * en);
    }
    double (*cell)(const cm_dens *, double, double, double) = c->xe ? cm_dens_xe_cell
                                                                    : cm_dens_cell;
    double logP, phi2;
    if (cm_dens_is_gauss(c->D)) {
        double P = erf(m * M_SQRT1_2);
        logP = m < 1 ? log(P) : log1p(-erfc(m * M_SQRT1_2));
        phi2 = 2 * 0.39894228040143267794 * exp(-0.5 * m * m);
    } else {
        logP = log1p(-2 * cm_dens_sf(c->D, m));
        phi2 = 2 * cm_dens_pdf(c->D, m);
    }
    double r = phi2 * exp((double)(K - 1) * logP) * emax;
    if (K > 1 && c->sr) {
        double I = 0;
        if (-m < lo0)
            I += cell(c->D, -m, fmin(lo0, m), lo0);
        if (m > hik)
            I += cell(c->D, fmax(hik, -m), m, hik);
        for (size_t j = 0; j + 1 < c->k && !c->xe; j++) {
            double A = s * c->lv[j], B = s * c->lv[j + 1];
            double a = A < -m ? -m : A, b = B > m ? m : B;
            if (b > a)
                I += cm_dens_sr_cell(c->D, a, b, A, B);
        }
        r += (double)(K - 1) * phi2 * exp((double)(K - 2) * logP) * I;
    } else if (K > 1) {
        double I = 0;
        for (size_t j = 0; j < c->k; j++) {
            double a = j ? 0.5 * s * (c->lv[j - 1] + c->lv[j]) : -INFINITY;
            double b = j + 1 < c->k ? 0.5 * s * (c->lv[j] + c->lv[j + 1]) : INFINITY;
            a = a < -m ? -m : a;
            b = b > m ? m : b;
            if (b > a)
                I += cell(c->D, a, b, s * c->lv[j]);
        }
        r += (double)(K - 1) * phi2 * exp((double)(K - 2) * logP) * I;
    }
    return r;
}

/* next m > m0 where the block scale differs from its value at m0 (m_hi if none) */
static double next_step(const bx *c, double m0, double m_hi)
{
    double s0 = bscale(c, m0), step = m0 * 0x1p-14, hi = m0 + step;
    while (hi < m_hi && bscale(c, hi) == s0) {
        step *= 2;
        hi = m0 + step;
    }
    if (hi >= m_hi) {
        if (bscale(c, m_hi) == s0)
            return m_hi;
        hi = m_hi;
    }
    double lo = m0;
    for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if (bscale(c, mid) == s0)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static int cmpd(const void *p, const void *q)
{
    double x = *(const double *)p, y = *(const double *)q;
    return (x > y) - (x < y);
}

/* the upper end of the outer integral: M_HI for N(0,1); for the others where
 * K E[X^2; |X| > m] < 1e-18 (found by doubling; *rest receives that bound) */
static double upper_end(const cm_dens *D, size_t K, double *rest)
{
    *rest = 0;
    if (cm_dens_is_gauss(D))
        return M_HI;
    if (isfinite(D->cut))
        return D->cut;
    for (double m = 16;; m *= 2) {
        double t = 2 * (double)K * cm_dens_cell(D, m, INFINITY, 0);
        if (t < 1e-18 || m > 1e300) {
            *rest = t;
            return m;
        }
    }
}

cm_status cm_block_exact(const cm_dens *D, const cm_blockspec *b, const double *lv, size_t k,
                         unsigned rounding, int xe, double *mse, double *err_out, cm_diag *d)
{
    if (b->rule == CM_RULE_MSE || b->rule == CM_RULE_SEARCH || b->rule == CM_RULE_RMS || b->eden)
        return cm_diag_set(d, CM_EUNSUPPORTED, "a per-block scale search: no exact path");
    cm_gsl_quiet();
    /* a tensor scale calibrated to data sigma times wider than N(0,1) */
    cm_blockspec bs = *b;
    cm_block_retarget(&bs, b->tensor_amax * cm_dist_sigma(&D->d));
    /* an absmax scale kept in FP32 is integrated as the exact one: its 2^-24
     * steps move GMSE by ~1e-14 relative, but as micro-jumps of the integrand
     * they stall the quadrature (stochastic rounding: "limited by round-off") */
    if (bs.rule == CM_RULE_ABSMAX && bs.sfmt == CM_SF_FP32)
        bs.sfmt = CM_SF_EXACT; /* (a tensor scale over FP32 block scales is refused at parse) */
    b = &bs;
    bx c = {.D = D, .sigma = cm_dist_sigma(&D->d), .b = b, .lv = lv, .k = k, .s = NAN,
            .sr = (rounding & 0xff) == CM_ROUND_STOCHASTIC, .xe = xe};
    double rest;
    const double m_hi = upper_end(D, b->K, &rest);
    cm_status st = cm_grid_init(&c.g, lv, k, d);
    if (st)
        return st;
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(512);
    double *kinks = malloc((2 * k + 2) * sizeof *kinks);
    if (!w || !kinks) {
        cm_grid_fini(&c.g);
        gsl_integration_workspace_free(w);
        free(kinks);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    /* a continuous scale (absmax kept exact; FP32 became exact above) needs no pieces */
    int continuous = b->rule == CM_RULE_ABSMAX && b->sfmt == CM_SF_EXACT;
    gsl_function F = {integrand, &c};
    double total = 0, total_err = 0;
    int rc = GSL_SUCCESS, floor_hit = 0, overflow = 0;
    /* overflow=inf: an element beyond this rounds past the largest value and
     * becomes Inf/NaN (nearest: half a top-binade step above it; stochastic:
     * anything above it); rules that keep amax/s within it never overflow */
    const int ovf = (rounding & CM_ROUND_OVERFLOW_INF) != 0;
    const double gtop = fabs(lv[k - 1]) > fabs(lv[0]) ? fabs(lv[k - 1]) : fabs(lv[0]);
    const double thr = c.sr || k < 2 ? gtop : gtop + 0.5 * (fabs(lv[k - 1]) - fabs(lv[k - 2]));
    if (ovf && continuous && gtop * (1 + 1e-6) > thr)
        overflow = 1; /* (a grid without room above its top: any rounding up overflows) */
    if (b->K == 1) {
        /* below M_LO a block of one value contributes at most ~1e-9 of its own error;
         * small for grids holding 0 (e <= m^2), not for zero-free grids whose narrow
         * scale format rounds tiny scales to 0 (then to 1): integrate it too */
        double r0, e0;
        c.s = NAN;
        int r = gsl_integration_qag(&F, 0.0, M_LO, 0.0, 1e-12, 512, GSL_INTEG_GAUSS21, w, &r0, &e0);
        if (r == GSL_SUCCESS || r == GSL_EROUND || r == GSL_EMAXITER) {
            total += r0;
            total_err += e0;
        } else {
            rc = r;
        }
    }
    for (double m0 = M_LO; m0 < m_hi && rc == GSL_SUCCESS && !overflow;) {
        double m1 = continuous ? m_hi : next_step(&c, m0, m_hi);
        if (!cm_dens_is_gauss(D) && m1 > fmax(2 * m0, 1.0))
            m1 = fmax(2 * m0, 1.0); /* long tails: an octave at a time beyond 1 */
        size_t nk = 0;
        kinks[nk++] = m0;
        if (!continuous) {
            /* constant scale on (m0, m1): F has kinks where m crosses s * t_j */
            double s = bscale(&c, 0.5 * (m0 + m1));
            c.s = isnan(s) || s == 0 ? NAN : s;
            if (ovf && (!(s > 0) || m1 / s > thr)) {
                overflow = 1; /* a block max in this piece maps past the grid */
                break;
            }
            /* kinks: cell boundaries (nearest) or the levels (stochastic) */
            for (size_t j = 0; j < k; j++) {
                double t = c.sr ? fabs(s * lv[j]) : j + 1 < k ? fabs(0.5 * s * (lv[j] + lv[j + 1])) : 0;
                if (t > m0 && t < m1)
                    kinks[nk++] = t;
            }
            qsort(kinks + 1, nk - 1, sizeof *kinks, cmpd);
        }
        kinks[nk++] = m1;
        for (size_t i = 0; i + 1 < nk && rc == GSL_SUCCESS; i++) {
            if (!(kinks[i + 1] > kinks[i]))
                continue;
            double r, err;
            rc = gsl_integration_qag(&F, kinks[i], kinks[i + 1], 0.0, 1e-12, 512,
                                     GSL_INTEG_GAUSS21, w, &r, &err);
            /* round-off or the subdivision limit before 1e-12: keep the piece
             * and its error estimate; the total is judged at the end */
            if (rc == GSL_EROUND || rc == GSL_EMAXITER) {
                floor_hit = 1;
                rc = GSL_SUCCESS;
            }
            total += r;
            total_err += err;
        }
        m0 = m1;
    }
    gsl_integration_workspace_free(w);
    free(kinks);
    cm_grid_fini(&c.g);
    if (overflow) { /* with positive probability: the GMSE is infinite (xe: undefined) */
        *mse = xe ? NAN : INFINITY;
        *err_out = 0;
        return CM_OK;
    }
    if (rc != GSL_SUCCESS)
        return cm_diag_set(d, CM_ENUMERIC, "block integral failed: %s", gsl_strerror(rc));
    /* (an error below 1e-30 is round-off around a lossless format's zero; the
     * misalignment's numerator is 0 for every unbiased rounding, so it is
     * judged against E[x^2] too: 1e-12 of it) */
    const double floor_err = xe ? 1e-12 * c.sigma * c.sigma : 1e-30;
    if (!(total_err <= CM_EXACT_REL_TOL * fabs(total)) && total_err > floor_err)
        return cm_diag_set(d, CM_ENUMERIC,
                           "block integral did not reach the exact path's 1e-9 relative accuracy "
                           "(estimate %.3g, error %.2g%s); use --method mc",
                           total, total_err, floor_hit ? ", limited by round-off" : "");
    *mse = total;
    *err_out = total_err + rest;
    return CM_OK;
}
