/* A grid's plots: GMSE and rho against bits, and (--x KEY) GMSE against a
 * swept key; points coloured and marked by a key (--color-by, --marker-by, or
 * the grid file's "plot" object). */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "grid_report.h"
#include "svg.h"

/* a result's number / text (the readers of results.json: plots, reports, merge) */
double num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v))
        return strtod(v->valuestring, NULL); /* "inf", "nan": files written before null */
    return NAN;
}

const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* the value of `key` for result r: a swept key, else a field (sweep, family, ...) */
static const cJSON *key_of(const cJSON *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "keys"),
                                                      key);
    return v ? v : cJSON_GetObjectItemCaseSensitive(r, key);
}

static void key_text(const cJSON *v, char *b, size_t n)
{
    if (cJSON_IsNumber(v))
        snprintf(b, n, "%.10g", v->valuedouble);
    else if (cJSON_IsString(v))
        snprintf(b, n, "%s", v->valuestring);
    else
        snprintf(b, n, "(none)");
}

/* a key's values as categories: idx[i] for each result, their names (numbers
 * in increasing order, then texts in order of appearance); 0, or -1 */
typedef struct cats {
    int *idx;
    char **name;
    size_t n;
} cats;

static void cats_free(cats *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->name[i]);
    free(c->name);
    free(c->idx);
    memset(c, 0, sizeof *c);
}

static int cats_of(const entry *e, size_t n, const char *key, cats *c)
{
    memset(c, 0, sizeof *c);
    c->idx = malloc((n ? n : 1) * sizeof *c->idx);
    c->name = malloc((n ? n : 1) * sizeof *c->name);
    double *num = malloc((n ? n : 1) * sizeof *num);
    if (!c->idx || !c->name || !num) {
        free(num);
        cats_free(c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) { /* distinct values */
        char b[256];
        const cJSON *v = key_of(e[i].obj, key);
        key_text(v, b, sizeof b);
        size_t k = 0;
        while (k < c->n && strcmp(c->name[k], b))
            k++;
        if (k == c->n) {
            if (!(c->name[k] = strdup(b))) {
                free(num);
                cats_free(c);
                return -1;
            }
            num[k] = cJSON_IsNumber(v) ? v->valuedouble : INFINITY;
            c->n++;
        }
    }
    for (size_t a = 1; a < c->n; a++) /* numbers first, increasing; stable */
        for (size_t b = a; b > 0 && num[b] < num[b - 1]; b--) {
            double t = num[b];
            num[b] = num[b - 1];
            num[b - 1] = t;
            char *s = c->name[b];
            c->name[b] = c->name[b - 1];
            c->name[b - 1] = s;
        }
    for (size_t i = 0; i < n; i++) {
        char b[256];
        key_text(key_of(e[i].obj, key), b, sizeof b);
        size_t k = 0;
        while (k < c->n && strcmp(c->name[k], b))
            k++;
        c->idx[i] = (int)k;
    }
    free(num);
    return 0;
}

/* series: the results equal in their sweep and every swept key but xk */
static int series_of(const entry *e, size_t n, const char *xk, cats *c)
{
    cJSON **tmp = calloc(n ? n : 1, sizeof *tmp);
    int rc = tmp ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) { /* a "series" field, then the categories of it */
        cJSON *keys = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e[i].obj, "keys"), 1);
        cJSON_DeleteItemFromObjectCaseSensitive(keys, xk);
        char *t = keys ? cJSON_PrintUnformatted(keys) : NULL;
        cJSON_Delete(keys);
        char b[2048];
        snprintf(b, sizeof b, "%s %s", str_of(e[i].obj, "sweep"), t ? t : "");
        cJSON_free(t);
        tmp[i] = cJSON_CreateObject();
        if (!tmp[i] || !cJSON_AddStringToObject(tmp[i], "series", b))
            rc = -1;
    }
    entry *se = rc ? NULL : malloc((n ? n : 1) * sizeof *se);
    for (size_t i = 0; se && i < n; i++) {
        se[i].index = e[i].index;
        se[i].obj = tmp[i];
    }
    rc = se ? cats_of(se, n, "series", c) : -1;
    free(se);
    for (size_t i = 0; tmp && i < n; i++)
        cJSON_Delete(tmp[i]);
    free(tmp);
    return rc;
}

