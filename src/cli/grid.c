/* capmetric grid / merge: batch sweeps over formats.
 *
 * A grid file names sweeps; each expands a spec template over lists and
 * ranges of key values (Cartesian product, optional constraints) or lists
 * specs outright. Points are deduplicated by canonical spec and numbered in
 * file order. Every point is evaluated on its own with the run's options:
 * a Monte-Carlo point's samples depend only on (seed, batch), so a point's
 * result does not depend on the others — which is what makes --resume,
 * --shard and merge reproduce a single run exactly. Finished points are
 * appended to DIR/progress.jsonl as they complete; the reports are written
 * at the end, each to a temporary name and renamed. */
#include <cjson/cJSON.h>
#include <errno.h>
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

#ifdef CM_HAVE_MPI
#include <mpi.h>
#endif

#define DEFAULT_MAX_POINTS 10000

typedef struct point {
    char *spec;      /* as generated */
    char *canon;     /* canonical */
    const char *sweep;
    cm_pipeline *p;  /* parsed once, evaluated by one worker */
    cm_status st;    /* parse status */
    cm_diag d;
} point;

typedef struct grid {
    char name[128];
    cm_eval_opts ev;
    size_t max_points;
    point *pt;
    size_t n, cap;
    cJSON *root;     /* the parsed file (sweep names point into it) */
    size_t *order;   /* the points, longest expected work first (scheduling only) */
    uint64_t hash;   /* of the canonical point list: merge checks it */
} grid;

/* ---- errors -------------------------------------------------------------------- */

