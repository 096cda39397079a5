/* Training-run tables (CSV) for fit, bench and validate: runs read into
 * arrays ready for cm_fit, the GMSE of their formats. Nothing here prints:
 * every failure is a status and a diagnostic in a runs_err, which the
 * command reports (runs_report). */
#include <capmetric/capmetric.h>

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs_int.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static cm_status fail(runs_err *e, cm_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_diag_clear(&e->d);
    cm_diag_vset(&e->d, st, NULL, fmt, ap);
    va_end(ap);
    e->st = st;
    return st;
}

/* the library's own diagnostic, with `what` before its message */
static cm_status fail_diag(runs_err *e, cm_status st, const cm_diag *d, const char *what)
{
    e->d = *d;
    e->st = st;
    if (what)
        snprintf(e->d.msg, sizeof e->d.msg, "%s: %s", what, d->msg[0] ? d->msg : cm_strerror(st));
    else if (!d->msg[0])
        snprintf(e->d.msg, sizeof e->d.msg, "%s", cm_strerror(st));
    return st;
}

void runs_free(runs *r)
{
    free(r->N), free(r->D), free(r->y), free(r->x), free(r->x2);
    free(r->g), free(r->g2), free(r->fam), free(r->line), free(r->row);
    for (size_t i = 0; i < r->ng; i++) {
        free(r->glabel[i]);
        if (r->gspec)
            free(r->gspec[i]);
        if (r->gnote)
            free(r->gnote[i]);
    }
    for (size_t i = 0; i < r->ng2; i++)
        free(r->g2label[i]);
    for (size_t i = 0; i < r->nfam; i++)
        free(r->famlabel[i]);
    free(r->glabel), free(r->gspec), free(r->gnote), free(r->ggmse), free(r->g2label);
    free(r->famlabel);
    memset(r, 0, sizeof *r);
}

/* Index of `s` in the list, appended if new. SIZE_MAX on OOM. */
static size_t intern(char ***list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s))
            return i;
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl)
        return SIZE_MAX;
    *list = nl;
    nl[*n] = strdup(s);
    return nl[*n] ? (*n)++ : SIZE_MAX;
}

static long find_col(const cm_csv *t, const char *given, const char *const *def)
{
    if (given)
        return cm_csv_col(t, given);
    for (; *def; def++) {
        long c = cm_csv_col(t, *def);
        if (c >= 0)
            return c;
    }
    return -1;
}

/* No column for `what`: name what was looked for and what the file has. */
static cm_status missing_col(runs_err *e, const char *path, const cm_csv *t, const char *what,
                             const char *given, const char *const *def, const char *opt)
{
    char *msg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&msg, &len);
    if (!f)
        return fail(e, CM_ENOMEM, "out of memory");
    fprintf(f, "%s: no column ", path);
    if (given)
        fprintf(f, "'%s'", given);
    else {
        fprintf(f, "for %s (looked for", what);
        for (; *def; def++)
            fprintf(f, " %s", *def);
        fprintf(f, ")");
    }
    fprintf(f, "; the file has:");
    for (size_t i = 0; i < t->ncol; i++)
        fprintf(f, " %s", t->head[i]);
    fprintf(f, "; name the column with %s COL", opt);
    fclose(f);
    fail(e, CM_ENOTFOUND, "%s", msg ? msg : "");
    free(msg);
    return CM_ENOTFOUND;
}

static int is_baseline(const char *label, const char *list)
{
    if (list) {
        size_t n = strlen(label);
        for (const char *s = list; *s;) {
            size_t k = strcspn(s, ";,");
            if (k == n && !strncmp(s, label, n))
                return 1;
            s += k;
            if (*s)
                s++;
        }
        return 0;
    }
    static const char *const def[] = {"16", "bf16", "BF16", "baseline", "fp32", "FP32", "none",
                                      "NoQuantizer", NULL};
    for (const char *const *d = def; *d; d++)
        if (!strcmp(label, *d))
            return 1;
    return 0;
}