static const char *const fields[] = {"sweep", "family", "method", "input", "spec"};

void grid_plot_file(const char *xk, char *fn, size_t n)
{
    snprintf(fn, n, "gmse_by_%.64s.svg", xk); /* (never gmse_vs_bits.svg) */
    for (char *q = fn; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '.' && *q != '_')
            *q = '_';
}

int grid_check_plot_keys(const grid *g, const opts *o)
{
    const char *k[3] = {o->color_by ? o->color_by : g->color_by,
                        o->marker_by ? o->marker_by : g->marker_by, o->x_key ? o->x_key : g->x_key};
    static const char *const what[3] = {"--color-by (plot.color_by)", "--marker-by (plot.marker_by)",
                                        "--x (plot.x)"};
    for (int j = 0; j < 3; j++) {
        int known = !k[j];
        for (size_t f = 0; !known && f < sizeof fields / sizeof *fields; f++)
            known = j < 2 && !strcmp(k[j], fields[f]);
        for (size_t i = 0; !known && i < g->n; i++)
            known = cJSON_GetObjectItemCaseSensitive(g->pt[i].keys, k[j]) != NULL;
        if (known)
            continue;
        char list[512] = "";
        for (size_t i = 0; i < g->n; i++) {
            const cJSON *v;
            cJSON_ArrayForEach(v, g->pt[i].keys)
            {
                char w[80];
                snprintf(w, sizeof w, " %s,", v->string);
                if (!strstr(list, w) && strlen(list) + strlen(w) < sizeof list - 1)
                    strcat(list, w);
            }
        }
        if (*list)
            list[strlen(list) - 1] = 0;
        fprintf(stderr, "%s: error: %s '%s' is not a swept key of this grid (swept:%s; %s)\n",
                prog, what[j], k[j], *list ? list : " none",
                j < 2 ? "also sweep, family, method, input, spec" : "--x takes a numeric swept key");
        return EXIT_USAGE;
    }
    return 0;
}

int grid_plot_key_known(const entry *e, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (key_of(e[i].obj, key))
            return 1;
    return 0;
}

/* the Lloyd-Max curve, exact, 1..8 bits */
static size_t lloyd_max(const cm_registry *reg, double *lx, double *ly)
{
    size_t ln = 0;
    for (int b = 1; b <= 8; b++) {
        char sp[64];
        snprintf(sp, sizeof sp, "lloydmax:levels=%d", 1 << b);
        cm_pipeline *p = NULL;
        cm_plan *plan = NULL;
        cm_diag d;
        double m;
        if (!cm_spec_parse(reg, sp, &p, &d) && !cm_plan_alloc(p, &plan, &d) &&
            !cm_exact_gmse(plan, &m, &d)) {
            lx[ln] = b;
            ly[ln++] = m;
        }
        cm_plan_free(plan);
        cm_pipeline_free(p);
    }
    return ln;
}

