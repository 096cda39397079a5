/* capmetric validate: the Quartet II runs and their schemes' formats.
 *
 * quartet2_runs.csv holds 574 runs; quartet2_specs.csv maps each scheme (the
 * run table's quantizer columns, matched as text) to capmetric specs: the
 * forward format(s) of weights and activations and the backward operands,
 * written `COUNT*SPEC;COUNT*SPEC`. Every spec is scored once (GMSE,
 * misalignment, bits) and each scheme gets its metrics:
 *   forward: mean GMSE of its forward formats (NaN: not quantized)
 *   backward: sum over the quantized backward operands of GMSE and of
 *   |misalignment| (NaN: not quantized), and the same sums of 4^-bits. */
#include <capmetric/capmetric.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "q2data.h"

static const char *const key_cols[] = {
    "category",     "fsquare",        "fscale_override", "fhadamard_dim", "ffour_over_six",
    "bunbiased",    "bscale_override", "bstochastic",    "bhadamard_dim", "bbackward_scheme",
    "sscheme",      "shadamard_dim",  "sdelayed_amax",   "sfour_over_six"};
#define NKEY (sizeof key_cols / sizeof key_cols[0])

void q2_free(q2data *q)
{
    for (size_t s = 0; s < q->ns; s++) {
        free(q->label[s]), free(q->fwd[s]), free(q->bwd[s]), free(q->src[s]), free(q->note[s]);
    }
    free(q->label), free(q->fwd), free(q->bwd), free(q->src), free(q->note);
    free(q->N), free(q->D), free(q->y), free(q->sch), free(q->cnt);
    free(q->fg), free(q->bg), free(q->bm), free(q->fb), free(q->bb), free(q->fmis), free(q->nf);
    for (size_t k = 0; k < q->nspec; k++)
        free(q->spec[k]);
    free(q->spec), free(q->sgmse), free(q->smis), free(q->sbits), free(q->smc);
    memset(q, 0, sizeof *q);
}

static int fail(const char *file, long line, const char *what)
{
    if (line > 0)
        fprintf(stderr, "%s: error: %s:%ld: %s\n", prog, file, line, what);
    else
        fprintf(stderr, "%s: error: %s: %s\n", prog, file, what);
    return EXIT_USAGE;
}

/* index of spec text t in q->spec (added if new); SIZE_MAX out of memory */
static size_t spec_id(q2data *q, const char *t, size_t n)
{
    for (size_t k = 0; k < q->nspec; k++)
        if (strlen(q->spec[k]) == n && !strncmp(q->spec[k], t, n))
            return k;
    char **ns = realloc(q->spec, (q->nspec + 1) * sizeof *ns);
    if (!ns)
        return SIZE_MAX;
    q->spec = ns;
    if (!(q->spec[q->nspec] = strndup(t, n)))
        return SIZE_MAX;
    return q->nspec++;
}

/* Walk a list "SPEC;SPEC" (counts allowed: "2*SPEC"): each item's count and
 * spec id through `fn`; 0, or -1 with *why set for a malformed item. */
typedef void (*item_fn)(q2data *q, size_t s, double count, size_t id, int bwd);
static int walk(q2data *q, size_t s, const char *list, int bwd, item_fn fn, const char **why)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ";");
        double count = 1;
        const char *star = memchr(p, '*', n);
        if (star) {
            char *end;
            count = strtod(p, &end);
            if (end != star || !(count >= 1) || count > 64) {
                *why = "a backward item is COUNT*SPEC with COUNT from 1 to 64";
                return -1;
            }
            n -= (size_t)(star + 1 - p);
            p = star + 1;
        } else if (bwd) {
            *why = "a backward item is COUNT*SPEC (the number of quantized operands)";
            return -1;
        }
        if (!n) {
            *why = "an empty spec in the list";
            return -1;
        }
        size_t id = spec_id(q, p, n);
        if (id == SIZE_MAX) {
            *why = "out of memory";
            return -1;
        }
        if (fn)
            fn(q, s, count, id, bwd);
        p += n;
        if (*p == ';')
            p++;
    }
    return 0;
}

