/* A grid's reports: results.json, results.csv, summary.md, meta.json and plots. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sweep.h"
#include "grid_report.h"
#include "svg.h"

/* dir/NAME.svg as dir/NAME.pdf when rsvg-convert (librsvg2-bin) is installed:
 * through a temporary name; a failure is said on stderr, nothing else changes */
static void svg_to_pdf(const char *dir, const char *svg)
{
    char in[4300], tmp[4400], out[4400];
    size_t len = svg ? strlen(svg) : 0;
    if (len < 5)
        return;
    snprintf(in, sizeof in, "%s/%s", dir, svg);
    snprintf(out, sizeof out, "%s/%.*s.pdf", dir, (int)(len - 4), svg);
    snprintf(tmp, sizeof tmp, "%s/.%.*s.pdf.tmp", dir, (int)(len - 4), svg);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("rsvg-convert", "rsvg-convert", "-f", "pdf", "-o", tmp, in, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) != 127)
            fprintf(stderr, "%s: note: rsvg-convert could not make %s (no PDF)\n", prog, out);
        remove(tmp);
        return;
    }
    if (rename(tmp, out)) {
        fprintf(stderr, "%s: note: cannot write %s: %s\n", prog, out, strerror(errno));
        remove(tmp);
    }
}

/* The report set: written whole into a temporary folder inside dir, then moved
 * in with results.json last (the old results.json is removed first), so a
 * results.json is never beside files of another run: a folder without one
 * holds no finished report (--resume or --force completes it). */
static int write_set(const char *dir, const char *const *names, const char *const *texts,
                     size_t n)
{
    char tmp[4200], from[4300], to[4300];
    snprintf(tmp, sizeof tmp, "%s/.report-XXXXXX", dir);
    if (!mkdtemp(tmp))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        snprintf(from, sizeof from, "%s/%s", tmp, names[i]);
        rc = cli_write_atomic(from, texts[i]);
    }
    if (!rc) {
        snprintf(to, sizeof to, "%s/%s", dir, names[0]);
        if (remove(to) && errno != ENOENT)
            rc = -1;
    }
    for (size_t k = 1; k <= n && !rc; k++) {
        size_t i = k % n; /* names[0] (results.json) last */
        snprintf(from, sizeof from, "%s/%s", tmp, names[i]);
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        rc = rename(from, to);
    }
    int e = errno;
    for (size_t i = 0; i < n; i++) { /* what is left after a failure */
        snprintf(from, sizeof from, "%s/%s", tmp, names[i]);
        remove(from);
    }
    rmdir(tmp);
    errno = e;
    return rc;
}


/* ---- reports ---------------------------------------------------------------------------- */



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

int entry_by_index(const void *a, const void *b)
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
    if (!strcmp(by, "misalignment")) { /* the smallest |misalignment| first, unknown last */
        double m = num_of(o, "misalignment");
        return isnan(m) ? -INFINITY : -fabs(m);
    }
    return num_of(o, by);
}

/* everything the run writes, given its entries in index order */
/* results.json: the grid's header and every result object */
static char *results_json(const grid *g, const opts *o, const entry *e, size_t n, const char *hash)
{
    /* results.json */
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON_AddStringToObject(root, "grid", g->name);
    cJSON_AddStringToObject(root, "grid_hash", hash);
    cJSON_AddNumberToObject(root, "points", (double)g->n);
    cJSON_AddNumberToObject(root, "seed", (double)g->ev.seed);
    cJSON_AddNumberToObject(root, "samples", (double)g->ev.samples);
    cJSON_AddStringToObject(root, "law", cm_law_name(cm_eval_law(&g->ev)));
    cJSON_AddStringToObject(root, "method", cm_method_name(g->ev.method));
    char dn[40];
    cJSON_AddStringToObject(root, "dist", cm_dist_name(&g->ev.dist, dn, sizeof dn));
    cJSON_AddNumberToObject(root, "sigma", cm_dist_sigma(&g->ev.dist));
    cJSON_AddNumberToObject(root, "stream_version", CM_MC_STREAM_VERSION);
    if (o->shard_n) {
        cJSON *sh = cJSON_CreateObject();
        cJSON_AddNumberToObject(sh, "i", o->shard_i);
        cJSON_AddNumberToObject(sh, "n", o->shard_n);
        cJSON_AddItemToObject(root, "shard", sh);
    }
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemReferenceToArray(arr, e[i].obj);
    cJSON_AddItemToObject(root, "results", arr);
    if (g->nbad) { /* --skip-invalid: the points left out, and why */
        cJSON *sk = cJSON_AddArrayToObject(root, "skipped");
        for (size_t i = 0; i < g->nbad; i++) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "spec", g->bad[i].spec);
            cJSON_AddStringToObject(b, "sweep", g->bad[i].sweep);
            cJSON_AddStringToObject(b, "reason", g->bad[i].d.msg);
            cJSON_AddItemToArray(sk, b);
        }
    }
    char *js = cJSON_Print(root);
    cJSON_Delete(root);
    return js;
}

