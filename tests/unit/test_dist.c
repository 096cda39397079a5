/* Distributions besides N(0,1) (dist.h): the exact engine against an
 * independent quadrature (GSL's adaptive QAGS/QAGI on densities written out
 * here, a different method and different formulas from dist.c), Monte Carlo
 * against exact within 4 standard errors for scalar grids and block formats,
 * the data's sigma, and the names. */
#include <capmetric/capmetric.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>

#include "../testutil.h"

/* ---- the independent reference -------------------------------------------------- */

typedef struct ref {
    cm_dist d;
    double c; /* the code of the cell being integrated */
} ref;

static double ref_pdf(const cm_dist *d, double x)
{
    switch (d->kind) {
    case CM_DIST_GAUSS: return gsl_ran_ugaussian_pdf(x);
    case CM_DIST_LAPLACE: return gsl_ran_laplace_pdf(x, M_SQRT1_2);
    case CM_DIST_LOGISTIC: {
        double s = sqrt(3.0) / M_PI, ch = cosh(x / (2 * s));
        return 1.0 / (4 * s * ch * ch);
    }
    case CM_DIST_UNIFORM: return fabs(x) <= sqrt(3.0) ? 1 / (2 * sqrt(3.0)) : 0;
    case CM_DIST_STUDENT: {
        double k = sqrt((d->nu - 2) / d->nu);
        return gsl_ran_tdist_pdf(x / k, d->nu) / k;
    }
    }
    return NAN;
}

static double integrand(double x, void *arg)
{
    const ref *r = arg;
    return (x - r->c) * (x - r->c) * ref_pdf(&r->d, x);
}

/* ∫_a^b (x - c)^2 f, split at 0 (Laplace's kink) and at the uniform's edges */
static double ref_cell(const cm_dist *d, double a, double b, double c,
                       gsl_integration_workspace *w)
{
    ref r = {*d, c};
    gsl_function F = {integrand, &r};
    double lim = d->kind == CM_DIST_UNIFORM ? sqrt(3.0) : d->kind == CM_DIST_STUDENT ? INFINITY : 80;
    double pts[4] = {fmax(a, -lim), 0, fmin(b, lim)};
    double tot = 0;
    for (int i = 0; i < 2; i++) {
        double lo = i == 0 ? pts[0] : fmax(pts[0], 0), hi = i == 0 ? fmin(pts[2], 0) : pts[2];
        if (!(hi > lo))
            continue;
        double v, e;
        int rc;
        if (isinf(lo) && isinf(hi))
            rc = gsl_integration_qagi(&F, 0, 1e-13, 1000, w, &v, &e);
        else if (isinf(lo))
            rc = gsl_integration_qagil(&F, hi, 0, 1e-13, 1000, w, &v, &e);
        else if (isinf(hi))
            rc = gsl_integration_qagiu(&F, lo, 0, 1e-13, 1000, w, &v, &e);
        else
            rc = gsl_integration_qags(&F, lo, hi, 0, 1e-13, 1000, w, &v, &e);
        (void)rc; /* round-off warnings near 1e-13 are fine: the check is 1e-9 */
        tot += v;
    }
    return tot;
}

/* nearest rounding onto s * lv (sorted, unique) */
static double ref_grid(const cm_dist *d, const double *lv, size_t k, double s)
{
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(1000);
    double tot = 0;
    for (size_t j = 0; j < k; j++) {
        double a = j ? 0.5 * s * (lv[j - 1] + lv[j]) : -INFINITY;
        double b = j + 1 < k ? 0.5 * s * (lv[j] + lv[j + 1]) : INFINITY;
        tot += ref_cell(d, a, b, s * lv[j], w);
    }
    gsl_integration_workspace_free(w);
    return tot;
}

