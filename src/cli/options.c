/* The command line: the common options, a command's own options, loading the
 * registry with plugins, parsing specs. */
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

#ifndef CM_PLUGINDIR

#define CM_PLUGINDIR ""

#endif

/* ---- options -------------------------------------------------------------- */


/* a count or amount suffix: k/K thousand, m/M million, b/B/g/G billion, t/T trillion */
static double suffix_mul(char c)
{
    switch (c) {
    case 'k': case 'K': return 1e3;
    case 'm': case 'M': return 1e6;
    case 'b': case 'B': case 'g': case 'G': return 1e9;
    case 't': case 'T': return 1e12;
    default: return 0;
    }
}

/* Integers: digits, or 2^K, or an integral decimal like 1e7 or 16M. */
static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    if (!strncmp(s, "2^", 2)) {
        errno = 0;
        unsigned long k = strtoul(s + 2, &end, 10);
        if (*end || errno || k > 63 || !s[2])
            return -1;
        *out = UINT64_C(1) << k;
        return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*end && !errno) {
        *out = v;
        return 0;
    }
    errno = 0;
    double x = strtod(s, &end);
    if (end != s && *end && !end[1] && suffix_mul(*end) > 0) {
        x *= suffix_mul(*end);
        end++;
    }
    if (*end || errno || !(x >= 0) || x > 1.8e19 || x != floor(x))
        return -1;
    *out = (uint64_t)x;
    return 0;
}