/* the swept keys of every point, in first-seen order (the CSV's key_ columns) */
static size_t swept_keys(const entry *e, size_t n, const char ***out)
{
    const char **k = NULL;
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e[i].obj, "keys"))
        {
            size_t j = 0;
            while (j < nk && strcmp(k[j], v->string))
                j++;
            if (j < nk)
                continue;
            const char **t = realloc(k, (nk + 1) * sizeof *t);
            if (!t)
                break;
            k = t;
            k[nk++] = v->string;
        }
    }
    *out = k;
    return nk;
}

/* results.csv: one row per point, numbers to 17 digits; then one column per
 * swept key (key_bits, key_block, ...: empty where a point's sweep has none) */
static char *results_csv(const entry *e, size_t n)
{
    char *csv = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&csv, &len); /* any number of points, any spec length */
    if (!f)
        return NULL;
    const char **keys = NULL;
    size_t nk = swept_keys(e, n, &keys);
    fprintf(f, "index,sweep,spec,input,bits,method,gmse,gmse_se,scale,eff_bits,rho,rho_per_bit,"
               "gap_db,rho_product,seconds,misalignment,misalignment_se");
    for (size_t j = 0; j < nk; j++)
        fprintf(f, ",key_%s", keys[j]);
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        const cJSON *r = e[i].obj;
        fprintf(f,
                "%ld,\"%s\",\"%s\",\"%s\",%.17g,%s,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
                "%.17g,%.6g,%.17g,%.17g",
                e[i].index, str_of(r, "sweep"), str_of(r, "spec"), str_of(r, "input"),
                num_of(r, "bits"), str_of(r, "method"), num_of(r, "gmse"), num_of(r, "gmse_se"),
                num_of(r, "scale"), num_of(r, "eff_bits"), num_of(r, "rho"),
                num_of(r, "rho_per_bit"), num_of(r, "gap_db"), num_of(r, "rho_product"),
                num_of(r, "seconds"), num_of(r, "misalignment"), num_of(r, "misalignment_se"));
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(r, "keys");
        for (size_t j = 0; j < nk; j++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, keys[j]);
            if (cJSON_IsNumber(v))
                fprintf(f, ",%.17g", v->valuedouble);
            else if (cJSON_IsString(v))
                fprintf(f, ",\"%s\"", v->valuestring);
            else
                fputc(',', f);
        }
        fputc('\n', f);
    }
    free(keys);
    if (fclose(f)) {
        free(csv);
        return NULL;
    }
    return csv;
}