static int cmp_double(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

/* ---- checks --------------------------------------------------------------------- */

static const char *const dists[] = {"laplace", "logistic", "student:nu=3", "student:nu=5",
                                    "student:nu=30", "uniform"};
#define NDIST (sizeof dists / sizeof *dists)

static cm_dist dist_of(const char *name)
{
    cm_dist d;
    cm_dist_default(&d);
    cm_diag dg;
    if (cm_dist_parse(name, &d, &dg)) {
        fprintf(stderr, "cannot parse '%s': %s\n", name, dg.msg);
        exit(99);
    }
    return d;
}

/* the exact GMSE of spec on d, with the stage's unique unit grid (free it) and
 * scale; 0 on success, else a failed CHECK said why */
typedef struct exact_case {
    double g, scale, *lv;
    size_t k;
} exact_case;

static int exact_of(cm_registry *reg, const char *spec, const cm_dist *d, const char *dname,
                    exact_case *c)
{
    cm_pipeline *p = t_spec(reg, spec);
    cm_plan *plan = NULL;
    cm_diag dg;
    c->lv = NULL;
    c->k = 0;
    int bad = cm_plan_alloc_dist(p, d, &plan, &dg) || cm_exact_gmse(plan, &c->g, &dg) ||
              cm_exact_pipeline_levels(p, 0, &c->lv, &c->k, &dg);
    CHECK(!bad, "%s on %s: %s", spec, dname, dg.msg);
    if (!bad) {
        size_t u = 0; /* unique levels */
        for (size_t m = 0; m < c->k; m++)
            if (!u || c->lv[m] != c->lv[u - 1])
                c->lv[u++] = c->lv[m];
        c->k = u;
        c->scale = cm_plan_scale(plan, 0);
    }
    cm_plan_free(plan);
    cm_pipeline_free(p);
    return bad;
}

/* scalar grids: exact (at the plan's optimal or fixed scale) vs the reference, 1e-9 */
static void check_grids(cm_registry *reg)
{
    static const char *const specs[] = {"int4", "int:bits=8,scale=0.02", "e2m1", "e4m3",
                                        "lloydmax:levels=16", "lut:name=nf4", "int:bits=3,grid=midrise",
                                        "fp:e=2,m=1,scale=0.5"};
    for (size_t i = 0; i < NDIST; i++) {
        cm_dist d = dist_of(dists[i]);
        for (size_t j = 0; j < sizeof specs / sizeof *specs; j++) {
            exact_case c;
            if (!exact_of(reg, specs[j], &d, dists[i], &c)) {
                double r = ref_grid(&d, c.lv, c.k, c.scale);
                CHECK(fabs(c.g - r) <= 1e-9 * r, "%s on %s: exact %.15g, quadrature %.15g (rel %.2g)",
                      specs[j], dists[i], c.g, r, fabs(c.g - r) / r);
            }
            free(c.lv);
        }
    }
}

/* the optimum is a minimum: 0.5 % either side is worse */
static void check_optimum(cm_registry *reg)
{
    for (size_t i = 0; i < NDIST; i++) {
        cm_dist d = dist_of(dists[i]);
        exact_case c;
        if (!exact_of(reg, "int4", &d, dists[i], &c)) {
            double lo = ref_grid(&d, c.lv, c.k, c.scale * 0.995);
            double hi = ref_grid(&d, c.lv, c.k, c.scale * 1.005);
            CHECK(lo > c.g && hi > c.g, "int4 on %s: scale %.6g is not the optimum (%.9g; %.9g, %.9g)",
                  dists[i], c.scale, c.g, lo, hi);
        }
        free(c.lv);
    }
}

/* Monte Carlo within 4 SE of exact: scalar grids, stochastic rounding, block
 * formats (the block-maximum integral of each density), sigma; Student-t with
 * nu = 5 (nu = 3 has no fourth moment, and so no honest SE) */
static void check_mc(cm_registry *reg)
{
    static const char *const specs[] = {"int4", "int:bits=4,round=stochastic", "mxfp4", "nvfp4",
                                        "int4_g32", "mxfp8_e4m3", "fp:e=2,m=1,block=16,scale=absmax,scale_fmt=e4m3"};
    const char *dl[] = {"laplace", "logistic", "student:nu=5", "uniform"};
    const double sig[] = {1.0, 1.0, 1.0, 1.0, 0.003};
    for (size_t i = 0; i < 5; i++) {
        cm_dist d = dist_of(dl[i < 4 ? i : 0]);
        d.sigma = sig[i];
        const size_t n = sizeof specs / sizeof *specs;
        cm_pipeline *p[sizeof specs / sizeof *specs];
        cm_result ex[sizeof specs / sizeof *specs], mc[sizeof specs / sizeof *specs];
        for (size_t j = 0; j < n; j++)
            p[j] = t_spec(reg, specs[j]);
        cm_eval_opts o;
        cm_eval_opts_default(&o);
        o.dist = d;
        o.samples = 1u << 22;
        o.threads = 2;
        cm_diag dg;
        o.method = CM_METHOD_EXACT;
        cm_status s1 = cm_eval(p, n, &o, ex, NULL, NULL, &dg);
        CHECK(!s1, "exact on %s: %s", dl[i < 4 ? i : 0], dg.msg);
        o.method = CM_METHOD_MC;
        cm_status s2 = cm_eval(p, n, &o, mc, NULL, NULL, &dg);
        CHECK(!s2, "mc on %s: %s", dl[i < 4 ? i : 0], dg.msg);
        for (size_t j = 0; j < n && !s1 && !s2; j++) {
            double z = (mc[j].gmse - ex[j].gmse) / mc[j].gmse_se;
            CHECK(fabs(z) <= 4, "%s on %s sigma %g: mc %.9g +- %.2g vs exact %.9g (z %.1f)",
                  specs[j], dl[i < 4 ? i : 0], sig[i], mc[j].gmse, mc[j].gmse_se, ex[j].gmse, z);
            CHECK(ex[j].sigma == sig[i] && mc[j].sigma == sig[i], "sigma not reported");
        }
        for (size_t j = 0; j < n; j++)
            cm_pipeline_free(p[j]);
    }
}

/* formats relative to the data (scale=opt, absmax blocks with exact scales)
 * do not see sigma; a fixed scale does */
static void check_sigma(cm_registry *reg)
{
    const char *specs[] = {"int4", "fp:e=2,m=1,block=32,scale=absmax", "int:bits=8,scale=0.02"};
    double g[3][2];
    for (int k = 0; k < 2; k++) {
        cm_pipeline *p[3];
        cm_result r[3];
        for (int j = 0; j < 3; j++)
            p[j] = t_spec(reg, specs[j]);
        cm_eval_opts o;
        cm_eval_opts_default(&o);
        o.dist = dist_of("logistic");
        o.dist.sigma = k ? 0.01 : 1.0;
        cm_diag dg;
        CHECK(!cm_eval(p, 3, &o, r, NULL, NULL, &dg), "eval: %s", dg.msg);
        for (int j = 0; j < 3; j++) {
            g[j][k] = r[j].gmse;
            cm_pipeline_free(p[j]);
        }
    }
    CHECK(fabs(g[0][0] - g[0][1]) <= 1e-12 * g[0][0], "int4: %.15g vs %.15g", g[0][0], g[0][1]);
    CHECK(fabs(g[1][0] - g[1][1]) <= 1e-9 * g[1][0], "absmax block: %.15g vs %.15g", g[1][0],
          g[1][1]);
    CHECK(g[2][1] > 2 * g[2][0], "a fixed scale must see sigma: %.9g vs %.9g", g[2][0], g[2][1]);
}

/* ---- block formats against an independent quadrature ----------------------------
 * The engine integrates over the block maximum M (outer) and the cells
 * (inner). Here the order is the other way round: an element x (outer),
 * and the largest |value| M' of the other K-1 (inner, CDF G(m) =
 * P(|X| < m)^(K-1)):
 *   GMSE = 2 ∫_0^∞ f(x) [ e(x, s(x)) G(x) + ∫_x^∞ e(x, s(m)) dG(m) ] dx,
 * e(x, s) = (x - s Q(x/s))^2, for symmetric grids. absmax with exact scales:
 * s(m) = m / gmax, so e(x, s(x)) = 0 and the inner integral is split where
 * x gmax / m crosses a cell boundary. OCP MX floor: s(m) = 2^(floor(log2 m)
 * - emax) is constant on octaves, the inner integral a sum over them. */
typedef struct bq {
    cm_dist d;
    size_t K;
    const double *lv; /* unit grid, sorted */
    size_t k;
    double gmax;
    int mx;           /* 1: floor rule with emax */
    int emax;
    double x;         /* the outer variable, for the inner integrand */
    gsl_integration_workspace *w;
} bq;

static double q_nearest(const bq *b, double u)
{
    size_t best = 0;
    for (size_t j = 1; j < b->k; j++)
        if (fabs(u - b->lv[j]) < fabs(u - b->lv[best]))
            best = j;
    return b->lv[best];
}

static double e_at(const bq *b, double x, double s)
{
    double r = x - s * q_nearest(b, x / s);
    return r * r;
}

static double absF(const bq *b, double m) { return 1 - 2 * cm_dist_sf(&b->d, m); }

static double G(const bq *b, double m) { return pow(absF(b, m), (double)(b->K - 1)); }

static double dG(double m, void *arg)
{
    const bq *b = arg;
    double g = (double)(b->K - 1) * pow(absF(b, m), (double)b->K - 2) * 2 * ref_pdf(&b->d, m);
    return e_at(b, b->x, m / b->gmax) * g;
}

static double mx_scale(const bq *b, double m) { return ldexp(1.0, (int)floor(log2(m)) - b->emax); }

static double err_of_x(double x, void *arg)
{
    bq *b = arg;
    b->x = x;
    if (!(x > 0))
        return 0;
    double r = 0;
    if (b->mx) {
        r = e_at(b, x, mx_scale(b, x)) * G(b, x);
        double lo = x;
        for (int k = (int)floor(log2(x)) + 1; k < 1100 && lo < 1e300; k++) {
            double hi = ldexp(1.0, k), p = (hi < 1e300 ? G(b, hi) : 1.0) - G(b, lo);
            r += e_at(b, x, mx_scale(b, lo)) * p;
            if (1 - G(b, hi) < 1e-20)
                break;
            lo = hi;
        }
        return 2 * ref_pdf(&b->d, x) * r;
    }
    /* absmax: pieces between the m where x gmax / m crosses a boundary */
    double cuts[64];
    size_t n = 0;
    cuts[n++] = x;
    for (size_t j = b->k; j-- > 1;) {
        double bd = 0.5 * (b->lv[j] + b->lv[j - 1]);
        if (bd > 0 && bd < b->gmax && n < 63)
            cuts[n++] = x * b->gmax / bd;
    }
    gsl_function F = {dG, b};
    for (size_t i = 0; i + 1 < n; i++) {
        double v, e;
        gsl_integration_qags(&F, cuts[i], cuts[i + 1], 0, 1e-13, 1000, b->w, &v, &e);
        r += v;
    }
    double v, e;
    gsl_integration_workspace *w2 = gsl_integration_workspace_alloc(1000);
    gsl_integration_qagiu(&F, cuts[n - 1], 0, 1e-13, 1000, w2, &v, &e);
    gsl_integration_workspace_free(w2);
    return 2 * ref_pdf(&b->d, x) * (r + v);
}

static double block_reference(bq *b)
{
    gsl_integration_workspace *outer = gsl_integration_workspace_alloc(4000);
    b->w = gsl_integration_workspace_alloc(1000);
    gsl_function F = {err_of_x, b};
    double tot = 0, v, e;
    /* outer pieces: octaves (MX scale steps) and, within, the cells' edges */
    double edges[4096];
    size_t n = 0;
    for (int k = -30; k <= 12; k++) {
        double o = ldexp(1.0, k);
        edges[n++] = o;
        for (size_t j = 1; b->mx && j < b->k && n < 4000; j++) {
            double bd = 0.5 * (b->lv[j] + b->lv[j - 1]) * ldexp(1.0, k - b->emax);
            if (bd > o && bd < 2 * o)
                edges[n++] = bd;
        }
    }
    qsort(edges, n, sizeof *edges, cmp_double);
    gsl_integration_qags(&F, 0, edges[0], 0, 1e-13, 4000, outer, &v, &e);
    tot += v;
    for (size_t i = 0; i + 1 < n; i++) {
        gsl_integration_qags(&F, edges[i], edges[i + 1], 0, 1e-13, 4000, outer, &v, &e);
        tot += v;
    }
    gsl_integration_qagiu(&F, edges[n - 1], 0, 1e-13, 4000, outer, &v, &e);
    tot += v;
    gsl_integration_workspace_free(outer);
    gsl_integration_workspace_free(b->w);
    return tot;
}

static void check_block_quadrature(cm_registry *reg)
{
    static const char *const specs[] = {"int:bits=4,grid=symmetric,block=32,scale=absmax",
                                        "fp:e=2,m=1,block=16,scale=absmax", "mxfp4"};
    const char *dl[] = {"laplace", "logistic", "student:nu=5"};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++) {
            cm_dist d = dist_of(dl[i]);
            exact_case c;
            if (!exact_of(reg, specs[j], &d, dl[i], &c)) {
                bq b = {.d = d, .K = j == 1 ? 16 : 32, .lv = c.lv, .k = c.k,
                        .gmax = c.lv[c.k - 1], .mx = j == 2, .emax = 2};
                double r = block_reference(&b);
                CHECK(fabs(c.g - r) <= 1e-9 * r, "%s on %s: exact %.15g, quadrature %.15g (rel %.2g)",
                      specs[j], dl[i], c.g, r, fabs(c.g - r) / r);
            }
            free(c.lv);
        }
}

