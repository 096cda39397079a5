/* Block scaling: one scale per K consecutive values, chosen from the block
 * itself by a rule and stored in a scale format (OCP MX v1.0; NVIDIA NVFP4;
 * bitsandbytes absmax blocks). tests/anchors/formats.json has the rules.
 *
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
 * boundary (kinks), and each piece integrated by Gauss–Kronrod (GSL). */
#include "block_int.h"

#include <capmetric/grid.h>
#include <float.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exact_int.h"
#include "util_int.h"

/* OCP OFP8 E4M3 (max 448), E5M2 (max 57344), BF16, FP16, FP32 */
static const cm_fpgrid G_E4M3 = {3, -6, 1, 448.0};
static const cm_fpgrid G_E5M2 = {2, -14, 1, 57344.0};
static const cm_fpgrid G_BF16 = {7, -126, 1, 0x1.fep127};
static const cm_fpgrid G_FP16 = {10, -14, 1, 65504.0};
static const cm_fpgrid G_FP32 = {23, -126, 1, FLT_MAX};

double cm_sfmt_bits(cm_sfmt f)
{
    switch (f) {
    case CM_SF_EXACT: return 16; /* an idealized scale, counted like BF16/FP16 */
    case CM_SF_FP32: return 32;
    case CM_SF_BF16:
    case CM_SF_FP16: return 16;
    default: return 8;
    }
}

static double sfmt_max(cm_sfmt f)
{
    switch (f) {
    case CM_SF_E4M3:
    case CM_SF_UE4M3: return G_E4M3.maxv;
    case CM_SF_E5M2: return G_E5M2.maxv;
    case CM_SF_BF16: return G_BF16.maxv;
    case CM_SF_FP16: return G_FP16.maxv;
    case CM_SF_FP32: return G_FP32.maxv;
    case CM_SF_E8M0: return 0x1p127;
    default: return INFINITY;
    }
}

/* E8M0 (OCP MX): 2^e, e in -127..127; nearest in value, ties to the even code */
static double e8m0_round(double s)
{
    if (!(s > 0))
        return s;
    int e = cm_ilog2(s);
    double f = s / ldexp(1.0, e);
    if (f > 1.5 || (f == 1.5 && ((e + 127) & 1)))
        e++;
    e = e < -127 ? -127 : e > 127 ? 127 : e;
    return ldexp(1.0, e);
}

static double sfmt_round(cm_sfmt f, double s)
{
    switch (f) {
    case CM_SF_EXACT: return s;
    case CM_SF_FP32: return cm_fp_round(&G_FP32, s);
    case CM_SF_BF16: return cm_fp_round(&G_BF16, s);
    case CM_SF_FP16: return cm_fp_round(&G_FP16, s);
    case CM_SF_E8M0: return e8m0_round(s);
    case CM_SF_E4M3:
    case CM_SF_UE4M3: return cm_fp_round(&G_E4M3, s);
    case CM_SF_E5M2: return cm_fp_round(&G_E5M2, s);
    }
    return s;
}

static int ceil_log2(double a) { return cm_ilog2(a) + (a != ldexp(1.0, cm_ilog2(a))); }

/* the scale format and tensor scale applied to a raw scale r */
static double finish(const cm_blockspec *b, double r)
{
    double t = sfmt_round(b->sfmt, r / b->sg);
    if (t == 0)
        t = 1.0; /* NVFP4 recipe: a zero scale is replaced by 1 */
    return t * b->sg;
}

double cm_block_scale(const cm_blockspec *b, double amax)
{
    if (!(amax > 0))
        return amax == 0 ? 0.0 : NAN;
    int e;
    switch (b->rule) {
    case CM_RULE_ABSMAX: return finish(b, amax / b->gmax);
    case CM_RULE_FLOOR: e = cm_ilog2(amax) - b->emax; break;
    case CM_RULE_CEIL: e = ceil_log2(amax) - b->emax; break;
    case CM_RULE_EVEN: {
        int e0 = cm_ilog2(amax);
        double r = cm_round_even(ldexp(amax, b->melem - e0));
        e = cm_ilog2(ldexp(r, e0 - b->melem)) - b->emax;
        break;
    }
    case CM_RULE_RCEIL: e = ceil_log2(amax / b->gmax); break;
    default: return finish(b, amax / b->gmax);
    }
    if (b->sfmt == CM_SF_E8M0) { /* OCP MX: shared_exp > 127 is NaN, < -127 clamps */
        if (e > 127)
            return NAN;
        if (e < -127)
            e = -127;
    }
    return finish(b, ldexp(1.0, e));
}

