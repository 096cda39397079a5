/* capmetric fit: fit a law's constants to training runs. */
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
#include "runs_int.h"

/* The fit's settings from its own options: preset, Huber delta, residual
 * scale, bootstrap, starts, fixed base law (into fixed[6]). */
static int fit_settings(const optdef *defs, size_t nd, cm_fit_mode mode, cm_fit_opts *fo,
                        double *fixed)
{
    int rc = 0;
    const char *v = opt_get(defs, nd, "--preset");
    if (v && (rc = cli_fit_preset(v, fo)))
        return rc;
    if ((rc = cli_parse_huber(opt_get(defs, nd, "--huber"), fo)))
        return rc;
    if ((v = opt_get(defs, nd, "--residual-scale"))) {
        double x;
        if (parse_amount(v, &x)) {
            rc = usage_error("--residual-scale '%s' is not accepted (a positive number, e.g. "
                             "1e-3)", v);
            return rc;
        }
        fo->rscale = x;
    }
    if ((v = opt_get(defs, nd, "--bootstrap"))) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || k < 0 || k > 100000) {
            rc = usage_error("--bootstrap '%s' is not accepted (0 to 100000 replicates)", v);
            return rc;
        }
        fo->bootstrap = (unsigned)k;
    }
    if ((v = opt_get(defs, nd, "--starts"))) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || k < 1) {
            rc = usage_error("--starts '%s' is not accepted (a positive whole number: use the "
                             "first K points of the start grid)", v);
            return rc;
        }
        fo->max_starts = (size_t)k;
    }
    if ((v = opt_get(defs, nd, "--fixed"))) {
        int used = 0;
        if (mode != CM_FIT_QUARTET ||
            sscanf(v, "%lf,%lf,%lf,%lf,%lf,%lf%n", &fixed[0], &fixed[1], &fixed[2], &fixed[3],
                   &fixed[4], &fixed[5], &used) != 6 || v[used] || !(fixed[0] > 0) ||
            !(fixed[2] > 0) || !(fixed[4] > 0) || !(fixed[5] > 0)) {
            rc = usage_error("--fixed '%s' is not accepted (quartet mode only: A,alpha,B,beta,E,"
                             "gamma with A, B, E, gamma > 0)", v);
            return rc;
        }
        fo->fixed = fixed;
    }
    return 0;
}

/* Which columns hold what: the --label, --n, ... options. */
static runcols fit_columns(const optdef *defs, size_t nd)
{
    runcols c = {0};
    c.label = opt_get(defs, nd, "--label");
    c.label2 = opt_get(defs, nd, "--label2");
    c.N = opt_get(defs, nd, "--n");
    c.D = opt_get(defs, nd, "--d");
    c.loss = opt_get(defs, nd, "--loss");
    c.rho = opt_get(defs, nd, "--rho");
    c.gmse = opt_get(defs, nd, "--gmse");
    c.spec = opt_get(defs, nd, "--spec");
    c.specs_file = opt_get(defs, nd, "--specs");
    c.baseline = opt_get(defs, nd, "--baseline");
    c.family = opt_get(defs, nd, "--family");
    for (size_t k = 0; k < nd; k++)
        if (!strcmp(defs[k].name, "--where")) {
            c.where = defs[k].val;
            c.nwhere = defs[k].n;
        }
    return c;
}

/* The fit's form: --mode, or the form of --law NAME (DESIGN's spelling). */
static int fit_mode(const optdef *defs, size_t nd, const cm_law *law, cm_fit_mode *out)
{
    cm_diag d;
    cm_diag_clear(&d);
    int rc = 0;
    cm_fit_mode mode = CM_FIT_DECOUPLED;
    const char *mv = opt_get(defs, nd, "--mode");
    if (mv && cm_fit_mode_parse(mv, &mode, &d)) {
        rc = usage_error("--mode: %s", d.msg);
        return rc;
    }
    if (law) { /* DESIGN's `fit FILE --law NAME`: the form of that law */
        const char *ln = cm_law_name(law);
        cm_fit_mode lm = !strncmp(ln, "unified", 7) ? CM_FIT_UNIFIED
                         : !strncmp(ln, "quest", 5) ? CM_FIT_DECOUPLED
                         : !strcmp(ln, "quartet")   ? CM_FIT_QUARTET
                                                    : (cm_fit_mode)-1;
        if ((int)lm < 0 || (mv && lm != mode)) {
            rc = usage_error("fit --law '%s': fit refits the forms of unified-* (--mode unified), "
                             "quest (--mode decoupled) and quartet (--mode quartet); kumar, "
                             "chen-qat and capybara are used with their published constants",
                             ln);
            return rc;
        }
        mode = lm;
    }
    *out = mode;
    return 0;
}

