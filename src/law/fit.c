/* Fitting scaling laws (capmetric/fit.h).
 *
 * Internal parameters are the logs of the positive constants (A, B, E, gamma,
 * eff, F, C, L) and alpha, beta as they are, so every start is feasible. The
 * Huber loss is minimized as least squares on transformed residuals
 * t(r) = sign(r) sqrt(2 H(r)), whose squares sum to 2 sum H(r): LM then minimizes
 * the Huber objective itself. Residuals scaled by `rscale` with threshold delta
 * are the same problem as unscaled ones with threshold delta/rscale, which is
 * what is solved (the cost is reported in the scaled units). */
#include <capmetric/fit.h>
#include <capmetric/progress.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capmetric/law.h>
#include <capmetric/rng.h>

#include "util_int.h"

static const char *const mode_names[] = {"decoupled", "unified", "map", "quartet", "metric"};

const char *cm_fit_mode_name(cm_fit_mode m) { return (unsigned)m < 5 ? mode_names[m] : "?"; }

cm_status cm_fit_mode_parse(const char *text, cm_fit_mode *out, cm_diag *d)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(text, mode_names[i])) {
            *out = (cm_fit_mode)i;
            return CM_OK;
        }
    return cm_diag_set(d, CM_EINVAL,
                       "fit mode '%s' not accepted (accepted: decoupled, unified, map, quartet)",
                       text);
}

void cm_fit_opts_default(cm_fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->huber = 1e-3;
    o->rscale = 1;
    o->seed = 1;
}

/* ---- the models ----------------------------------------------------------------------- */

/* Parameter layout. */
typedef struct model {
    cm_fit_mode mode;
    const cm_fit_data *d;
    const double *fixed; /* quartet base held fixed */
    size_t nb;           /* base parameters in theta: 5 (6 quartet), 0 if fixed or map */
    size_t np;
    double delta;        /* Huber threshold on unscaled residuals */
    const size_t *idx;   /* bootstrap: the points used (NULL = all) */
    size_t n;
} model;

static size_t fam_of(const cm_fit_data *d, size_t i) { return d->fam ? d->fam[i] : 0; }

/* log of the tanh map and its derivatives in ln F, ln C, ln L. */
static double lnmap(const double *fcl, double gmse, double *gF, double *gC, double *gL)
{
    double F = exp(fcl[0]), C = exp(fcl[1]);
    double eb = cm_eff_bits(gmse);
    if (!(gmse < 1)) { /* no capacity left */
        *gF = *gC = *gL = 0;
        return -INFINITY;
    }
    if (isinf(eb)) {
        *gF = *gC = 0;
        *gL = 1;
        return fcl[2];
    }
    double th = tanh(F * eb);
    double lt = log(th);
    *gL = 1;
    *gC = C * lt;
    *gF = C * F * eb * (1 - th * th) / th;
    return fcl[2] + C * lt;
}

/* Prediction at point i and its gradient in theta (grad may be NULL; it has
 * np entries, zeroed here). */
/* the loss law has the exponent gamma (Quartet's form) */
static int gam_of(const model *m) { return m->mode == CM_FIT_QUARTET || m->mode == CM_FIT_METRIC; }