/* `COL=V1;V2`: keep rows whose COL is one of the values. */
static int where_ok(const cm_csv *t, size_t r, const char *const *where, size_t nw)
{
    for (size_t w = 0; w < nw; w++) {
        const char *eq = strchr(where[w], '=');
        char col[128];
        snprintf(col, sizeof col, "%.*s", (int)(eq - where[w]), where[w]);
        const char *v = cm_csv_at(t, r, (size_t)cm_csv_col(t, col));
        int any = 0;
        size_t n = strlen(v);
        for (const char *s = eq + 1; *s && !any;) {
            size_t k = strcspn(s, ";");
            any = k == n && !strncmp(s, v, n);
            s += k;
            if (*s)
                s++;
        }
        if (!any)
            return 0;
    }
    return 1;
}

static cm_status cell_num(runs_err *e, const char *path, const cm_csv *t, size_t r, long c,
                          int positive, double *x)
{
    const char *s = cm_csv_at(t, r, (size_t)c);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || (positive ? !(v > 0) : !(v >= 0)))
        return fail(e, CM_EPARSE, "%s:%ld: column '%s': '%s' is not a %s number", path,
                    t->line[r], t->head[c], s, positive ? "positive" : "non-negative");
    *x = v;
    return CM_OK;
}

/* The row of `label` in a spec map (columns label, spec[, note]), or -1. */
static long specs_row(const cm_csv *m, const char *label)
{
    long lc = cm_csv_col(m, "label");
    for (size_t r = 0; r < m->nrow; r++)
        if (!strcmp(cm_csv_at(m, r, (size_t)lc), label))
            return (long)r;
    return -1;
}