double cm_block_scale_to(const cm_blockspec *b, double amax, double c)
{
    if (!(amax > 0))
        return amax == 0 ? 0.0 : NAN;
    return finish(b, amax / c);
}

cm_status cm_block_prepare(cm_blockspec *b, const cm_format *f, const double *lv, size_t k,
                           cm_diag *d)
{
    b->gmax = fmax(fabs(lv[0]), fabs(lv[k - 1]));
    if (!(b->gmax > 0) || !isfinite(b->gmax))
        return cm_diag_set_key(d, CM_EINVAL, "block", "block scaling needs a grid with a non-zero value");
    b->emax = cm_ilog2(b->gmax);
    b->sg = 1.0;
    if ((b->rule == CM_RULE_FLOOR || b->rule == CM_RULE_CEIL || b->rule == CM_RULE_EVEN) &&
        !(f->flags & CM_FORMAT_POW2))
        return cm_diag_set_key(d, CM_EINVAL, "scale",
                               "scale=floor|ceil|even are the OCP MX power-of-two rules, defined "
                               "for fp and int element grids; '%s' is not one (use absmax, "
                               "rceil or mse)",
                               f->name);
    if (b->rule == CM_RULE_EVEN) {
        /* mantissa width from the top binade's spacing: gmax - next = 2^(emax - M) */
        double next = -INFINITY;
        for (size_t i = 0; i < k; i++)
            if (fabs(lv[i]) < b->gmax && fabs(lv[i]) > next)
                next = fabs(lv[i]);
        double m = b->emax - log2(b->gmax - next);
        if (!(next > 0) || m != floor(m) || m < 0 || m > 52)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=even needs a grid whose top binade is evenly spaced "
                                   "(an FP or integer element grid)");
        b->melem = (int)m;
    }
    if (b->rule == CM_RULE_MSE) {
        int n = 0;
        for (size_t i = k; i-- > 0 && n < b->ncand;)
            if (lv[i] > 0 && (n == 0 || lv[i] < b->cand[n - 1]))
                b->cand[n++] = lv[i];
        if (n == 0)
            return cm_diag_set_key(d, CM_EINVAL, "scale", "scale=mse needs positive grid values");
        b->ncand = n;
    }
    if (b->tensor)
        b->sg = cm_fp_round(&G_FP32, b->tensor_amax / (sfmt_max(b->sfmt) * b->gmax));
    return CM_OK;
}

/* ---- data path ------------------------------------------------------------- */

static double block_amax(const double *x, size_t K)
{
    double amax = 0; /* of the finite values: NaN stays NaN, inf saturates */
    for (size_t i = 0; i < K; i++) {
        double a = fabs(x[i]);
        amax = a > amax && a < INFINITY ? a : amax;
    }
    return amax;
}

void cm_block_apply(const cm_blockspec *b, const cm_format *f, const void *params, void *fstate,
                    const double *x, double *y, size_t n, double *u, double *sc, double *tmp)
{
    const size_t K = b->K, nb = n / K;
    if (b->rule == CM_RULE_MSE) {
        for (size_t j = 0; j < nb; j++) {
            const double *xb = x + j * K;
            double *yb = y + j * K, amax = block_amax(xb, K), best = INFINITY;
            for (int c = 0; c < b->ncand; c++) {
                double s = cm_block_scale_to(b, amax, b->cand[c]);
                if (!(s > 0))
                    s = 1.0; /* all-zero block: any scale gives zeros */
                for (size_t i = 0; i < K; i++)
                    u[i] = xb[i] / s;
                f->quantize(params, fstate, u, tmp, K);
                double err = 0;
                for (size_t i = 0; i < K; i++) {
                    double e = xb[i] - s * tmp[i];
                    err += e * e;
                }
                if (err < best || c == 0) {
                    best = err;
                    for (size_t i = 0; i < K; i++)
                        yb[i] = s * tmp[i];
                }
            }
        }
        return;
    }
    for (size_t j = 0; j < nb; j++) {
        const double *xb = x + j * K;
        double s = cm_block_scale(b, block_amax(xb, K));
        sc[j] = s;
        double inv = s > 0 ? 1.0 / s : 0.0;
        for (size_t i = 0; i < K; i++)
            u[j * K + i] = xb[i] * inv;
    }
    f->quantize(params, fstate, u, y, n);
    for (size_t j = 0; j < nb; j++) {
        double s = sc[j];
        double *yb = y + j * K;
        if (s > 0) {
            for (size_t i = 0; i < K; i++)
                yb[i] *= s;
        } else { /* all-zero block gives zeros; NaN scale gives NaN */
            for (size_t i = 0; i < K; i++)
                yb[i] = s == 0 && x[j * K + i] == 0 ? x[j * K + i] : NAN;
        }
    }
}