static double predict(const model *m, const double *th, size_t i, double *grad)
{
    const cm_fit_data *d = m->d;
    if (grad)
        memset(grad, 0, m->np * sizeof *grad);
    if (m->mode == CM_FIT_MAP) {
        const double *fcl = th + 3 * fam_of(d, i);
        double gF, gC, gL, h[3] = {0, 0, 0};
        double lp = lnmap(fcl, d->x[i], &gF, &gC, &gL);
        h[0] += gF, h[1] += gC, h[2] += gL;
        if (d->x2 && !isnan(d->x2[i])) {
            lp += lnmap(fcl, d->x2[i], &gF, &gC, &gL);
            h[0] += gF, h[1] += gC, h[2] += gL;
        }
        double p = exp(lp);
        if (grad)
            for (int k = 0; k < 3; k++)
                grad[3 * fam_of(d, i) + (size_t)k] = p * h[k];
        return p;
    }
    double lA, al, lB, be, lE, lg = 0;
    const double *b = m->nb ? th : m->fixed;
    if (m->nb || m->mode != CM_FIT_QUARTET) {
        lA = b[0], al = b[1], lB = b[2], be = b[3], lE = b[4];
        if (gam_of(m))
            lg = b[5];
    } else { /* fixed natural constants */
        lA = log(b[0]), al = b[1], lB = log(b[2]), be = b[3], lE = log(b[4]), lg = log(b[5]);
    }
    double lnN = log(d->N[i]), lnD = log(d->D[i]);
    /* ln effN, ln effD and where their derivatives go */
    double le = 0, ld = 0;
    size_t je = SIZE_MAX, jd = SIZE_MAX;
    double gF = 0, gC = 0, gL = 0;
    if (m->mode == CM_FIT_UNIFIED) {
        if (!isnan(d->x[i])) {
            je = m->nb + 3 * fam_of(d, i);
            le = lnmap(th + je, d->x[i], &gF, &gC, &gL);
        }
    } else if (m->mode != CM_FIT_METRIC && d->g[i] != CM_FIT_BASE) {
        je = m->nb + d->g[i];
        le = th[je];
    }
    if (m->mode == CM_FIT_QUARTET && d->g2 && d->g2[i] != CM_FIT_BASE) {
        jd = m->nb + d->ng + d->g2[i];
        ld = th[jd];
    }
    /* metric: effN = 1/(1 + kN x), effD = 1/(1 + kG x2 + kM x3) */
    double qn = 0, qg = 0, qm = 0, dn = 0, dd = 0;
    if (m->mode == CM_FIT_METRIC) {
        double x = isnan(d->x[i]) ? 0 : d->x[i], x2 = isnan(d->x2[i]) ? 0 : d->x2[i];
        double x3 = d->x3 && !isnan(d->x3[i]) ? d->x3[i] : 0;
        qn = exp(th[m->nb]) * x;
        qg = exp(th[m->nb + 1]) * x2;
        qm = d->x3 ? exp(th[m->nb + 2]) * x3 : 0;
        dn = 1 + qn, dd = 1 + qg + qm;
        le = -log(dn), ld = -log(dd);
    }
    double u = exp(lA - al * (lnN + le)), v = exp(lB - be * (lnD + ld));
    double S = u + v, gam = exp(lg), E = exp(lE);
    double Sg = gam_of(m) ? pow(S, gam) : S;
    double p = Sg + E;
    if (grad) {
        double dS = gam_of(m) ? gam * Sg / S : 1;
        if (m->nb) {
            grad[0] = dS * u;
            grad[1] = -dS * u * (lnN + le);
            grad[2] = dS * v;
            grad[3] = -dS * v * (lnD + ld);
            grad[4] = E;
            if (gam_of(m))
                grad[5] = gam * Sg * log(S);
        }
        double dle = -dS * al * u; /* d p / d ln effN */
        if (m->mode == CM_FIT_UNIFIED && je != SIZE_MAX) {
            grad[je] = dle * gF;
            grad[je + 1] = dle * gC;
            grad[je + 2] = dle * gL;
        } else if (je != SIZE_MAX) {
            grad[je] = dle;
        }
        if (jd != SIZE_MAX)
            grad[jd] = -dS * be * v;
        if (m->mode == CM_FIT_METRIC) { /* d ln eff / d ln k = -q / (1 + sum q) */
            double dld = -dS * be * v;
            grad[m->nb] = dle * -qn / dn;
            grad[m->nb + 1] = dld * -qg / dd;
            if (d->x3)
                grad[m->nb + 2] = dld * -qm / dd;
        }
    }
    return p;
}

/* Raw residual and its gradient: ln y - ln p for loss modes, y - p for map. */
static double residual(const model *m, const double *th, size_t i, double *grad)
{
    double p = predict(m, th, i, grad);
    if (m->mode == CM_FIT_MAP)
        return m->d->y[i] - p; /* grad of -p: flipped by the caller */
    if (!(p > 0) || !isfinite(p))
        return NAN;
    if (grad)
        for (size_t k = 0; k < m->np; k++)
            grad[k] /= p;
    return log(m->d->y[i]) - log(p);
}