static int gerr(const char *file, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: error: grid '%s': ", prog, file);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

/* ---- constraints: + - * / ( ), numbers and key names ------------------------------ */

typedef struct vars {
    const char **name;
    double *val;
    size_t n;
} vars;

static int expr(const char **s, const vars *v, double *out);

static void skip_ws(const char **s)
{
    while (**s == ' ')
        (*s)++;
}

static int factor(const char **s, const vars *v, double *out)
{
    skip_ws(s);
    if (**s == '(') {
        (*s)++;
        if (expr(s, v, out))
            return -1;
        skip_ws(s);
        if (**s != ')')
            return -1;
        (*s)++;
        return 0;
    }
    if (**s == '-') {
        (*s)++;
        if (factor(s, v, out))
            return -1;
        *out = -*out;
        return 0;
    }
    if ((**s >= '0' && **s <= '9') || **s == '.') {
        char *end;
        *out = strtod(*s, &end);
        *s = end;
        return 0;
    }
    size_t len = 0;
    while (((*s)[len] >= 'a' && (*s)[len] <= 'z') || (*s)[len] == '_' ||
           ((*s)[len] >= '0' && (*s)[len] <= '9'))
        len++;
    for (size_t i = 0; len && i < v->n; i++)
        if (strlen(v->name[i]) == len && !memcmp(v->name[i], *s, len)) {
            *out = v->val[i];
            *s += len;
            return 0;
        }
    return -1;
}

static int term(const char **s, const vars *v, double *out)
{
    if (factor(s, v, out))
        return -1;
    for (;;) {
        skip_ws(s);
        char op = **s;
        if (op != '*' && op != '/')
            return 0;
        (*s)++;
        double r;
        if (factor(s, v, &r))
            return -1;
        *out = op == '*' ? *out * r : *out / r;
    }
}

static int expr(const char **s, const vars *v, double *out)
{
    if (term(s, v, out))
        return -1;
    for (;;) {
        skip_ws(s);
        char op = **s;
        if (op != '+' && op != '-')
            return 0;
        (*s)++;
        double r;
        if (term(s, v, &r))
            return -1;
        *out = op == '+' ? *out + r : *out - r;
    }
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

static void grid_free(grid *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->pt[i].spec);
        free(g->pt[i].canon);
        cm_pipeline_free(g->pt[i].p);
    }
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
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (strcmp(e->string, "from") && strcmp(e->string, "to") && strcmp(e->string, "step"))
                return gerr(file, "sweep '%s': a range accepts from, to, step (not '%s')", sweep,
                            e->string);
        }
        double st = step ? step->valuedouble : 1.0;
        if (!cJSON_IsNumber(from) || !cJSON_IsNumber(to) || (step && !cJSON_IsNumber(step)) ||
            !(st > 0))
            return gerr(file, "sweep '%s': key '%s': a range is {\"from\": a, \"to\": b, \"step\": s > 0}",
                        sweep, v->string);
        double span = (to->valuedouble - from->valuedouble) / st;
        if (span > (double)limit)
            return gerr(file, "sweep '%s': key '%s': the range has more values than max_points "
                              "(raise \"max_points\" to run it)",
                        sweep, v->string);
        for (double x = from->valuedouble; x <= to->valuedouble + 1e-9 * st; x += st) {
            cJSON *num = cJSON_CreateNumber(x);
            int r = axis_push(a, num);
            cJSON_Delete(num);
            if (r)
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
        cJSON_ArrayForEach(e, specs)
        {
            if (!cJSON_IsString(e))
                return gerr(file, "sweep '%s': 'specs' items must be texts%s", name, "");
            if (add_point(g, e->valuestring, name))
                return EXIT_RUNTIME;
        }
    } else {
        if (!cJSON_IsString(spec))
            return gerr(file, "sweep '%s': give 'spec' (a family, alias or spec) or 'specs'%s", name,
                        "");
        if (keys && !cJSON_IsObject(keys))
            return gerr(file, "sweep '%s': 'keys' must be an object of key: values%s", name, "");
        if (where && !cJSON_IsObject(where))
            return gerr(file, "sweep '%s': 'where' must be an object of \"expression\": value%s",
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
        while (!rc) {
            char buf[4096];
            int len = snprintf(buf, sizeof buf, "%s", tmpl);
            for (size_t i = 0; i < na; i++) {
                vn[i] = ax[i].key;
                vv[i] = ax[i].num[idx[i]];
                len += snprintf(buf + len, sizeof buf - (size_t)len, "%c%s=%s",
                                (i == 0 && !strchr(tmpl, ':')) ? ':' : ',', ax[i].key,
                                ax[i].text[idx[i]]);
            }
            int keep = 1;
            const cJSON *w;
            if (where)
                cJSON_ArrayForEach(w, where)
                {
                    vars v = {vn, vv, na};
                    const char *s = w->string;
                    double val;
                    if (!cJSON_IsNumber(w) || expr(&s, &v, &val) || (skip_ws(&s), *s) || isnan(val)) {
                        rc = gerr(file, "sweep '%s': constraint '%s' must compare an expression of "
                                        "numeric keys (+ - * / ( )) with a number",
                                  name, w->string);
                        break;
                    }
                    keep &= fabs(val - w->valuedouble) < 1e-9;
                }
            if (rc)
                break;
            if (keep && add_point(g, buf, name)) {
                rc = EXIT_RUNTIME;
                break;
            }
            if (g->n > g->max_points) {
                double combos = 1;
                for (size_t j = 0; j < na; j++)
                    combos *= (double)ax[j].n;
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
static int grid_load(const char *file, const char *text, const opts *o, grid *g)
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
            strcmp(e->string, "max_points") && strcmp(e->string, "sweeps"))
            return gerr(file, "unknown key '%s' (accepted: name, options, max_points, sweeps)%s",
                        e->string, "");
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(g->root, "name");
    if (!cJSON_IsString(name) || !*name->valuestring || strchr(name->valuestring, '/'))
        return gerr(file, "'name' must be a non-empty text without '/'%s%s", "", "");
    snprintf(g->name, sizeof g->name, "%s", name->valuestring);
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(g->root, "max_points");
    if (mp) {
        if (!cJSON_IsNumber(mp) || mp->valuedouble < 1 || mp->valuedouble > 1e7)
            return gerr(file, "'max_points' must be a number from 1 to 1e7%s%s", "", "");
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
            if (!strcmp(e->string, "samples") && cJSON_IsNumber(e) && e->valuedouble >= 2 &&
                e->valuedouble <= (double)CM_MC_MAX_SAMPLES)
                g->ev.samples = (uint64_t)e->valuedouble;
            else if (!strcmp(e->string, "seed") && cJSON_IsNumber(e) && e->valuedouble >= 0)
                g->ev.seed = (uint64_t)e->valuedouble;
            else if (!strcmp(e->string, "method") && cJSON_IsString(e) &&
                     !cm_method_parse(e->valuestring, &g->ev.method, &d))
                ;
            else if (!strcmp(e->string, "law") && cJSON_IsString(e) &&
                     !cm_law_find(e->valuestring, &g->ev.law, &d) && cm_law_has_map(g->ev.law))
                ;
            else
                return gerr(file, "option '%s' is not accepted (options: samples 2..2^40, seed >= "
                                  "0, method auto|exact|mc, law %s)",
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
    if (o->ev.seed != 1)
        g->ev.seed = o->ev.seed;
    if (o->ev.method != CM_METHOD_AUTO)
        g->ev.method = o->ev.method;
    if (o->ev.law)
        g->ev.law = o->ev.law;
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
static int cost_of(const char *spec)
{
    if (strstr(spec, "vq:"))
        return 3;
    if (strstr(spec, "block") || strstr(spec, "mx") || strstr(spec, "nvfp4") || strchr(spec, '+'))
        return 2;
    return 1;
}

static void make_order(grid *g)
{
    free(g->order);
    g->order = malloc((g->n ? g->n : 1) * sizeof *g->order);
    if (!g->order)
        return;
    size_t k = 0;
    for (int c = 3; c >= 1; c--)
        for (size_t i = 0; i < g->n; i++)
            if (cost_of(g->pt[i].spec) == c)
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
static int grid_canonicalize(const char *file, const cm_registry *reg, grid *g, unsigned threads)
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
    for (size_t i = 0; i < g->n; i++) {
        if (g->pt[i].st) {
            fprintf(stderr, "%s: error: grid '%s', sweep '%s': ", prog, file, g->pt[i].sweep);
            return report(g->pt[i].st, &g->pt[i].d, "spec", g->pt[i].spec);
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        char *c = strdup(cm_pipeline_canonical(g->pt[i].p));
        if (!c)
            return EXIT_RUNTIME;
        int dup = 0;
        for (size_t j = 0; j < w && !dup; j++)
            dup = !strcmp(g->pt[j].canon, c);
        if (dup) {
            free(c);
            free(g->pt[i].spec);
            cm_pipeline_free(g->pt[i].p);
            continue;
        }
        g->pt[w] = g->pt[i];
        g->pt[w].canon = c;
        for (const char *q = c; *q; q++)
            h = (h ^ (unsigned char)*q) * 1099511628211ull;
        h = (h ^ '\n') * 1099511628211ull;
        w++;
    }
    g->n = w;
    g->hash = h;
    make_order(g);
    return g->order ? 0 : EXIT_RUNTIME;
}

/* ---- files ---------------------------------------------------------------------------------- */

int cli_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(buf, 0755) && errno != EEXIST)
                return -1;
            *s = '/';
        }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return -1;
    struct stat sb;
    if (stat(buf, &sb) || !S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Write text to `path` through a temporary name in the same folder (synced, then
 * renamed): all or nothing. -1 with errno on failure. */
int cli_write_atomic(const char *path, const char *text)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static int write_atomic(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cli_write_atomic(path, text);
}

/* ---- reports ---------------------------------------------------------------------------- */

typedef struct entry {
    long index;
    cJSON *obj;  /* one result object (the eval JSON keys, plus index and sweep) */
} entry;

static double num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v))
        return strtod(v->valuestring, NULL); /* "inf", "nan" */
    return NAN;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* Width in pixels of `s` at font size 12 in the renderer's sans-serif (DejaVu
 * Sans on Debian): advance widths by character class, rounded up from the
 * font's metrics (em units: i l . : , ' | 0.32; m w M W 0.98; other capitals
 * 0.75; = + < > 0.84; the rest, digits and lower case, 0.64). */
static double label_width(const char *s)
{
    double em = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (strchr("il.:,;'|!", c))
            em += 0.32;
        else if (strchr("mwMW", c))
            em += 0.98;
        else if (c >= 'A' && c <= 'Z')
            em += 0.75;
        else if (strchr("=+<>", c))
            em += 0.84;
        else
            em += 0.64;
    }
    return 12.0 * em;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

/* An SVG scatter plot of y (log or linear) against bits, Pareto points
 * filled and labelled (labels moved down until they overlap nothing),
 * optional reference curves. Returns a malloc'ed document. */
static char *svg_plot(const entry *e, size_t n, const int *pareto, const char *title, const char *ykey,
                      int logy, const double *cx, const double *cy, size_t cn, const char *cname,
                      int with_dr)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f)
        return NULL;
    const double W = 960, H = 600, L = 90, R = 250, T = 50, B = 70;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = num_of(e[i].obj, "bits"), y = num_of(e[i].obj, ykey);
        if (!isfinite(x) || !isfinite(y) || (logy && !(y > 0)))
            continue;
        xmin = fmin(xmin, x);
        xmax = fmax(xmax, x);
        ymin = fmin(ymin, y);
        ymax = fmax(ymax, y);
    }
    if (!isfinite(xmin)) {
        xmin = 0;
        xmax = 16;
        ymin = logy ? 1e-6 : 0;
        ymax = 1;
    }
    xmin = floor(xmin) - 0.5;
    xmax = ceil(xmax) + 0.5;
    double ylo, yhi;
    if (logy) {
        ylo = floor(log10(ymin));
        yhi = ceil(log10(ymax));
        if (yhi <= ylo)
            yhi = ylo + 1;
    } else {
        ylo = 0;
        yhi = 1.05;
    }
