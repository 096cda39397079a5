/* capmetric validate: the GMSE -> capacity claim on Quartet II's 574 runs.
 *
 * Five laws of the same loss form L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E
 * (Quartet's), differing only in what sets effN and effD:
 *   decoupled  one free effN per forward scheme, one effD per backward scheme (the
 *              ceiling of what any per-scheme metric can explain; not predictive)
 *   unified    effN = 1/(1 + kN GMSE_fwd), effD = 1/(1 + kG G + kM M), G and M the
 *              sums of GMSE and |misalignment| over the quantized backward operands
 *   gmse-only  the same without kM
 *   bits-only  the same with 4^-bits in place of GMSE (no format metric: bits alone)
 *   equal      one effN for every quantized forward, one effD for every quantized
 *              backward ("all NVFP4 schemes are equal")
 * Leave one scheme out: each law but the decoupled one is refitted without a scheme
 * (warm-started at its fit on all runs) and predicts that scheme's runs from its
 * metrics alone. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "q2data.h"
#include "runs_int.h"
#include "validate_int.h"

enum { L_DEC, L_UNI, L_GMSE, L_BITS, L_EQ, NLAW };
static const char *const law_name[NLAW] = {"decoupled (free effN, effD per scheme)",
                                           "unified: GMSE and misalignment",
                                           "unified: GMSE only", "bits only (baseline)",
                                           "all schemes equal (baseline)"};
static const char *const law_key[NLAW] = {"decoupled", "unified", "gmse_only", "bits_only",
                                          "equal"};

/* the fit data of one law over the runs not of scheme `skip` (SIZE_MAX: all) */
typedef struct q2set {
    size_t n;
    double *N, *D, *y, *x, *x2, *x3;
    size_t *g, *g2, *run;
    size_t ng, ng2;
    const char **gl, **gl2;
} q2set;

static void set_free(q2set *s)
{
    free(s->N), free(s->D), free(s->y), free(s->x), free(s->x2), free(s->x3);
    free(s->g), free(s->g2), free(s->run), free((void *)s->gl), free((void *)s->gl2);
    memset(s, 0, sizeof *s);
}

static int fwd_q(const q2data *q, size_t s) { return q->nf[s] > 0; }
static int bwd_q(const q2data *q, size_t s) { return !isnan(q->bg[s]); }

static int set_build(const q2data *q, int law, size_t skip, q2set *s, cm_fit_data *d)
{
    memset(s, 0, sizeof *s);
    size_t n = q->n;
    s->N = malloc(n * sizeof *s->N), s->D = malloc(n * sizeof *s->D);
    s->y = malloc(n * sizeof *s->y), s->x = malloc(n * sizeof *s->x);
    s->x2 = malloc(n * sizeof *s->x2), s->x3 = malloc(n * sizeof *s->x3);
    s->g = malloc(n * sizeof *s->g), s->g2 = malloc(n * sizeof *s->g2);
    s->run = malloc(n * sizeof *s->run);
    s->gl = calloc(q->ns, sizeof *s->gl), s->gl2 = calloc(q->ns, sizeof *s->gl2);
    size_t *fg = calloc(q->ns, sizeof *fg), *bg = calloc(q->ns, sizeof *bg);
    if (!s->N || !s->D || !s->y || !s->x || !s->x2 || !s->x3 || !s->g || !s->g2 || !s->run ||
        !s->gl || !s->gl2 || !fg || !bg) {
        free(fg), free(bg);
        return EXIT_RUNTIME;
    }
    for (size_t k = 0; k < q->ns; k++) { /* decoupled groups: schemes with runs in the set */
        fg[k] = bg[k] = CM_FIT_BASE;
        if (k == skip)
            continue;
        if (fwd_q(q, k))
            s->gl[fg[k] = s->ng++] = q->label[k];
        if (bwd_q(q, k))
            s->gl2[bg[k] = s->ng2++] = q->label[k];
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = q->sch[i];
        if (k == skip)
            continue;
        size_t j = s->n++;
        s->run[j] = i;
        s->N[j] = q->N[i], s->D[j] = q->D[i], s->y[j] = q->y[i];
        int bits = law == L_BITS;
        s->x[j] = bits ? q->fb[k] : q->fg[k];
        s->x2[j] = bits ? q->bb[k] : q->bg[k];
        s->x3[j] = q->bm[k];
        s->g[j] = law == L_DEC ? fg[k] : fwd_q(q, k) ? 0 : CM_FIT_BASE;
        s->g2[j] = law == L_DEC ? bg[k] : bwd_q(q, k) ? 0 : CM_FIT_BASE;
    }
    free(fg), free(bg);
    if (law == L_EQ)
        s->ng = s->ng2 = 1, s->gl[0] = "quantized", s->gl2[0] = "quantized";
    memset(d, 0, sizeof *d);
    d->n = s->n, d->N = s->N, d->D = s->D, d->y = s->y;
    if (law == L_DEC || law == L_EQ) {
        d->g = s->g, d->ng = s->ng, d->g2 = s->g2, d->ng2 = s->ng2;
        d->glabel = s->gl, d->g2label = s->gl2;
    } else {
        d->x = s->x, d->x2 = s->x2, d->x3 = law == L_UNI ? s->x3 : NULL;
    }
    return 0;
}