/* A positive amount: a number with an optional k, M, B (or G), T suffix (either case). */
int parse_amount(const char *s, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno)
        return -1;
    double mul = 1;
    if (*end) {
        if (end[1] || (mul = suffix_mul(*end)) == 0)
            return -1;
    }
    x *= mul;
    if (!(x > 0) || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* The command being run (set by main) and the options each command takes: an
 * option another command understands is refused rather than ignored. */
const char *cli_cmd = "";

static const struct {
    const char *cmd, *takes;
} cmd_opts[] = {
    {"formats", " --plugin --json --quiet --progress --help "},
    {"laws", " --json --quiet --progress --help "},
    {"eval", " --samples --seed --threads --method --law --plugin --json --csv --quiet --progress --help "
             "--dist --sigma --data --tensor --pad "},
    {"quantize", " --seed --threads --plugin --quiet --progress --help --dist --tensor --pad --dtype "
                 "--codes "},
    {"rank", " --samples --seed --threads --method --law --plugin --json --csv --quiet --progress --help --by "
             "--params --tokens --memory --tensors --dist --sigma "},
    {"bench", " --samples --seed --threads --method --plugin --json --quiet --progress --help "},
    {"predict", " --samples --seed --threads --method --law --plugin --json --quiet --progress --help "
                "--params --tokens --memory --tensors --ci --vs "},
    {"fit", " --samples --seed --threads --method --law --plugin --json --quiet --progress --help "},
    {"validate", " --samples --seed --threads --method --plugin --json --quiet --progress --help "},
};

/* Every option some command takes; others are unknown (and said so later). */
static const char all_opts[] = " --samples --seed --threads --method --law --plugin --json --csv "
                               "--quiet --progress --help --by --params --tokens --memory --tensors -o "
                               "--resume --force --skip-invalid --default --shard --dist --sigma --data "
                               "--color-by --marker-by --x "
                               "--tensor --pad --dtype --codes --ci --vs ";

/* 0 if `cli_cmd` takes option `a`, or if no command knows it (commands not in
 * the table take all). */
static int check_opt(const char *a)
{
    char key[40];
    snprintf(key, sizeof key, " %s ", !strcmp(a, "-q") ? "--quiet" : !strcmp(a, "-h") ? "--help" : a);
    if (!strstr(all_opts, key))
        return 0;
    for (size_t i = 0; i < sizeof cmd_opts / sizeof *cmd_opts; i++)
        if (!strcmp(cmd_opts[i].cmd, cli_cmd)) {
            if (strstr(cmd_opts[i].takes, key))
                return 0;
            fprintf(stderr, "%s: option '%s' does not apply to '%s' (it takes:%.*s)\n(see '%s "
                            "help')\n", prog, a, cli_cmd, (int)strlen(cmd_opts[i].takes) - 1,
                    cmd_opts[i].takes, prog);
            return EXIT_USAGE;
        }
    return 0;
}

/* An option that takes a value: check it and store it in o; 0 or an exit code. */
/* --ci: a level in (0, 1), or a percentage */
static int parse_ci(const char *val, double *out)
{
    char *end;
    double x = strtod(val, &end);
    if (*end == '%')
        x /= 100, end++;
    if (end == val || *end || !(x > 0 && x < 1))
        return usage_error("--ci '%s' is not accepted (accepted: a level between 0 and 1, e.g. "
                           "0.9 or 90%%)",
                           val);
    *out = x;
    return 0;
}

static int set_valued(opts *o, const char *a, const char *val)
{
    cm_diag d;
    cm_diag_clear(&d);
    uint64_t u;
    if (!strcmp(a, "--samples")) {
        if (parse_count(val, &u) || u < CM_MC_MIN_SAMPLES || u > CM_MC_MAX_SAMPLES)
            return usage_error("--samples '%s' is not accepted (accepted: a whole number "
                               "from 2 to 2^40, e.g. 16777216, 2^24, 1e6 or 16M)",
                               val);
        o->ev.samples = u;
        o->samples_given = 1;
    } else if (!strcmp(a, "--seed")) {
        if (parse_count(val, &u))
            return usage_error("--seed '%s' is not accepted (accepted: a whole number from "
                               "0 to 2^64-1)",
                               val);
        o->ev.seed = u;
        o->seed_given = 1;
    } else if (!strcmp(a, "--threads")) {
        if (parse_count(val, &u) || u < 1 || u > 1024)
            return usage_error("--threads '%s' is not accepted (accepted: 1 to 1024)", val);
        o->ev.threads = (unsigned)u;
    } else if (!strcmp(a, "--method")) {
        if (cm_method_parse(val, &o->ev.method, &d))
            return usage_error("--method: %s", d.msg);
    } else if (!strcmp(a, "--law")) {
        if (!strncmp(val, "file:", 5)) {
            cm_law_free(o->law_owned);
            o->law_owned = NULL;
            if (cm_law_load(val + 5, &o->law_owned, &d))
                return usage_error("--law: %s", d.msg);
            o->ev.law = o->law_owned;
        } else if (cm_law_find(val, &o->ev.law, &d)) {
            return usage_error("--law: %s", d.msg);
        }
    } else if (!strcmp(a, "--params") || !strcmp(a, "--tokens") || !strcmp(a, "--memory")) {
        double x;
        if (parse_amount(val, &x))
            return usage_error("%s", !strcmp(a, "--params")
                                         ? "--params: not a positive number (accepted: e.g. "
                                           "1e9, 7B, 350M, 125000000)"
                                     : !strcmp(a, "--tokens")
                                         ? "--tokens: not a positive number (accepted: e.g. "
                                           "2e10, 20B, 1.5T)"
                                         : "--memory: not a positive number of bits (e.g. "
                                           "16e9, 2G)");
        *(!strcmp(a, "--params") ? &o->params : !strcmp(a, "--tokens") ? &o->tokens
                                                                       : &o->memory) = x;
    } else if (!strcmp(a, "--ci")) {
        return parse_ci(val, &o->ci);
    } else if (!strcmp(a, "--vs")) {
        o->vs = val;
    } else if (!strcmp(a, "--tensors")) {
        if (cm_tensors_parse(val, &o->tensors, &d))
            return usage_error("--tensors: %s", d.msg);
    } else if (!strcmp(a, "--dist")) {
        if (cm_dist_parse(val, &o->ev.dist, &d))
            return usage_error("--dist: %s", d.msg);
        o->dist_given = 1;
    } else if (!strcmp(a, "--sigma")) {
        char *end;
        errno = 0;
        double x = strtod(val, &end);
        if (end == val || *end || errno || !(x >= 1e-30 && x <= 1e30))
            return usage_error("--sigma '%s' is not accepted (accepted: the data's standard "
                               "deviation, a number from 1e-30 to 1e30, e.g. 0.02)",
                               val);
        o->ev.dist.sigma = x;
        o->sigma_given = 1;
    } else if (!strcmp(a, "--data")) {
        o->data = val;
    } else if (!strcmp(a, "--tensor")) {
        o->tensor_re = val;
    } else if (!strcmp(a, "--codes")) {
        o->codes = val;
    } else if (!strcmp(a, "--dtype")) {
        cm_dtype t;
        if (cm_dtype_parse(val, &t, &d))
            return usage_error("--dtype: %s", d.msg);
        o->dtype = val;
    } else if (!strcmp(a, "--plugin")) {
        o->plugins[o->nplugins++] = val;
    } else if (!strcmp(a, "--by")) {
        static const char *const keys[] = {"rho_per_bit", "gmse", "rho", "bits", "loss",
                                           "misalignment"};
        const size_t nk = sizeof keys / sizeof *keys;
        size_t k = 0;
        while (k < nk && strcmp(val, keys[k]))
            k++;
        if (k == nk) {
            char hint[96], what[256];
            snprintf(what, sizeof what, "'%.60s' is not accepted%s", val,
                     cm_did_you_mean(cm_suggest(val, keys, nk), hint, sizeof hint));
            return usage_error("--by %s (accepted: rho_per_bit, gmse, rho, bits, loss, "
                               "misalignment)",
                               what);
        }
        o->by = val;
    } else if (!strcmp(a, "-o")) {
        o->out_dir = val;
    } else if (!strcmp(a, "--color-by")) {
        o->color_by = val;
    } else if (!strcmp(a, "--marker-by")) {
        o->marker_by = val;
    } else if (!strcmp(a, "--x")) {
        o->x_key = val;
    } else if (!strcmp(a, "--shard")) {
        int si = 0, sn = 0, used = 0;
        if (sscanf(val, "%d/%d%n", &si, &sn, &used) != 2 || val[used] || sn < 1 ||
            sn > 100000 || si < 1 || si > sn)
            return usage_error("--shard '%s' is not accepted (accepted: I/N with 1 <= I <= N, "
                               "e.g. 1/4)",
                               val);
        o->shard_i = si;
        o->shard_n = sn;
    }
    return 0;
}

int parse_opts(int argc, char **argv, opts *o, int allow_specs)
{
    memset(o, 0, sizeof *o);
    cm_eval_opts_default(&o->ev);
    o->specs = calloc((size_t)argc + 1, sizeof *o->specs);
    o->plugins = calloc((size_t)argc + 1, sizeof *o->plugins);
    if (!o->specs || !o->plugins) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        int takes = !strcmp(a, "--samples") || !strcmp(a, "--seed") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--method") || !strcmp(a, "--law") || !strcmp(a, "--plugin") ||
                    !strcmp(a, "--by") || !strcmp(a, "-o") || !strcmp(a, "--shard") ||
                    !strcmp(a, "--color-by") || !strcmp(a, "--marker-by") || !strcmp(a, "--x") ||
                    !strcmp(a, "--params") || !strcmp(a, "--tokens") ||
                    !strcmp(a, "--memory") || !strcmp(a, "--tensors") ||
                    !strcmp(a, "--dist") || !strcmp(a, "--sigma") || !strcmp(a, "--data") ||
                    !strcmp(a, "--tensor") || !strcmp(a, "--dtype") || !strcmp(a, "--codes") ||
                    !strcmp(a, "--ci") || !strcmp(a, "--vs");
        if (a[0] == '-') {
            int rc = check_opt(a);
            if (rc)
                return rc;
        }
        if (takes) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", a);
            val = argv[++i];
        }
        if (takes) {
            int rc = set_valued(o, a, val);
            if (rc)
                return rc;
        } else if (!strcmp(a, "--resume")) {
            o->resume = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--skip-invalid")) {
            o->skip_invalid = 1;
        } else if (!strcmp(a, "--progress")) {
            o->progress = 1;
        } else if (!strcmp(a, "--default")) {
            o->use_default = 1;
        } else if (!strcmp(a, "--pad")) {
            o->pad = 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--csv")) {
            o->csv = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage_error("unknown option '%s' (accepted: --samples, --seed, --threads, "
                               "--method, --law, --plugin, --by, --dist, --sigma, --data, "
                               "--tensor, --pad, --json, --csv, --quiet, --progress, --help; quantize: "
                               "--dtype, --codes; "
                               "grid: -o, --resume, --force, --skip-invalid, --shard, --default, --color-by, "
                               "--marker-by, --x; predict: "
                               "--params, --tokens, --memory, --tensors)",
                               a);
        } else if (allow_specs) {
            o->specs[o->nspecs++] = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (o->json && o->csv)
        return usage_error("%s", "--json and --csv exclude each other");
    /* commands whose work (training, Monte Carlo) can run long show progress;
     * grid shows its own per point */
    if (!o->help && (!strcmp(cli_cmd, "eval") || !strcmp(cli_cmd, "rank") ||
                     !strcmp(cli_cmd, "predict") || !strcmp(cli_cmd, "fit") ||
                     !strcmp(cli_cmd, "validate") || !strcmp(cli_cmd, "quantize")))
        cli_progress_start(o);
    return 0;
}

void opts_fini(opts *o)
{
    cm_law_free(o->law_owned);
    o->law_owned = NULL;
    free(o->specs);
    free(o->plugins);
}

/* Plugins from every directory of a ':'-separated list (missing directories
 * are skipped). */
static int load_plugin_dirs(cm_registry *reg, const char *dirs)
{
    char *copy = strdup(dirs);
    if (!copy)
        return EXIT_RUNTIME;
    int rc = 0;
    cm_diag d;
    cm_diag_clear(&d);
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !rc;
         dir = strtok_r(NULL, ":", &save)) {
        DIR *dh = opendir(dir);
        if (!dh)
            continue;
        struct dirent *e;
        while (!rc && (e = readdir(dh))) {
            size_t l = strlen(e->d_name);
            if (l < 4 || strcmp(e->d_name + l - 3, ".so"))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cm_status s = cm_registry_load_plugin(reg, path, &d);
            if (s)
                rc = report(s, &d, NULL, NULL);
        }
        closedir(dh);
    }
    free(copy);
    return rc;
}

