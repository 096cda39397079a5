/* capmetric — the command-line program. Uses the public API only; it is the
 * one place that prints and chooses exit codes:
 *   0 success, 1 runtime failure, 2 bad usage or bad input. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "runs.h"

#ifndef CM_PLUGINDIR
#define CM_PLUGINDIR ""
#endif


const char *prog = "capmetric";

int exit_code_for(cm_status s)
{
    switch (s) {
    case CM_OK: return 0;
    case CM_ENOMEM:
    case CM_ENUMERIC: return EXIT_RUNTIME;
    default: return EXIT_USAGE;
    }
}

int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see '%s help')\n", prog);
    return EXIT_USAGE;
}

/* Print a diagnostic; with `text` show the text and a caret under diag->pos. */
int report(cm_status s, const cm_diag *d, const char *what, const char *text)
{
    fprintf(stderr, "%s: error: %s%s%s\n", prog, what ? what : "", what ? ": " : "",
            d->msg[0] ? d->msg : cm_strerror(s));
    if (text && d->pos >= 0 && (size_t)d->pos <= strlen(text)) {
        fprintf(stderr, "    %s\n    %*s^", text, (int)d->pos, "");
        for (long i = 1; i < d->len; i++)
            fputc('~', stderr);
        fputc('\n', stderr);
    }
    return exit_code_for(s);
}

/* ---- options -------------------------------------------------------------- */


/* Integers: digits, or 2^K, or an integral decimal like 1e7. */
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
    if (*end || errno || !(x >= 0) || x > 1.8e19 || x != floor(x))
        return -1;
    *out = (uint64_t)x;
    return 0;
}

/* A positive amount: a number with an optional k, M, B (or G), T suffix. */
int parse_amount(const char *s, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno)
        return -1;
    double mul = 1;
    if (*end) {
        if (end[1])
            return -1;
        switch (*end) {
        case 'k': case 'K': mul = 1e3; break;
        case 'M': mul = 1e6; break;
        case 'B': case 'G': mul = 1e9; break;
        case 'T': mul = 1e12; break;
        default: return -1;
        }
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
    {"formats", " --plugin --json --quiet --help "},
    {"laws", " --json --quiet --help "},
    {"eval", " --samples --seed --threads --method --law --plugin --json --csv --quiet --help "},
    {"rank", " --samples --seed --threads --method --law --plugin --json --csv --quiet --help --by "
             "--params --tokens --memory --tensors "},
    {"bench", " --samples --seed --threads --method --plugin --json --quiet --help "},
    {"predict", " --samples --seed --threads --method --law --plugin --json --quiet --help "
                "--params --tokens --memory --tensors "},
    {"fit", " --samples --seed --threads --method --law --plugin --json --quiet --help "},
    {"validate", " --samples --seed --threads --method --plugin --json --quiet --help "},
};

