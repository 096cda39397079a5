/* Grid files: loading, expanding sweeps (ranges, expressions, where
 * filters) into points, and canonicalizing their specs. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <ctype.h>
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
#include "sweep.h"






/* ---- errors -------------------------------------------------------------------- */

static int gerr(const char *file, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: error: grid '%s': ", prog, file);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

/* ---- the grid file --------------------------------------------------------------------- */

static int add_point(grid *g, const char *spec, const char *sweep)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        point *p = realloc(g->pt, cap * sizeof *p);
        if (!p)
            return -1;
        g->pt = p;
        g->cap = cap;
    }
    memset(&g->pt[g->n], 0, sizeof g->pt[g->n]);
    g->pt[g->n].spec = strdup(spec);
    g->pt[g->n].sweep = sweep;
    return g->pt[g->n++].spec ? 0 : -1;
}

static void point_free(point *p)
{
    free(p->spec);
    free(p->canon);
    cm_pipeline_free(p->p);
    cJSON_Delete(p->keys);
}

void grid_free(grid *g)
{
    for (size_t i = 0; i < g->n; i++)
        point_free(&g->pt[i]);
    for (size_t i = 0; i < g->nbad; i++)
        point_free(&g->bad[i]);
    free(g->bad);
    free(g->pt);
    free(g->order);
    cJSON_Delete(g->root);
}

/* the values of one key: a number, a text, a list of them, or {from, to, step} */
typedef struct axis {
    const char *key;
    char **text;
    double *num;  /* NaN for text values */
    size_t n;
} axis;

static void fmt_num(char *b, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(b, n, "%.0f", x);
    else
        snprintf(b, n, "%.17g", x);
}

static int axis_push(axis *a, const cJSON *v)
{
    char buf[64];
    char **t = realloc(a->text, (a->n + 1) * sizeof *t);
    double *u = realloc(a->num, (a->n + 1) * sizeof *u);
    if (!t || !u)
        return -1;
    a->text = t;
    a->num = u;
    if (cJSON_IsNumber(v)) {
        fmt_num(buf, sizeof buf, v->valuedouble);
        a->num[a->n] = v->valuedouble;
        a->text[a->n] = strdup(buf);
    } else if (cJSON_IsString(v)) {
        a->num[a->n] = NAN;
        a->text[a->n] = strdup(v->valuestring);
    } else {
        return -2;
    }
    return a->text[a->n++] ? 0 : -1;
}

static int push_num(axis *a, double x)
{
    cJSON *num = cJSON_CreateNumber(x);
    int r = num ? axis_push(a, num) : -1;
    cJSON_Delete(num);
    return r;
}

/* {"from": a, "to": b, "times": r}: a, a r, a r^2, ... while within [a, b]
 * (r > 1 for a < b, 0 < r < 1 for a > b; a and b of one sign, not 0) */
static int geometric(const char *file, const char *sweep, const char *key, const cJSON *from,
                     const cJSON *to, const cJSON *step, const cJSON *times, axis *a,
                     size_t limit)
{
    double a0 = cJSON_IsNumber(from) ? from->valuedouble : NAN;
    double b = cJSON_IsNumber(to) ? to->valuedouble : NAN;
    double r = cJSON_IsNumber(times) ? times->valuedouble : NAN;
    if (step || !isfinite(a0) || !isfinite(b) || !isfinite(r) || !(a0 * b > 0) || !(r > 0) ||
        r == 1 || (r > 1) != (fabs(b) >= fabs(a0)))
        return gerr(file, "sweep '%s': key '%s': a geometric range is {\"from\": a, \"to\": b, "
                          "\"times\": r} with a, b of one sign (not 0) and r > 1 going up or "
                          "0 < r < 1 going down (and no step)",
                    sweep, key);
    const double lo = fmin(fabs(a0), fabs(b)) * (1 - 1e-12), hi = fmax(fabs(a0), fabs(b)) * (1 + 1e-12);
    size_t cnt = 0;
    for (double x = a0; fabs(x) >= lo && fabs(x) <= hi; x *= r) {
        if (++cnt > limit)
            return gerr(file, "sweep '%s': key '%s': the range has more values than max_points "
                              "(raise \"max_points\" to run it)",
                        sweep, key);
        if (push_num(a, x))
            return EXIT_RUNTIME;
    }
    return 0;
}