int cmd_fit(int argc, char **argv)
{
    optdef defs[] = {{"--mode", 1, 0, 0, {0}},      {"--label", 1, 0, 0, {0}},
                     {"--label2", 1, 0, 0, {0}},    {"--n", 1, 0, 0, {0}},
                     {"--d", 1, 0, 0, {0}},         {"--loss", 1, 0, 0, {0}},
                     {"--rho", 1, 0, 0, {0}},       {"--gmse", 1, 0, 0, {0}},
                     {"--spec", 1, 0, 0, {0}},      {"--specs", 1, 0, 0, {0}},
                     {"--baseline", 1, 0, 0, {0}},  {"--family", 1, 0, 0, {0}},
                     {"--where", 1, 1, 0, {0}},     {"--huber", 1, 0, 0, {0}},
                     {"--residual-scale", 1, 0, 0, {0}}, {"--bootstrap", 1, 0, 0, {0}},
                     {"--starts", 1, 0, 0, {0}},    {"--fixed", 1, 0, 0, {0}},
                     {"--save", 1, 0, 0, {0}},      {"--name", 1, 0, 0, {0}},
                     {"--preset", 1, 0, 0, {0}}};
    size_t nd = sizeof defs / sizeof *defs;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    opts o;
    memset(&o, 0, sizeof o);
    cm_registry *reg = NULL;
    runs rr;
    memset(&rr, 0, sizeof rr);
    cm_fit_result fr;
    memset(&fr, 0, sizeof fr);
    int rc = rest ? pull_opts(argc, argv, defs, nd, rest, &nrest) : EXIT_RUNTIME;
    if (rc || (rc = parse_opts(nrest, rest, &o, 1)) || (rc = load_registry(&o, &reg)))
        goto out;
    if (o.nspecs != 1) {
        rc = usage_error("%s", "fit needs exactly one FILE.csv (one row per training run)");
        goto out;
    }
    const char *path = o.specs[0];
    cm_fit_mode mode = CM_FIT_DECOUPLED;
    cm_diag d;
    cm_diag_clear(&d);
    if ((rc = fit_mode(defs, nd, o.ev.law, &mode)))
        goto out;
    cm_fit_opts fo;
    cm_fit_opts_default(&fo);
    fo.threads = o.ev.threads;
    fo.seed = o.ev.seed;
    double fixed[6];
    if ((rc = fit_settings(defs, nd, mode, &fo, fixed)))
        goto out;
    runcols c = fit_columns(defs, nd);
    runs_err re;
    if (runs_load(path, &c, mode, reg, &o.ev, &rr, &re)) {
        rc = runs_report(&re);
        goto out;
    }
    cm_fit_data fd;
    runs_data(&rr, &fd);
    cm_status s = cm_fit(mode, &fd, &fo, &fr, &d);
    if (s) {
        rc = report(s, &d, path, NULL);
        goto out;
    }
    const char *save = opt_get(defs, nd, "--save"), *name = opt_get(defs, nd, "--name");
    cJSON *doc = fit_doc(&fr, &fo, &rr, path, name ? name : save ? save : "fitted");
    if (save) {
        char *txt = doc ? cJSON_Print(cJSON_GetObjectItemCaseSensitive(doc, "law")) : NULL;
        rc = txt ? write_atomic(save, txt) : EXIT_RUNTIME;
        free(txt);
    }
    if (!rc && o.json) {
        char *txt = cJSON_Print(doc);
        if (txt)
            printf("%s\n", txt);
        free(txt);
    }
    cJSON_Delete(doc);
    if (rc || o.json)
        goto out;
    printf("%s fit of %s: %zu runs, %zu formats%s\n\n", cm_fit_mode_name(mode), path, rr.n, rr.ng,
           rr.ng2 ? " (forward) and backward groups" : "");
    fit_print(&fr, &fo, mode == CM_FIT_MAP ? "rho" : "log-loss");
    if (save)
        printf("law saved to %s (use it with --law file:%s)\n", save, save);
out:
    cm_fit_result_free(&fr);
    runs_free(&rr);
    cm_registry_free(reg);
    opts_fini(&o);
    free(rest);
    return rc;
}
