/* The capmetric program: training-run tables and fit output, shared by fit,
 * predict and validate. */
#ifndef CM_CLI_RUNS_H
#define CM_CLI_RUNS_H

#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

/* A command's own options, pulled out of argv before the common ones. */
#define OPT_MAXVAL 16
typedef struct optdef {
    const char *name;
    int has_val, repeat;
    size_t n;
    const char *val[OPT_MAXVAL];
} optdef;

int pull_opts(int argc, char **argv, optdef *defs, size_t nd, char **rest, int *nrest);
const char *opt_get(const optdef *defs, size_t nd, const char *name);

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

int runs_load(const char *path, const runcols *c, cm_fit_mode mode, const cm_registry *reg,
              const cm_eval_opts *ev, runs *out);
void runs_data(const runs *r, cm_fit_data *d);
void runs_free(runs *r);
int gmse_of(const cm_registry *reg, const cm_eval_opts *ev, char **specs, size_t n, double *out,
            char **canon, const char *where);

/* a number, or null when not finite */
cJSON *jnum(double x);
cJSON *fit_json(const cm_fit_result *f, const cm_fit_opts *o);
void fit_print(const cm_fit_result *f, const cm_fit_opts *o, const char *loss_what);
cJSON *law_json(const cm_fit_result *f, const runs *r, const char *name, const char *source);
int write_atomic(const char *path, const char *text);
int parse_huber(const char *v, cm_fit_opts *o);
int fit_preset(const char *name, cm_fit_opts *o);
int bench_fit(cJSON *root, int json, unsigned threads);
/* data/runs if it is here, else the installed copy */
const char *runs_dir(void);

#endif