static cm_fit_mode law_mode(int law) { return law == L_DEC || law == L_EQ ? CM_FIT_QUARTET : CM_FIT_METRIC; }

/* fit law on all runs but scheme skip; start: natural values or NULL (the grid) */
static int q2_fit(vctx *v, const q2data *q, int law, size_t skip, const double *start,
                  unsigned boot, cm_fit_result *f)
{
    q2set s;
    cm_fit_data d;
    int rc = set_build(q, law, skip, &s, &d);
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.threads = v->threads;
    o.start = start;
    o.bootstrap = boot;
    cm_diag dg;
    cm_diag_clear(&dg);
    memset(f, 0, sizeof *f);
    if (!rc) {
        cm_status st = cm_fit(law_mode(law), &d, &o, f, &dg);
        if (st)
            rc = report(st, &dg, "validate: Quartet II fit", NULL);
    }
    set_free(&s);
    return rc;
}

/* the fitted law's prediction for every run (out[i]) */
static int q2_predict(const q2data *q, int law, const cm_fit_result *f, double *out)
{
    q2set s;
    cm_fit_data d;
    if (set_build(q, law, SIZE_MAX, &s, &d)) {
        set_free(&s);
        return EXIT_RUNTIME;
    }
    for (size_t j = 0; j < s.n; j++)
        out[s.run[j]] = cm_fit_predict(f, &d, j);
    set_free(&s);
    return 0;
}

/* RMSE and max |error| in nats of predictions p over runs (scheme s, or all) */
static void errs(const q2data *q, const double *p, size_t s, double *rmse, double *mx)
{
    double s2 = 0, m = 0;
    size_t c = 0;
    for (size_t i = 0; i < q->n; i++) {
        if ((s != SIZE_MAX && q->sch[i] != s) || isnan(p[i]))
            continue;
        double e = q->y[i] - p[i];
        s2 += e * e, m = fmax(m, fabs(e)), c++;
    }
    *rmse = c ? sqrt(s2 / (double)c) : NAN;
    *mx = c ? m : NAN;
}

static void table_schemes(vctx *v, const q2data *q)
{
    static const char *const h[] = {"scheme", "runs", "forward", "fwd GMSE", "bwd GMSE load",
                                    "bwd |mis| load", "note"};
    static const int rt[] = {0, 1, 0, 1, 1, 1, 0};
    sec_begin(&v->r, "Quartet II schemes as capmetric formats",
              "Each scheme of data/runs/quartet2_runs.csv (Quartet II, arXiv 2601.22813) and "
              "its capmetric specs (data/runs/quartet2_specs.csv, with the repository file and "
              "commit of each mapping): the forward format of weights and activations "
              "(GMSE: their mean) and the backward load, the sum over the quantized backward "
              "operands of each one's GMSE and |misalignment|.",
              h, rt, 7);
    for (size_t s = 0; s < q->ns; s++) {
        char b[7][96];
        snprintf(b[0], sizeof b[0], "%s", q->label[s]);
        snprintf(b[1], sizeof b[1], "%zu", q->cnt[s]);
        snprintf(b[2], sizeof b[2], "%.95s", q->fwd[s][0] ? q->fwd[s] : "-");
        snprintf(b[3], sizeof b[3], "%.5g", q->fg[s]);
        snprintf(b[4], sizeof b[4], "%.5g", q->bg[s]);
        snprintf(b[5], sizeof b[5], "%.5g", q->bm[s]);
        snprintf(b[6], sizeof b[6], "%.95s", q->note[s]);
        for (int k = 3; k < 6; k++)
            if (!strcmp(b[k], "nan"))
                snprintf(b[k], sizeof b[k], "-");
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
        sec_row(&v->r, cells);
    }
    sec_end(&v->r, "Hadamard rotations, delayed amax and the Hadamard direction leave i.i.d. "
                   "Gaussian data as it is: schemes that differ only there have the same "
                   "metrics, and only the decoupled law can tell them apart.");
}