/* GMSE of each spec (NULL or "" -> NaN); canonical specs into canon[] (malloc'd). */
cm_status gmse_of(const cm_registry *reg, const cm_eval_opts *ev, char **specs, size_t n,
                  double *out, char **canon, const char *where, runs_err *e)
{
    cm_pipeline **p = calloc(n ? n : 1, sizeof *p);
    cm_result *res = calloc(n ? n : 1, sizeof *res);
    size_t *map = calloc(n ? n : 1, sizeof *map);
    cm_status st = CM_OK;
    size_t m = 0;
    cm_diag d;
    cm_diag_clear(&d);
    e->text[0] = '\0';
    if (!p || !res || !map) {
        st = fail(e, CM_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (canon)
            canon[i] = NULL;
        map[i] = SIZE_MAX;
        if (!specs[i] || !specs[i][0])
            continue;
        st = cm_spec_parse(reg, specs[i], &p[m], &d);
        if (st) {
            char what[160];
            snprintf(what, sizeof what, "%s: spec of '%s'", where, specs[i]);
            fail_diag(e, st, &d, what);
            snprintf(e->text, sizeof e->text, "%s", specs[i]);
            goto out;
        }
        map[i] = m++;
    }
    cm_eval_opts o = *ev;
    o.law = NULL;
    if (m && (st = cm_eval(p, m, &o, res, NULL, NULL, &d))) {
        fail_diag(e, st, &d, where);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (map[i] != SIZE_MAX) {
            out[i] = res[map[i]].gmse;
            if (canon)
                canon[i] = strdup(res[map[i]].spec);
        }
out:
    for (size_t i = 0; p && i < m; i++)
        cm_pipeline_free(p[i]);
    free(p), free(res), free(map);
    return st;
}

static const char *const def_label[] = {"label", "fit_P", "format", "spec", NULL};

static const char *const def_N[] = {"N", "N_nonembed", "params", NULL};

static const char *const def_D[] = {"D", "D_tokens", "tokens", NULL};

static const char *const def_loss[] = {"loss", "val_loss", "final_loss", NULL};

static const char *const def_label2[] = {"label2", "backward", NULL};

static const char *const def_rho[] = {"rho", "eff", NULL};

static const char *const def_gmse[] = {"gmse", NULL};

static const char *const def_none[] = {NULL};

/* The columns of a run table. */
typedef struct cols {
    long label, N, D, y, x, x2, spec, label2, family;
} cols;

/* The run table and the spec map (--specs), their --where columns checked. */
static cm_status open_tables(const char *path, const runcols *c, cm_csv **t, cm_csv **sm,
                             runs_err *e)
{
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_csv_read(path, t, &d);
    if (s)
        return fail_diag(e, s, &d, NULL);
    if (c->specs_file) {
        if ((s = cm_csv_read(c->specs_file, sm, &d)))
            return fail_diag(e, s, &d, NULL);
        if (cm_csv_col(*sm, "label") < 0 || cm_csv_col(*sm, "spec") < 0)
            return fail(e, CM_ENOTFOUND, "%s: a spec map needs the columns 'label' and 'spec'",
                        c->specs_file);
    }
    for (size_t w = 0; w < c->nwhere; w++) {
        const char *eq = strchr(c->where[w], '=');
        char col[128];
        if (!eq || eq == c->where[w] || (size_t)(eq - c->where[w]) >= sizeof col) {
            e->usage = 1;
            return fail(e, CM_EINVAL,
                        "--where '%s' is not accepted (accepted: COLUMN=VALUE[;VALUE...])",
                        c->where[w]);
        }
        snprintf(col, sizeof col, "%.*s", (int)(eq - c->where[w]), c->where[w]);
        if (cm_csv_col(*t, col) < 0)
            return missing_col(e, path, *t, NULL, col, def_none, "--where");
    }
    return CM_OK;
}

/* Which column holds what, by the options or the header convention. */
static cm_status find_cols(const char *path, const cm_csv *t, const runcols *c, cm_fit_mode mode,
                           cols *k, runs_err *e)
{
    k->label = find_col(t, c->label, def_label);
    k->N = k->D = k->x = k->x2 = -1;
    k->spec = find_col(t, c->spec, (const char *const[]){"spec", NULL});
    k->label2 = mode == CM_FIT_QUARTET ? find_col(t, c->label2, def_label2) : -1;
    k->family = c->family ? cm_csv_col(t, c->family) : -1;
    if (c->family && k->family < 0)
        return missing_col(e, path, t, "families", c->family, def_none, "--family");
    if (mode == CM_FIT_MAP) {
        k->y = find_col(t, c->rho, def_rho);
        if (k->y < 0)
            return missing_col(e, path, t, "rho", c->rho, def_rho, "--rho");
        k->x = find_col(t, c->gmse, def_gmse);
        k->x2 = cm_csv_col(t, "gmse2");
        if (k->x < 0 && k->spec < 0)
            return missing_col(e, path, t, "GMSE (or a spec column)", c->gmse, def_gmse,
                               "--gmse");
        return CM_OK;
    }
    k->N = find_col(t, c->N, def_N);
    k->D = find_col(t, c->D, def_D);
    k->y = find_col(t, c->loss, def_loss);
    const struct {
        long col;
        const char *what, *given, *opt;
        const char *const *def;
    } need[] = {{k->label, "the format label", c->label, "--label", def_label},
                {k->N, "N (parameters)", c->N, "--n", def_N},
                {k->D, "D (tokens)", c->D, "--d", def_D},
                {k->y, "the loss", c->loss, "--loss", def_loss}};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (need[i].col < 0)
            return missing_col(e, path, t, need[i].what, need[i].given, need[i].def, need[i].opt);
    if (mode == CM_FIT_QUARTET && k->label2 < 0 && c->label2)
        return missing_col(e, path, t, "the backward label", c->label2, def_label2, "--label2");
    return CM_OK;
}

static cm_status alloc_runs(runs *out, size_t n, runs_err *e)
{
    out->N = calloc(n + 1, sizeof *out->N);
    out->D = calloc(n + 1, sizeof *out->D);
    out->y = calloc(n + 1, sizeof *out->y);
    out->x = calloc(n + 1, sizeof *out->x);
    out->x2 = calloc(n + 1, sizeof *out->x2);
    out->g = calloc(n + 1, sizeof *out->g);
    out->g2 = calloc(n + 1, sizeof *out->g2);
    out->fam = calloc(n + 1, sizeof *out->fam);
    out->line = calloc(n + 1, sizeof *out->line);
    out->row = calloc(n + 1, sizeof *out->row);
    if (!out->N || !out->D || !out->y || !out->x || !out->x2 || !out->g || !out->g2 ||
        !out->fam || !out->line || !out->row)
        return fail(e, CM_ENOMEM, "out of memory");
    return CM_OK;
}

/* What a loader needs while it reads rows. */
typedef struct loader {
    const char *path;
    const runcols *c;
    cm_fit_mode mode;
    const cm_csv *t, *sm;
    cols k;
    runs *out;
    char **gs;          /* per group: its spec text (malloc'd; NULL: none) */
    char **rowspec, **rowspec2; /* map mode: each run's spec texts (borrowed) */
} loader;

/* A format label seen for the first time: its spec, from the spec column or the spec map. */
static cm_status new_group(loader *L, size_t r, const char *lab, size_t ng0, runs_err *e)
{
    runs *out = L->out;
    char **gs = realloc(L->gs, out->ng * sizeof *gs);
    if (gs)
        L->gs = gs;
    char **notes = realloc(out->gnote, out->ng * sizeof *notes);
    if (notes)
        out->gnote = notes;
    if (!gs || !notes)
        return fail(e, CM_ENOMEM, "out of memory");
    const char *sp = NULL;
    out->gnote[ng0] = NULL;
    long q = L->sm && L->k.spec < 0 ? specs_row(L->sm, lab) : -1;
    if (L->k.spec >= 0)
        sp = cm_csv_at(L->t, r, (size_t)L->k.spec);
    else if (q >= 0) {
        long nc = cm_csv_col(L->sm, "note");
        sp = cm_csv_at(L->sm, (size_t)q, (size_t)cm_csv_col(L->sm, "spec"));
        if (nc >= 0)
            out->gnote[ng0] = strdup(cm_csv_at(L->sm, (size_t)q, (size_t)nc));
    }
    gs[ng0] = sp && sp[0] ? strdup(sp) : NULL;
    if (!gs[ng0] && L->mode == CM_FIT_UNIFIED)
        return fail(e, CM_EINVAL,
                    "%s:%ld: format label '%s' has no spec; the unified mode needs the GMSE of "
                    "every format (give a 'spec' column, or --specs FILE.csv with columns "
                    "label,spec)",
                    L->path, L->t->line[r], lab);
    return CM_OK;
}

/* Row r of the table into run k. */
static cm_status read_row(loader *L, size_t r, size_t k, runs_err *e)
{
    const cm_csv *t = L->t;
    const cols *c = &L->k;
    runs *out = L->out;
    cm_status st = CM_OK;
    out->line[k] = t->line[r];
    out->row[k] = r;
    out->x[k] = out->x2[k] = NAN;
    if (L->mode == CM_FIT_MAP) {
        st = cell_num(e, L->path, t, r, c->y, 0, &out->y[k]);
        if (!st && c->x >= 0)
            st = cell_num(e, L->path, t, r, c->x, 0, &out->x[k]);
        if (!st && c->x2 >= 0 && cm_csv_at(t, r, (size_t)c->x2)[0])
            st = cell_num(e, L->path, t, r, c->x2, 0, &out->x2[k]);
        if (c->x < 0)
            L->rowspec[k] = (char *)cm_csv_at(t, r, (size_t)c->spec);
        long cs2 = cm_csv_col(t, "spec2");
        if (c->x < 0 && cs2 >= 0 && cm_csv_at(t, r, (size_t)cs2)[0])
            L->rowspec2[k] = (char *)cm_csv_at(t, r, (size_t)cs2);
        out->g[k] = CM_FIT_BASE;
    } else {
        st = cell_num(e, L->path, t, r, c->N, 1, &out->N[k]);
        if (!st)
            st = cell_num(e, L->path, t, r, c->D, 1, &out->D[k]);
        if (!st)
            st = cell_num(e, L->path, t, r, c->y, 1, &out->y[k]);
        if (st)
            return st;
        const char *lab = cm_csv_at(t, r, (size_t)c->label);
        if (!lab[0])
            return fail(e, CM_EPARSE, "%s:%ld: empty format label in column '%s'", L->path,
                        t->line[r], t->head[c->label]);
        if (is_baseline(lab, L->c->baseline)) {
            out->g[k] = CM_FIT_BASE;
        } else {
            size_t ng0 = out->ng;
            out->g[k] = intern(&out->glabel, &out->ng, lab);
            if (out->g[k] == SIZE_MAX)
                return fail(e, CM_ENOMEM, "out of memory");
            if (out->ng > ng0 && (st = new_group(L, r, lab, ng0, e)))
                return st;
        }
        out->g2[k] = CM_FIT_BASE;
        if (c->label2 >= 0) {
            const char *l2 = cm_csv_at(t, r, (size_t)c->label2);
            if (!is_baseline(l2, L->c->baseline))
                out->g2[k] = intern(&out->g2label, &out->ng2, l2);
        }
    }
    out->fam[k] = 0;
    if (c->family >= 0 && (L->mode == CM_FIT_MAP || out->g[k] != CM_FIT_BASE))
        out->fam[k] = intern(&out->famlabel, &out->nfam, cm_csv_at(t, r, (size_t)c->family));
    return st;
}

/* map mode without a GMSE column: the GMSE of each run's spec (and spec2) */
static cm_status map_gmse(loader *L, const cm_registry *reg, const cm_eval_opts *ev, size_t n,
                          runs_err *e)
{
    runs *out = L->out;
    size_t k = out->n;
    double *x2 = calloc(n + 1, sizeof *x2);
    cm_status st = x2 ? gmse_of(reg, ev, L->rowspec, k, out->x, NULL, L->path, e)
                      : fail(e, CM_ENOMEM, "out of memory");
    if (!st)
        st = gmse_of(reg, ev, L->rowspec2, k, x2, NULL, L->path, e);
    for (size_t i = 0; !st && i < k; i++)
        if (L->rowspec2[i])
            out->x2[i] = x2[i];
    for (size_t i = 0; !st && i < k; i++)
        if (isnan(out->x[i]))
            st = fail(e, CM_EINVAL, "%s:%ld: no GMSE and no spec", L->path, out->line[i]);
    free(x2);
    return st;
}

cm_status runs_load(const char *path, const runcols *c, cm_fit_mode mode,
                    const cm_registry *reg, const cm_eval_opts *ev, runs *out, runs_err *e)
{
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    cm_diag_clear(&e->d);
    loader L = {.path = path, .c = c, .mode = mode, .out = out};
    cm_csv *t = NULL, *sm = NULL;
    cm_status st = open_tables(path, c, &t, &sm, e);
    L.t = t;
    L.sm = sm;
    if (!st)
        st = find_cols(path, t, c, mode, &L.k, e);
    size_t n = 0;
    for (size_t r = 0; !st && r < t->nrow; r++)
        n += (size_t)where_ok(t, r, c->where, c->nwhere);
    if (!st)
        st = alloc_runs(out, n, e);
    if (!st) {
        L.rowspec = calloc(n + 1, sizeof *L.rowspec);
        L.rowspec2 = calloc(n + 1, sizeof *L.rowspec2);
        if (!L.rowspec || !L.rowspec2)
            st = fail(e, CM_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t r = 0; !st && r < t->nrow; r++)
        if (where_ok(t, r, c->where, c->nwhere))
            st = read_row(&L, r, k++, e);
    out->n = k;
    if (!st && mode == CM_FIT_MAP && L.k.x < 0)
        st = map_gmse(&L, reg, ev, n, e);
    if (!st) {
        out->gspec = calloc(out->ng + 1, sizeof *out->gspec);
        out->ggmse = calloc(out->ng + 1, sizeof *out->ggmse);
        if (!out->gspec || !out->ggmse)
            st = fail(e, CM_ENOMEM, "out of memory");
    }
    if (!st && out->ng)
        st = gmse_of(reg, ev, L.gs, out->ng, out->ggmse, out->gspec, path, e);
    if (!st && mode == CM_FIT_UNIFIED)
        for (size_t i = 0; i < out->n; i++)
            out->x[i] = out->g[i] == CM_FIT_BASE ? NAN : out->ggmse[out->g[i]];
    if (!st && out->n == 0)
        st = fail(e, CM_EINVAL, "%s: no runs%s", path,
                  c->nwhere ? " pass the --where filters" : "");
    for (size_t i = 0; L.gs && i < out->ng; i++)
        free(L.gs[i]);
    free(L.gs);
    free(L.rowspec);
    free(L.rowspec2);
    cm_csv_free(t);
    cm_csv_free(sm);
    if (st)
        runs_free(out);
    return st;
}

void runs_data(const runs *r, cm_fit_data *d)
{
    memset(d, 0, sizeof *d);
    d->n = r->n;
    d->N = r->N;
    d->D = r->D;
    d->y = r->y;
    d->g = r->g;
    d->ng = r->ng;
    d->g2 = r->ng2 ? r->g2 : NULL;
    d->ng2 = r->ng2;
    d->glabel = (const char *const *)r->glabel;
    d->g2label = (const char *const *)r->g2label;
    d->x = r->x;
    d->x2 = r->x2;
    d->fam = r->nfam ? r->fam : NULL;
    d->nfam = r->nfam;
    d->famlabel = (const char *const *)r->famlabel;
}

