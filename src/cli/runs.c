/* Training-run tables (CSV) for fit and validate, and the fit's output as
 * text, JSON and law files. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "runs.h"

/* ---- run tables ------------------------------------------------------------------- */

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

static int missing_col(const char *path, const cm_csv *t, const char *what, const char *given,
                       const char *const *def, const char *opt)
{
    fprintf(stderr, "%s: error: %s: no column ", prog, path);
    if (given)
        fprintf(stderr, "'%s'", given);
    else {
        fprintf(stderr, "for %s (looked for", what);
        for (; *def; def++)
            fprintf(stderr, " %s", *def);
        fprintf(stderr, ")");
    }
    fprintf(stderr, "; the file has:");
    for (size_t i = 0; i < t->ncol; i++)
        fprintf(stderr, " %s", t->head[i]);
    fprintf(stderr, "; name the column with %s COL\n", opt);
    return EXIT_USAGE;
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

static int cell_num(const char *path, const cm_csv *t, size_t r, long c, int positive, double *x)
{
    const char *s = cm_csv_at(t, r, (size_t)c);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || (positive ? !(v > 0) : !(v >= 0))) {
        fprintf(stderr, "%s: error: %s:%ld: column '%s': '%s' is not a %s number\n", prog, path,
                t->line[r], t->head[c], s, positive ? "positive" : "non-negative");
        return EXIT_USAGE;
    }
    *x = v;
    return 0;
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
int gmse_of(const cm_registry *reg, const cm_eval_opts *ev, char **specs, size_t n,
            double *out, char **canon, const char *where)
{
    cm_pipeline **p = calloc(n ? n : 1, sizeof *p);
    cm_result *res = calloc(n ? n : 1, sizeof *res);
    size_t *map = calloc(n ? n : 1, sizeof *map);
    int rc = 0;
    size_t m = 0;
    if (!p || !res || !map) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (canon)
            canon[i] = NULL;
        map[i] = SIZE_MAX;
        if (!specs[i] || !specs[i][0])
            continue;
        cm_diag d;
        cm_diag_clear(&d);
        cm_status s = cm_spec_parse(reg, specs[i], &p[m], &d);
        if (s) {
            char what[160];
            snprintf(what, sizeof what, "%s: spec of '%s'", where, specs[i]);
            rc = report(s, &d, what, specs[i]);
            goto out;
        }
        map[i] = m++;
    }
    cm_eval_opts o = *ev;
    o.law = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    if (m) {
        cm_status s = cm_eval(p, m, &o, res, NULL, NULL, &d);
        if (s) {
            rc = report(s, &d, where, NULL);
            goto out;
        }
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
    return rc;
}

static const char *const def_label[] = {"label", "fit_P", "format", "spec", NULL};

static const char *const def_N[] = {"N", "N_nonembed", "params", NULL};

static const char *const def_D[] = {"D", "D_tokens", "tokens", NULL};

static const char *const def_loss[] = {"loss", "val_loss", "final_loss", NULL};

static const char *const def_label2[] = {"label2", "backward", NULL};

static const char *const def_rho[] = {"rho", "eff", NULL};

static const char *const def_gmse[] = {"gmse", NULL};

static const char *const def_none[] = {NULL};

int runs_load(const char *path, const runcols *c, cm_fit_mode mode, const cm_registry *reg,
              const cm_eval_opts *ev, runs *out)
{
    memset(out, 0, sizeof *out);
    cm_csv *t = NULL, *sm = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    int rc = 0;
    char **gs = NULL;
    cm_status s = cm_csv_read(path, &t, &d);
    if (s)
        return report(s, &d, NULL, NULL);
    if (c->specs_file) {
        s = cm_csv_read(c->specs_file, &sm, &d);
        if (s) {
            rc = report(s, &d, NULL, NULL);
            goto out;
        }
        if (cm_csv_col(sm, "label") < 0 || cm_csv_col(sm, "spec") < 0) {
            fprintf(stderr, "%s: error: %s: a spec map needs the columns 'label' and 'spec'\n",
                    prog, c->specs_file);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    for (size_t w = 0; w < c->nwhere; w++) {
        const char *eq = strchr(c->where[w], '=');
        char col[128];
        if (!eq || eq == c->where[w] || (size_t)(eq - c->where[w]) >= sizeof col) {
            rc = usage_error("--where '%s' is not accepted (accepted: COLUMN=VALUE[;VALUE...])",
                             c->where[w]);
            goto out;
        }
        snprintf(col, sizeof col, "%.*s", (int)(eq - c->where[w]), c->where[w]);
        if (cm_csv_col(t, col) < 0) {
            rc = missing_col(path, t, NULL, col, def_none, "--where");
            goto out;
        }
    }
    int map = mode == CM_FIT_MAP;
    long cl = find_col(t, c->label, def_label), cN = -1, cD = -1, cy, cx = -1, cx2 = -1;
    long cs = find_col(t, c->spec, (const char *const[]){"spec", NULL});
    long cl2 = mode == CM_FIT_QUARTET ? find_col(t, c->label2, def_label2) : -1;
    long cf = c->family ? cm_csv_col(t, c->family) : -1;
    if (c->family && cf < 0) {
        rc = missing_col(path, t, "families", c->family, def_none, "--family");
        goto out;
    }
    if (map) {
        cy = find_col(t, c->rho, def_rho);
        if (cy < 0) {
            rc = missing_col(path, t, "rho", c->rho, def_rho, "--rho");
            goto out;
        }
        cx = find_col(t, c->gmse, def_gmse);
        cx2 = cm_csv_col(t, "gmse2");
        if (cx < 0 && cs < 0) {
            rc = missing_col(path, t, "GMSE (or a spec column)", c->gmse, def_gmse, "--gmse");
            goto out;
        }
    } else {
        cN = find_col(t, c->N, def_N);
        cD = find_col(t, c->D, def_D);
        cy = find_col(t, c->loss, def_loss);
        const struct {
            long col;
            const char *what, *given, *opt;
            const char *const *def;
        } need[] = {{cl, "the format label", c->label, "--label", def_label},
                    {cN, "N (parameters)", c->N, "--n", def_N},
                    {cD, "D (tokens)", c->D, "--d", def_D},
                    {cy, "the loss", c->loss, "--loss", def_loss}};
        for (size_t k = 0; k < sizeof need / sizeof *need; k++)
            if (need[k].col < 0) {
                rc = missing_col(path, t, need[k].what, need[k].given, need[k].def, need[k].opt);
                goto out;
            }
        if (mode == CM_FIT_QUARTET && cl2 < 0 && c->label2) {
            rc = missing_col(path, t, "the backward label", c->label2, def_label2, "--label2");
            goto out;
        }
    }
    size_t n = 0;
    for (size_t r = 0; r < t->nrow; r++)
        n += (size_t)where_ok(t, r, c->where, c->nwhere);
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
        !out->fam || !out->line || !out->row) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    char **rowspec = calloc(n + 1, sizeof *rowspec), **rowspec2 = calloc(n + 1, sizeof *rowspec2);
    if (!rowspec || !rowspec2) {
        free(rowspec), free(rowspec2);
        rc = EXIT_RUNTIME;
        goto out;
    }
    size_t k = 0;
    for (size_t r = 0; r < t->nrow && !rc; r++) {
        if (!where_ok(t, r, c->where, c->nwhere))
            continue;
        out->line[k] = t->line[r];
        out->row[k] = r;
        out->x[k] = out->x2[k] = NAN;
        if (map) {
            rc = cell_num(path, t, r, cy, 0, &out->y[k]);
            if (!rc && cx >= 0)
                rc = cell_num(path, t, r, cx, 0, &out->x[k]);
            if (!rc && cx2 >= 0 && cm_csv_at(t, r, (size_t)cx2)[0])
                rc = cell_num(path, t, r, cx2, 0, &out->x2[k]);
            if (cx < 0)
                rowspec[k] = (char *)cm_csv_at(t, r, (size_t)cs);
            long cs2 = cm_csv_col(t, "spec2");
            if (cx < 0 && cs2 >= 0 && cm_csv_at(t, r, (size_t)cs2)[0])
                rowspec2[k] = (char *)cm_csv_at(t, r, (size_t)cs2);
            out->g[k] = CM_FIT_BASE;
        } else {
            rc = cell_num(path, t, r, cN, 1, &out->N[k]);
            if (!rc)
                rc = cell_num(path, t, r, cD, 1, &out->D[k]);
            if (!rc)
                rc = cell_num(path, t, r, cy, 1, &out->y[k]);
            const char *lab = cm_csv_at(t, r, (size_t)cl);
            if (!lab[0]) {
                fprintf(stderr, "%s: error: %s:%ld: empty format label in column '%s'\n", prog,
                        path, t->line[r], t->head[cl]);
                rc = EXIT_USAGE;
            }
            if (is_baseline(lab, c->baseline)) {
                out->g[k] = CM_FIT_BASE;
            } else {
                size_t ng0 = out->ng;
                out->g[k] = intern(&out->glabel, &out->ng, lab);
                if (out->ng > ng0) { /* new group: its spec */
                    gs = realloc(gs, out->ng * sizeof *gs);
                    out->gnote = realloc(out->gnote, out->ng * sizeof *out->gnote);
                    if (!gs || !out->gnote) {
                        rc = EXIT_RUNTIME;
                        break;
                    }
                    const char *sp = NULL;
                    out->gnote[ng0] = NULL;
                    long q = sm && cs < 0 ? specs_row(sm, lab) : -1;
                    if (cs >= 0)
                        sp = cm_csv_at(t, r, (size_t)cs);
                    else if (q >= 0) {
                        long nc = cm_csv_col(sm, "note");
                        sp = cm_csv_at(sm, (size_t)q, (size_t)cm_csv_col(sm, "spec"));
                        if (nc >= 0)
                            out->gnote[ng0] = strdup(cm_csv_at(sm, (size_t)q, (size_t)nc));
                    }
                    gs[ng0] = sp && sp[0] ? strdup(sp) : NULL;
                    if (!gs[ng0] && mode == CM_FIT_UNIFIED) {
                        fprintf(stderr,
                                "%s: error: %s:%ld: format label '%s' has no spec; the unified "
                                "mode needs the GMSE of every format (give a 'spec' column, or "
                                "--specs FILE.csv with columns label,spec)\n",
                                prog, path, t->line[r], lab);
                        rc = EXIT_USAGE;
                    }
                }
            }
            out->g2[k] = CM_FIT_BASE;
            if (cl2 >= 0) {
                const char *l2 = cm_csv_at(t, r, (size_t)cl2);
                if (!is_baseline(l2, c->baseline))
                    out->g2[k] = intern(&out->g2label, &out->ng2, l2);
            }
        }
        out->fam[k] = 0;
        if (cf >= 0 && (map || out->g[k] != CM_FIT_BASE)) /* baselines have eff 1: no family */
            out->fam[k] = intern(&out->famlabel, &out->nfam, cm_csv_at(t, r, (size_t)cf));
        k++;
    }
    out->n = k;
    if (!rc && map && cx < 0) { /* GMSE of the spec column */
        double *x2 = calloc(n + 1, sizeof *x2);
        rc = x2 ? gmse_of(reg, ev, rowspec, k, out->x, NULL, path) : EXIT_RUNTIME;
        if (!rc)
            rc = gmse_of(reg, ev, rowspec2, k, x2, NULL, path);
        for (size_t i = 0; !rc && i < k; i++)
            if (rowspec2[i])
                out->x2[i] = x2[i];
        for (size_t i = 0; !rc && i < k; i++)
            if (isnan(out->x[i])) {
                fprintf(stderr, "%s: error: %s:%ld: no GMSE and no spec\n", prog, path,
                        out->line[i]);
                rc = EXIT_USAGE;
            }
        free(x2);
    }
    free(rowspec), free(rowspec2);
    if (rc)
        goto out;
    out->gspec = calloc(out->ng + 1, sizeof *out->gspec);
    out->ggmse = calloc(out->ng + 1, sizeof *out->ggmse);
    if (!out->gspec || !out->ggmse) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (out->ng && (rc = gmse_of(reg, ev, gs, out->ng, out->ggmse, out->gspec, path)))
        goto out;
    if (mode == CM_FIT_UNIFIED)
        for (size_t i = 0; i < out->n; i++)
            out->x[i] = out->g[i] == CM_FIT_BASE ? NAN : out->ggmse[out->g[i]];
    if (out->n == 0) {
        fprintf(stderr, "%s: error: %s: no runs%s\n", prog, path,
                c->nwhere ? " pass the --where filters" : "");
        rc = EXIT_USAGE;
    }
out:
    for (size_t i = 0; gs && i < out->ng; i++)
        free(gs[i]);
    free(gs);
    cm_csv_free(t);
    cm_csv_free(sm);
    if (rc)
        runs_free(out);
    return rc;
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

cJSON *fit_json(const cm_fit_result *f, const cm_fit_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "mode", cm_fit_mode_name(f->mode));
    cJSON_AddNumberToObject(j, "points", (double)f->n);
    cJSON_AddItemToObject(j, "huber_delta", jnum(o->huber));
    cJSON_AddNumberToObject(j, "residual_scale", o->rscale);
    cJSON_AddNumberToObject(j, "starts", (double)f->starts);
    cJSON_AddNumberToObject(j, "converged", (double)f->converged);
    cJSON_AddNumberToObject(j, "starts_at_best", (double)f->at_best);
    cJSON_AddItemToObject(j, "cost", jnum(f->cost));
    cJSON_AddItemToObject(j, "rmse", jnum(f->rmse));
    cJSON_AddItemToObject(j, "mae", jnum(f->mae));
    cJSON_AddNumberToObject(j, "bootstrap", f->boot_done);
    cJSON_AddNumberToObject(j, "seconds", f->seconds);
    cJSON *vals = cJSON_AddObjectToObject(j, "values"); /* name -> value, for lookups */
    for (size_t k = 0; k < f->np; k++)
        cJSON_AddItemToObject(vals, f->p[k].name, jnum(f->p[k].value));
    cJSON *ps = cJSON_AddArrayToObject(j, "params");
    cJSON *und = cJSON_CreateArray();
    for (size_t k = 0; k < f->np; k++) {
        const cm_fit_param *p = &f->p[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", p->name);
        cJSON_AddItemToObject(e, "value", jnum(p->value));
        cJSON_AddItemToObject(e, "se", jnum(p->se));
        cJSON_AddItemToObject(e, "boot_lo", jnum(p->lo));
        cJSON_AddItemToObject(e, "boot_hi", jnum(p->hi));
        cJSON_AddItemToObject(e, "boot_sd", jnum(p->sd));
        cJSON_AddBoolToObject(e, "determined", p->determined);
        cJSON_AddItemToArray(ps, e);
        if (!p->determined)
            cJSON_AddItemToArray(und, cJSON_CreateString(p->name));
    }
    cJSON_AddItemToObject(j, "not_determined", und);
    return j;
}

void fit_print(const cm_fit_result *f, const cm_fit_opts *o, const char *loss_what)
{
    const char *head[] = {"parameter", "value", "SE", "bootstrap 95%", "note"};
    const int right[] = {0, 1, 1, 1, 0};
    cli_table t;
    if (cli_table_init(&t, 5, head, right))
        return;
    for (size_t k = 0; k < f->np; k++) {
        const cm_fit_param *p = &f->p[k];
        char v[32], se[32], ci[80];
        fmt_g(v, sizeof v, p->value, 6);
        if (isfinite(p->se))
            fmt_g(se, sizeof se, p->se, 2);
        else
            snprintf(se, sizeof se, "inf");
        if (isfinite(p->lo)) {
            char a[32], b[32];
            fmt_g(a, sizeof a, p->lo, 4);
            fmt_g(b, sizeof b, p->hi, 4);
            snprintf(ci, sizeof ci, "[%s, %s]", a, b);
        } else {
            snprintf(ci, sizeof ci, "-");
        }
        const char *cells[] = {p->name, v, se, ci,
                               p->determined ? "" : "NOT DETERMINED by these data"};
        cli_table_row(&t, cells);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    char dl[32];
    fmt_g(dl, sizeof dl, o->huber, 3);
    printf("\n%zu points; Huber delta %s on %s residuals%s; cost %.7g; RMSE %.4g, mean |r| %.4g\n",
           f->n, isinf(o->huber) ? "inf (least squares)" : dl, loss_what,
           o->rscale != 1 ? " (scaled)" : "", f->cost, f->rmse, f->mae);
    printf("%zu starts, %zu converged, %zu reached the best cost; %.2f s\n", f->starts,
           f->converged, f->at_best, f->seconds);
    int und = 0;
    for (size_t k = 0; k < f->np; k++)
        und += !f->p[k].determined;
    if (und) {
        printf("not determined (SE larger than the value, or the bootstrap spreads over more "
               "than 10x):");
        for (size_t k = 0; k < f->np; k++)
            if (!f->p[k].determined)
                printf(" %s", f->p[k].name);
        printf("\n");
    }
}

/* The law file of a fit (cm_law_load reads it). */
cJSON *law_json(const cm_fit_result *f, const runs *r, const char *name, const char *source)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "capmetric_law", 1);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "source", source);
    const char *kind = f->mode == CM_FIT_QUARTET ? "quartet" : cm_fit_mode_name(f->mode);
    cJSON_AddStringToObject(j, "kind", kind);
    size_t k = 0;
    if (f->mode != CM_FIT_MAP) {
        cJSON *c = cJSON_AddObjectToObject(j, "constants");
        static const char *const nm[] = {"A", "alpha", "B", "beta", "E", "gamma"};
        size_t nb = f->mode == CM_FIT_QUARTET ? 6 : 5;
        for (size_t q = 0; q < nb; q++) {
            double v = f->base_fixed ? f->base[q] : f->p[k++].value;
            cJSON_AddNumberToObject(c, nm[q], v);
        }
    }
    if (f->mode == CM_FIT_UNIFIED || f->mode == CM_FIT_MAP) {
        cJSON *fa = cJSON_AddArrayToObject(j, "families");
        for (size_t q = 0; k + 3 <= f->np; q++) {
            cJSON *e = cJSON_CreateObject();
            if (r->nfam)
                cJSON_AddStringToObject(e, "family", r->famlabel[q]);
            cJSON_AddNumberToObject(e, "F", f->p[k].value);
            cJSON_AddNumberToObject(e, "C", f->p[k + 1].value);
            cJSON_AddNumberToObject(e, "L", f->p[k + 2].value);
            cJSON_AddItemToArray(fa, e);
            k += 3;
        }
    } else {
        cJSON *tab = cJSON_AddArrayToObject(j, "table");
        for (size_t g = 0; g < r->ng; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->glabel[g]);
            if (r->gspec[g])
                cJSON_AddStringToObject(e, "spec", r->gspec[g]);
            else
                cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
        for (size_t g = 0; f->mode == CM_FIT_QUARTET && g < r->ng2; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->g2label[g]);
            cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", 1);
            cJSON_AddNumberToObject(e, "effD", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
    }
    return j;
}

/* Published fitting settings by name: the robust loss each paper used. */
int fit_preset(const char *name, cm_fit_opts *o)
{
    if (!strcmp(name, "quest")) { /* SciPy least_squares(loss='huber', f_scale=1) on 1e-3 log r */
        o->huber = 1;
        o->rscale = 1e-3;
    } else if (!strcmp(name, "quartet") || !strcmp(name, "unified")) {
        o->huber = 1e-4; /* Quartet's notebook fit; the Unified paper's delta */
        o->rscale = 1;
    } else if (!strcmp(name, "chinchilla")) {
        o->huber = 1e-3; /* Hoffmann et al. 2022 */
        o->rscale = 1;
    } else {
        return usage_error("--preset '%s' is not accepted (accepted: quest, quartet, unified, "
                           "chinchilla)",
                           name);
    }
    return 0;
}

int parse_huber(const char *v, cm_fit_opts *o)
{
    if (!v)
        return 0;
    if (!strcmp(v, "none") || !strcmp(v, "inf")) {
        o->huber = INFINITY;
        return 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x > 0) || !isfinite(x))
        return usage_error("--huber '%s' is not accepted (accepted: a positive number, e.g. "
                           "1e-3, or none for least squares)",
                           v);
    o->huber = x;
    return 0;
}

#ifndef CM_DATADIR

#define CM_DATADIR ""

#endif

const char *runs_dir(void)
{
    return access("data/runs", F_OK) ? CM_DATADIR "/runs" : "data/runs";
}