/* the laws' errors: in-sample (all runs) and held out (each scheme predicted by
 * the fit without it) */
static void table_laws(vctx *v, const q2data *q, const cm_fit_result *full, double *const *in,
                       double *const *held, cJSON *js)
{
    static const char *const h[] = {"law", "parameters", "in-sample RMSE", "held-out RMSE",
                                    "held-out max |error|"};
    static const int rt[] = {0, 1, 1, 1, 1};
    sec_begin(&v->r, "Quartet II: laws and baselines",
              "Loss errors in nats/token over the 574 runs: in-sample (the law fitted on all "
              "runs) and held out (leave one scheme out: the law fitted without the scheme "
              "predicts its runs from the scheme's metrics alone; the BF16 baseline is always "
              "fitted). Huber delta 1e-3 on log residuals.",
              h, rt, 5);
    cJSON *arr = cJSON_AddArrayToObject(js, "laws");
    for (int l = 0; l < NLAW; l++) {
        double r1, m1, r2 = NAN, m2 = NAN;
        errs(q, in[l], SIZE_MAX, &r1, &m1);
        if (l != L_DEC)
            errs(q, held[l], SIZE_MAX, &r2, &m2);
        char b[5][64];
        snprintf(b[0], sizeof b[0], "%s", law_name[l]);
        snprintf(b[1], sizeof b[1], "%zu", full[l].np);
        snprintf(b[2], sizeof b[2], "%.5f", r1);
        snprintf(b[3], sizeof b[3], l == L_DEC ? "-" : "%.5f", r2);
        snprintf(b[4], sizeof b[4], l == L_DEC ? "-" : "%.4f", m2);
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4]};
        sec_row(&v->r, cells);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "law", law_key[l]);
        cJSON_AddNumberToObject(e, "params", (double)full[l].np);
        cJSON_AddItemToObject(e, "rmse", json_num(r1));
        cJSON_AddItemToObject(e, "max_abs_error", json_num(m1));
        cJSON_AddItemToObject(e, "held_out_rmse", json_num(r2));
        cJSON_AddItemToObject(e, "held_out_max_abs_error", json_num(m2));
        cJSON_AddItemToArray(arr, e);
    }
    sec_end(&v->r, "The decoupled law has a free effN or effD per scheme: it cannot predict "
                   "a scheme it has not seen, and its in-sample error is the floor for any "
                   "per-scheme metric.");
}

static void table_held(vctx *v, const q2data *q, double *const *held)
{
    static const char *const h[] = {"held out", "runs", "unified", "GMSE only", "bits only",
                                    "all equal", "mean error (unified)"};
    static const int rt[] = {0, 1, 1, 1, 1, 1, 1};
    sec_begin(&v->r, "Quartet II: each scheme held out",
              "RMSE (nats/token) of each law's predictions for the held-out scheme's runs; "
              "mean error > 0: the runs are worse than predicted.",
              h, rt, 7);
    for (size_t s = 0; s < q->ns; s++) {
        if (!fwd_q(q, s) && !bwd_q(q, s))
            continue;
        char b[7][64];
        double r, m;
        snprintf(b[0], sizeof b[0], "%s", q->label[s]);
        snprintf(b[1], sizeof b[1], "%zu", q->cnt[s]);
        static const int ls[] = {L_UNI, L_GMSE, L_BITS, L_EQ};
        for (int k = 0; k < 4; k++) {
            errs(q, held[ls[k]], s, &r, &m);
            snprintf(b[2 + k], sizeof b[2 + k], "%.4f", r);
        }
        double me = 0;
        size_t c = 0;
        for (size_t i = 0; i < q->n; i++)
            if (q->sch[i] == s)
                me += q->y[i] - held[L_UNI][i], c++;
        snprintf(b[6], sizeof b[6], "%+.4f", me / (double)c);
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
        sec_row(&v->r, cells);
    }
    sec_end(&v->r, NULL);
}