/* Every option some command takes; others are unknown (and said so later). */
static const char all_opts[] = " --samples --seed --threads --method --law --plugin --json --csv "
                               "--quiet --help --by --params --tokens --memory --tensors -o "
                               "--resume --force --default --shard ";

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
                    !strcmp(a, "--params") || !strcmp(a, "--tokens") ||
                    !strcmp(a, "--memory") || !strcmp(a, "--tensors");
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
        cm_diag d;
        cm_diag_clear(&d);
        uint64_t u;
        if (!strcmp(a, "--samples")) {
            if (parse_count(val, &u) || u < CM_MC_MIN_SAMPLES || u > CM_MC_MAX_SAMPLES)
                return usage_error("--samples '%s' is not accepted (accepted: a whole number "
                                   "from 2 to 2^40, e.g. 16777216, 2^24 or 1e6)",
                                   val);
            o->ev.samples = u;
            o->samples_given = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_count(val, &u))
                return usage_error("--seed '%s' is not accepted (accepted: a whole number from "
                                   "0 to 2^64-1)",
                                   val);
            o->ev.seed = u;
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
        } else if (!strcmp(a, "--tensors")) {
            if (cm_tensors_parse(val, &o->tensors, &d))
                return usage_error("--tensors: %s", d.msg);
        } else if (!strcmp(a, "--plugin")) {
            o->plugins[o->nplugins++] = val;
        } else if (!strcmp(a, "--by")) {
            if (strcmp(val, "rho_per_bit") && strcmp(val, "gmse") && strcmp(val, "rho") &&
                strcmp(val, "bits") && strcmp(val, "loss"))
                return usage_error("--by '%s' is not accepted (accepted: rho_per_bit, gmse, rho, "
                                   "bits, loss)",
                                   val);
            o->by = val;
        } else if (!strcmp(a, "-o")) {
            o->out_dir = val;
        } else if (!strcmp(a, "--shard")) {
            int si = 0, sn = 0, used = 0;
            if (sscanf(val, "%d/%d%n", &si, &sn, &used) != 2 || val[used] || sn < 1 ||
                sn > 100000 || si < 1 || si > sn)
                return usage_error("--shard '%s' is not accepted (accepted: I/N with 1 <= I <= N, "
                                   "e.g. 1/4)",
                                   val);
            o->shard_i = si;
            o->shard_n = sn;
        } else if (!strcmp(a, "--resume")) {
            o->resume = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--default")) {
            o->use_default = 1;
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
                               "--method, --law, --plugin, --by, --json, --csv, --quiet, --help; "
                               "grid: -o, --resume, --force, --shard, --default; predict: "
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
    if (!rc && *CM_PLUGINDIR)
        rc = load_plugin_dirs(*reg, CM_PLUGINDIR);
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

/* ---- formats ---------------------------------------------------------------- */

static const char *type_name(cm_param_type t)
{
    switch (t) {
    case CM_PARAM_INT: return "int";
    case CM_PARAM_REAL: return "real";
    case CM_PARAM_ENUM: return "enum";
    case CM_PARAM_STRING: return "string";
    case CM_PARAM_LIST: return "list";
    }
    return "?";
}

static cJSON *param_json(const cm_param *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", p->key);
    cJSON_AddStringToObject(o, "type", type_name(p->type));
    if (p->def)
        cJSON_AddStringToObject(o, "default", p->def);
    else
        cJSON_AddNullToObject(o, "default");
    cJSON_AddStringToObject(o, "doc", p->doc);
    if (p->choices)
        cJSON_AddStringToObject(o, "choices", p->choices);
    if (p->type == CM_PARAM_INT || p->type == CM_PARAM_REAL || p->type == CM_PARAM_LIST) {
        cJSON_AddNumberToObject(o, "min", p->min);
        cJSON_AddNumberToObject(o, "max", p->max);
    }
    return o;
}

static int cmd_formats(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 0);
    cm_registry *reg = NULL;
    if (rc || (rc = load_registry(&o, &reg))) {
        opts_fini(&o);
        return rc;
    }
    size_t ng;
    const cm_param *g = cm_registry_generic_params(&ng);
    if (o.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *fams = cJSON_AddArrayToObject(root, "families");
        for (size_t i = 0; i < cm_registry_count(reg); i++) {
            const char *origin;
            const cm_format *f = cm_registry_get(reg, i, &origin);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(fams, e);
            cJSON_AddStringToObject(e, "name", f->name);
            cJSON_AddStringToObject(e, "summary", f->summary);
            cJSON_AddStringToObject(e, "origin", origin);
            cJSON_AddBoolToObject(e, "scalar", (f->flags & CM_FORMAT_SCALAR) != 0);
            cJSON_AddBoolToObject(e, "exact", f->levels != NULL || f->exact_mse != NULL);
            cJSON_AddBoolToObject(e, "codec", f->encode != NULL && f->decode != NULL);
            cJSON *ps = cJSON_AddArrayToObject(e, "params");
            for (size_t k = 0; k < f->n_params; k++)
                cJSON_AddItemToArray(ps, param_json(&f->params[k]));
            if (f->flags & CM_FORMAT_SCALAR)
                for (size_t k = 0; k < ng; k++)
                    cJSON_AddItemToArray(ps, param_json(&g[k]));
        }
        cJSON *al = cJSON_AddArrayToObject(root, "aliases");
        for (size_t i = 0; i < cm_registry_alias_count(reg); i++) {
            const cm_format *owner;
            const cm_alias *a = cm_registry_alias_get(reg, i, &owner);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(al, e);
            cJSON_AddStringToObject(e, "name", a->name);
            cJSON_AddStringToObject(e, "spec", a->spec);
            cJSON_AddStringToObject(e, "family", owner->name);
        }
        char *s = cJSON_Print(root);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(root);
        rc = s ? 0 : EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < cm_registry_count(reg); i++) {
            const char *origin;
            const cm_format *f = cm_registry_get(reg, i, &origin);
            if (strcmp(origin, "built-in"))
                printf("%s — %s  [from %s]\n", f->name, f->summary, origin);
            else
                printf("%s — %s\n", f->name, f->summary);
            size_t tot = f->n_params + ((f->flags & CM_FORMAT_SCALAR) ? ng : 0);
            for (size_t k = 0; k < tot; k++) {
                const cm_param *p = k < f->n_params ? &f->params[k] : &g[k - f->n_params];
                char range[96] = "";
                if (p->type == CM_PARAM_INT || p->type == CM_PARAM_LIST)
                    snprintf(range, sizeof range, " %.0f..%.0f%s", p->min, p->max,
                             p->type == CM_PARAM_LIST ? " items" : "");
                else if (p->type == CM_PARAM_ENUM)
                    snprintf(range, sizeof range, " %s", p->choices);
                else if (p->type == CM_PARAM_REAL)
                    snprintf(range, sizeof range, " %s%s%g..%g", p->choices ? p->choices : "",
                             p->choices ? "|" : "", p->min, p->max);
                printf("    %-11s %-6s%-28s default %-8s %s\n", p->key, type_name(p->type), range,
                       p->def ? p->def : "-", p->doc);
            }
            int any = 0;
            for (size_t a = 0; a < cm_registry_alias_count(reg); a++) {
                const cm_format *owner;
                const cm_alias *al = cm_registry_alias_get(reg, a, &owner);
                if (owner != f)
                    continue;
                printf("%s%s = %s", any ? ", " : "    aliases: ", al->name, al->spec);
                any = 1;
            }
            printf("%s\n", any ? "\n" : "");
        }
    }
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