static double huber(double r, double delta)
{
    double a = fabs(r);
    return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

static int f_cb(const gsl_vector *x, void *ctx, gsl_vector *f)
{
    const model *m = ctx;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = m->idx ? m->idx[k] : k;
        double r = residual(m, x->data, i, NULL);
        if (!isfinite(r))
            return GSL_EDOM;
        double t = sqrt(2 * huber(r, m->delta));
        gsl_vector_set(f, k, r < 0 ? -t : t);
    }
    return GSL_SUCCESS;
}

static int df_cb(const gsl_vector *x, void *ctx, gsl_matrix *J)
{
    const model *m = ctx;
    double *g = J->data; /* rows are contiguous (tda == np) */
    for (size_t k = 0; k < m->n; k++) {
        size_t i = m->idx ? m->idx[k] : k;
        double *row = g + k * J->tda;
        double r = residual(m, x->data, i, row);
        if (!isfinite(r))
            return GSL_EDOM;
        /* d t / d theta = -(dr) ... : r = y - p or ln y - ln p, so dr = -grad */
        double s = fabs(r) <= m->delta ? 1 : m->delta / sqrt(2 * huber(r, m->delta));
        for (size_t c = 0; c < m->np; c++)
            row[c] *= -s;
    }
    return GSL_SUCCESS;
}

/* ---- one LM run ------------------------------------------------------------------------ */

typedef struct lm {
    gsl_multifit_nlinear_workspace *w;
    gsl_multifit_nlinear_fdf fdf;
    gsl_vector *x0;
} lm;

static int lm_init(lm *s, model *m)
{
    gsl_multifit_nlinear_parameters fp = gsl_multifit_nlinear_default_parameters();
    fp.solver = gsl_multifit_nlinear_solver_cholesky;
    s->w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, m->n, m->np);
    s->x0 = gsl_vector_alloc(m->np);
    memset(&s->fdf, 0, sizeof s->fdf);
    s->fdf.f = f_cb;
    s->fdf.df = df_cb;
    s->fdf.n = m->n;
    s->fdf.p = m->np;
    s->fdf.params = m;
    return s->w && s->x0 ? 0 : -1;
}

static void lm_fini(lm *s)
{
    if (s->w)
        gsl_multifit_nlinear_free(s->w);
    if (s->x0)
        gsl_vector_free(s->x0);
}

/* Minimize from `start`; the optimum in `out`, the cost (sum of Huber on
 * unscaled residuals) returned, NaN on failure. *ok: converged. */
static double lm_run(lm *s, const model *m, const double *start, double *out, int *ok)
{
    memcpy(s->x0->data, start, m->np * sizeof *start);
    *ok = 0;
    if (gsl_multifit_nlinear_init(s->x0, &s->fdf, s->w))
        return NAN;
    int info;
    int st = gsl_multifit_nlinear_driver(200, 1e-10, 1e-14, 1e-12, NULL, NULL, &info, s->w);
    const gsl_vector *x = gsl_multifit_nlinear_position(s->w);
    const gsl_vector *f = gsl_multifit_nlinear_residual(s->w);
    double c = 0;
    for (size_t k = 0; k < m->n; k++)
        c += 0.5 * f->data[k] * f->data[k];
    if (!isfinite(c))
        return NAN;
    for (size_t k = 0; k < m->np; k++)
        if (!isfinite(x->data[k]))
            return NAN;
    memcpy(out, x->data, m->np * sizeof *out);
    *ok = st == GSL_SUCCESS;
    return c;
}

/* ---- starting grid -------------------------------------------------------------------- */

/* QuEST's grid (IST-DASLab/QuEST notebooks/plots.ipynb): ln A in 5..25 step 5,
 * alpha in {0, .5, 1}, ln B in 5..25, beta in {0, .5, 1}, ln E in -1..1 step .5:
 * 1125 starts. Quartet adds ln gamma; map has its own small grid. */
static const double g_lnA[] = {5, 10, 15, 20, 25}, g_al[] = {0, 0.5, 1},
                    g_lnE[] = {-1, -0.5, 0, 0.5, 1};