/* ---- exact ---------------------------------------------------------------------- */

#define M_LO 1e-9  /* below: at most 4e-18 of GMSE */
#define M_HI 12.0  /* above: P(M > 12) < K * 4e-33 */

typedef struct bx {
    const cm_blockspec *b;
    const double *lv; /* sorted unique unit grid */
    size_t k;
    cm_grid g;
    double s;         /* the scale on the current piece (NaN: compute from m) */
    int sr;           /* stochastic rounding */
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

static double integrand(double m, void *arg)
{
    const bx *c = arg;
    const size_t K = c->b->K;
    double s = isnan(c->s) ? cm_block_scale(c->b, m) : c->s, emax;
    if (c->sr) {
        emax = 0.5 * s * s * (sr_err(c, m / s) + sr_err(c, -m / s));
    } else {
        double ep = m - s * nearest(c, m / s), en = -m - s * nearest(c, -m / s);
        emax = 0.5 * (ep * ep + en * en);
    }
    double P = erf(m * M_SQRT1_2);
    double logP = m < 1 ? log(P) : log1p(-erfc(m * M_SQRT1_2));
    double phi2 = 2 * 0.39894228040143267794 * exp(-0.5 * m * m);
    double r = phi2 * exp((double)(K - 1) * logP) * emax;
    if (K > 1 && c->sr) {
        double I = 0;
        const double lo0 = s * c->lv[0], hik = s * c->lv[c->k - 1];
        if (-m < lo0)
            I += cm_exact_cell(-m, fmin(lo0, m), lo0);
        if (m > hik)
            I += cm_exact_cell(fmax(hik, -m), m, hik);
        for (size_t j = 0; j + 1 < c->k; j++) {
            double A = s * c->lv[j], B = s * c->lv[j + 1];
            double a = A < -m ? -m : A, b = B > m ? m : B;
            if (b > a)
                I += cm_exact_sr_cell(a, b, A, B);
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
                I += cm_exact_cell(a, b, s * c->lv[j]);
        }
        r += (double)(K - 1) * phi2 * exp((double)(K - 2) * logP) * I;
    }
    return r;
}

/* next m > m0 where the block scale differs from its value at m0 (M_HI if none) */
static double next_step(const cm_blockspec *b, double m0)
{
    double s0 = cm_block_scale(b, m0), step = m0 * 0x1p-14, hi = m0 + step;
    while (hi < M_HI && cm_block_scale(b, hi) == s0) {
        step *= 2;
        hi = m0 + step;
    }
    if (hi >= M_HI) {
        if (cm_block_scale(b, M_HI) == s0)
            return M_HI;
        hi = M_HI;
    }
    double lo = m0;
    for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if (cm_block_scale(b, mid) == s0)
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

cm_status cm_block_exact(const cm_blockspec *b, const double *lv, size_t k, unsigned rounding,
                         double *mse, cm_diag *d)
{
    if (b->rule == CM_RULE_MSE)
        return cm_diag_set(d, CM_EUNSUPPORTED, "scale=mse searches per block: no exact path");
    cm_gsl_quiet();
    bx c = {.b = b, .lv = lv, .k = k, .s = NAN, .sr = (rounding & 0xff) == CM_ROUND_STOCHASTIC};
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
    /* a continuous scale (absmax kept exact or in FP32: 2^-24 steps change
     * GMSE by ~1e-14) needs no pieces */
    int continuous = b->rule == CM_RULE_ABSMAX && (b->sfmt == CM_SF_EXACT || b->sfmt == CM_SF_FP32);
    gsl_function F = {integrand, &c};
    double total = 0;
    int rc = GSL_SUCCESS;
    for (double m0 = M_LO; m0 < M_HI && rc == GSL_SUCCESS;) {
        double m1 = continuous ? M_HI : next_step(b, m0);
        size_t nk = 0;
        kinks[nk++] = m0;
        if (!continuous) {
            /* constant scale on (m0, m1): F has kinks where m crosses s * t_j */
            double s = cm_block_scale(b, 0.5 * (m0 + m1));
            c.s = isnan(s) || s == 0 ? NAN : s;
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
            if (rc == GSL_EROUND || rc == GSL_EMAXITER) /* at the precision floor */
                rc = GSL_SUCCESS;
            total += r;
        }
        m0 = m1;
    }
    gsl_integration_workspace_free(w);
    free(kinks);
    cm_grid_fini(&c.g);
    if (rc != GSL_SUCCESS)
        return cm_diag_set(d, CM_ENUMERIC, "block integral failed: %s", gsl_strerror(rc));
    *mse = total;
    return CM_OK;
}
