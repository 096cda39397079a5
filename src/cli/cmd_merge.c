/* capmetric merge: shards of one grid into one report. */
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
#include "commands.h"
#include "sweep.h"
#include "grid_report.h"

static int whole_in(const cJSON *o, const char *k, double lo, double hi)
{
    return json_whole(cJSON_GetObjectItemCaseSensitive(o, k), lo, hi);
}

static int text_in(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0];
}

/* A grid run's results.json, checked field by field before anything is read
 * from it: what is wrong and where, or NULL. */
static const char *bad_results(const cJSON *doc, char *why, size_t cap)
{
    cm_diag d;
    cm_diag_clear(&d);
    const cm_law *law = NULL;
    if (!cJSON_IsObject(doc))
        return "not a JSON object";
    if (!whole_in(doc, "points", 1, 1e6))
        return "'points' is not a whole number from 1 to 1e6";
    if (!whole_in(doc, "seed", 0, 9007199254740992.0))
        return "'seed' is not a whole number from 0 to 2^53";
    if (!whole_in(doc, "samples", 2, (double)CM_MC_MAX_SAMPLES))
        return "'samples' is not a whole number from 2 to 2^40";
    const char *name = text_in(doc, "grid") ? cJSON_GetObjectItemCaseSensitive(doc, "grid")->valuestring : NULL;
    if (!name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > 127)
        return "'grid' is not a grid name";
    if (!text_in(doc, "grid_hash") || !text_in(doc, "method") || !text_in(doc, "law"))
        return "'grid_hash', 'method' or 'law' is missing";
    cm_method mth;
    if (cm_method_parse(cJSON_GetObjectItemCaseSensitive(doc, "method")->valuestring, &mth, &d))
        return "'method' is not auto, exact or mc";
    if (cm_law_find(cJSON_GetObjectItemCaseSensitive(doc, "law")->valuestring, &law, &d) ||
        !cm_law_has_map(law))
        return "'law' is not a built-in law with a GMSE map";
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(doc, "results");
    if (!cJSON_IsArray(rs))
        return "'results' is not a list";
    double points = cJSON_GetObjectItemCaseSensitive(doc, "points")->valuedouble;
    size_t i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rs)
    {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "gmse");
        const char *what = !cJSON_IsObject(r) ? "is not an object"
                           : !whole_in(r, "index", 0, points - 1) ? "has no 'index' in the grid"
                           : !text_in(r, "spec") || !text_in(r, "input") || !text_in(r, "method")
                               ? "lacks 'spec', 'input' or 'method'"
                           : !(cJSON_IsNumber(g) || cJSON_IsNull(g)) ? "has a 'gmse' that is not a number"
                           : !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "bits"))
                               ? "has 'bits' that are not a number"
                               : NULL;
        if (what) {
            snprintf(why, cap, "result %zu %s", i + 1, what);
            return why;
        }
        i++;
    }
    return NULL;
}

/* DIR/results.json, checked: 0 and the document, or an exit code after saying why */
static int read_shard(const char *dir, cJSON **out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/results.json", dir);
    size_t len;
    char *text = cm_file_read(path, &len);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    *out = NULL;
    if (!doc) {
        fprintf(stderr, "%s: error: merge: cannot read %s (a grid run's directory holds it)\n",
                prog, path);
        return EXIT_USAGE;
    }
    char why[128];
    const char *bad = bad_results(doc, why, sizeof why);
    if (bad) {
        fprintf(stderr, "%s: error: merge: %s is not a grid run's results: %s\n", prog, path, bad);
        cJSON_Delete(doc);
        return EXIT_USAGE;
    }
    *out = doc;
    return 0;
}

/* merge DIR... -o OUT: shards of one grid into one report */
/* the data a shard was measured on (absent in older shards: N(0,1)) */
static int read_data(const cJSON *doc, const char *file, cm_dist *dist)
{
    cm_diag d;
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "dist")) &&
        cm_dist_parse(str_of(doc, "dist"), dist, &d) != CM_OK) {
        fprintf(stderr, "%s: error: merge: %s: %s\n", prog, file, d.msg);
        return EXIT_USAGE;
    }
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(doc, "sigma");
    if (sg && !(cJSON_IsNumber(sg) && sg->valuedouble >= 1e-30 && sg->valuedouble <= 1e30)) {
        fprintf(stderr, "%s: error: merge: %s: 'sigma' must be a number from 1e-30 to 1e30\n",
                prog, file);
        return EXIT_USAGE;
    }
    if (sg)
        dist->sigma = sg->valuedouble;
    return 0;
}

/* the options every shard of one grid run shares; EXIT_USAGE, said, when
 * shard b differs from shard a */
