/* capmetric validate: the report's sections and tables, and the shared
 * loading and fitting helpers of its sections. */
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
#include "svg.h"
#include "runs_int.h"
#include "validate_int.h"

/* ---- a report: sections of tables, shown three ways -------------------------------- */



void sec_begin(rep *r, const char *title, const char *text, const char *const *head,
                      const int *right, size_t ncol)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "title", title);
    cJSON_AddStringToObject(s, "text", text);
    r->rows = cJSON_AddArrayToObject(s, "rows");
    cJSON_AddItemToArray(r->secs, s);
    r->head = head;
    r->ncol = ncol;
    cli_table_init(&r->t, ncol, head, right);
    if (!r->quiet)
        printf("\n== %s ==\n%s\n\n", title, text);
    fprintf(r->md, "\n## %s\n\n%s\n\n|", title, text);
    for (size_t c = 0; c < ncol; c++)
        fprintf(r->md, " %s |", head[c]);
    fprintf(r->md, "\n|");
    for (size_t c = 0; c < ncol; c++)
        fprintf(r->md, "%s|", right[c] ? "---:" : ":---");
    fprintf(r->md, "\n");
}

void sec_row(rep *r, const char *const *cells)
{
    cli_table_row(&r->t, cells);
    cJSON *o = cJSON_CreateObject();
    fprintf(r->md, "|");
    for (size_t c = 0; c < r->ncol; c++) {
        char *end;
        double x = strtod(cells[c], &end);
        if (cells[c][0] && !*end && isfinite(x))
            cJSON_AddNumberToObject(o, r->head[c], x);
        else
            cJSON_AddStringToObject(o, r->head[c], cells[c]);
        fprintf(r->md, " %s |", cells[c]);
    }
    fprintf(r->md, "\n");
    cJSON_AddItemToArray(r->rows, o);
}

void sec_end(rep *r, const char *note)
{
    if (!r->quiet)
        cli_table_print(&r->t);
    cli_table_fini(&r->t);
    if (note) {
        if (!r->quiet)
            printf("%s\n", note);
        fprintf(r->md, "\n%s\n", note);
        cJSON *s = cJSON_GetArrayItem(r->secs, cJSON_GetArraySize(r->secs) - 1);
        cJSON_AddStringToObject(s, "note", note);
    }
}

/* A pass/fail row: what, published, ours, difference, tolerance. */
void check_row(rep *r, const char *what, double want, double got, double tol, int rel)
{
    double diff = rel ? fabs(got - want) / fabs(want) : fabs(got - want);
    int pass = diff <= tol;
    char w[32], g[32], df[32], t[32];
    snprintf(w, sizeof w, "%.7g", want);
    snprintf(g, sizeof g, "%.7g", got);
    snprintf(df, sizeof df, rel ? "%.2g%%" : "%.2g", rel ? 100 * diff : diff);
    snprintf(t, sizeof t, rel ? "%.2g%%" : "%.2g", rel ? 100 * tol : tol);
    const char *cells[] = {what, w, g, df, t, pass ? "pass" : "FAIL"};
    sec_row(r, cells);
    r->checks++;
    r->failed += !pass;
}





/* ---- helpers ------------------------------------------------------------------------ */



char *path_in(const vctx *v, const char *file)
{
    size_t n = strlen(v->dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", v->dir, file);
    return p;
}

int load(vctx *v, const char *file, runcols *c, cm_fit_mode mode, runs *out)
{
    char *p = path_in(v, file);
    if (!p)
        return EXIT_RUNTIME;
    runs_err re;
    int rc = runs_load(p, c, mode, v->reg, &v->ev, out, &re) ? runs_report(&re) : 0;
    free(p);
    return rc;
}

int fit(vctx *v, cm_fit_mode mode, const runs *rr, cm_fit_opts *o, cm_fit_result *f,
               const char *what)
{
    cm_fit_data d;
    runs_data(rr, &d);
    o->threads = v->threads;
    cm_diag dg;
    cm_diag_clear(&dg);
    cm_status s = cm_fit(mode, &d, o, f, &dg);
    if (s)
        return report(s, &dg, what, NULL);
    return 0;
}

double param(const cm_fit_result *f, const char *name)
{
    for (size_t k = 0; k < f->np; k++)
        if (!strcmp(f->p[k].name, name))
            return f->p[k].value;
    return NAN;
}

/* ---- evidence ----------------------------------------------------------------------- */

void evidence(rep *r, const char *name, const char *metric, double value, double baseline,
              const char *criterion, int pass)
{
    if (!r->evid)
        r->evid = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "metric", metric);
    cJSON_AddItemToObject(e, "value", json_num(value));
    cJSON_AddItemToObject(e, "baseline", json_num(baseline));
    cJSON_AddStringToObject(e, "criterion", criterion);
    cJSON_AddBoolToObject(e, "pass", pass);
    cJSON_AddItemToArray(r->evid, e);
    pass ? r->evid_pass++ : r->evid_fail++;
    if (!r->quiet)
        printf("evidence: %s: %.5g vs %.5g (%s): %s\n", name, value, baseline, criterion,
               pass ? "holds" : "FAILS");
}