/* summary.md: ranked by `by`, Pareto points marked, paired differences */
static char *summary_md(const grid *g, const opts *o, const entry *e, size_t n,
                        const int *pareto, const char *by)
{
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
                cm_law_name(cm_eval_law(&g->ev)));
        fprintf(mf, "![GMSE against bits](gmse_vs_bits.svg)\n\n![rho against bits](rho_vs_bits.svg)\n\n"
                    "![GMSE against misalignment](gmse_vs_misalignment.svg)\n\n");
        const char *xk = o->x_key ? o->x_key : g->x_key;
        if (xk) {
            char fn[160];
            grid_plot_file(xk, fn, sizeof fn);
            fprintf(mf, "![GMSE against %s](%s)\n\n", xk, fn);
        }
        fprintf(mf, "Ranked by %s; **P** = Pareto optimal in (bits, GMSE); the last columns "
                    "compare each row with the next: GMSE difference, its standard error (paired "
                    "on the common samples when both are Monte Carlo) and z.\n\n",
                by);
        fprintf(mf, "| # | spec | sweep | bits | method | GMSE | SE | misalignment | rho | rho/bit | "
                    "D(R) gap dB | | GMSE - next | SE | z |\n");
        fprintf(mf, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (size_t r = 0; r < n; r++) {
            const cJSON *x = e[ord[r]].obj;
            fprintf(mf, "| %zu | `%s` | %s | %.4g | %s | %.6g | %.2g | %.4g | %.4f | %.4f | %.2f | %s |",
                    r + 1, str_of(x, "input"), str_of(x, "sweep"), num_of(x, "bits"),
                    str_of(x, "method"), num_of(x, "gmse"), num_of(x, "gmse_se"),
                    num_of(x, "misalignment"), num_of(x, "rho"), num_of(x, "rho_per_bit"),
                    num_of(x, "gap_db"), pareto[ord[r]] ? "**P**" : "");
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
        if (g->nbad)
            fprintf(mf, "\n## Skipped (%zu invalid point%s, --skip-invalid)\n\n", g->nbad,
                    g->nbad > 1 ? "s" : "");
        for (size_t i = 0; i < g->nbad; i++)
            fprintf(mf, "- `%s` (sweep %s): %s\n", g->bad[i].spec, g->bad[i].sweep,
                    g->bad[i].d.msg);
    }
    if (mf)
        fclose(mf);
    free(ord);
    return md;
}

/* meta.json: what ran, where and how long */
static char *meta_json(const grid *g, size_t n, const char *hash, double t0, double t1,
                       const char *started)
{
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
    cJSON_AddStringToObject(meta, "law", cm_law_name(cm_eval_law(&g->ev)));
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
    return mj;
}

int write_reports(const char *dir, const grid *g, entry *e, size_t n, const cm_registry *reg,
                         const opts *o, double t0, double t1, const char *started)
{
    const char *by = o->by ? o->by : "rho_per_bit";
    qsort(e, n, sizeof *e, entry_by_index);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)g->hash);
    char *js = results_json(g, o, e, n, hash);
    char *csv = results_csv(e, n);
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
    char *md = summary_md(g, o, e, n, pareto, by);
    char *pnames[4] = {0}, *ptexts[4] = {0};
    size_t np = pareto ? grid_plots(g, o, e, n, pareto, reg, pnames, ptexts) : 0;
    char *mj = meta_json(g, n, hash, t0, t1, started);
    int rc = 0, ok = js && csv && md && mj && np >= 3;
    for (size_t k = 0; k < np; k++)
        ok = ok && pnames[k] && ptexts[k];
    if (!ok) {
        fprintf(stderr, "%s: error: out of memory while writing the reports\n", prog);
        rc = EXIT_RUNTIME;
    } else {
        const char *names[8] = {"results.json", "results.csv", "summary.md", "meta.json"};
        const char *texts[8] = {js, csv, md, mj};
        for (size_t k = 0; k < np; k++) {
            names[4 + k] = pnames[k];
            texts[4 + k] = ptexts[k];
        }
        if (write_set(dir, names, texts, 4 + np)) {
            fprintf(stderr, "%s: error: cannot write the reports into %s: %s\n", prog, dir,
                    strerror(errno));
            rc = EXIT_RUNTIME;
        }
        for (size_t k = 0; !rc && k < np; k++)
            svg_to_pdf(dir, pnames[k]);
    }
    for (size_t k = 0; k < np; k++) {
        free(pnames[k]);
        free(ptexts[k]);
    }
    cJSON_free(js);
    cJSON_free(mj);
    free(csv);
    free(md);
    free(pareto);
    return rc;
}