static int same_options(const cJSON *a, const cJSON *b, const char *name_a, const char *name_b)
{
    static const char *const keys[] = {"grid_hash", "seed", "samples", "stream_version", "law",
                                       "method", "dist", "sigma"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *ta = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(a, keys[i]));
        char *tb = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, keys[i]));
        int same = (!ta && !tb) || (ta && tb && !strcmp(ta, tb));
        cJSON_free(ta);
        cJSON_free(tb);
        if (!same) {
            fprintf(stderr, "%s: error: merge: %s and %s differ in '%s' (shards of one grid run "
                            "with one set of options only)\n",
                    prog, name_a, name_b, keys[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* a shard's results appended to e (copies) */
static int collect(const cJSON *doc, entry **e, size_t *ne, size_t *cap)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results"))
    {
        if (*ne == *cap) {
            size_t c = *cap ? 2 * *cap : 64;
            entry *grown = realloc(*e, c * sizeof **e);
            if (!grown)
                return EXIT_RUNTIME;
            *e = grown;
            *cap = c;
        }
        (*e)[*ne].index = (long)num_of(r, "index");
        (*e)[(*ne)++].obj = cJSON_Duplicate(r, 1);
    }
    return 0;
}

/* the merged points, sorted, are the grid's 0..total-1 once each */
static int covers_once(entry *e, size_t ne, size_t total)
{
    qsort(e, ne, sizeof *e, entry_by_index);
    for (size_t i = 0; i < ne; i++)
        if (e[i].index != (long)i) {
            fprintf(stderr, "%s: error: merge: point %zu is %s (the shards must cover the grid once)\n",
                    prog, i, e[i].index > (long)i ? "missing" : "given twice");
            return EXIT_USAGE;
        }
    if (ne != total) {
        fprintf(stderr, "%s: error: merge: %zu of the grid's %zu points are present\n", prog, ne,
                total);
        return EXIT_USAGE;
    }
    return 0;
}

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
    int lock_fd = -1;
    if (rc)
        goto out;
    if (o.nspecs < 1 || !o.out_dir) {
        rc = usage_error("%s", "merge takes DIR... -o OUT");
        goto out;
    }
    if ((rc = load_registry(&o, &reg)))
        goto out;
    for (size_t k = 0; k < o.nspecs; k++) {
        cJSON *doc = NULL;
        if ((rc = read_shard(o.specs[k], &doc)))
            goto out;
        if (!first) {
            first = doc;
        } else if ((rc = same_options(first, doc, o.specs[0], o.specs[k]))) {
            cJSON_Delete(doc);
            goto out;
        }
        rc = collect(doc, &e, &ne, &cap);
        if (doc != first)
            cJSON_Delete(doc);
        if (rc)
            goto out;
    }
    size_t total = (size_t)num_of(first, "points");
    if ((rc = covers_once(e, ne, total)))
        goto out;
    snprintf(g.name, sizeof g.name, "%s", str_of(first, "grid"));
    g.hash = strtoull(str_of(first, "grid_hash"), NULL, 16);
    g.n = total;
    cm_eval_opts_default(&g.ev);
    g.ev.seed = (uint64_t)num_of(first, "seed");
    g.ev.samples = (uint64_t)num_of(first, "samples");
    cm_diag d;
    cm_method_parse(str_of(first, "method"), &g.ev.method, &d);
    cm_law_find(str_of(first, "law"), &g.ev.law, &d);
    if ((rc = read_data(first, o.specs[0], &g.ev.dist)))
        goto out;
    if (cli_mkdirs(o.out_dir)) {
        fprintf(stderr, "%s: error: cannot write to '%s': %s\n", prog, o.out_dir, strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = cli_lock_dir(o.out_dir, &lock_fd)))
        goto out;
    opts plain = o;
    plain.shard_n = plain.shard_i = 0;
    time_t now = time(NULL);
    char started[64];
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    /* the points every shard skipped (--skip-invalid): the first shard's list */
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(first, "skipped"), *b;
    size_t nsk = cJSON_IsArray(sk) ? (size_t)cJSON_GetArraySize(sk) : 0;
    g.bad = nsk ? calloc(nsk, sizeof *g.bad) : NULL;
    const cJSON *from = g.bad ? sk : NULL;
    cJSON_ArrayForEach(b, from)
    {
        point *pt = &g.bad[g.nbad++];
        pt->spec = (char *)str_of(b, "spec");
        pt->sweep = str_of(b, "sweep");
        snprintf(pt->d.msg, sizeof pt->d.msg, "%s", str_of(b, "reason"));
    }
    rc = write_reports(o.out_dir, &g, e, ne, reg, &plain, 0, 0, started);
    free(g.bad); /* (its texts belong to the shard's document) */
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
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