static const double q_lnA[] = {5, 10, 15}, q_al[] = {0.2, 0.5, 0.8}, q_lnE[] = {-1, 0, 0.5},
                    q_g[] = {0.25, 0.5, 1};
static const double m_F[] = {0.2, 0.4, 0.8}, m_C[] = {0.7, 1.4, 2.8}, m_L[] = {0.8, 1, 1.25};

static size_t grid_size(const model *m)
{
    if (m->mode == CM_FIT_MAP)
        return 27;
    if (m->mode == CM_FIT_QUARTET || m->mode == CM_FIT_METRIC)
        return m->nb ? 3 * 3 * 3 * 3 * 3 * 3 : 3;
    return 5 * 3 * 5 * 3 * 5;
}

static void grid_start(const model *m, size_t s, double *th)
{
    size_t j = m->nb;
    if (m->mode == CM_FIT_MAP) {
        for (size_t f = 0; f < m->np / 3; f++) {
            th[3 * f] = log(m_F[s % 3]);
            th[3 * f + 1] = log(m_C[s / 3 % 3]);
            th[3 * f + 2] = log(m_L[s / 9 % 3]);
        }
        return;
    }
    if (m->mode == CM_FIT_QUARTET || m->mode == CM_FIT_METRIC) {
        if (m->nb) {
            th[0] = q_lnA[s % 3];
            th[1] = q_al[s / 3 % 3];
            th[2] = q_lnA[s / 9 % 3];
            th[3] = q_al[s / 27 % 3];
            th[4] = q_lnE[s / 81 % 3];
            th[5] = log(q_g[s / 243 % 3]);
        }
        double e0 = m->nb ? 0.8 : 0.3 + 0.3 * (double)s;
        for (; j < m->np; j++) /* metric: k = 1 (eff ~ 1 - k x) */
            th[j] = m->mode == CM_FIT_METRIC ? 0 : log(e0);
        return;
    }
    th[0] = g_lnA[s % 5];
    th[1] = g_al[s / 5 % 3];
    th[2] = g_lnA[s / 15 % 5];
    th[3] = g_al[s / 75 % 3];
    th[4] = g_lnE[s / 225 % 5];
    if (m->mode == CM_FIT_UNIFIED)
        for (; j + 2 < m->np; j += 3) {
            th[j] = log(0.4);
            th[j + 1] = log(1.3);
            th[j + 2] = 0;
        }
    else
        for (; j < m->np; j++)
            th[j] = log(0.5);
}

/* ---- parallel driver ------------------------------------------------------------------- */

typedef struct job {
    const model *m;
    size_t nrun;               /* starts or bootstrap replicates */
    const double *best;        /* bootstrap: warm start */
    const double *start;       /* one start (internal units) instead of the grid */
    uint64_t seed;
    atomic_size_t next;
    atomic_size_t done;        /* for progress */
    double *cost;              /* nrun */
    double *theta;             /* nrun x np */
    int *ok;
    int fail;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    model m = *j->m;
    size_t *idx = NULL;
    if (j->best) {
        idx = malloc(m.n * sizeof *idx);
        m.idx = idx;
    }
    lm s;
    double *start = malloc(m.np * sizeof *start);
    if (lm_init(&s, &m) || !start || (j->best && !idx)) {
        j->fail = 1;
        goto out;
    }
    for (;;) {
        size_t r = atomic_fetch_add(&j->next, 1);
        if (r >= j->nrun)
            break;
        if (j->best) {
            cm_pcg64 g;
            cm_pcg64_stream(&g, j->seed, r);
            for (size_t k = 0; k < m.n; k++)
                idx[k] = j->m->idx ? j->m->idx[cm_pcg64_next(&g) % m.n]
                                   : (size_t)(cm_pcg64_next(&g) % m.n);
            memcpy(start, j->best, m.np * sizeof *start);
        } else if (j->start) {
            memcpy(start, j->start, m.np * sizeof *start);
        } else {
            grid_start(&m, r, start);
        }
        j->cost[r] = lm_run(&s, &m, start, j->theta + r * m.np, &j->ok[r]);
        cm_progress(j->best ? "fit: bootstrap" : "fit: starts",
                    (double)(atomic_fetch_add(&j->done, 1) + 1), (double)j->nrun);
    }
out:
    lm_fini(&s);
    free(start);
    free(idx);
    return NULL;
}

