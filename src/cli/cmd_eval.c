/* capmetric eval: GMSE, bits, eff_bits, rho, rho_per_bit per spec. */
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
#include "tensors.h"

/* ---- eval ---------------------------------------------------------------------- */

static const char *const default_specs[] = {
    "int2", "int3", "int4", "int8", "ternary", "e2m1", "e2m3", "e3m2", "e4m3", "e5m2",
    "lut:name=nf4", "lut:name=af4", "mxfp4", "nvfp4", "nf4", "int4_g128", "mxfp8_e4m3",
    "2:4+int4", "lloydmax:levels=4", "lloydmax:levels=16",
};

int cmd_eval(int argc, char **argv)
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
    if (o.data) {
        rc = eval_data(&o, p, n);
        goto out;
    }
    if (o.tensor_re || o.pad) {
        rc = usage_error("%s", "--tensor and --pad go with --data FILE");
        goto out;
    }
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
    print_warnings(res, n);
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
                   "; se = standard error (0 = exact)%s\n",
                   cm_law_name(cm_eval_law(&o.ev)), o.ev.samples, o.ev.seed,
                   data_note(&o.ev.dist));
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