static int build_axis(const char *file, const char *sweep, const cJSON *v, axis *a, size_t limit)
{
    a->key = v->string;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (axis_push(a, e))
                return gerr(file, "sweep '%s': key '%s': list items must be numbers or texts",
                            sweep, v->string);
        }
    } else if (cJSON_IsObject(v)) {
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(v, "from");
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(v, "to");
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(v, "step");
        const cJSON *times = cJSON_GetObjectItemCaseSensitive(v, "times");
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (strcmp(e->string, "from") && strcmp(e->string, "to") &&
                strcmp(e->string, "step") && strcmp(e->string, "times"))
                return gerr(file, "sweep '%s': a range accepts from, to, and step or times (not "
                                  "'%s')",
                            sweep, e->string);
        }
        if (times)
            return geometric(file, sweep, v->string, from, to, step, times, a, limit);
        double st = step ? step->valuedouble : 1.0;
        if (!cJSON_IsNumber(from) || !cJSON_IsNumber(to) || (step && !cJSON_IsNumber(step)) ||
            !(st > 0) || !isfinite(st) || !isfinite(from->valuedouble) ||
            !isfinite(to->valuedouble))
            return gerr(file, "sweep '%s': key '%s': a range is {\"from\": a, \"to\": b, \"step\": s > 0} "
                              "with finite numbers",
                        sweep, v->string);
        double a0 = from->valuedouble, span = (to->valuedouble - a0) / st;
        if (!(span <= (double)limit))
            return gerr(file, "sweep '%s': key '%s': the range has more values than max_points "
                              "(raise \"max_points\" to run it)",
                        sweep, v->string);
        /* a count, not a float loop: a step below the precision of `from` cannot stall it */
        size_t cnt = span < 0 ? 0 : (size_t)floor(span + 1e-9) + 1;
        for (size_t i = 0; i < cnt; i++) {
            double x = a0 + (double)i * st;
            if (i && x == a0 + (double)(i - 1) * st)
                return gerr(file, "sweep '%s': key '%s': the step is below the precision of the "
                                  "range's values",
                            sweep, v->string);
            if (push_num(a, x))
                return EXIT_RUNTIME;
        }
    } else if (axis_push(a, v)) {
        return gerr(file, "sweep '%s': key '%s' must be a value, a list or a range", sweep,
                    v->string);
    }
    if (a->n == 0)
        return gerr(file, "sweep '%s': key '%s' has no values", sweep, v->string);
    return 0;
}

/* the point's swept keys as an object: numbers as numbers, texts as texts */
static cJSON *axis_values(const axis *ax, const size_t *idx, size_t na)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < na; i++) {
        double v = ax[i].num[idx[i]];
        if (!cJSON_AddItemToObject(o, ax[i].key, isnan(v) ? cJSON_CreateString(ax[i].text[idx[i]])
                                                          : cJSON_CreateNumber(v))) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static void axes_free(axis *ax, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ax[i].n; j++)
            free(ax[i].text[j]);
        free(ax[i].text);
        free(ax[i].num);
    }
    free(ax);
}

/* Does the point with key values vv satisfy every constraint of `where`? 0 and
 * *keep, or an exit code after saying which constraint cannot be read. */