static int run_jobs(job *j, unsigned threads)
{
    atomic_init(&j->next, 0);
    atomic_init(&j->done, 0);
    unsigned nt = threads ? threads : cm_cores();
    if (nt > j->nrun)
        nt = (unsigned)j->nrun;
    if (nt < 1)
        nt = 1;
    if (nt > 64)
        nt = 64;
    cm_run_threads(nt, worker, j);
    return j->fail ? -1 : 0;
}

/* ---- naming, checking ------------------------------------------------------------------ */

static void name_params(const model *m, cm_fit_result *r)
{
    const cm_fit_data *d = m->d;
    static const char *const base[] = {"A", "alpha", "B", "beta", "E", "gamma"};
    size_t j = 0;
    for (; j < m->nb; j++)
        snprintf(r->p[j].name, sizeof r->p[j].name, "%s", base[j]);
    if (m->mode == CM_FIT_UNIFIED || m->mode == CM_FIT_MAP) {
        static const char *const fcl[] = {"F", "C", "L"};
        for (size_t f = 0; j < m->np; f++)
            for (int k = 0; k < 3; k++, j++)
                if (d->nfam > 1 && d->famlabel)
                    snprintf(r->p[j].name, sizeof r->p[j].name, "%s[%s]", fcl[k], d->famlabel[f]);
                else
                    snprintf(r->p[j].name, sizeof r->p[j].name, "%s", fcl[k]);
        return;
    }
    if (m->mode == CM_FIT_METRIC) {
        static const char *const k[] = {"kN", "kG", "kM"};
        for (size_t q = 0; j < m->np; j++, q++)
            snprintf(r->p[j].name, sizeof r->p[j].name, "%s", k[q]);
        return;
    }
    const char *en = m->mode == CM_FIT_QUARTET ? "effN" : "eff";
    for (size_t g = 0; g < d->ng; g++, j++)
        snprintf(r->p[j].name, sizeof r->p[j].name, "%s[%s]", en,
                 d->glabel ? d->glabel[g] : "?");
    for (size_t g = 0; m->mode == CM_FIT_QUARTET && g < d->ng2; g++, j++)
        snprintf(r->p[j].name, sizeof r->p[j].name, "effD[%s]", d->g2label ? d->g2label[g] : "?");
}

/* 1 if internal parameter j is the log of the natural one. */
static int is_log(const model *m, size_t j)
{
    if (j < m->nb)
        return j != 1 && j != 3;
    return 1;
}

static cm_status check_data(const model *m, cm_diag *dg)
{
    const cm_fit_data *d = m->d;
    for (size_t i = 0; i < d->n; i++) {
        if (m->mode == CM_FIT_MAP) {
            if (!(d->y[i] >= 0) || !isfinite(d->y[i]) || !(d->x[i] >= 0))
                return cm_diag_set(dg, CM_EINVAL, "point %zu: rho and GMSE must be >= 0 and "
                                                  "finite", i + 1);
        } else if (!(d->N[i] > 0 && d->D[i] > 0 && d->y[i] > 0) || !isfinite(d->N[i]) ||
                   !isfinite(d->D[i]) || !isfinite(d->y[i])) {
            return cm_diag_set(dg, CM_EINVAL, "run %zu: N, D and loss must be positive and "
                                              "finite", i + 1);
        }
        if ((m->mode == CM_FIT_DECOUPLED || m->mode == CM_FIT_QUARTET) &&
            d->g[i] != CM_FIT_BASE && d->g[i] >= d->ng)
            return cm_diag_set(dg, CM_EINVAL, "run %zu: group out of range", i + 1);
        if (m->mode == CM_FIT_METRIC && (!(d->x[i] >= 0 || isnan(d->x[i])) ||
                                         !(d->x2[i] >= 0 || isnan(d->x2[i])) ||
                                         (d->x3 && !(d->x3[i] >= 0 || isnan(d->x3[i])))))
            return cm_diag_set(dg, CM_EINVAL, "run %zu: the metrics must be >= 0 (NaN: not "
                                              "quantized)", i + 1);
        if ((m->mode == CM_FIT_UNIFIED || m->mode == CM_FIT_MAP) && fam_of(d, i) >= (d->nfam ? d->nfam : 1))
            return cm_diag_set(dg, CM_EINVAL, "point %zu: family out of range", i + 1);
    }
    /* every group has a point, or its parameter is free */
    size_t ng = m->mode == CM_FIT_DECOUPLED || m->mode == CM_FIT_QUARTET ? d->ng : 0;
    for (size_t g = 0; g < ng; g++) {
        size_t c = 0;
        for (size_t i = 0; i < d->n; i++)
            c += d->g[i] == g;
        if (!c)
            return cm_diag_set(dg, CM_EINVAL, "group '%s' has no runs",
                               d->glabel ? d->glabel[g] : "?");
    }
    if (d->n < m->np)
        return cm_diag_set(dg, CM_EINVAL, "%zu points for %zu parameters: a %s fit needs at least "
                                          "as many points as parameters",
                           d->n, m->np, cm_fit_mode_name(m->mode));
    return CM_OK;
}

