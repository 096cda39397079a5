/* The capmetric program: what the files of `validate` share. */
#ifndef CM_CLI_VALIDATE_INT_H
#define CM_CLI_VALIDATE_INT_H

#include "q2data.h"
#include "runs_int.h"

typedef struct rep {
    cJSON *root, *secs;
    FILE *md;          /* report.md, written to memory (open_memstream) */
    char *md_text;
    size_t md_len;
    int quiet;
    size_t checks, failed;     /* reproduction: published numbers recomputed */
    cJSON *evid;               /* evidence: claims that could be false */
    size_t evid_pass, evid_fail;
    char **plot_name, **plot_svg; /* plots written beside the report */
    size_t nplot;
    /* the open section */
    cli_table t;
    cJSON *rows;
    const char *const *head;
    size_t ncol;
} rep;

typedef struct vctx {
    const char *dir;
    cm_registry *reg;
    cm_eval_opts ev;
    unsigned threads;
    rep r;
    q2data q2; /* Quartet II's runs, read and scored before the fits */
} vctx;

static const char *const check_head[] = {"quantity", "published", "capmetric", "difference",
                                         "tolerance", "result"};
static const int check_right[] = {0, 1, 1, 1, 1, 0};

/* report sections: a titled table in report.md, report.json and on screen */
void sec_begin(rep *r, const char *title, const char *text, const char *const *head,
                      const int *right, size_t ncol);
void sec_row(rep *r, const char *const *cells);
void sec_end(rep *r, const char *note);
void check_row(rep *r, const char *what, double want, double got, double tol, int rel);
/* an evidence item: a claim the data could refute, its metric's value against a
 * baseline's and the criterion; a failed item is a finding, not an error */
void evidence(rep *r, const char *name, const char *metric, double value, double baseline,
              const char *criterion, int pass);
/* a plot for the report folder (svg is taken over); 0 or -1 out of memory */
int add_plot(rep *r, const char *name, char *svg);
/* a predicted-vs-observed loss plot of n runs for the report folder */
int pred_plot(rep *r, const char *name, const char *title, const char *ylabel, const double *obs,
              const double *pred, size_t n);
/* report.md's opening: the verdict paragraph and the evidence table (malloc'ed) */
char *verdict_text(const rep *r, char **md);
/* helpers: a file of the data folder; load runs; fit; a fitted parameter by name */
char *path_in(const vctx *v, const char *file);
int load(vctx *v, const char *file, runcols *c, cm_fit_mode mode, runs *out);
int fit(vctx *v, cm_fit_mode mode, const runs *rr, cm_fit_opts *o, cm_fit_result *f,
               const char *what);
double param(const cm_fit_result *f, const char *name);
int sec_quest_mse(vctx *v);
int sec_quest(vctx *v, cJSON *extra);
int sec_quartet(vctx *v, cJSON *extra);
int sec_unified(vctx *v, cJSON *extra);
int sec_capacity(vctx *v, const char *anchors, cJSON *extra);
int sec_quartet2(vctx *v, cJSON *extra);
/* read Quartet II's runs and spec map into v->q2 (before the minutes of work) */
int load_quartet2(vctx *v);

#endif