static void add_metric(q2data *q, size_t s, double count, size_t id, int bwd)
{
    double g = q->sgmse[id], m = fabs(q->smis[id]), b = pow(4.0, -q->sbits[id]);
    if (bwd) {
        q->bg[s] = (isnan(q->bg[s]) ? 0 : q->bg[s]) + count * g;
        q->bm[s] = (isnan(q->bm[s]) ? 0 : q->bm[s]) + count * m;
        q->bb[s] = (isnan(q->bb[s]) ? 0 : q->bb[s]) + count * b;
    } else { /* a mean over the forward formats: summed here, divided by the caller */
        q->fg[s] = (isnan(q->fg[s]) ? 0 : q->fg[s]) + g;
        q->fmis[s] = (isnan(q->fmis[s]) ? 0 : q->fmis[s]) + q->smis[id];
        q->fb[s] = (isnan(q->fb[s]) ? 0 : q->fb[s]) + b;
        q->nf[s] += 1;
    }
}

/* the scheme table: one row per scheme */
static int read_schemes(q2data *q, const char *path, const cm_csv *m, long *mk)
{
    long cl = cm_csv_col(m, "scheme"), cf = cm_csv_col(m, "forward"),
         cb = cm_csv_col(m, "backward"), cs = cm_csv_col(m, "source"),
         cn = cm_csv_col(m, "note");
    for (size_t k = 0; k < NKEY; k++)
        if ((mk[k] = cm_csv_col(m, key_cols[k])) < 0) {
            char w[160];
            snprintf(w, sizeof w, "no column '%s' (the spec map repeats the run table's "
                                  "quantizer columns)", key_cols[k]);
            return fail(path, 0, w);
        }
    if (cl < 0 || cf < 0 || cb < 0 || cs < 0 || cn < 0)
        return fail(path, 0, "needs the columns scheme, forward, backward, source, note");
    q->ns = m->nrow;
    q->label = calloc(q->ns, sizeof *q->label);
    q->fwd = calloc(q->ns, sizeof *q->fwd);
    q->bwd = calloc(q->ns, sizeof *q->bwd);
    q->src = calloc(q->ns, sizeof *q->src);
    q->note = calloc(q->ns, sizeof *q->note);
    if (!q->label || !q->fwd || !q->bwd || !q->src || !q->note)
        return EXIT_RUNTIME;
    for (size_t s = 0; s < q->ns; s++) {
        q->label[s] = strdup(cm_csv_at(m, s, (size_t)cl));
        q->fwd[s] = strdup(cm_csv_at(m, s, (size_t)cf));
        q->bwd[s] = strdup(cm_csv_at(m, s, (size_t)cb));
        q->src[s] = strdup(cm_csv_at(m, s, (size_t)cs));
        q->note[s] = strdup(cm_csv_at(m, s, (size_t)cn));
        if (!q->label[s] || !q->fwd[s] || !q->bwd[s] || !q->src[s] || !q->note[s])
            return EXIT_RUNTIME;
        const char *why = NULL;
        if (walk(q, s, q->fwd[s], 0, NULL, &why) || walk(q, s, q->bwd[s], 1, NULL, &why))
            return fail(path, (long)s + 2, why);
        for (size_t t = 0; t < s; t++)
            if (!strcmp(q->label[t], q->label[s]))
                return fail(path, (long)s + 2, "the scheme name appears twice");
    }
    return 0;
}

/* each run's scheme, by its quantizer columns */
static int read_runs(q2data *q, const char *path, const cm_csv *t, const cm_csv *m,
                     const long *mk)
{
    long tk[NKEY];
    for (size_t k = 0; k < NKEY; k++)
        if ((tk[k] = cm_csv_col(t, key_cols[k])) < 0) {
            char w[160];
            snprintf(w, sizeof w, "no column '%s'", key_cols[k]);
            return fail(path, 0, w);
        }
    long cN = cm_csv_col(t, "N"), cD = cm_csv_col(t, "D"), cy = cm_csv_col(t, "final_loss");
    if (cN < 0 || cD < 0 || cy < 0)
        return fail(path, 0, "needs the columns N, D and final_loss");
    q->n = t->nrow;
    q->N = calloc(q->n, sizeof *q->N), q->D = calloc(q->n, sizeof *q->D);
    q->y = calloc(q->n, sizeof *q->y), q->sch = calloc(q->n, sizeof *q->sch);
    q->cnt = calloc(q->ns, sizeof *q->cnt);
    if (!q->N || !q->D || !q->y || !q->sch || !q->cnt)
        return EXIT_RUNTIME;
    for (size_t i = 0; i < q->n; i++) {
        char *e1, *e2, *e3;
        q->N[i] = strtod(cm_csv_at(t, i, (size_t)cN), &e1);
        q->D[i] = strtod(cm_csv_at(t, i, (size_t)cD), &e2);
        q->y[i] = strtod(cm_csv_at(t, i, (size_t)cy), &e3);
        if (*e1 || *e2 || *e3 || !(q->N[i] > 0) || !(q->D[i] > 0) || !(q->y[i] > 0) ||
            !isfinite(q->N[i] * q->D[i] * q->y[i]))
            return fail(path, (long)i + 2, "N, D and final_loss must be positive numbers");
        size_t s = 0;
        for (; s < m->nrow; s++) {
            size_t k = 0;
            while (k < NKEY && !strcmp(cm_csv_at(t, i, (size_t)tk[k]), cm_csv_at(m, s, (size_t)mk[k])))
                k++;
            if (k == NKEY)
                break;
        }
        if (s == m->nrow)
            return fail(path, (long)i + 2, "no scheme of quartet2_specs.csv has this run's "
                                           "quantizer columns (add one)");
        q->sch[i] = s;
        q->cnt[s]++;
    }
    return 0;
}