/* Curvature at the optimum: covariance s^2 (J'J)^+ from the eigenvectors of J'J;
 * a direction with an eigenvalue below 1e-10 of the largest is undetermined. */
/* `cost`: the Huber cost of the unscaled residuals at th. */
static void curvature(lm *s, const model *m, const double *th, double cost, cm_fit_result *r)
{
    gsl_matrix *JtJ = gsl_matrix_alloc(m->np, m->np), *V = gsl_matrix_alloc(m->np, m->np);
    gsl_vector *ev = gsl_vector_alloc(m->np);
    gsl_eigen_symmv_workspace *ew = gsl_eigen_symmv_alloc(m->np);
    if (!JtJ || !V || !ev || !ew)
        goto out;
    /* evaluate J at th: one LM init without iterations */
    memcpy(s->x0->data, th, m->np * sizeof *th);
    if (gsl_multifit_nlinear_init(s->x0, &s->fdf, s->w))
        goto out;
    const gsl_matrix *J = gsl_multifit_nlinear_jac(s->w);
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, J, J, 0.0, JtJ);
    if (gsl_eigen_symmv(JtJ, ev, V, ew))
        goto out;
    double lmax = 0;
    for (size_t k = 0; k < m->np; k++)
        lmax = fmax(lmax, ev->data[k]);
    double s2 = m->n > m->np ? 2 * cost / (double)(m->n - m->np) : NAN;
    for (size_t j = 0; j < m->np; j++) {
        double var = 0;
        int sing = 0;
        for (size_t k = 0; k < m->np; k++) {
            double v = gsl_matrix_get(V, j, k);
            if (ev->data[k] <= 1e-10 * lmax) {
                if (fabs(v) > 1e-3)
                    sing = 1;
                continue;
            }
            var += v * v / ev->data[k];
        }
        double se = sing ? INFINITY : sqrt(s2 * var);
        cm_fit_param *p = &r->p[j];
        if (is_log(m, j)) {
            p->se = p->value * se;
            p->determined = se < 1; /* one SE is less than a factor e */
        } else {
            p->se = se;
            p->determined = se < fabs(p->value);
        }
    }
out:
    if (JtJ)
        gsl_matrix_free(JtJ);
    if (V)
        gsl_matrix_free(V);
    if (ev)
        gsl_vector_free(ev);
    if (ew)
        gsl_eigen_symmv_free(ew);
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double natural(const model *m, size_t j, double t) { return is_log(m, j) ? exp(t) : t; }

void cm_fit_result_free(cm_fit_result *r)
{
    if (!r)
        return;
    free(r->p);
    free(r->theta);
    free(r->boot);
    memset(r, 0, sizeof *r);
}