static int satisfies(const char *file, const char *name, const cJSON *where, const char **vn,
                     double *vv, size_t na, int *keep)
{
    vars v = {vn, vv, na};
    if (cJSON_IsString(where)) { /* "bits >= 3 and e + m + 1 == 8" */
        const char *s = where->valuestring;
        int ok;
        if (sweep_condition(&s, &v, &ok) || (sweep_skip_ws(&s), *s))
            return gerr(file, "sweep '%s': where '%.200s' must be comparisons (< <= > >= == != "
                              "between expressions of numeric keys with + - * / ( )) joined by "
                              "and / or",
                        name, where->valuestring);
        *keep &= ok;
        return 0;
    }
    const cJSON *w;
    cJSON_ArrayForEach(w, where)
    {
        const char *s = w->string;
        double val;
        int ok;
        if (cJSON_IsTrue(w) && !sweep_condition(&s, &v, &ok) && (sweep_skip_ws(&s), !*s)) {
            *keep &= ok; /* {"bits >= 3": true} */
            continue;
        }
        s = w->string;
        if (!cJSON_IsNumber(w) || sweep_expr(&s, &v, &val) || (sweep_skip_ws(&s), *s) || isnan(val))
            return gerr(file, "sweep '%s': constraint '%.200s' must compare an expression "
                              "of numeric keys (+ - * / ( ), nested at most 100 deep) "
                              "with a number, or be a condition (< <= > >= == !=, and, or) "
                              "set to true",
                        name, w->string);
        *keep &= fabs(val - w->valuedouble) < 1e-9;
    }
    return 0;
}

/* a sweep that is a list of specs */
static int add_specs(const char *file, grid *g, const char *name, const cJSON *specs)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, specs)
    {
        if (!cJSON_IsString(e))
            return gerr(file, "sweep '%s': 'specs' items must be texts%s", name, "");
        if (add_point(g, e->valuestring, name))
            return EXIT_RUNTIME;
    }
    return 0;
}