#define PX(x) (L + ((x) - xmin) / (xmax - xmin) * (W - L - R))
#define PY(y) (H - B - ((logy ? log10(y) : (y)) - ylo) / (yhi - ylo) * (H - T - B))
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", (W - R + L) / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    /* axes and grid */
    fprintf(f, "<g stroke=\"#ddd\">\n");
    for (double x = ceil(xmin); x <= xmax; x += 1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), (double)T,
                PX(x), H - B);
    for (double y = ylo; y <= yhi + 1e-9; y += logy ? 1 : 0.1)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L,
                PY(logy ? pow(10, y) : y), W - R, PY(logy ? pow(10, y) : y));
    fprintf(f, "</g>\n<g stroke=\"black\"><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
               "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
            L, H - B, W - R, H - B, L, (double)T, L, H - B);
    for (double x = ceil(xmin); x <= xmax; x += 1)
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", PX(x),
                H - B + 18, x);
    for (double y = ylo; y <= yhi + 1e-9; y += logy ? 1 : 0.1) {
        if (logy)
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6,
                    PY(pow(10, y)) + 4, y);
        else
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6,
                    PY(y) + 4, y);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">bits per value</text>\n",
            (L + W - R) / 2, H - 20);
    fprintf(f, "<text x=\"22\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 22 %.0f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    xml_text(f, logy ? "GMSE (log scale)" : ykey);
    fprintf(f, "</text>\n");
    /* reference curves */
    if (with_dr) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#2a7\" stroke-dasharray=\"6 4\" points=\"");
        for (double x = fmax(xmin, 0.1); x <= xmax; x += 0.05) {
            double y = exp2(-2 * x);
            if (log10(y) >= ylo && log10(y) <= yhi)
                fprintf(f, "%.1f,%.1f ", PX(x), PY(y));
        }
        fprintf(f, "\"/>\n");
    }
    if (cn) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#37c\" points=\"");
        for (size_t i = 0; i < cn; i++)
            if (cx[i] >= xmin && cx[i] <= xmax && (!logy || (log10(cy[i]) >= ylo && log10(cy[i]) <= yhi)))
                fprintf(f, "%.1f,%.1f ", PX(cx[i]), PY(cy[i]));
        fprintf(f, "\"/>\n");
    }
    /* points, then labels of the Pareto points */
    box *placed = calloc(n + 1, sizeof *placed);
    size_t np = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            double x = num_of(e[i].obj, "bits"), y = num_of(e[i].obj, ykey);
            if (!isfinite(x) || !isfinite(y) || (logy && !(y > 0)))
                continue;
            if (pass == 0) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\"/>\n",
                        PX(x), PY(y), pareto[i] ? "4.5" : "3", pareto[i] ? "#d33" : "#999",
                        pareto[i] ? "#800" : "none");
                continue;
            }
            if (!pareto[i] || !placed)
                continue;
            const char *lab = str_of(e[i].obj, "input");
            double w = label_width(lab), px = PX(x), py = PY(y) + 4;
            /* nearest free place: right of the point, then alternately up and
             * down, then the same on the left */
            box bx = {px + 7, py - 11, px + 7 + w, py + 3};
            for (int tries = 0; tries < 80; tries++) {
                int k = tries % 40, side = tries / 40;
                double dy = (k % 2 ? -1.0 : 1.0) * 14.0 * (double)((k + 1) / 2);
                double x0 = side ? px - 7 - w : px + 7;
                box c = {x0, py - 11 + dy, x0 + w, py + 3 + dy};
                int clash = c.y0 < T || c.y1 > H - B || c.x1 > W - R - 2 || c.x0 < L + 2;
                for (size_t j = 0; j < np && !clash; j++)
                    clash = !(c.x1 < placed[j].x0 || c.x0 > placed[j].x1 || c.y1 < placed[j].y0 ||
                              c.y0 > placed[j].y1);
                if (!clash) {
                    bx = c;
                    break;
                }
            }
            placed[np++] = bx;
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#800\">", bx.x0, bx.y1 - 3);
            xml_text(f, lab);
            fprintf(f, "</text>\n");
        }
    free(placed);
    /* legend */
    double lx = W - R + 20, ly = T + 10;
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"220\" height=\"%d\" fill=\"white\" "
               "stroke=\"#888\"/>\n",
            lx - 8, ly - 14, 10 + 18 * (2 + (cn > 0) + with_dr));
    fprintf(f, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4.5\" fill=\"#d33\" stroke=\"#800\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">Pareto optimal (labelled)</text>\n",
            lx, ly, lx + 12, ly + 4);
    ly += 18;
    fprintf(f, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"3\" fill=\"#999\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">other formats</text>\n",
            lx, ly, lx + 12, ly + 4);
    if (with_dr) {
        ly += 18;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#2a7\" "
                   "stroke-dasharray=\"6 4\"/><text x=\"%.0f\" y=\"%.0f\">Shannon D(R) = 2^-2R</text>\n",
                lx - 6, ly, lx + 6, ly, lx + 12, ly + 4);
    }
    if (cn) {
        ly += 18;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#37c\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\">",
                lx - 6, ly, lx + 6, ly, lx + 12, ly + 4);
        xml_text(f, cname);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    if (fclose(f))
        return NULL;
    return doc;
}