static void setup(model *m, cm_fit_mode mode, const cm_fit_data *d, const cm_fit_opts *o)
{
    memset(m, 0, sizeof *m);
    m->mode = mode;
    m->d = d;
    m->n = d->n;
    m->fixed = mode == CM_FIT_QUARTET ? o->fixed : NULL;
    size_t nf = d->nfam ? d->nfam : 1;
    switch (mode) {
    case CM_FIT_DECOUPLED:
        m->nb = 5;
        m->np = 5 + d->ng;
        break;
    case CM_FIT_UNIFIED:
        m->nb = 5;
        m->np = 5 + 3 * nf;
        break;
    case CM_FIT_MAP:
        m->np = 3 * nf;
        break;
    case CM_FIT_QUARTET:
        m->nb = o->fixed ? 0 : 6;
        m->np = m->nb + d->ng + (d->g2 ? d->ng2 : 0);
        break;
    case CM_FIT_METRIC:
        m->nb = 6;
        m->np = 6 + 2 + (d->x3 != NULL);
        break;
    }
    m->delta = isinf(o->huber) ? INFINITY : o->huber / o->rscale;
}

/* Bootstrap over runs: each parameter's SD and 95 % interval (natural
 * units); a log parameter spread over more than 10x is not determined. */
static cm_status bootstrap(const model *m, const cm_fit_opts *o, cm_fit_result *r, cm_diag *dg)
{
    cm_status st = CM_OK;
    job b = {.m = m, .nrun = o->bootstrap, .best = r->theta, .seed = o->seed};
    b.cost = calloc(o->bootstrap, sizeof *b.cost);
    b.theta = calloc((size_t)o->bootstrap * m->np, sizeof *b.theta);
    b.ok = calloc(o->bootstrap, sizeof *b.ok);
    double *col = calloc(o->bootstrap, sizeof *col);
    if (!b.cost || !b.theta || !b.ok || !col || run_jobs(&b, o->threads)) {
        free(b.cost), free(b.theta), free(b.ok), free(col);
        st = cm_diag_set(dg, CM_ENOMEM, "out of memory");
        return st;
    }
    /* the replicates themselves, for intervals of predictions */
    r->boot = calloc((size_t)o->bootstrap * m->np, sizeof *r->boot);
    r->nboot = 0;
    for (unsigned q = 0; r->boot && q < o->bootstrap; q++)
        if (isfinite(b.cost[q])) {
            for (size_t k = 0; k < m->np; k++)
                r->boot[r->nboot * m->np + k] = natural(m, k, b.theta[(size_t)q * m->np + k]);
            r->nboot++;
        }
    for (size_t k = 0; k < m->np; k++) {
        size_t c = 0;
        double mean = 0, sq = 0;
        for (unsigned q = 0; q < o->bootstrap; q++)
            if (isfinite(b.cost[q])) {
                double v = natural(m, k, b.theta[(size_t)q * m->np + k]);
                col[c++] = v;
                mean += v;
            }
        if (c < 2)
            continue;
        mean /= (double)c;
        for (size_t q = 0; q < c; q++)
            sq += (col[q] - mean) * (col[q] - mean);
        qsort(col, c, sizeof *col, by_double);
        r->p[k].sd = sqrt(sq / (double)(c - 1));
        r->p[k].lo = col[(size_t)floor(0.025 * (double)(c - 1))];
        r->p[k].hi = col[(size_t)ceil(0.975 * (double)(c - 1))];
        r->boot_done = (unsigned)c;
        /* a spread over more than a factor 10 also means "not determined" */
        if (r->p[k].lo > 0 && r->p[k].hi / r->p[k].lo > 10 && is_log(m, k))
            r->p[k].determined = 0;
    }
    free(b.cost), free(b.theta), free(b.ok), free(col);
    return CM_OK;
}