size_t grid_plots(const grid *g, const opts *o, const entry *e, size_t n, const int *pareto,
                  const cm_registry *reg, char **names, char **texts)
{
    const char *cb = o->color_by ? o->color_by : g->color_by;
    const char *mb = o->marker_by ? o->marker_by : g->marker_by;
    const char *xk = o->x_key ? o->x_key : g->x_key;
    cats cc = {0}, mc = {0};
    double *px = malloc((n ? n : 1) * sizeof *px), *pg = malloc((n ? n : 1) * sizeof *pg);
    double *pr = malloc((n ? n : 1) * sizeof *pr), *pk = malloc((n ? n : 1) * sizeof *pk);
    const char **pl = malloc((n ? n : 1) * sizeof *pl);
    size_t count = 0;
    if (!px || !pg || !pr || !pk || !pl || (cb && cats_of(e, n, cb, &cc)) ||
        (mb && cats_of(e, n, mb, &mc)))
        goto out;
    double kmin = INFINITY, kmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        px[i] = num_of(e[i].obj, "bits");
        pg[i] = num_of(e[i].obj, "gmse");
        pr[i] = num_of(e[i].obj, "rho");
        pl[i] = str_of(e[i].obj, "input");
        const cJSON *v = xk ? key_of(e[i].obj, xk) : NULL;
        pk[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (isfinite(pk[i])) {
            kmin = fmin(kmin, pk[i]);
            kmax = fmax(kmax, pk[i]);
        }
    }
    double lx[8], ly[8];
    char title[200], ylab[200];
    svg_opts so = {.xlabel = "bits per value", .xbits = 1, .color = cc.idx, .ncolor = cc.n,
                   .color_name = (const char *const *)cc.name, .color_key = cb,
                   .marker = mc.idx, .nmarker = mc.n,
                   .marker_name = (const char *const *)mc.name, .marker_key = mb};
    snprintf(title, sizeof title, "%s: GMSE against bits", g->name);
    svg_opts s1 = so;
    s1.title = title;
    s1.ylabel = "GMSE on N(0,1) (log scale)";
    s1.logy = 1;
    s1.cx = lx;
    s1.cy = ly;
    s1.cn = lloyd_max(reg, lx, ly);
    s1.cname = "Lloyd-Max (scalar optimum)";
    s1.with_dr = 1;
    names[count] = strdup("gmse_vs_bits.svg");
    texts[count++] = svg_plot(px, pg, pl, n, pareto, &s1);
    svg_opts s2 = so;
    snprintf(title, sizeof title, "%s: capacity rho against bits", g->name);
    snprintf(ylab, sizeof ylab, "rho = N_eff / N (law %s)", cm_law_name(cm_eval_law(&g->ev)));
    s2.title = title;
    s2.ylabel = ylab;
    names[count] = strdup("rho_vs_bits.svg");
    texts[count++] = svg_plot(px, pr, pl, n, pareto, &s2);
    /* GMSE against misalignment: error and bias, the two axes of Quartet II;
     * labelled: the Pareto points in (|misalignment|, GMSE) */
    int *pm = calloc(n ? n : 1, sizeof *pm);
    if (!pm)
        goto out;
    for (size_t i = 0; i < n; i++)
        pr[i] = num_of(e[i].obj, "misalignment");
    for (size_t i = 0; i < n; i++) {
        pm[i] = isfinite(pr[i]) && isfinite(pg[i]);
        for (size_t j = 0; j < n && pm[i]; j++)
            if (j != i && fabs(pr[j]) <= fabs(pr[i]) && pg[j] <= pg[i] &&
                (fabs(pr[j]) < fabs(pr[i]) || pg[j] < pg[i]))
                pm[i] = 0;
    }
    svg_opts s4 = so;
    snprintf(title, sizeof title, "%s: GMSE against misalignment", g->name);
    s4.title = title;
    s4.xlabel = "misalignment 1 - E[x R(x)] / E[x^2]";
    s4.xbits = 0;
    s4.ylabel = "GMSE on N(0,1) (log scale)";
    s4.logy = 1;
    names[count] = strdup("gmse_vs_misalignment.svg");
    texts[count++] = svg_plot(pr, pg, pl, n, pm, &s4);
    free(pm);
    if (xk) { /* GMSE against the key: a line through the points that differ in it alone */
        cats lc = {0}, sc = {0};
        const char *lk = cb ? cb : "sweep";
        if ((!cb && cats_of(e, n, lk, &lc)) || series_of(e, n, xk, &sc)) {
            cats_free(&lc);
            goto out;
        }
        svg_opts s3 = so;
        s3.color = cb ? cc.idx : lc.idx;
        s3.ncolor = cb ? cc.n : lc.n;
        s3.color_name = (const char *const *)(cb ? cc.name : lc.name);
        s3.color_key = lk;
        s3.series = sc.idx;
        s3.nseries = sc.n;
        s3.xbits = 0;
        s3.logx = kmin > 0 && kmax >= 8 * kmin;
        s3.logy = 1;
        s3.xlabel = xk;
        s3.ylabel = "GMSE on N(0,1) (log scale)";
        snprintf(title, sizeof title, "%s: GMSE against %s", g->name, xk);
        s3.title = title;
        char fn[160];
        grid_plot_file(xk, fn, sizeof fn);
        names[count] = strdup(fn);
        texts[count++] = svg_plot(pk, pg, pl, n, NULL, &s3);
        cats_free(&lc);
        cats_free(&sc);
    }
out:
    cats_free(&cc);
    cats_free(&mc);
    free(px);
    free(pg);
    free(pr);
    free(pk);
    free(pl);
    return count;
}
