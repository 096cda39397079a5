/* Private (report layer, also compiled into the program): training-run
 * tables and the fit's machine output, shared by fit, validate and the JSON
 * interface. */
#ifndef CM_REPORT_RUNS_INT_H
#define CM_REPORT_RUNS_INT_H

#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>
#include <math.h>

/* Which columns hold what (NULL: the header convention, see README). */
typedef struct runcols {
    const char *label, *label2, *N, *D, *loss, *rho, *gmse, *spec, *specs_file, *baseline,
        *family;
    const char *const *where;
    size_t nwhere;
} runcols;

/* Runs read from a CSV, ready for cm_fit. */
typedef struct runs {
    size_t n;
    double *N, *D, *y, *x, *x2;
    size_t *g, *g2, *fam;
    char **glabel, **g2label, **famlabel;
    size_t ng, ng2, nfam;
    char **gspec;   /* canonical spec of each group (NULL: none) */
    char **gnote;   /* the spec map's note for the group (NULL: none) */
    double *ggmse;  /* GMSE of each group (NaN: no spec) */
    long *line;     /* file line of each run */
    size_t *row;    /* table row of each run */
} runs;

/* What went wrong reading runs: a status, its diagnostic, the spec text to
 * point a caret at ("" when none), and whether it was a usage error. */
typedef struct runs_err {
    cm_status st;
    cm_diag d;
    char text[1024];
    int usage;
} runs_err;


/* Read the runs of the CSV file `path` (columns by `c`, rows by its --where
 * filters) for a fit in `mode`; the GMSE of their formats from `reg`.
 * CM_OK, or a status with the reason in *e (nothing printed). */
cm_status runs_load(const char *path, const runcols *c, cm_fit_mode mode,
                    const cm_registry *reg, const cm_eval_opts *ev, runs *out, runs_err *e);
void runs_data(const runs *r, cm_fit_data *d);
void runs_free(runs *r);
/* The GMSE of each spec (NULL or "": NaN), canonical specs into canon (may
 * be NULL); `where` names the source in messages. */
cm_status gmse_of(const cm_registry *reg, const cm_eval_opts *ev, char **specs, size_t n,
                  double *out, char **canon, const char *where, runs_err *e);

cJSON *fit_json(const cm_fit_result *f, const cm_fit_opts *o);
cJSON *law_json(const cm_fit_result *f, const runs *r, const char *name, const char *source);
/* fit --json's document: the fit, and the law file it saves (named `name`) */
cJSON *fit_doc(const cm_fit_result *f, const cm_fit_opts *o, const runs *r, const char *path,
               const char *name);
/* --huber's text (a positive number, or none) and the presets by name */
cm_status parse_huber(const char *v, cm_fit_opts *o, cm_diag *d);
cm_status fit_preset(const char *name, cm_fit_opts *o, cm_diag *d);

/* a JSON number, or null when not finite (the one non-finite policy) */
static inline cJSON *json_num(double x)
{
    return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

/* ---- the command line's (src/cli/fit_print.c) ---- */
/* Print a runs_err as the program does for any error; its exit code. */
int runs_report(const runs_err *e);
int cli_fit_preset(const char *name, cm_fit_opts *o);
int cli_parse_huber(const char *v, cm_fit_opts *o);
void fit_print(const cm_fit_result *f, const cm_fit_opts *o, const char *loss_what);
/* data/runs if it is here, else the installed copy */
const char *runs_dir(void);

#endif
