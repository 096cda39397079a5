/* The fit's text output, the CLI's spelling of run-table errors, and where
 * the shipped run tables are. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runs_int.h"

int runs_report(const runs_err *e)
{
    if (e->usage)
        return usage_error("%s", e->d.msg);
    return report(e->st, &e->d, NULL, e->text[0] ? e->text : NULL);
}

int cli_fit_preset(const char *name, cm_fit_opts *o)
{
    cm_diag d;
    cm_diag_clear(&d);
    return fit_preset(name, o, &d) ? usage_error("--%s", d.msg) : 0;
}

int cli_parse_huber(const char *v, cm_fit_opts *o)
{
    cm_diag d;
    cm_diag_clear(&d);
    return parse_huber(v, o, &d) ? usage_error("--%s", d.msg) : 0;
}

void fit_print(const cm_fit_result *f, const cm_fit_opts *o, const char *loss_what)
{
    const char *head[] = {"parameter", "value", "SE", "bootstrap 95%", "note"};
    const int right[] = {0, 1, 1, 1, 0};
    cli_table t;
    if (cli_table_init(&t, 5, head, right))
        return;
    for (size_t k = 0; k < f->np; k++) {
        const cm_fit_param *p = &f->p[k];
        char v[32], se[32], ci[80];
        fmt_g(v, sizeof v, p->value, 6);
        if (isfinite(p->se))
            fmt_g(se, sizeof se, p->se, 2);
        else
            snprintf(se, sizeof se, "inf");
        if (isfinite(p->lo)) {
            char a[32], b[32];
            fmt_g(a, sizeof a, p->lo, 4);
            fmt_g(b, sizeof b, p->hi, 4);
            snprintf(ci, sizeof ci, "[%s, %s]", a, b);
        } else {
            snprintf(ci, sizeof ci, "-");
        }
        const char *cells[] = {p->name, v, se, ci,
                               p->determined ? "" : "NOT DETERMINED by these data"};
        cli_table_row(&t, cells);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    char dl[32];
    fmt_g(dl, sizeof dl, o->huber, 3);
    printf("\n%zu points; Huber delta %s on %s residuals%s; cost %.7g; RMSE %.4g, mean |r| %.4g\n",
           f->n, isinf(o->huber) ? "inf (least squares)" : dl, loss_what,
           o->rscale != 1 ? " (scaled)" : "", f->cost, f->rmse, f->mae);
    printf("%zu starts, %zu converged, %zu reached the best cost; %.2f s\n", f->starts,
           f->converged, f->at_best, f->seconds);
    int und = 0;
    for (size_t k = 0; k < f->np; k++)
        und += !f->p[k].determined;
    if (und) {
        printf("not determined (SE larger than the value, or the bootstrap spreads over more "
               "than 10x):");
        for (size_t k = 0; k < f->np; k++)
            if (!f->p[k].determined)
                printf(" %s", f->p[k].name);
        printf("\n");
    }
}

#ifndef CM_DATADIR

#define CM_DATADIR ""

#endif

const char *runs_dir(void)
{
    return access("data/runs", F_OK) ? CM_DATADIR "/runs" : "data/runs";
}