cm_status cm_fit(cm_fit_mode mode, const cm_fit_data *d, const cm_fit_opts *o, cm_fit_result *r,
                 cm_diag *dg)
{
    cm_gsl_quiet();
    memset(r, 0, sizeof *r);
    cm_fit_opts def;
    if (!o) {
        cm_fit_opts_default(&def);
        o = &def;
    }
    if (!(o->huber > 0) || !(o->rscale > 0) || !isfinite(o->rscale))
        return cm_diag_set(dg, CM_EINVAL, "the Huber delta and residual scale must be positive");
    if ((unsigned)mode > CM_FIT_METRIC || (mode == CM_FIT_METRIC && (!d->x || !d->x2)))
        return cm_diag_set(dg, CM_EINVAL, "unknown fit mode, or a metric fit without x and x2");
    model m;
    setup(&m, mode, d, o);
    cm_status st = check_data(&m, dg);
    if (st)
        return st;
    double t0 = cm_now();
    r->mode = mode;
    r->n = d->n;
    if (m.fixed) {
        memcpy(r->base, m.fixed, sizeof r->base);
        r->base_fixed = 1;
    }
    r->np = m.np;
    r->p = calloc(m.np, sizeof *r->p);
    r->theta = calloc(m.np, sizeof *r->theta);
    size_t ns = o->start ? 1 : grid_size(&m);
    if (o->max_starts && o->max_starts < ns)
        ns = o->max_starts;
    double *warm = o->start ? calloc(m.np, sizeof *warm) : NULL;
    for (size_t k = 0; warm && k < m.np; k++)
        warm[k] = is_log(&m, k) ? log(o->start[k]) : o->start[k];
    job j = {.m = &m, .nrun = ns, .start = warm};
    j.cost = calloc(ns, sizeof *j.cost);
    j.theta = calloc(ns * m.np, sizeof *j.theta);
    j.ok = calloc(ns, sizeof *j.ok);
    lm s = {0};
    if (!r->p || !r->theta || !j.cost || !j.theta || !j.ok || (o->start && !warm) || lm_init(&s, &m) ||
        run_jobs(&j, o->threads)) {
        st = cm_diag_set(dg, CM_ENOMEM, "out of memory");
        goto out;
    }
    /* the best start, not the last (ties: the first) */
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < ns; k++) {
        r->converged += j.ok[k] != 0;
        if (isfinite(j.cost[k]) && (best == SIZE_MAX || j.cost[k] < j.cost[best]))
            best = k;
    }
    r->starts = ns;
    if (best == SIZE_MAX) {
        st = cm_diag_set(dg, CM_ENUMERIC, "no start of the %s fit reached a finite cost (%zu "
                                          "starts)", cm_fit_mode_name(mode), ns);
        goto out;
    }
    double bc = j.cost[best];
    for (size_t k = 0; k < ns; k++)
        r->at_best += isfinite(j.cost[k]) && j.cost[k] <= bc * (1 + 1e-6) + 1e-300;
    memcpy(r->theta, j.theta + best * m.np, m.np * sizeof *r->theta);
    if (!j.ok[best] && !r->converged) {
        st = cm_diag_set(dg, CM_ENUMERIC,
                         "the %s fit did not converge from any of %zu starts; best cost "
                         "found %.6g", cm_fit_mode_name(mode), ns, bc * o->rscale * o->rscale);
        goto out;
    }
    r->cost = bc * o->rscale * o->rscale;
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < d->n; i++) {
        double e = residual(&m, r->theta, i, NULL);
        s1 += fabs(e);
        s2 += e * e;
    }
    r->rmse = sqrt(s2 / (double)d->n);
    r->mae = s1 / (double)d->n;
    name_params(&m, r);
    for (size_t k = 0; k < m.np; k++) {
        r->p[k].value = natural(&m, k, r->theta[k]);
        r->p[k].lo = r->p[k].hi = r->p[k].sd = NAN;
    }
    curvature(&s, &m, r->theta, bc, r); /* in unscaled units */
    if (o->bootstrap && (st = bootstrap(&m, o, r, dg)))
        goto out;
    r->seconds = cm_now() - t0;
out:
    lm_fini(&s);
    free(warm);
    free(j.cost);
    free(j.theta);
    free(j.ok);
    return st;
}

double cm_fit_predict(const cm_fit_result *r, const cm_fit_data *d, size_t i)
{
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.fixed = r->base_fixed ? r->base : NULL;
    model m;
    setup(&m, r->mode, d, &o);
    if (m.np != r->np)
        return NAN;
    return predict(&m, r->theta, i, NULL);
}