/* rotations: orthonormal (forward then inverse is the identity); on Gaussian
 * data GMSE is unchanged (Monte Carlo within 4 SE of the exact value without
 * the rotation, and the exact path says so); on heavy tails a block format
 * moves toward its Gaussian value */
static void check_rotation(cm_registry *reg)
{
    cm_pipeline *p = t_spec(reg, "rht:dim=64,seed=3+int4");
    const cm_format *f = cm_pipeline_format(p, 0);
    double x[256], y[256], z[256];
    for (int i = 0; i < 256; i++)
        x[i] = sin(i * 0.37) + (i % 7) * 0.1;
    f->quantize(cm_pipeline_params(p, 0), NULL, x, y, 256);
    f->inverse(cm_pipeline_params(p, 0), NULL, y, z, 256);
    double err = 0, nx = 0, ny = 0;
    for (int i = 0; i < 256; i++) {
        err = fmax(err, fabs(z[i] - x[i]));
        nx += x[i] * x[i];
        ny += y[i] * y[i];
    }
    CHECK(err < 1e-14 && fabs(nx - ny) < 1e-12 * nx, "rht is not orthonormal (%.3g)", err);
    cm_pipeline_free(p);

    const char *specs[] = {"rht:dim=32+mxfp4", "hadamard:dim=16+nvfp4", "rht:dim=128+int4",
                           "rht:dim=32,seed=9+int4_g32", "mxfp4", "nvfp4", "int4", "int4_g32"};
    cm_pipeline *q[8];
    cm_result mc[8], ex[8];
    for (int j = 0; j < 8; j++)
        q[j] = t_spec(reg, specs[j]);
    cm_eval_opts o;
    cm_eval_opts_default(&o);
    o.samples = 1u << 22;
    o.threads = 2;
    cm_diag d;
    o.method = CM_METHOD_MC;
    CHECK(!cm_eval(q, 4, &o, mc, NULL, NULL, &d), "mc: %s", d.msg);
    o.method = CM_METHOD_EXACT;
    CHECK(!cm_eval(q, 8, &o, ex, NULL, NULL, &d), "exact: %s", d.msg);
    for (int j = 0; j < 4; j++) {
        double z4 = (mc[j].gmse - ex[j + 4].gmse) / mc[j].gmse_se;
        CHECK(fabs(z4) <= 4, "%s: mc %.9g +- %.2g vs %s exact %.9g (z %.1f)", specs[j],
              mc[j].gmse, mc[j].gmse_se, specs[j + 4], ex[j + 4].gmse, z4);
        CHECK(ex[j].gmse == ex[j + 4].gmse, "%s: exact %.15g vs %.15g", specs[j], ex[j].gmse,
              ex[j + 4].gmse);
    }
    /* heavy tails: the rotation brings MXFP4 back near its Gaussian GMSE */
    o.method = CM_METHOD_AUTO;
    o.dist = dist_of("student:nu=5");
    cm_result h[2];
    cm_pipeline *hp[2] = {q[0], q[4]};
    CHECK(!cm_eval(hp, 2, &o, h, NULL, NULL, &d), "student: %s", d.msg);
    CHECK(fabs(h[0].gmse - ex[4].gmse) < 0.3 * fabs(h[1].gmse - ex[4].gmse),
          "rht+mxfp4 on student:nu=5 %.6g is not nearer the Gaussian %.6g than mxfp4 %.6g",
          h[0].gmse, ex[4].gmse, h[1].gmse);
    CHECK(h[0].method == CM_METHOD_MC, "a rotation on Student-t data claims an exact path");
    for (int j = 0; j < 8; j++)
        cm_pipeline_free(q[j]);
    cm_diag_clear(&d);
    cm_pipeline *bad = NULL;
    CHECK(cm_spec_parse(reg, "rht:dim=48+mxfp4", &bad, &d) == CM_ERANGE &&
              strstr(d.msg, "power of two"), "dim=48: %s", d.msg);
    CHECK(cm_spec_parse(reg, "hadamard:dim=32", &bad, &d) == CM_EINVAL &&
              strstr(d.msg, "needs a stage after it"), "rotation alone: %s", d.msg);
}