/* ---- eval ---------------------------------------------------------------------- */

static const char *const default_specs[] = {
    "int2", "int3", "int4", "int8", "ternary", "e2m1", "e2m3", "e3m2", "e4m3", "e5m2",
    "lut:name=nf4", "lut:name=af4", "mxfp4", "nvfp4", "nf4", "int4_g128", "mxfp8_e4m3",
    "2:4+int4", "lloydmax:levels=4", "lloydmax:levels=16",
};

void fmt_g(char *b, size_t n, double x, int prec)
{
    if (isnan(x))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.*g", prec, x);
}

void print_results(const cm_result *r, size_t n)
{
    static const char *const head[] = {"spec", "bits", "method", "gmse", "se", "scale",
                                       "eff_bits", "rho", "rho/bit", "D(R) gap dB", "seconds"};
    static const int right[] = {0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    int comp = 0;
    for (size_t i = 0; i < n; i++)
        comp |= !isnan(r[i].rho_product);
    cli_table t;
    if (cli_table_init(&t, 11, head, right))
        return;
    for (size_t i = 0; i < n; i++) {
        char c[9][40];
        fmt_g(c[0], 40, r[i].bits, 5);
        fmt_g(c[1], 40, r[i].gmse, r[i].method == CM_METHOD_EXACT ? 10 : 6);
        fmt_g(c[2], 40, r[i].gmse_se, 2);
        fmt_g(c[3], 40, r[i].scale, 7);
        snprintf(c[4], 40, "%.4f", r[i].eff_bits);
        snprintf(c[5], 40, "%.4f", r[i].rho);
        snprintf(c[6], 40, "%.4f", r[i].rho_per_bit);
        snprintf(c[7], 40, "%.3f", r[i].seconds);
        snprintf(c[8], 40, "%.2f", r[i].gap_db);
        const char *row[] = {r[i].input, c[0], cm_method_name(r[i].method), c[1],
                             r[i].method == CM_METHOD_EXACT ? "0" : c[2], c[3], c[4], c[5], c[6],
                             c[8], c[7]};
        cli_table_row(&t, row);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    if (comp) {
        printf("\ncompositions: rho(A+B) beside rho(A) * rho(B) (each stage alone):\n");
        for (size_t i = 0; i < n; i++)
            if (!isnan(r[i].rho_product))
                printf("  %-40s rho %.4f   product %.4f\n", r[i].input, r[i].rho,
                       r[i].rho_product);
    }
}

static int cmd_eval(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    const char *const *specs = o.specs;
    size_t n = o.nspecs;
    if (n == 0) {
        specs = default_specs;
        n = sizeof default_specs / sizeof default_specs[0];
    }
    if ((rc = parse_specs(reg, specs, n, &p)))
        goto out;
    res = calloc(n, sizeof *res);
    if (!res) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_eval(p, n, &o.ev, res, NULL, NULL, &d);
    if (s) {
        rc = report(s, &d, "eval", NULL);
        goto out;
    }
    char *text = NULL;
    if (o.json)
        s = cm_report_json(res, n, &o.ev, &text, &d);
    else if (o.csv)
        s = cm_report_csv(res, n, &text, &d);
    if (s) {
        rc = report(s, &d, "output", NULL);
        goto out;
    }
    if (text) {
        fputs(text, stdout);
        if (o.json)
            fputc('\n', stdout);
        free(text);
    } else {
        print_results(res, n);
        if (!o.quiet)
            printf("\nlaw %s; Monte Carlo: %" PRIu64 " samples, seed %" PRIu64
                   "; se = standard error (0 = exact)\n",
                   o.ev.law ? cm_law_name(o.ev.law) : "unified-llama-c4", o.ev.samples,
                   o.ev.seed);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: error: cannot write to standard output: %s\n", prog,
                strerror(errno));
        rc = EXIT_RUNTIME;
    }
out:
    free(res);
    free_specs(p, o.nspecs ? o.nspecs : sizeof default_specs / sizeof default_specs[0]);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

/* ---- bench ---------------------------------------------------------------------- */

static const char *const bench_mc_default[] = {"int4", "e2m1", "lut:name=nf4", "mxfp4",
                                                "nvfp4"};
static const char *const bench_exact_default[] = {
    "int4", "e2m1", "lut:name=nf4", "int:bits=8", "lloydmax:levels=256", "int:bits=16",
    "lloydmax:levels=65536", "fp16", "bf16", "mxfp4", "nvfp4", "mxfp8_e4m3", "mxint8",
    "int4_g128", "nf4"};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    size_t np = 0;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    const char *const *specs = o.nspecs ? o.specs : bench_mc_default;
    np = o.nspecs ? o.nspecs : sizeof bench_mc_default / sizeof bench_mc_default[0];
    if ((rc = parse_specs(reg, specs, np, &p)))
        goto out;
    uint64_t S = o.samples_given ? o.ev.samples : (UINT64_C(1) << 26);
    unsigned T = o.ev.threads ? o.ev.threads : cm_default_threads();
    cm_diag d;
    cm_diag_clear(&d);
    cJSON *root = cJSON_CreateObject(), *mcj = cJSON_AddArrayToObject(root, "mc");
    static const char *const head[] = {"spec", "samples", "1 thread (M/s)",
                                       "threads", "all (M/s)", "per thread (M/s)", "speed-up"};
    static const int right[] = {0, 1, 1, 1, 1, 1, 1};
    cli_table t;
    cli_table_init(&t, 7, head, right);
    for (size_t i = 0; i < np; i++) {
        cm_plan *plan = NULL;
        cm_status s = cm_plan_alloc(p[i], &plan, &d);
        if (s) {
            rc = report(s, &d, specs[i], NULL);
            break;
        }
        double rate[2] = {0, 0};
        unsigned th[2] = {1, T};
        for (int k = 0; k < 2; k++) {
            cm_mc_opts mo = {.samples = S, .seed = o.ev.seed, .threads = th[k]};
            cm_mc_run *run = NULL;
            /* warm-up on a small run (tables, page faults), then the timed run */
            cm_mc_opts warm = mo;
            warm.samples = 1u << 20;
            if ((s = cm_mc_run_alloc(&plan, 1, &warm, &run, &d)) == CM_OK) {
                cm_mc_run_free(run);
                s = cm_mc_run_alloc(&plan, 1, &mo, &run, &d);
            }
            if (s) {
                cm_plan_free(plan);
                rc = report(s, &d, specs[i], NULL);
                goto done;
            }
            rate[k] = (double)cm_mc_samples(run) / cm_mc_seconds(run);
            cm_mc_run_free(run);
        }
        cm_plan_free(plan);
        char c[6][32];
        snprintf(c[0], 32, "%" PRIu64, S);
        snprintf(c[1], 32, "%.1f", rate[0] / 1e6);
        snprintf(c[2], 32, "%u", T);
        snprintf(c[3], 32, "%.1f", rate[1] / 1e6);
        snprintf(c[4], 32, "%.1f", rate[1] / 1e6 / T);
        snprintf(c[5], 32, "%.2fx", rate[1] / rate[0]);
        const char *row[] = {specs[i], c[0], c[1], c[2], c[3], c[4], c[5]};
        cli_table_row(&t, row);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(mcj, e);
        cJSON_AddStringToObject(e, "spec", specs[i]);
        cJSON_AddNumberToObject(e, "samples", (double)S);
        cJSON_AddNumberToObject(e, "samples_per_second_1_thread", rate[0]);
        cJSON_AddNumberToObject(e, "threads", T);
        cJSON_AddNumberToObject(e, "samples_per_second_all_threads", rate[1]);
        cJSON_AddNumberToObject(e, "speedup", rate[1] / rate[0]);
    }
    if (!rc && !o.json) {
        printf("Monte Carlo (generation + quantization + accumulation):\n");
        cli_table_print(&t);
    }
    cli_table_fini(&t);
    /* exact path: optimal scale + GMSE from the grid, median of 5 */
    if (!rc && !o.nspecs) {
        static const char *const h2[] = {"spec", "levels", "parse/design (ms)", "exact gmse (ms)",
                                         "gmse"};
        static const int r2[] = {0, 1, 1, 1, 1};
        cli_table_init(&t, 5, h2, r2);
        cJSON *exj = cJSON_AddArrayToObject(root, "exact");
        for (size_t i = 0; i < sizeof bench_exact_default / sizeof *bench_exact_default && !rc;
             i++) {
            const char *sp = bench_exact_default[i];
            double tparse[5], tex[5], mse = NAN;
            size_t k = 0;
            for (int rep = 0; rep < 5 && !rc; rep++) {
                struct timespec a, b, c2;
                cm_pipeline *q = NULL;
                clock_gettime(CLOCK_MONOTONIC, &a);
                cm_status s = cm_spec_parse(reg, sp, &q, &d);
                clock_gettime(CLOCK_MONOTONIC, &b);
                /* the exact path as eval takes it: optimal scale, then GMSE */
                cm_plan *qp = NULL;
                if (!s)
                    s = cm_plan_alloc(q, &qp, &d);
                if (!s)
                    s = cm_exact_gmse(qp, &mse, &d);
                cm_plan_free(qp);
                if (!s) {
                    double *lv = NULL;
                    if (cm_exact_pipeline_levels(q, 0, &lv, &k, &d) != CM_OK)
                        k = 0;
                    free(lv);
                }
                clock_gettime(CLOCK_MONOTONIC, &c2);
                cm_pipeline_free(q);
                if (s) {
                    rc = report(s, &d, sp, NULL);
                    break;
                }
                tparse[rep] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) * 1e-6;
                tex[rep] = (double)(c2.tv_sec - b.tv_sec) * 1e3 + (double)(c2.tv_nsec - b.tv_nsec) * 1e-6;
            }
            if (rc)
                break;
            qsort(tparse, 5, sizeof *tparse, by_double);
            qsort(tex, 5, sizeof *tex, by_double);
            char c[4][32];
            snprintf(c[0], 32, "%zu", k);
            snprintf(c[1], 32, "%.2f", tparse[2]);
            snprintf(c[2], 32, "%.2f", tex[2]);
            snprintf(c[3], 32, "%.10g", mse);
            const char *row[] = {sp, c[0], c[1], c[2], c[3]};
            cli_table_row(&t, row);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(exj, e);
            cJSON_AddStringToObject(e, "spec", sp);
            cJSON_AddNumberToObject(e, "levels", (double)k);
            cJSON_AddNumberToObject(e, "design_ms", tparse[2]);
            cJSON_AddNumberToObject(e, "exact_ms", tex[2]);
            cJSON_AddNumberToObject(e, "gmse", mse);
        }
        if (!rc && !o.json) {
            printf("\nExact path (median of 5 runs):\n");
            cli_table_print(&t);
        }
        cli_table_fini(&t);
        if (!rc)
            rc = bench_fit(root, o.json, o.ev.threads);
    }
    if (!rc && o.json) {
        char *s = cJSON_Print(root);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
    }
done:
    cJSON_Delete(root);
out:
    free_specs(p, np);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

/* ---- rank ------------------------------------------------------------------------ */

typedef struct ranked {
    size_t i;       /* index into the results */
    double key;
} ranked;

static int by_key_desc(const void *a, const void *b)
{
    double x = ((const ranked *)a)->key, y = ((const ranked *)b)->key;
    return (x < y) - (x > y);
}

static int cmd_rank(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    size_t *mci = NULL;
    ranked *rk = NULL;
    cm_mc_run *run = NULL;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    if (o.nspecs < 1) {
        rc = usage_error("%s", "rank needs at least one SPEC");
        goto out;
    }
    if ((rc = parse_specs(reg, o.specs, o.nspecs, &p)))
        goto out;
    size_t n = o.nspecs;
    const cm_law *loss_law = NULL;
    if (o.by && !strcmp(o.by, "loss")) {
        cm_diag ld;
        cm_diag_clear(&ld);
        if (!o.params || !o.tokens) {
            rc = usage_error("%s", "rank --by loss needs --params N and --tokens D");
            goto out;
        }
        loss_law = o.ev.law;
        if (!loss_law && cm_law_find("unified-quest", &loss_law, &ld)) {
            rc = report(CM_ENOTFOUND, &ld, "rank", NULL);
            goto out;
        }
        if (!cm_law_has_map(o.ev.law ? o.ev.law : loss_law))
            o.ev.law = NULL; /* the GMSE pass scores rho with the default map */
    } else if (o.params || o.tokens || o.memory || o.tensors) {
        rc = usage_error("%s", "--params, --tokens, --memory and --tensors go with 'rank --by "
                               "loss' (or 'predict')");
        goto out;
    }
    res = calloc(n, sizeof *res);
    mci = calloc(n, sizeof *mci);
    rk = calloc(n, sizeof *rk);
    if (!res || !mci || !rk) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_eval(p, n, &o.ev, res, &run, mci, &d);
    if (s) {
        rc = report(s, &d, "rank", NULL);
        goto out;
    }
    if (loss_law) {
        rc = rank_by_loss(&o, loss_law, reg, res, n);
        goto out;
    }
    const char *by = o.by ? o.by : "rho_per_bit";
    for (size_t i = 0; i < n; i++) {
        rk[i].i = i;
        rk[i].key = !strcmp(by, "gmse") ? -res[i].gmse
                    : !strcmp(by, "rho") ? res[i].rho
                    : !strcmp(by, "bits") ? -res[i].bits
                                          : res[i].rho_per_bit;
    }
    qsort(rk, n, sizeof *rk, by_key_desc);
    /* Pareto frontier in (bits, gmse): nothing else has both no more bits and
     * no more error, one of them strictly less */
    int *pareto = calloc(n, sizeof *pareto);
    double *dn = calloc(n, sizeof *dn), *dse = calloc(n, sizeof *dse);
    if (!pareto || !dn || !dse) {
        free(pareto);
        free(dn);
        free(dse);
        rc = EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pareto[i] = 1;
        for (size_t j = 0; j < n && pareto[i]; j++)
            if (j != i && res[j].bits <= res[i].bits && res[j].gmse <= res[i].gmse &&
                (res[j].bits < res[i].bits || res[j].gmse < res[i].gmse))
                pareto[i] = 0;
    }
    /* GMSE difference to the next in the ranking, with its standard error:
     * paired on the common samples when both are Monte Carlo */
    for (size_t r = 0; r + 1 < n; r++) {
        size_t a = rk[r].i, b = rk[r + 1].i;
        dn[r] = res[a].gmse - res[b].gmse;
        if (mci[a] != SIZE_MAX && mci[b] != SIZE_MAX)
            cm_mc_diff(run, mci[a], mci[b], &dn[r], &dse[r]);
        else
            dse[r] = hypot(res[a].gmse_se, res[b].gmse_se);
    }
    if (o.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "tool", "capmetric");
        cJSON_AddStringToObject(root, "version", cm_version());
        cJSON_AddNumberToObject(root, "seed", (double)o.ev.seed);
        cJSON_AddNumberToObject(root, "samples", (double)o.ev.samples);
        cJSON_AddStringToObject(root, "law", o.ev.law ? cm_law_name(o.ev.law) : "unified-llama-c4");
        cJSON_AddStringToObject(root, "by", by);
        char *base = NULL;
        cm_result *sorted = calloc(n, sizeof *sorted);
        for (size_t r = 0; sorted && r < n; r++)
            sorted[r] = res[rk[r].i];
        if (sorted && cm_report_json(sorted, n, &o.ev, &base, &d) == CM_OK) {
            cJSON *b = cJSON_Parse(base);
            cJSON *arr = b ? cJSON_DetachItemFromObject(b, "results") : NULL;
            cJSON *e;
            size_t r = 0;
            cJSON_ArrayForEach(e, arr)
            {
                cJSON_AddNumberToObject(e, "rank", (double)(r + 1));
                cJSON_AddBoolToObject(e, "pareto", pareto[rk[r].i]);
                if (r + 1 < n) {
                    cJSON_AddNumberToObject(e, "diff_next", dn[r]);
                    cJSON_AddNumberToObject(e, "diff_next_se", dse[r]);
                } else {
                    cJSON_AddNullToObject(e, "diff_next");
                    cJSON_AddNullToObject(e, "diff_next_se");
                }
                r++;
            }
            if (arr)
                cJSON_AddItemToObject(root, "results", arr);
            cJSON_Delete(b);
        }
        free(base);
        free(sorted);
        char *txt = cJSON_Print(root);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(root);
    } else {
        static const char *const head[] = {"#", "spec", "bits", "method", "gmse", "se", "rho",
                                           "rho/bit", "pareto", "gmse - next", "se", "z"};
        static const int right[] = {1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1};
        cli_table t;
        cli_table_init(&t, 12, head, right);
        for (size_t r = 0; r < n; r++) {
            const cm_result *x = &res[rk[r].i];
            char c[10][40];
            snprintf(c[0], 40, "%zu", r + 1);
            fmt_g(c[1], 40, x->bits, 5);
            fmt_g(c[2], 40, x->gmse, x->method == CM_METHOD_EXACT ? 10 : 6);
            fmt_g(c[3], 40, x->gmse_se, 2);
            snprintf(c[4], 40, "%.4f", x->rho);
            snprintf(c[5], 40, "%.4f", x->rho_per_bit);
            c[6][0] = c[7][0] = c[8][0] = '\0';
            if (r + 1 < n) {
                snprintf(c[6], 40, "%.3g", dn[r]);
                snprintf(c[7], 40, "%.2g", dse[r]);
                if (dse[r] > 0)
                    snprintf(c[8], 40, "%.1f", dn[r] / dse[r]);
                else
                    snprintf(c[8], 40, "exact");
            }
            const char *row[] = {c[0], x->input, c[1], cm_method_name(x->method), c[2],
                                 x->method == CM_METHOD_EXACT ? "0" : c[3], c[4], c[5],
                                 pareto[rk[r].i] ? "*" : "", c[6], c[7], c[8]};
            cli_table_row(&t, row);
        }
        cli_table_print(&t);
        cli_table_fini(&t);
        int comp = 0;
        for (size_t r = 0; r < n; r++)
            comp |= !isnan(res[r].rho_product);
        if (comp) {
            printf("\ncompositions: rho(A+B) beside rho(A) * rho(B) (each stage alone):\n");
            for (size_t r = 0; r < n; r++)
                if (!isnan(res[rk[r].i].rho_product))
                    printf("  %-40s rho %.4f   product %.4f\n", res[rk[r].i].input,
                           res[rk[r].i].rho, res[rk[r].i].rho_product);
        }
        if (!o.quiet)
            printf("\nsorted by %s; pareto = no other format has both fewer bits and lower GMSE;"
                   "\ngmse - next: difference to the next row with its standard error (paired on "
                   "common samples when both are Monte Carlo) and z = difference / se\n",
                   by);
    }
    free(pareto);
    free(dn);
    free(dse);
out:
    cm_mc_run_free(run);
    free(rk);
    free(mci);
    free(res);
    free_specs(p, o.nspecs);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

/* ---- main ------------------------------------------------------------------------- */

static void help(FILE *f)
{
    fprintf(f,
            "capmetric %s — how much model capacity a compressed number format keeps\n\n"
            "usage:\n"
            "  capmetric formats [--json]          families, their keys and defaults, aliases\n"
            "  capmetric eval [SPEC...] [options]  GMSE, bits, eff_bits, rho, rho_per_bit\n"
            "  capmetric rank SPEC... [--by KEY]   the same, sorted (rho_per_bit, gmse, rho, bits),\n"
            "                                      Pareto frontier, paired differences with z-scores\n"
            "  capmetric grid FILE.json|--default [-o DIR] [--resume] [--force] [--shard I/N]\n"
            "                                      sweep a grid; reports and plots in results/NAME/\n"
            "  capmetric merge DIR... -o OUT       shards of one grid into one report\n"
            "  capmetric bench [SPEC...]           Monte-Carlo samples/s and exact-path time\n"
            "  capmetric laws [--json]             the capacity laws, their inputs and sources\n"
            "  capmetric predict SPEC... --params N --tokens D [--law NAME] [--tensors w,a]\n"
            "                                      rho, N_eff, predicted loss, gap, iso-memory\n"
            "  capmetric rank SPEC... --by loss --params N --tokens D [--law NAME]\n"
            "  capmetric fit FILE.csv [--mode decoupled|unified|map|quartet] [--save law.json]\n"
            "                                      fit a law to training runs (see README)\n"
            "  capmetric validate [--data DIR] [-o DIR]  the GMSE -> capacity evidence report\n"
            "  capmetric help | version\n\n"
            "options:\n"
            "  --samples N    Monte-Carlo values per format (default 2^24; 2..2^40)\n"
            "  --seed S       random seed (default 1)\n"
            "  --threads T    worker threads (default: all cores); results do not depend on it\n"
            "  --method M     auto (exact where possible) | exact | mc\n"
            "  --law NAME     unified-llama-c4 (default) | unified-olmo2 | unified-quest |\n"
            "                 file:PATH.json; predict also quest, kumar, chen-qat, capybara, ...\n"
            "  --plugin FILE  load formats from a plugin (repeatable)\n"
            "  --json | --csv output format (default: aligned table)\n"
            "  --quiet        no footer\n\n"
            "SPEC: FAMILY[:KEY=VALUE,...][+SPEC], e.g. int4, fp:e=3,m=2, lut:name=nf4,\n"
            "      lloydmax:levels=16, \"lut:values=-1;0;1\". See 'capmetric formats'.\n"
            "exit codes: 0 ok, 1 runtime failure, 2 bad usage or input\n",
            cm_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    cli_cmd = cmd;
    if (!strcmp(cmd, "formats"))
        return cmd_formats(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "rank"))
        return cmd_rank(argc - 2, argv + 2);
    if (!strcmp(cmd, "grid"))
        return cmd_grid(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge"))
        return cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("capmetric %s\n", cm_version());
        return 0;
    }
    if (!strcmp(cmd, "predict"))
        return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "fit"))
        return cmd_fit(argc - 2, argv + 2);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc - 2, argv + 2);
    if (!strcmp(cmd, "laws"))
        return cmd_laws(argc - 2, argv + 2);
    return usage_error("unknown command '%s' (commands: formats, laws, eval, rank, predict, fit, "
                       "validate, grid, merge, bench, help, version)",
                       cmd);
}