/* GMSE, misalignment and bits of every spec */
static int score(q2data *q, const cm_registry *reg, const cm_eval_opts *ev, const char *path)
{
    size_t n = q->nspec;
    cm_pipeline **p = calloc(n ? n : 1, sizeof *p);
    cm_result *r = calloc(n ? n : 1, sizeof *r);
    q->sgmse = calloc(n ? n : 1, sizeof *q->sgmse);
    q->smis = calloc(n ? n : 1, sizeof *q->smis);
    q->sbits = calloc(n ? n : 1, sizeof *q->sbits);
    q->smc = calloc(n ? n : 1, sizeof *q->smc);
    int rc = !p || !r || !q->sgmse || !q->smis || !q->sbits || !q->smc ? EXIT_RUNTIME : 0;
    cm_diag d;
    cm_diag_clear(&d);
    size_t m = 0;
    for (; !rc && m < n; m++) {
        cm_status st = cm_spec_parse(reg, q->spec[m], &p[m], &d);
        if (st) {
            char w[1200];
            snprintf(w, sizeof w, "spec '%s': %s", q->spec[m], d.msg);
            rc = fail(path, 0, w);
            break;
        }
    }
    cm_eval_opts o = *ev;
    o.law = NULL;
    if (!rc && n && cm_eval(p, n, &o, r, NULL, NULL, &d))
        rc = report(CM_EINVAL, &d, "validate: Quartet II formats", NULL);
    for (size_t k = 0; !rc && k < n; k++) {
        q->sgmse[k] = r[k].gmse;
        q->smis[k] = r[k].misalignment;
        q->sbits[k] = r[k].bits;
        q->smc[k] = r[k].method == CM_METHOD_MC;
    }
    for (size_t k = 0; k < m; k++)
        cm_pipeline_free(p[k]);
    free(p), free(r);
    return rc;
}

int q2_load(q2data *q, const char *runs, const char *specs, const cm_registry *reg,
            const cm_eval_opts *ev)
{
    memset(q, 0, sizeof *q);
    cm_csv *t = NULL, *m = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    cm_status st = cm_csv_read(runs, &t, &d);
    if (!st)
        st = cm_csv_read(specs, &m, &d);
    long mk[NKEY];
    int rc = st ? report(st, &d, "validate", NULL) : 0;
    if (!rc)
        rc = read_schemes(q, specs, m, mk);
    if (!rc)
        rc = read_runs(q, runs, t, m, mk);
    if (!rc)
        rc = score(q, reg, ev, specs);
    cm_csv_free(t);
    cm_csv_free(m);
    if (rc)
        return rc;
    size_t ns = q->ns;
    q->fg = malloc(ns * sizeof *q->fg), q->bg = malloc(ns * sizeof *q->bg);
    q->bm = malloc(ns * sizeof *q->bm), q->fb = malloc(ns * sizeof *q->fb);
    q->bb = malloc(ns * sizeof *q->bb), q->fmis = malloc(ns * sizeof *q->fmis);
    q->nf = calloc(ns, sizeof *q->nf);
    if (!q->fg || !q->bg || !q->bm || !q->fb || !q->bb || !q->fmis || !q->nf)
        return EXIT_RUNTIME;
    for (size_t s = 0; s < ns; s++) {
        q->fg[s] = q->bg[s] = q->bm[s] = q->fb[s] = q->bb[s] = q->fmis[s] = NAN;
        const char *why;
        walk(q, s, q->fwd[s], 0, add_metric, &why);
        walk(q, s, q->bwd[s], 1, add_metric, &why);
        if (q->nf[s] > 0) {
            q->fg[s] /= q->nf[s];
            q->fb[s] /= q->nf[s];
            q->fmis[s] /= q->nf[s];
        }
    }
    return 0;
}