static void check_names(void)
{
    cm_dist d;
    cm_dist_default(&d);
    cm_diag dg;
    char b[40];
    CHECK(cm_dist_parse("student:nu=4.5", &d, &dg) == CM_OK && d.kind == CM_DIST_STUDENT &&
              d.nu == 4.5 && !strcmp(cm_dist_name(&d, b, sizeof b), "student:nu=4.5"),
          "student:nu=4.5");
    CHECK(cm_dist_parse("student:nu=2", &d, &dg) == CM_ERANGE, "nu=2 accepted");
    CHECK(cm_dist_parse("student", &d, &dg) == CM_EPARSE, "student without nu accepted");
    CHECK(cm_dist_parse("cauchy", &d, &dg) == CM_EPARSE && strstr(dg.msg, "laplace"),
          "unknown name: %s", dg.msg);
    CHECK(cm_dist_parse("laplacex", &d, &dg) == CM_EPARSE, "laplacex accepted");
    d.sigma = -1;
    CHECK(cm_dist_check(&d, &dg) == CM_ERANGE, "negative sigma accepted");
    d.sigma = 0;
    CHECK(cm_dist_check(&d, &dg) == CM_OK && cm_dist_sigma(&d) == 1, "zeroed sigma is not 1");
    /* each density integrates to 1 with unit variance (the reference's moments) */
    for (size_t i = 0; i < NDIST; i++) {
        cm_dist q = dist_of(dists[i]);
        gsl_integration_workspace *w = gsl_integration_workspace_alloc(1000);
        double m2 = ref_cell(&q, -INFINITY, INFINITY, 0, w);
        CHECK(fabs(m2 - 1) < 1e-9, "%s: variance %.12g", dists[i], m2);
        CHECK(fabs(cm_dist_pdf(&q, 0.7) - ref_pdf(&q, 0.7)) < 1e-14, "%s: pdf", dists[i]);
        CHECK(fabs(cm_dist_sf(&q, cm_dist_isf(&q, 1e-4)) - 1e-4) < 1e-12, "%s: isf", dists[i]);
        gsl_integration_workspace_free(w);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    gsl_set_error_handler_off();
    cm_registry *reg = NULL;
    cm_diag d;
    if (cm_registry_alloc(&reg, &d)) {
        fprintf(stderr, "registry: %s\n", d.msg);
        return 99;
    }
    check_names();
    check_grids(reg);
    check_optimum(reg);
    check_sigma(reg);
    check_mc(reg);
    check_rotation(reg);
    check_block_quadrature(reg);
    cm_registry_free(reg);
    return t_done("dist");
}