static int expand_sweep(const char *file, grid *g, const cJSON *sw)
{
    const char *name = sw->string;
    const cJSON *e;
    cJSON_ArrayForEach(e, sw)
    {
        if (strcmp(e->string, "spec") && strcmp(e->string, "specs") && strcmp(e->string, "keys") &&
            strcmp(e->string, "where"))
            return gerr(file, "sweep '%s': unknown key '%s' (accepted: spec, specs, keys, where)",
                        name, e->string);
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(sw, "spec");
    const cJSON *specs = cJSON_GetObjectItemCaseSensitive(sw, "specs");
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(sw, "keys");
    const cJSON *where = cJSON_GetObjectItemCaseSensitive(sw, "where");
    size_t before = g->n;
    if (specs) {
        if (spec || keys || where || !cJSON_IsArray(specs))
            return gerr(file, "sweep '%s': 'specs' is a list of specs and stands alone%s", name, "");
        int rc = add_specs(file, g, name, specs);
        if (rc)
            return rc;
    } else {
        if (!cJSON_IsString(spec))
            return gerr(file, "sweep '%s': give 'spec' (a family, alias or spec) or 'specs'%s", name,
                        "");
        if (keys && !cJSON_IsObject(keys))
            return gerr(file, "sweep '%s': 'keys' must be an object of key: values%s", name, "");
        if (where && !cJSON_IsObject(where) && !cJSON_IsString(where))
            return gerr(file, "sweep '%s': 'where' must be a condition (\"bits >= 3 and m == 1\") "
                              "or an object of \"expression\": value%s",
                        name, "");
        size_t na = keys ? (size_t)cJSON_GetArraySize(keys) : 0;
        axis *ax = calloc(na ? na : 1, sizeof *ax);
        if (!ax)
            return EXIT_RUNTIME;
        size_t k = 0;
        int rc = 0;
        if (keys)
            cJSON_ArrayForEach(e, keys)
            {
                if ((rc = build_axis(file, name, e, &ax[k++], g->max_points)))
                    break;
            }
        /* odometer over the axes */
        size_t *idx = calloc(na ? na : 1, sizeof *idx);
        const char **vn = calloc(na ? na : 1, sizeof *vn);
        double *vv = calloc(na ? na : 1, sizeof *vv);
        if (!idx || !vn || !vv)
            rc = EXIT_RUNTIME;
        const char *tmpl = spec->valuestring;
        double combos = 1;
        for (size_t j = 0; j < k; j++)
            combos *= (double)ax[j].n;
        /* the constraints see every combination: bound the work, not only the points kept */
        if (!rc && combos > 100.0 * (double)g->max_points) {
            char cb[32];
            snprintf(cb, sizeof cb, "%.3g", combos);
            rc = gerr(file, "sweep '%s' has %s combinations of its keys, more than 100 x "
                            "max_points (raise \"max_points\" or split the sweep)",
                      name, cb);
        }
        while (!rc) {
            char *buf = NULL; /* the point's spec: the template and the keys, any length */
            size_t blen = 0;
            FILE *bf = open_memstream(&buf, &blen);
            if (!bf) {
                rc = EXIT_RUNTIME;
                break;
            }
            fputs(tmpl, bf);
            for (size_t i = 0; i < na; i++) {
                vn[i] = ax[i].key;
                vv[i] = ax[i].num[idx[i]];
                fprintf(bf, "%c%s=%s", (i == 0 && !strchr(tmpl, ':')) ? ':' : ',', ax[i].key,
                        ax[i].text[idx[i]]);
            }
            if (fclose(bf) || !buf) {
                free(buf);
                rc = EXIT_RUNTIME;
                break;
            }
            int keep = 1;
            if (where)
                rc = satisfies(file, name, where, vn, vv, na, &keep);
            if (!rc && keep && add_point(g, buf, name))
                rc = EXIT_RUNTIME;
            if (!rc && keep && na && !(g->pt[g->n - 1].keys = axis_values(ax, idx, na)))
                rc = EXIT_RUNTIME;
            free(buf);
            if (rc)
                break;
            if (g->n > g->max_points) {
                char lim[96];
                snprintf(lim, sizeof lim, "%zu; this sweep alone expands to %.0f before its "
                                          "constraints",
                         g->max_points, combos);
                rc = gerr(file, "sweep '%s' makes the grid larger than max_points = %s (raise "
                                "\"max_points\" to run it)",
                          name, lim);
                break;
            }
            size_t i = 0;
            while (i < na && ++idx[i] == ax[i].n)
                idx[i++] = 0;
            if (i == na)
                break;
        }
        free(idx);
        free(vn);
        free(vv);
        axes_free(ax, na);
        if (rc)
            return rc;
    }
    if (g->n == before)
        return gerr(file, "sweep '%s' is empty (no point satisfies it)%s", name, "");
    return 0;
}

/* Parse and expand a grid file (or the built-in default). Options given on
 * the command line override the file's. */
/* the file's "plot": {"color_by", "marker_by", "x"} */
static int read_plot(const char *file, grid *g)
{
    const cJSON *e;
    const cJSON *plot = cJSON_GetObjectItemCaseSensitive(g->root, "plot");
    if (plot && !cJSON_IsObject(plot))
        return gerr(file, "'plot' must be an object {\"color_by\": KEY, \"marker_by\": KEY, "
                          "\"x\": KEY}%s%s",
                    "", "");
    cJSON_ArrayForEach(e, plot)
    {
        const char **slot = !strcmp(e->string, "color_by")    ? &g->color_by
                            : !strcmp(e->string, "marker_by") ? &g->marker_by
                            : !strcmp(e->string, "x")         ? &g->x_key
                                                              : NULL;
        if (!slot || !cJSON_IsString(e))
            return gerr(file, "plot: '%s' is not accepted (accepted: color_by, marker_by, x, each "
                              "a swept key or sweep, family, method)%s",
                        e->string, "");
        *slot = e->valuestring;
    }
    return 0;
}

int grid_load(const char *file, const char *text, const opts *o, grid *g)
{
    memset(g, 0, sizeof *g);
    cm_eval_opts_default(&g->ev);
    g->max_points = DEFAULT_MAX_POINTS;
    const char *end = NULL;
    g->root = cJSON_ParseWithOpts(text, &end, 1);
    if (!g->root) {
        long line = 1, col = 1;
        for (const char *c = text; end && c < end; c++) {
            if (*c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        char where[64];
        snprintf(where, sizeof where, "line %ld, column %ld", line, col);
        return gerr(file, "not valid JSON (%s)%s", where, "");
    }
    if (!cJSON_IsObject(g->root))
        return gerr(file, "the file must hold a JSON object%s%s", "", "");
    const cJSON *e;
    cJSON_ArrayForEach(e, g->root)
    {
        if (strcmp(e->string, "name") && strcmp(e->string, "options") &&
            strcmp(e->string, "max_points") && strcmp(e->string, "sweeps") &&
            strcmp(e->string, "plot"))
            return gerr(file, "unknown key '%s' (accepted: name, options, max_points, sweeps, "
                              "plot)%s",
                        e->string, "");
    }
    int prc = read_plot(file, g);
    if (prc)
        return prc;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(g->root, "name");
    if (!cJSON_IsString(name) || !*name->valuestring || strchr(name->valuestring, '/') ||
        !strcmp(name->valuestring, ".") || !strcmp(name->valuestring, "..") ||
        strlen(name->valuestring) >= sizeof g->name)
        return gerr(file, "'name' must be a non-empty text of at most 127 characters without '/', not '.' or "
                          "'..' (it names the folder results/NAME)%s%s",
                    "", "");
    snprintf(g->name, sizeof g->name, "%s", name->valuestring);
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(g->root, "max_points");
    if (mp) {
        if (!cJSON_IsNumber(mp) || !(mp->valuedouble >= 1 && mp->valuedouble <= 1e6) ||
            mp->valuedouble != floor(mp->valuedouble))
            return gerr(file, "'max_points' must be a whole number from 1 to 1e6%s%s", "", "");
        g->max_points = (size_t)mp->valuedouble;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(g->root, "options");
    if (op) {
        if (!cJSON_IsObject(op))
            return gerr(file, "'options' must be an object%s%s", "", "");
        cJSON_ArrayForEach(e, op)
        {
            cm_diag d;
            cm_diag_clear(&d);
            /* whole numbers in range before any cast (1e30 or 1.5 must not reach one) */
            if (!strcmp(e->string, "samples") && json_whole(e, 2, (double)CM_MC_MAX_SAMPLES))
                g->ev.samples = (uint64_t)e->valuedouble;
            else if (!strcmp(e->string, "seed") && json_whole(e, 0, 9007199254740992.0 /* 2^53 */))
                g->ev.seed = (uint64_t)e->valuedouble;
            else if (!strcmp(e->string, "method") && cJSON_IsString(e) &&
                     !cm_method_parse(e->valuestring, &g->ev.method, &d))
                ;
            else if (!strcmp(e->string, "law") && cJSON_IsString(e) &&
                     !cm_law_find(e->valuestring, &g->ev.law, &d) && cm_law_has_map(g->ev.law))
                ;
            else if (!strcmp(e->string, "dist") && cJSON_IsString(e) &&
                     !cm_dist_parse(e->valuestring, &g->ev.dist, &d))
                ;
            else if (!strcmp(e->string, "sigma") && cJSON_IsNumber(e) &&
                     e->valuedouble >= 1e-30 && e->valuedouble <= 1e30)
                g->ev.dist.sigma = e->valuedouble;
            else
                return gerr(file, "option '%s' is not accepted (options: samples a whole number "
                                  "2..2^40, seed a whole number 0..2^53, method auto|exact|mc, "
                                  "law %s, dist gauss|laplace|logistic|student:nu=V|uniform, "
                                  "sigma a number 1e-30..1e30)",
                            e->string, "unified-llama-c4|unified-olmo2|unified-quest");
        }
    }
    const cJSON *sweeps = cJSON_GetObjectItemCaseSensitive(g->root, "sweeps");
    if (!cJSON_IsObject(sweeps) || cJSON_GetArraySize(sweeps) == 0)
        return gerr(file, "'sweeps' must be an object of named sweeps, at least one%s%s", "", "");
    cJSON_ArrayForEach(e, sweeps)
    {
        if (!cJSON_IsObject(e))
            return gerr(file, "sweep '%s' must be an object%s", e->string, "");
        int rc = expand_sweep(file, g, e);
        if (rc)
            return rc;
    }
    /* command-line options win */
    if (o->samples_given)
        g->ev.samples = o->ev.samples;
    if (o->seed_given)
        g->ev.seed = o->ev.seed;
    if (o->ev.method != CM_METHOD_AUTO)
        g->ev.method = o->ev.method;
    if (o->ev.law)
        g->ev.law = o->ev.law;
    if (o->dist_given)
        g->ev.dist.kind = o->ev.dist.kind, g->ev.dist.nu = o->ev.dist.nu;
    if (o->sigma_given)
        g->ev.dist.sigma = o->ev.dist.sigma;
    if (g->ev.law && !cm_law_has_map(g->ev.law)) /* before anything is written */
        return usage_error("--law %s: a grid scores rho from GMSE, so it takes a law with a map "
                           "(unified-llama-c4, unified-olmo2, unified-quest, a fitted unified "
                           "or map law)",
                           cm_law_name(g->ev.law));
    g->ev.threads = o->ev.threads;
    return 0;
}

/* A guess of a point's work, for scheduling the longest first: vector
 * quantizers (codebooks, Monte Carlo), then block formats and compositions. */
int grid_cost_class(const char *spec)
{
    if (strstr(spec, "vq:"))
        return 3;
    if (strstr(spec, "block") || strstr(spec, "mx") || strstr(spec, "nvfp4") || strchr(spec, '+'))
        return 2;
    return 1;
}

void make_order(grid *g)
{
    free(g->order);
    g->order = malloc((g->n ? g->n : 1) * sizeof *g->order);
    if (!g->order)
        return;
    size_t k = 0;
    for (int c = 3; c >= 1; c--)
        for (size_t i = 0; i < g->n; i++)
            if (grid_cost_class(g->pt[i].spec) == c)
                g->order[k++] = i;
}

/* parse the points on all cores (building a codebook can take a while) */
typedef struct parse_job {
    grid *g;
    const cm_registry *reg;
    size_t next;
    pthread_mutex_t lock;
} parse_job;

static void *parse_worker(void *arg)
{
    parse_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t k = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->g->n)
            return NULL;
        point *pt = &j->g->pt[j->g->order ? j->g->order[k] : k];
        pt->st = cm_spec_parse(j->reg, pt->spec, &pt->p, &pt->d);
    }
}

/* canonical specs; duplicates (same canonical) are kept once, in file order */
int grid_canonicalize(const char *file, const cm_registry *reg, grid *g, unsigned threads,
                      int skip)
{
    parse_job job = {.g = g, .reg = reg};
    make_order(g);
    pthread_mutex_init(&job.lock, NULL);
    pthread_t th[64];
    unsigned T = threads ? threads : cm_default_threads(), started = 0;
    T = T > 64 ? 64 : T;
    for (; started + 1 < T; started++)
        if (pthread_create(&th[started], NULL, parse_worker, &job))
            break;
    parse_worker(&job);
    for (unsigned k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&job.lock);
    size_t w = 0;
    uint64_t h = 1469598103934665603ull;
    size_t ok = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (!g->pt[i].st) {
            g->pt[ok++] = g->pt[i];
            continue;
        }
        if (!skip) {
            char what[512];
            snprintf(what, sizeof what, "grid '%s', sweep '%s': spec", file, g->pt[i].sweep);
            return report(g->pt[i].st, &g->pt[i].d, what, g->pt[i].spec);
        }
        point *b = realloc(g->bad, (g->nbad + 1) * sizeof *b);
        if (!b)
            return EXIT_RUNTIME;
        g->bad = b;
        g->bad[g->nbad++] = g->pt[i];
    }
    g->n = ok;
    if (g->nbad && !g->n) {
        char nb[32];
        snprintf(nb, sizeof nb, "%zu", g->nbad);
        return gerr(file, "every point is invalid (%s skipped; the first: %s)", nb,
                    g->bad[0].d.msg);
    }
    /* duplicates by canonical spec, through a hash table (a grid may hold 1e6 points) */
    size_t cap = 16;
    while (cap < 2 * g->n)
        cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return EXIT_RUNTIME;
    for (size_t i = 0; i < cap; i++)
        slot[i] = SIZE_MAX;
    for (size_t i = 0; i < g->n; i++) {
        char *c = strdup(cm_pipeline_canonical(g->pt[i].p));
        if (!c) {
            free(slot);
            return EXIT_RUNTIME;
        }
        uint64_t hc = 1469598103934665603ull;
        for (const char *q = c; *q; q++)
            hc = (hc ^ (unsigned char)*q) * 1099511628211ull;
        size_t k = (size_t)hc & (cap - 1);
        int dup = 0;
        for (; slot[k] != SIZE_MAX && !dup; k = (k + 1) & (cap - 1))
            dup = !strcmp(g->pt[slot[k]].canon, c);
        if (dup) {
            free(c);
            point_free(&g->pt[i]);
            continue;
        }
        slot[k] = w;
        g->pt[w] = g->pt[i];
        g->pt[w].canon = c;
        for (const char *q = c; *q; q++)
            h = (h ^ (unsigned char)*q) * 1099511628211ull;
        h = (h ^ '\n') * 1099511628211ull;
        w++;
    }
    free(slot);
    g->n = w;
    g->hash = h;
    make_order(g);
    return g->order ? 0 : EXIT_RUNTIME;
}

const char *const default_grid =
    "{\"name\": \"default\", \"options\": {\"samples\": 8388608},"
    " \"sweeps\": {"
    "  \"int\": {\"spec\": \"int\", \"keys\": {\"bits\": {\"from\": 1, \"to\": 8}}},"
    "  \"fp4\": {\"spec\": \"fp\", \"keys\": {\"e\": {\"from\": 1, \"to\": 2}, \"m\": {\"from\": 0, \"to\": 2}},"
    "           \"where\": {\"e + m + 1\": 4}},"
    "  \"fp6\": {\"spec\": \"fp\", \"keys\": {\"e\": {\"from\": 1, \"to\": 4}, \"m\": {\"from\": 0, \"to\": 4}},"
    "           \"where\": {\"e + m + 1\": 6}},"
    "  \"fp8\": {\"spec\": \"fp\", \"keys\": {\"e\": {\"from\": 1, \"to\": 6}, \"m\": {\"from\": 0, \"to\": 6}},"
    "           \"where\": {\"e + m + 1\": 8}},"
    "  \"blocks\": {\"specs\": [\"mxfp4\", \"mxfp6_e2m3\", \"mxfp6_e3m2\", \"mxfp8_e4m3\", \"mxfp8_e5m2\","
    "             \"mxint8\", \"nvfp4\", \"nvfp4_4o6\", \"nf4\", \"af4\", \"int4_g32\", \"int4_g128\"]},"
    "  \"tables\": {\"specs\": [\"lut:name=nf4\", \"lut:name=af4\"]},"
    "  \"lloydmax\": {\"spec\": \"lloydmax\", \"keys\": {\"levels\": [2, 4, 8, 16, 32, 64, 128, 256]}},"
    "  \"sparse\": {\"specs\": [\"2:4\", \"2:4+int4\", \"sparse:density=0.5\", \"sparse:density=0.5+int4\"]},"
    "  \"vq\": {\"specs\": [\"vq:lattice=d4,bits=2\", \"vq:lattice=e8,bits=2,overload=radial\", \"vq:kmeans,dim=2,bits=2\"]}"
    " }}";