/* Registry with built-ins, --plugin files, $CAPMETRIC_PLUGIN_PATH and the
 * installed plugin directory. On failure *reg is NULL and nothing leaks. */
int load_registry(const opts *o, cm_registry **reg)
{
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_registry_alloc(reg, &d);
    if (s)
        return report(s, &d, "registry", NULL);
    int rc = 0;
    for (size_t i = 0; i < o->nplugins && !rc; i++) {
        s = cm_registry_load_plugin(*reg, o->plugins[i], &d);
        if (s)
            rc = report(s, &d, NULL, NULL);
    }
    const char *env = getenv("CAPMETRIC_PLUGIN_PATH");
    if (!rc && env && *env)
        rc = load_plugin_dirs(*reg, env);
    static const char plugindir[] = CM_PLUGINDIR; /* empty: no installed plugin folder */
    if (!rc && plugindir[0])
        rc = load_plugin_dirs(*reg, plugindir);
    if (rc) {
        cm_registry_free(*reg);
        *reg = NULL;
    }
    return rc;
}

int parse_specs(const cm_registry *reg, const char *const *specs, size_t n,
                       cm_pipeline ***out)
{
    cm_pipeline **p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return EXIT_RUNTIME;
    for (size_t i = 0; i < n; i++) {
        cm_diag d;
        cm_diag_clear(&d);
        cm_status s = cm_spec_parse(reg, specs[i], &p[i], &d);
        if (s) {
            char what[64];
            snprintf(what, sizeof what, "spec %zu", i + 1);
            int rc = report(s, &d, what, specs[i]);
            for (size_t j = 0; j < i; j++)
                cm_pipeline_free(p[j]);
            free(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

void free_specs(cm_pipeline **p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        cm_pipeline_free(p[i]);
    free(p);
}

/* ---- command-specific options ------------------------------------------------------ */

/* Pull the options in `defs` out of argv; the rest (in order) go to `rest`.
 * Repeatable options keep every value. Returns 0 or an exit code. */
int pull_opts(int argc, char **argv, optdef *defs, size_t nd, char **rest, int *nrest)
{
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        optdef *hit = NULL;
        for (size_t k = 0; k < nd; k++)
            if (!strcmp(argv[i], defs[k].name))
                hit = &defs[k];
        if (!hit) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        const char *v = "1";
        if (hit->has_val) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", hit->name);
            v = argv[++i];
        }
        if (hit->n >= OPT_MAXVAL)
            return usage_error("option '%s' given too often", hit->name);
        if (hit->n && !hit->repeat)
            return usage_error("option '%s' given twice", hit->name);
        hit->val[hit->n++] = v;
    }
    return 0;
}

const char *opt_get(const optdef *defs, size_t nd, const char *name)
{
    for (size_t k = 0; k < nd; k++)
        if (!strcmp(defs[k].name, name))
            return defs[k].n ? defs[k].val[0] : NULL;
    return NULL;
}
