/* The fit's output: text, JSON, law files, the fitting presets, and where
 * the shipped run tables are. */
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
#include "runs.h"

cJSON *fit_json(const cm_fit_result *f, const cm_fit_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "mode", cm_fit_mode_name(f->mode));
    cJSON_AddNumberToObject(j, "points", (double)f->n);
    cJSON_AddItemToObject(j, "huber_delta", jnum(o->huber));
    cJSON_AddNumberToObject(j, "residual_scale", o->rscale);
    cJSON_AddNumberToObject(j, "starts", (double)f->starts);
    cJSON_AddNumberToObject(j, "converged", (double)f->converged);
    cJSON_AddNumberToObject(j, "starts_at_best", (double)f->at_best);
    cJSON_AddItemToObject(j, "cost", jnum(f->cost));
    cJSON_AddItemToObject(j, "rmse", jnum(f->rmse));
    cJSON_AddItemToObject(j, "mae", jnum(f->mae));
    cJSON_AddNumberToObject(j, "bootstrap", f->boot_done);
    cJSON_AddNumberToObject(j, "seconds", f->seconds);
    cJSON *vals = cJSON_AddObjectToObject(j, "values"); /* name -> value, for lookups */
    for (size_t k = 0; k < f->np; k++)
        cJSON_AddItemToObject(vals, f->p[k].name, jnum(f->p[k].value));
    cJSON *ps = cJSON_AddArrayToObject(j, "params");
    cJSON *und = cJSON_CreateArray();
    for (size_t k = 0; k < f->np; k++) {
        const cm_fit_param *p = &f->p[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", p->name);
        cJSON_AddItemToObject(e, "value", jnum(p->value));
        cJSON_AddItemToObject(e, "se", jnum(p->se));
        cJSON_AddItemToObject(e, "boot_lo", jnum(p->lo));
        cJSON_AddItemToObject(e, "boot_hi", jnum(p->hi));
        cJSON_AddItemToObject(e, "boot_sd", jnum(p->sd));
        cJSON_AddBoolToObject(e, "determined", p->determined);
        cJSON_AddItemToArray(ps, e);
        if (!p->determined)
            cJSON_AddItemToArray(und, cJSON_CreateString(p->name));
    }
    cJSON_AddItemToObject(j, "not_determined", und);
    return j;
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

/* The law file of a fit (cm_law_load reads it). */
cJSON *law_json(const cm_fit_result *f, const runs *r, const char *name, const char *source)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "capmetric_law", 1);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "source", source);
    const char *kind = f->mode == CM_FIT_QUARTET ? "quartet" : cm_fit_mode_name(f->mode);
    cJSON_AddStringToObject(j, "kind", kind);
    size_t k = 0;
    if (f->mode != CM_FIT_MAP) {
        cJSON *c = cJSON_AddObjectToObject(j, "constants");
        static const char *const nm[] = {"A", "alpha", "B", "beta", "E", "gamma"};
        size_t nb = f->mode == CM_FIT_QUARTET ? 6 : 5;
        for (size_t q = 0; q < nb; q++) {
            double v = f->base_fixed ? f->base[q] : f->p[k++].value;
            cJSON_AddNumberToObject(c, nm[q], v);
        }
    }
    if (f->mode == CM_FIT_UNIFIED || f->mode == CM_FIT_MAP) {
        cJSON *fa = cJSON_AddArrayToObject(j, "families");
        for (size_t q = 0; k + 3 <= f->np; q++) {
            cJSON *e = cJSON_CreateObject();
            if (r->nfam)
                cJSON_AddStringToObject(e, "family", r->famlabel[q]);
            cJSON_AddNumberToObject(e, "F", f->p[k].value);
            cJSON_AddNumberToObject(e, "C", f->p[k + 1].value);
            cJSON_AddNumberToObject(e, "L", f->p[k + 2].value);
            cJSON_AddItemToArray(fa, e);
            k += 3;
        }
    } else {
        cJSON *tab = cJSON_AddArrayToObject(j, "table");
        for (size_t g = 0; g < r->ng; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->glabel[g]);
            if (r->gspec[g])
                cJSON_AddStringToObject(e, "spec", r->gspec[g]);
            else
                cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
        for (size_t g = 0; f->mode == CM_FIT_QUARTET && g < r->ng2; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->g2label[g]);
            cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", 1);
            cJSON_AddNumberToObject(e, "effD", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
    }
    return j;
}

/* Published fitting settings by name: the robust loss each paper used. */
int fit_preset(const char *name, cm_fit_opts *o)
{
    if (!strcmp(name, "quest")) { /* SciPy least_squares(loss='huber', f_scale=1) on 1e-3 log r */
        o->huber = 1;
        o->rscale = 1e-3;
    } else if (!strcmp(name, "quartet") || !strcmp(name, "unified")) {
        o->huber = 1e-4; /* Quartet's notebook fit; the Unified paper's delta */
        o->rscale = 1;
    } else if (!strcmp(name, "chinchilla")) {
        o->huber = 1e-3; /* Hoffmann et al. 2022 */
        o->rscale = 1;
    } else {
        return usage_error("--preset '%s' is not accepted (accepted: quest, quartet, unified, "
                           "chinchilla)",
                           name);
    }
    return 0;
}

int parse_huber(const char *v, cm_fit_opts *o)
{
    if (!v)
        return 0;
    if (!strcmp(v, "none") || !strcmp(v, "inf")) {
        o->huber = INFINITY;
        return 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x > 0) || !isfinite(x))
        return usage_error("--huber '%s' is not accepted (accepted: a positive number, e.g. "
                           "1e-3, or none for least squares)",
                           v);
    o->huber = x;
    return 0;
}

#ifndef CM_DATADIR

#define CM_DATADIR ""

#endif

const char *runs_dir(void)
{
    return access("data/runs", F_OK) ? CM_DATADIR "/runs" : "data/runs";
}