/* GMSE(a) - GMSE(b) with its standard error: paired batch by batch when both
 * are Monte Carlo on the same batches (same seed, samples and batch size),
 * else from the two standard errors (0 for exact against exact). */
static void paired(const cJSON *a, const cJSON *b, double *diff, double *se)
{
    *diff = num_of(a, "gmse") - num_of(b, "gmse");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(a, "batch_sse");
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(b, "batch_sse");
    double N = num_of(a, "samples"), bs = num_of(a, "batch_size");
    int nb = cJSON_GetArraySize(sa);
    if (cJSON_IsArray(sa) && cJSON_IsArray(sb) && nb > 1 && nb == cJSON_GetArraySize(sb) &&
        N == num_of(b, "samples") && bs == num_of(b, "batch_size")) {
        double tot = 0, ss = 0;
        for (int k = 0; k < nb; k++)
            tot += cJSON_GetArrayItem(sa, k)->valuedouble - cJSON_GetArrayItem(sb, k)->valuedouble;
        double m = tot / N;
        for (int k = 0; k < nb; k++) {
            double s = cJSON_GetArrayItem(sa, k)->valuedouble - cJSON_GetArrayItem(sb, k)->valuedouble;
            double mb = k + 1 == nb ? N - (double)k * bs : bs, e = s - mb * m;
            ss += e * e;
        }
        *diff = m;
        *se = sqrt(ss * nb / (nb - 1.0)) / N;
        return;
    }
    *se = hypot(num_of(a, "gmse_se"), num_of(b, "gmse_se"));
}

static int by_index(const void *a, const void *b)
{
    long x = ((const entry *)a)->index, y = ((const entry *)b)->index;
    return (x > y) - (x < y);
}

/* sort key, larger first: rho_per_bit, rho; gmse and bits smaller first */
static double rank_key(const cJSON *o, const char *by)
{
    if (!strcmp(by, "gmse"))
        return -num_of(o, "gmse");
    if (!strcmp(by, "bits"))
        return -num_of(o, "bits");
    return num_of(o, by);
}