int add_plot(rep *r, const char *name, char *svg)
{
    char **n = realloc(r->plot_name, (r->nplot + 1) * sizeof *n);
    if (n)
        r->plot_name = n;
    char **s = realloc(r->plot_svg, (r->nplot + 1) * sizeof *s);
    if (s)
        r->plot_svg = s;
    char *nm = strdup(name);
    if (!n || !s || !nm) {
        free(svg), free(nm);
        return -1;
    }
    r->plot_name[r->nplot] = nm;
    r->plot_svg[r->nplot++] = svg;
    return 0;
}

/* The verdict: which claims hold and which fail, by name, in one paragraph; the
 * evidence table under it (*md). NULL out of memory. */
char *verdict_text(const rep *r, char **md)
{
    char *vt = NULL, *tt = NULL;
    size_t vl = 0, tl = 0;
    FILE *v = open_memstream(&vt, &vl), *t = open_memstream(&tt, &tl);
    if (!v || !t) {
        if (v)
            fclose(v);
        if (t)
            fclose(t);
        free(vt), free(tt);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(r->evid);
    fprintf(v, "Of %zu claims that the data could refute, %zu hold and %zu fail. ", n,
            r->evid_pass, r->evid_fail);
    for (int want = 1; want >= 0; want--) {
        size_t k = 0, cnt = want ? r->evid_pass : r->evid_fail;
        if (!cnt)
            continue;
        fprintf(v, want ? "The GMSE -> capacity claim holds where: " : "It fails where: ");
        const cJSON *e;
        cJSON_ArrayForEach(e, r->evid)
        {
            if (cJSON_IsTrue(cJSON_GetObjectItem(e, "pass")) != want)
                continue;
            fprintf(v, "%s (%.4g vs %.4g)%s", cJSON_GetObjectItem(e, "name")->valuestring,
                    cJSON_GetNumberValue(cJSON_GetObjectItem(e, "value")),
                    cJSON_GetNumberValue(cJSON_GetObjectItem(e, "baseline")),
                    ++k < cnt ? "; " : ". ");
        }
    }
    fprintf(v, "Reproduction of published numbers is separate: %zu checks, %zu failed.",
            r->checks, r->failed);
    fprintf(t, "| claim | metric | value | baseline | criterion | result |\n"
               "|:---|:---|---:|---:|:---|:---|\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, r->evid)
    {
        fprintf(t, "| %s | %s | %.5g | %.5g | %s | %s |\n",
                cJSON_GetObjectItem(e, "name")->valuestring,
                cJSON_GetObjectItem(e, "metric")->valuestring,
                cJSON_GetNumberValue(cJSON_GetObjectItem(e, "value")),
                cJSON_GetNumberValue(cJSON_GetObjectItem(e, "baseline")),
                cJSON_GetObjectItem(e, "criterion")->valuestring,
                cJSON_IsTrue(cJSON_GetObjectItem(e, "pass")) ? "holds" : "fails");
    }
    fclose(v);
    fclose(t);
    *md = tt;
    return vt;
}

/* predicted against observed losses (NaN predictions left out), with the line
 * predicted = observed; added to the report as `name` */
int pred_plot(rep *r, const char *name, const char *title, const char *ylabel, const double *obs,
              const double *pred, size_t n)
{
    double *xo = malloc((n ? n : 1) * sizeof *xo), *yp = malloc((n ? n : 1) * sizeof *yp);
    const char **lab = calloc(n ? n : 1, sizeof *lab);
    char *svg = NULL;
    if (xo && yp && lab) {
        double lo = INFINITY, hi = -INFINITY;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(pred[i]))
                continue;
            xo[m] = obs[i], yp[m] = pred[i], lab[m] = "";
            lo = fmin(lo, xo[m]), hi = fmax(hi, xo[m]); /* the line over the x axis */
            m++;
        }
        double cx[2] = {lo, hi}, cy[2] = {lo, hi};
        svg_opts o = {.title = title, .xlabel = "observed loss (nats/token)", .ylabel = ylabel,
                      .cx = cx, .cy = cy, .cn = 2, .cname = "predicted = observed",
                      .yfit = 1, .points_name = "runs"};
        svg = svg_plot(xo, yp, lab, m, NULL, &o);
    }
    free(xo), free(yp), free(lab);
    return svg ? add_plot(r, name, svg) : -1;
}