static void table_constants(vctx *v, const cm_fit_result *f, cJSON *js)
{
    static const char *const h[] = {"constant", "value", "bootstrap 2.5 %", "bootstrap 97.5 %",
                                    "determined"};
    static const int rt[] = {0, 1, 1, 1, 0};
    char text[512];
    snprintf(text, sizeof text,
             "The unified law fitted on all 574 runs (the built-in law unified-quartet2): "
             "L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E, effN = 1/(1 + kN GMSE_fwd), "
             "effD = 1/(1 + kG G + kM M). Intervals: %u bootstrap replicates over runs.",
             f->boot_done);
    sec_begin(&v->r, "Quartet II: the unified law's constants", text, h, rt, 5);
    for (size_t k = 0; k < f->np; k++) {
        char b[4][48];
        snprintf(b[0], sizeof b[0], "%.8g", f->p[k].value);
        snprintf(b[1], sizeof b[1], "%.4g", f->p[k].lo);
        snprintf(b[2], sizeof b[2], "%.4g", f->p[k].hi);
        snprintf(b[3], sizeof b[3], "%s", f->p[k].determined ? "yes" : "no");
        const char *cells[] = {f->p[k].name, b[0], b[1], b[2], b[3]};
        sec_row(&v->r, cells);
    }
    sec_end(&v->r, NULL);
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    cJSON_AddItemToObject(js, "unified_fit", fit_json(f, &o));
    /* the built-in law is this fit: its predictions against the refit's */
    const cm_law *l = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    cm_law_find("unified-quartet2", &l, &d);
    sec_begin(&v->r, "Built-in law unified-quartet2",
              "The built-in law's loss against the refit above at three (N, D, GMSE) points, "
              "forward (w,a) and backward (g).",
              check_head, check_right, 6);
    static const double pts[3][3] = {{5e7, 2e9, 0.009}, {2e8, 8e10, 0.0124}, {1e9, 2e10, 0.02}};
    for (int i = 0; l && i < 3; i++)
        for (int g = 0; g < 2; g++) {
            const double *P = pts[i];
            cm_law_input in = {"", 4.5, P[2], P[0], P[1], g ? CM_TENSOR_G : 0, v->reg, NULL,
                               NULL, 0.001};
            cm_law_output o2;
            cm_law_predict(l, &in, &o2, &d);
            double en = g ? 1 : 1 / (1 + f->p[6].value * P[2]);
            double ed = g ? 1 / (1 + 4 * (f->p[7].value * P[2] + f->p[8].value * 0.001)) : 1;
            double want = pow(f->p[0].value * pow(P[0] * en, -f->p[1].value) +
                                  f->p[2].value * pow(P[1] * ed, -f->p[3].value),
                              f->p[5].value) +
                          f->p[4].value;
            char what[96];
            snprintf(what, sizeof what, "loss(%s, N=%g, D=%g, GMSE %g)", g ? "g" : "w,a", P[0],
                     P[1], P[2]);
            check_row(&v->r, what, want, o2.loss, 1e-6, 1);
        }
    sec_end(&v->r, NULL);
}

/* the claims these runs can refute */
static void claims(vctx *v, const q2data *q, double *const *in, double *const *held)
{
    double r[NLAW], m, rin[NLAW];
    for (int l = 0; l < NLAW; l++) {
        errs(q, held[l], SIZE_MAX, &r[l], &m);
        errs(q, in[l], SIZE_MAX, &rin[l], &m);
    }
    evidence(&v->r, "Quartet II: GMSE predicts held-out schemes better than bits alone",
             "held-out RMSE (nats), unified law vs bits-only", r[L_UNI], r[L_BITS],
             "value < baseline", r[L_UNI] < r[L_BITS]);
    evidence(&v->r, "Quartet II: GMSE predicts held-out schemes better than 'all NVFP4 "
                    "schemes are equal'",
             "held-out RMSE (nats), unified law vs all-equal", r[L_UNI], r[L_EQ],
             "value < baseline", r[L_UNI] < r[L_EQ]);
    evidence(&v->r, "Quartet II: misalignment adds to GMSE for the backward pass",
             "held-out RMSE (nats), GMSE + misalignment vs GMSE only", r[L_UNI], r[L_GMSE],
             "value < baseline", r[L_UNI] < r[L_GMSE]);
    evidence(&v->r, "Quartet II: the metrics explain the schemes nearly as well as a free "
                    "parameter per scheme",
             "in-sample RMSE (nats), unified law vs decoupled", rin[L_UNI], rin[L_DEC],
             "value <= 1.25 x baseline", rin[L_UNI] <= 1.25 * rin[L_DEC]);
}