/* everything the run writes, given its entries in index order */
static int write_reports(const char *dir, const grid *g, entry *e, size_t n, const cm_registry *reg,
                         const opts *o, double t0, double t1, const char *started)
{
    const char *by = o->by ? o->by : "rho_per_bit";
    qsort(e, n, sizeof *e, by_index);
    /* results.json */
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON_AddStringToObject(root, "grid", g->name);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)g->hash);
    cJSON_AddStringToObject(root, "grid_hash", hash);
    cJSON_AddNumberToObject(root, "points", (double)g->n);
    cJSON_AddNumberToObject(root, "seed", (double)g->ev.seed);
    cJSON_AddNumberToObject(root, "samples", (double)g->ev.samples);
    cJSON_AddStringToObject(root, "law", g->ev.law ? cm_law_name(g->ev.law) : "unified-llama-c4");
    cJSON_AddStringToObject(root, "method", cm_method_name(g->ev.method));
    if (o->shard_n) {
        cJSON *sh = cJSON_CreateObject();
        cJSON_AddNumberToObject(sh, "i", o->shard_i);
        cJSON_AddNumberToObject(sh, "n", o->shard_n);
        cJSON_AddItemToObject(root, "shard", sh);
    }
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemReferenceToArray(arr, e[i].obj);
    cJSON_AddItemToObject(root, "results", arr);
    char *js = cJSON_Print(root);
    cJSON_Delete(root);
    /* results.csv */
    size_t cap = 256 + n * 512, len = 0;
    char *csv = malloc(cap);
    if (csv) {
        len += (size_t)snprintf(csv, cap, "index,sweep,spec,input,bits,method,gmse,gmse_se,scale,"
                                          "eff_bits,rho,rho_per_bit,gap_db,rho_product,seconds\n");
        for (size_t i = 0; i < n; i++) {
            const cJSON *r = e[i].obj;
            int w = snprintf(csv + len, cap - len,
                             "%ld,\"%s\",\"%s\",\"%s\",%.17g,%s,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
                             "%.17g,%.17g,%.6g\n",
                             e[i].index, str_of(r, "sweep"), str_of(r, "spec"), str_of(r, "input"),
                             num_of(r, "bits"), str_of(r, "method"), num_of(r, "gmse"),
                             num_of(r, "gmse_se"), num_of(r, "scale"), num_of(r, "eff_bits"),
                             num_of(r, "rho"), num_of(r, "rho_per_bit"), num_of(r, "gap_db"),
                             num_of(r, "rho_product"), num_of(r, "seconds"));
            if (w < 0 || (size_t)w >= cap - len) {
                free(csv);
                csv = NULL;
                break;
            }
            len += (size_t)w;
        }
    }
    /* Pareto frontier in (bits, GMSE) */
    int *pareto = calloc(n ? n : 1, sizeof *pareto);
    for (size_t i = 0; pareto && i < n; i++) {
        double bi = num_of(e[i].obj, "bits"), gi = num_of(e[i].obj, "gmse");
        pareto[i] = isfinite(gi);
        for (size_t j = 0; j < n && pareto[i]; j++) {
            double bj = num_of(e[j].obj, "bits"), gj = num_of(e[j].obj, "gmse");
            if (j != i && bj <= bi && gj <= gi && (bj < bi || gj < gi))
                pareto[i] = 0;
        }
    }
    /* summary.md: ranked by rho per bit */
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    char *md = NULL;
    size_t mdlen = 0;
    FILE *mf = open_memstream(&md, &mdlen);
    if (ord && mf && pareto) {
        for (size_t i = 0; i < n; i++)
            ord[i] = i;
        for (size_t i = 1; i < n; i++) /* insertion sort: stable */
            for (size_t j = i; j > 0 && rank_key(e[ord[j]].obj, by) > rank_key(e[ord[j - 1]].obj, by);
                 j--) {
                size_t t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
        fprintf(mf, "# %s\n\ncapmetric %s; %zu points; seed %llu; %llu Monte-Carlo samples; law %s.\n\n",
                g->name, cm_version(), n, (unsigned long long)g->ev.seed,
                (unsigned long long)g->ev.samples,
                g->ev.law ? cm_law_name(g->ev.law) : "unified-llama-c4");
        fprintf(mf, "Ranked by %s; **P** = Pareto optimal in (bits, GMSE); the last columns "
                    "compare each row with the next: GMSE difference, its standard error (paired "
                    "on the common samples when both are Monte Carlo) and z.\n\n",
                by);
        fprintf(mf, "| # | spec | sweep | bits | method | GMSE | SE | rho | rho/bit | D(R) gap dB | "
                    "| GMSE - next | SE | z |\n");
        fprintf(mf, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (size_t r = 0; r < n; r++) {
            const cJSON *x = e[ord[r]].obj;
            fprintf(mf, "| %zu | `%s` | %s | %.4g | %s | %.6g | %.2g | %.4f | %.4f | %.2f | %s |",
                    r + 1, str_of(x, "input"), str_of(x, "sweep"), num_of(x, "bits"),
                    str_of(x, "method"), num_of(x, "gmse"), num_of(x, "gmse_se"), num_of(x, "rho"),
                    num_of(x, "rho_per_bit"), num_of(x, "gap_db"), pareto[ord[r]] ? "**P**" : "");
            if (r + 1 < n) {
                double dd, dse;
                paired(x, e[ord[r + 1]].obj, &dd, &dse);
                if (dse > 0)
                    fprintf(mf, " %.3g | %.2g | %.1f |\n", dd, dse, dd / dse);
                else
                    fprintf(mf, " %.3g | 0 | exact |\n", dd);
            } else {
                fprintf(mf, " | | |\n");
            }
        }
    }
    if (mf)
        fclose(mf);
    /* Lloyd-Max curve for the GMSE plot: exact, 1..8 bits */
    double lx[8], ly[8];
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
    char title[200];
    snprintf(title, sizeof title, "%s: GMSE against bits", g->name);
    char *svg1 = pareto ? svg_plot(e, n, pareto, title, "gmse", 1, lx, ly, ln, "Lloyd-Max (scalar optimum)", 1) : NULL;
    snprintf(title, sizeof title, "%s: capacity rho against bits", g->name);
    char *svg2 = pareto ? svg_plot(e, n, pareto, title, "rho", 0, NULL, NULL, 0, "", 0) : NULL;
    /* meta.json */
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "tool", "capmetric");
    cJSON_AddStringToObject(meta, "version", cm_version());
#ifdef CM_GIT_REV
    cJSON_AddStringToObject(meta, "git_revision", CM_GIT_REV);
#endif
    cJSON_AddStringToObject(meta, "grid", g->name);
    cJSON_AddStringToObject(meta, "grid_hash", hash);
    cJSON_AddNumberToObject(meta, "points", (double)g->n);
    cJSON_AddNumberToObject(meta, "points_here", (double)n);
    cJSON_AddNumberToObject(meta, "seed", (double)g->ev.seed);
    cJSON_AddNumberToObject(meta, "samples", (double)g->ev.samples);
    cJSON_AddStringToObject(meta, "method", cm_method_name(g->ev.method));
    cJSON_AddStringToObject(meta, "law", g->ev.law ? cm_law_name(g->ev.law) : "unified-llama-c4");
    cJSON_AddNumberToObject(meta, "threads", g->ev.threads ? g->ev.threads : cm_default_threads());
    struct utsname u;
    if (!uname(&u)) {
        char m[400];
        snprintf(m, sizeof m, "%s %s %s, %u cores", u.sysname, u.release, u.machine,
                 cm_default_threads());
        cJSON_AddStringToObject(meta, "machine", m);
    }
    cJSON_AddStringToObject(meta, "started", started);
    time_t now = time(NULL);
    char ended[64];
    strftime(ended, sizeof ended, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "ended", ended);
    cJSON_AddNumberToObject(meta, "wall_seconds", t1 - t0);
    char *mj = cJSON_Print(meta);
    cJSON_Delete(meta);
    int rc = 0;
    if (!js || !csv || !md || !svg1 || !svg2 || !mj) {
        fprintf(stderr, "%s: error: out of memory while writing the reports\n", prog);
        rc = EXIT_RUNTIME;
    } else {
        const char *names[] = {"results.json", "results.csv", "summary.md", "gmse_vs_bits.svg",
                               "rho_vs_bits.svg", "meta.json"};
        const char *texts[] = {js, csv, md, svg1, svg2, mj};
        for (int i = 0; i < 6 && !rc; i++)
            if (write_atomic(dir, names[i], texts[i])) {
                fprintf(stderr, "%s: error: cannot write %s/%s: %s\n", prog, dir, names[i],
                        strerror(errno));
                rc = EXIT_RUNTIME;
            }
    }
    cJSON_free(js);
    cJSON_free(mj);
    free(csv);
    free(md);
    free(svg1);
    free(svg2);
    free(ord);
    free(pareto);
    return rc;
}

