/* capmetric predict: rho, N_eff, predicted loss and iso-memory comparisons. */
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
#include "predict_int.h"

int cmd_predict(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    pred *pv = NULL;
    size_t n = o.nspecs;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    if (n < 1 || o.params == 0 || o.tokens == 0) {
        rc = usage_error("%s", "predict needs at least one SPEC, --params N and --tokens D "
                               "(e.g. capmetric predict int4 mxfp4 --params 1e9 --tokens 2e10)");
        goto out;
    }
    if (o.vs) { /* the reference format is evaluated with the others, last */
        o.specs[n++] = o.vs;
    }
    if ((rc = parse_specs(reg, o.specs, n, &p)))
        goto out;
    const cm_law *ls[64];
    size_t nl = 0, np = 0;
    res = calloc(n, sizeof *res);
    if (!res) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    cm_eval_opts ev = o.ev;
    if (ev.law && !cm_law_has_map(ev.law))
        ev.law = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_eval(p, n, &ev, res, NULL, NULL, &d);
    if (s) {
        rc = report(s, &d, "predict", NULL);
        goto out;
    }
    const pred_ask ask = {o.params, o.tokens, o.memory, o.tensors, o.ci, o.vs ? (long)n - 1 : -1};
    if ((s = predict_all(&ask, o.ev.law, p, res, n, ls, &nl, &pv, &np, &d))) {
        fprintf(stderr, "%s: error: %s\n", prog, d.msg);
        rc = exit_code_for(s);
        goto out;
    }
    rc = print_preds(&ask, o.json, pv, np, res, n, ls, nl);
out:
    free(pv);
    free(res);
    free_specs(p, n);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}