int load_quartet2(vctx *v)
{
    char *pr = path_in(v, "quartet2_runs.csv"), *ps = path_in(v, "quartet2_specs.csv");
    /* the metrics the built-in unified-quartet2 was fitted on: always 2^22 samples, seed 1
     * (EDEN, 4/6 and the RMS rule are Monte Carlo), whatever --samples and --seed say */
    cm_eval_opts ev = v->ev;
    ev.samples = 1u << 22;
    ev.seed = 1;
    ev.method = CM_METHOD_AUTO;
    int rc = pr && ps ? q2_load(&v->q2, pr, ps, v->reg, &ev) : EXIT_RUNTIME;
    free(pr), free(ps);
    return rc;
}

int sec_quartet2(vctx *v, cJSON *extra)
{
    const q2data q = v->q2;
    int rc = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cm_fit_result full[NLAW], f;
    memset(full, 0, sizeof full);
    double *in[NLAW] = {0}, *held[NLAW] = {0}, *start = NULL;
    for (int l = 0; !rc && l < NLAW; l++)
        if (!(in[l] = calloc(q.n, sizeof *in[l])) || !(held[l] = calloc(q.n, sizeof *held[l])))
            rc = EXIT_RUNTIME;
    /* all runs: the baselines and the metric laws from the grid, the decoupled law
     * from the all-equal optimum */
    if (!rc && !(rc = q2_fit(v, &q, L_EQ, SIZE_MAX, NULL, 0, &full[L_EQ])) &&
        !(rc = q2_fit(v, &q, L_UNI, SIZE_MAX, NULL, 200, &full[L_UNI])) &&
        !(rc = q2_fit(v, &q, L_GMSE, SIZE_MAX, NULL, 0, &full[L_GMSE])) &&
        !(rc = q2_fit(v, &q, L_BITS, SIZE_MAX, NULL, 0, &full[L_BITS]))) {
        size_t nf = 0, nb = 0;
        for (size_t s = 0; s < q.ns; s++)
            nf += (size_t)fwd_q(&q, s), nb += (size_t)bwd_q(&q, s);
        start = calloc(6 + nf + nb, sizeof *start);
        if (!start)
            rc = EXIT_RUNTIME;
        for (size_t k = 0; start && k < 6 + nf + nb; k++)
            start[k] = full[L_EQ].p[k < 6 ? k : k < 6 + nf ? 6 : 7].value;
        if (!rc)
            rc = q2_fit(v, &q, L_DEC, SIZE_MAX, start, 0, &full[L_DEC]);
    }
    for (int l = 0; !rc && l < NLAW; l++)
        rc = q2_predict(&q, l, &full[l], in[l]);
    /* leave one scheme out: each scheme's runs predicted by the fit without it */
    double *tmp = rc ? NULL : malloc(q.n * sizeof *tmp);
    if (!rc && !tmp)
        rc = EXIT_RUNTIME;
    for (int l = 0; !rc && l < NLAW; l++)
        for (size_t i = 0; i < q.n; i++)
            held[l][i] = NAN;
    for (size_t s = 0; !rc && s < q.ns; s++) {
        if (!fwd_q(&q, s) && !bwd_q(&q, s))
            continue;
        for (int l = L_UNI; !rc && l < NLAW; l++) {
            double w[16];
            for (size_t k = 0; k < full[l].np && k < 16; k++)
                w[k] = full[l].p[k].value;
            if (!(rc = q2_fit(v, &q, l, s, w, 0, &f)) && !(rc = q2_predict(&q, l, &f, tmp)))
                for (size_t i = 0; i < q.n; i++)
                    if (q.sch[i] == s)
                        held[l][i] = tmp[i];
            cm_fit_result_free(&f);
        }
    }
    free(tmp);
    if (!rc) {
        cJSON *js = cJSON_AddObjectToObject(extra, "quartet2");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        cJSON_AddNumberToObject(js, "seconds_fits", secs);
        if (!v->r.quiet)
            printf("\nQuartet II: %zu runs, %zu schemes, 5 laws, leave one scheme out: %.1f s\n",
                   q.n, q.ns, secs);
        table_schemes(v, &q);
        table_laws(v, &q, full, in, held, js);
        table_held(v, &q, held);
        table_constants(v, &full[L_UNI], js);
        claims(v, &q, in, held);
        if (pred_plot(&v->r, "quartet2_pred_vs_obs.svg",
                      "Quartet II (574 runs): unified law, each scheme held out",
                      "predicted loss, scheme held out (nats/token)", q.y, held[L_UNI], q.n))
            rc = EXIT_RUNTIME;
    }
    for (int l = 0; l < NLAW; l++) {
        cm_fit_result_free(&full[l]);
        free(in[l]), free(held[l]);
    }
    free(start);
    return rc;
}