/* ---- running ---------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* the results a previous run of this grid saved: progress.jsonl lines */
static size_t read_progress(const char *path, const grid *g, entry *e, char *done)
{
    size_t len = 0, n = 0;
    char *text = cm_file_read(path, &len);
    if (!text)
        return 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line); /* a line cut short by a kill does not parse: skipped */
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(o, "index");
        if (!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= (double)g->n ||
            strcmp(str_of(o, "spec"), g->pt[(size_t)ix->valuedouble].canon) ||
            done[(size_t)ix->valuedouble]) {
            cJSON_Delete(o);
            continue;
        }
        done[(size_t)ix->valuedouble] = 1;
        e[n].index = (long)ix->valuedouble;
        e[n++].obj = o;
    }
    free(text);
    return n;
}

static const char *default_grid =
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
    "  \"vq\": {\"specs\": [\"vq:lattice=d4,bits=2\", \"vq:lattice=e8,bits=2\", \"vq:kmeans,dim=2,bits=2\"]}"
    " }}";

typedef struct work {
    grid *g;
    const cm_registry *reg;
    const opts *o;
    cm_eval_opts ev;
    char *done;
    entry *e;
    size_t *ne, next, todo, finished;
    FILE *prog_f;
    int tty;
    long abort_n;
    double t0, samples_done;
    pthread_mutex_t lock;
    cm_status status;
    cm_diag diag;
    const char *bad_spec;
} work;

/* evaluate pending points until none is left (or a failure / interruption) */
static void *grid_worker(void *arg)
{
    work *w = arg;
    grid *g = w->g;
    const opts *o = w->o;
    for (;;) {
        size_t i = 0;
        pthread_mutex_lock(&w->lock);
        while (w->next < g->n && (w->done[g->order[w->next]] ||
                                  (o->shard_n && (int)(g->order[w->next] % (size_t)o->shard_n) !=
                                                     o->shard_i - 1)))
            w->next++;
        int stop = w->next >= g->n || w->status || interrupted;
        if (!stop)
            i = g->order[w->next++];
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
        cm_pipeline *p = g->pt[i].p;
        cm_diag d;
        cm_diag_clear(&d);
        cm_result r;
        cm_mc_run *run = NULL;
        size_t mci = SIZE_MAX;
        cm_status s = cm_eval(&p, 1, &w->ev, &r, &run, &mci, &d);
        char *one = NULL;
        if (!s)
            s = cm_report_json(&r, 1, &w->ev, &one, &d);
        double *sums = NULL;
        uint64_t nb = 0, bs = 0;
        if (!s && run && mci != SIZE_MAX) { /* per-batch sums: paired differences later */
            nb = cm_mc_batches(run);
            bs = cm_mc_batch_size(run);
            sums = malloc(nb * sizeof *sums);
            if (sums)
                cm_mc_batch_sums(run, mci, sums);
        }
        cm_mc_run_free(run);
        if (s) {
            free(one);
            free(sums);
            pthread_mutex_lock(&w->lock);
            if (!w->status) {
                w->status = s;
                w->diag = d;
                w->bad_spec = g->pt[i].spec;
            }
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        cJSON *doc = cJSON_Parse(one);
        free(one);
        cJSON *obj = cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(doc, "results"), 0);
        cJSON_Delete(doc);
        cJSON_AddNumberToObject(obj, "index", (double)i);
        cJSON_AddStringToObject(obj, "sweep", g->pt[i].sweep);
        if (sums) {
            cJSON_AddNumberToObject(obj, "batch_size", (double)bs);
            cJSON_AddItemToObject(obj, "batch_sse", cJSON_CreateDoubleArray(sums, (int)nb));
            free(sums);
        }
        char *line = cJSON_PrintUnformatted(obj);
        pthread_mutex_lock(&w->lock);
        if (w->prog_f) {
            fprintf(w->prog_f, "%s\n", line);
            fflush(w->prog_f);
            fsync(fileno(w->prog_f));
        }
        w->e[*w->ne].index = (long)i;
        w->e[(*w->ne)++].obj = obj;
        w->finished++;
        w->samples_done += (double)r.samples;
        if (w->tty) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double el = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - w->t0;
            double eta = (double)(w->todo - w->finished) * el / (double)w->finished;
            int bar = (int)(30.0 * (double)w->finished / (double)w->todo);
            fprintf(stderr, "\r[%-30.*s] %zu/%zu points, %.1f M samples/s, ETA %.0f s  ", bar,
                    "##############################", w->finished, w->todo,
                    w->samples_done / el / 1e6, eta);
        }
        if (w->abort_n >= 0 && (long)w->finished >= w->abort_n)
            abort(); /* test hook: a hard kill with this many points saved */
        pthread_mutex_unlock(&w->lock);
        cJSON_free(line);
    }
}

#ifdef CM_HAVE_MPI
/* rank 0 receives every rank's entries (as one JSON array each) */
static int mpi_gather(entry **e, size_t *ne, size_t cap, int rank, int size)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < *ne; i++)
        cJSON_AddItemReferenceToArray(arr, (*e)[i].obj);
    char *text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    int len = text ? (int)strlen(text) + 1 : 0;
    int *lens = rank == 0 ? calloc((size_t)size, sizeof *lens) : NULL;
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int *displ = NULL;
    char *all = NULL;
    if (rank == 0) {
        displ = calloc((size_t)size, sizeof *displ);
        long tot = 0;
        for (int r = 0; r < size; r++) {
            displ[r] = (int)tot;
            tot += lens[r];
        }
        all = malloc((size_t)tot + 1);
    }
    MPI_Gatherv(text, len, MPI_CHAR, all, lens, displ, MPI_CHAR, 0, MPI_COMM_WORLD);
    cJSON_free(text);
    int rc = 0;
    if (rank == 0) {
        for (int r = 1; r < size && !rc; r++) {
            cJSON *a = cJSON_Parse(all + displ[r]);
            cJSON *o;
            cJSON_ArrayForEach(o, a)
            {
                if (*ne == cap) {
                    rc = EXIT_RUNTIME;
                    break;
                }
                (*e)[*ne].index = (long)num_of(o, "index");
                (*e)[(*ne)++].obj = cJSON_Duplicate(o, 1);
            }
            cJSON_Delete(a);
        }
    }
    free(lens);
    free(displ);
    free(all);
    return rc;
}
#endif

int cmd_grid(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    grid g;
    memset(&g, 0, sizeof g);
    entry *e = NULL;
    char *done = NULL, *text = NULL;
    int rank = 0, size = 1;
#ifdef CM_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1 && !rc) {
        if (o.shard_n || o.resume) {
            if (rank == 0)
                rc = usage_error("%s", "under mpirun the ranks share the points: --shard and "
                                       "--resume do not apply");
            else
                rc = EXIT_USAGE;
        }
        /* rank r takes the points i with i mod size = r; one core each unless told */
        o.shard_i = rank + 1;
        o.shard_n = size;
        if (!o.ev.threads)
            o.ev.threads = 1;
    }
#endif
    if (rc)
        goto out;
    if ((o.use_default ? 0 : 1) != o.nspecs) {
        rc = usage_error("%s", "grid takes one FILE.json, or --default");
        goto out;
    }
    const char *file = o.use_default ? "(default)" : o.specs[0];
    size_t len = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const double t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec; /* the whole run */
    time_t now = time(NULL);
    char started[64];
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (!o.use_default && !(text = cm_file_read(file, &len))) {
        fprintf(stderr, "%s: error: cannot read grid file '%s': %s\n", prog, file, strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = load_registry(&o, &reg)) || (rc = grid_load(file, o.use_default ? default_grid : text, &o, &g)) ||
        (rc = grid_canonicalize(file, reg, &g, o.ev.threads)))
        goto out;
    char dir[4096];
    if (o.out_dir)
        snprintf(dir, sizeof dir, "%s", o.out_dir);
    else
        snprintf(dir, sizeof dir, "results/%s", g.name);
    char path[4200];
    snprintf(path, sizeof path, "%s/results.json", dir);
    struct stat sb;
    if (rank == 0 && !stat(path, &sb) && !o.force && !o.resume) {
        fprintf(stderr, "%s: error: '%s' already holds results (--force overwrites them, --resume "
                        "continues an unfinished run)\n",
                prog, dir);
        rc = EXIT_USAGE;
        goto out;
    }
    if (rank == 0 && (cli_mkdirs(dir) || access(dir, W_OK))) {
        fprintf(stderr, "%s: error: cannot write to the output directory '%s': %s\n", prog, dir,
                strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    snprintf(path, sizeof path, "%s/progress.jsonl", dir);
    e = calloc(g.n ? g.n : 1, sizeof *e);
    done = calloc(g.n ? g.n : 1, 1);
    if (!e || !done) {
        rc = EXIT_RUNTIME;
        goto out;
    }
#ifdef CM_HAVE_MPI
    if (size > 1) { /* every rank stops if rank 0 refused the directory */
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (rc)
            goto out;
    }
#endif
    size_t ne = o.resume ? read_progress(path, &g, e, done) : 0;
    if (!o.resume && size == 1)
        remove(path);
    FILE *prog_f = size > 1 ? NULL : fopen(path, "a");
    if (size == 1 && !prog_f) {
        fprintf(stderr, "%s: error: cannot write %s: %s\n", prog, path, strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    size_t todo = 0;
    for (size_t i = 0; i < g.n; i++)
        todo += !done[i] && (!o.shard_n || (int)(i % (size_t)o.shard_n) == o.shard_i - 1);
    /* keep only this shard's earlier results */
    size_t keep = 0;
    for (size_t i = 0; i < ne; i++)
        if (!o.shard_n || (int)((size_t)e[i].index % (size_t)o.shard_n) == o.shard_i - 1)
            e[keep++] = e[i];
        else
            cJSON_Delete(e[i].obj);
    ne = keep;
    int tty = isatty(2) && !o.quiet;
    const char *abort_after = getenv("CAPMETRIC_TEST_ABORT_AFTER"); /* test hook: a hard kill */
    long abort_n = abort_after ? atol(abort_after) : -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* points in parallel (one core each) while there are enough of them;
     * results do not depend on the schedule */
    unsigned T = g.ev.threads ? g.ev.threads : cm_default_threads();
    work w = {.g = &g, .reg = reg, .o = &o, .done = done, .e = e, .ne = &ne, .prog_f = prog_f,
              .todo = todo, .tty = tty, .abort_n = abort_n, .t0 = t0};
    w.ev = g.ev;
    if (todo >= T && T > 1)
        w.ev.threads = 1;
    else
        T = 1;
    pthread_mutex_init(&w.lock, NULL);
    cm_diag_clear(&w.diag);
    pthread_t *th = T > 1 ? calloc(T - 1, sizeof *th) : NULL;
    unsigned started_th = 0;
    for (; th && started_th + 1 < T; started_th++)
        if (pthread_create(&th[started_th], NULL, grid_worker, &w))
            break;
    grid_worker(&w);
    for (unsigned k = 0; k < started_th; k++)
        pthread_join(th[k], NULL);
    free(th);
    pthread_mutex_destroy(&w.lock);
    if (w.status) {
        if (prog_f)
            fclose(prog_f);
        rc = report(w.status, &w.diag, w.bad_spec, NULL);
        goto out;
    }
    if (prog_f)
        fclose(prog_f);
    if (tty)
        fputc('\n', stderr);
#ifdef CM_HAVE_MPI
    if (size > 1) {
        rc = mpi_gather(&e, &ne, g.n, rank, size);
        if (rank != 0)
            goto out; /* rank 0 writes the report */
        o.shard_i = o.shard_n = 0;
    }
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t1 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (interrupted) {
        fprintf(stderr, "%s: interrupted: %zu finished points are saved in %s; --resume continues\n",
                prog, ne, path);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if ((rc = write_reports(dir, &g, e, ne, reg, &o, t0, t1, started)))
        goto out;
    remove(path);
    if (!o.quiet) {
        /* the ranked table on screen */
        cm_result *rs = calloc(ne ? ne : 1, sizeof *rs);
        for (size_t i = 0; rs && i < ne; i++) {
            rs[i].input = str_of(e[i].obj, "input");
            rs[i].spec = str_of(e[i].obj, "spec");
            rs[i].bits = num_of(e[i].obj, "bits");
            rs[i].method = strcmp(str_of(e[i].obj, "method"), "exact") ? CM_METHOD_MC : CM_METHOD_EXACT;
            rs[i].gmse = num_of(e[i].obj, "gmse");
            rs[i].gmse_se = num_of(e[i].obj, "gmse_se");
            rs[i].scale = num_of(e[i].obj, "scale");
            rs[i].eff_bits = num_of(e[i].obj, "eff_bits");
            rs[i].rho = num_of(e[i].obj, "rho");
            rs[i].rho_per_bit = num_of(e[i].obj, "rho_per_bit");
            rs[i].gap_db = num_of(e[i].obj, "gap_db");
            rs[i].rho_product = NAN;
            rs[i].seconds = num_of(e[i].obj, "seconds");
        }
        for (size_t i = 1; rs && i < ne; i++) /* by rho per bit */
            for (size_t j = i; j > 0 && rs[j].rho_per_bit > rs[j - 1].rho_per_bit; j--) {
                cm_result t = rs[j];
                rs[j] = rs[j - 1];
                rs[j - 1] = t;
            }
        if (rs)
            print_results(rs, ne);
        free(rs);
        printf("\n%zu points (%s) in %.1f s; reports in %s/\n", ne, g.name, t1 - t0, dir);
    }
out:
    for (size_t i = 0; e && i < g.n; i++)
        if (e[i].obj)
            cJSON_Delete(e[i].obj);
    free(e);
    free(done);
    free(text);
    grid_free(&g);
    cm_registry_free(reg);
    opts_fini(&o);
#ifdef CM_HAVE_MPI
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
#endif
    return rc;
}

/* merge DIR... -o OUT: shards of one grid into one report */
int cmd_merge(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    entry *e = NULL;
    size_t ne = 0, cap = 0;
    grid g;
    memset(&g, 0, sizeof g);
    cJSON *first = NULL;
    if (rc)
        goto out;
    if (o.nspecs < 1 || !o.out_dir) {
        rc = usage_error("%s", "merge takes DIR... -o OUT");
        goto out;
    }
    if ((rc = load_registry(&o, &reg)))
        goto out;
    for (size_t k = 0; k < o.nspecs; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/results.json", o.specs[k]);
        size_t len;
        char *text = cm_file_read(path, &len);
        cJSON *doc = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!doc) {
            fprintf(stderr, "%s: error: merge: cannot read %s (a grid run's directory holds it)\n",
                    prog, path);
            rc = EXIT_USAGE;
            goto out;
        }
        if (!first) {
            first = doc;
        } else {
            const char *keys[] = {"grid_hash", "seed", "samples", "law", "method"};
            for (int i = 0; i < 5; i++) {
                char *a = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(first, keys[i]));
                char *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, keys[i]));
                int same = a && b && !strcmp(a, b);
                cJSON_free(a);
                cJSON_free(b);
                if (!same) {
                    fprintf(stderr, "%s: error: merge: %s and %s differ in '%s' (shards of one "
                                    "grid run with one set of options only)\n",
                            prog, o.specs[0], o.specs[k], keys[i]);
                    cJSON_Delete(doc);
                    rc = EXIT_USAGE;
                    goto out;
                }
            }
        }
        cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results"))
        {
            if (ne == cap) {
                cap = cap ? 2 * cap : 64;
                entry *ne2 = realloc(e, cap * sizeof *e);
                if (!ne2) {
                    rc = EXIT_RUNTIME;
                    goto out;
                }
                e = ne2;
            }
            e[ne].index = (long)num_of(r, "index");
            e[ne++].obj = cJSON_Duplicate(r, 1);
        }
        if (doc != first)
            cJSON_Delete(doc);
    }
    size_t total = (size_t)num_of(first, "points");
    qsort(e, ne, sizeof *e, by_index);
    for (size_t i = 0; i < ne; i++)
        if (e[i].index != (long)i) {
            fprintf(stderr, "%s: error: merge: point %zu is %s (the shards must cover the grid once)\n",
                    prog, i, e[i].index > (long)i ? "missing" : "given twice");
            rc = EXIT_USAGE;
            goto out;
        }
    if (ne != total) {
        fprintf(stderr, "%s: error: merge: %zu of the grid's %zu points are present\n", prog, ne,
                total);
        rc = EXIT_USAGE;
        goto out;
    }
    snprintf(g.name, sizeof g.name, "%s", str_of(first, "grid"));
    g.hash = strtoull(str_of(first, "grid_hash"), NULL, 16);
    g.n = total;
    cm_eval_opts_default(&g.ev);
    g.ev.seed = (uint64_t)num_of(first, "seed");
    g.ev.samples = (uint64_t)num_of(first, "samples");
    cm_diag d;
    cm_method_parse(str_of(first, "method"), &g.ev.method, &d);
    cm_law_find(str_of(first, "law"), &g.ev.law, &d);
    if (cli_mkdirs(o.out_dir)) {
        fprintf(stderr, "%s: error: cannot write to '%s': %s\n", prog, o.out_dir, strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    opts plain = o;
    plain.shard_n = plain.shard_i = 0;
    time_t now = time(NULL);
    char started[64];
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    rc = write_reports(o.out_dir, &g, e, ne, reg, &plain, 0, 0, started);
    if (!rc && !o.quiet)
        printf("merged %zu points of '%s' from %zu directories into %s/\n", ne, g.name, o.nspecs,
               o.out_dir);
out:
    for (size_t i = 0; i < ne; i++)
        cJSON_Delete(e[i].obj);
    free(e);
    cJSON_Delete(first);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}
