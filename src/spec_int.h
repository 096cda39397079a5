/* Private: parameter values and pipeline internals shared by spec.c,
 * registry.c, exact.c and mc.c. */
#ifndef CM_SPEC_INT_H
#define CM_SPEC_INT_H

#include <capmetric/format.h>

#include "block_int.h"
#include <capmetric/spec.h>

/* Parse text[0..n) as a value of parameter `p`. On success fills *v (text
 * and list are malloc'ed; release with cm_value_fini) and returns CM_OK. On
 * failure writes a message naming the key and what is accepted. */
cm_status cm_value_parse(const cm_param *p, const char *text, size_t n, cm_value *v,
                         cm_diag *diag);
void cm_value_fini(cm_value *v);

/* Check a parameter descriptor (keys, types, defaults); used on registration. */
cm_status cm_params_check(const cm_format *fmt, cm_diag *diag);

typedef struct cm_stage {
    const cm_format *fmt;
    void *params;
    int scalar;        /* CM_FORMAT_SCALAR: apply as s * Q(x / s) */
    int scale_opt;     /* scale=opt */
    double scale;      /* fixed value, or the optimum once resolved (NaN before) */
    double opt_mse;    /* exact GMSE at the optimum when resolved by the exact path */
    size_t group;
    cm_blockspec blk;  /* blk.K > 0: block scaling (then `scale` is unused) */
    int sel;           /* the format selects values (sparsity, outliers) */
    char *canon;       /* this stage's canonical spec */
} cm_stage;

struct cm_pipeline {
    const cm_registry *reg;
    size_t n;
    cm_stage *st;
    char *canonical;
    char *input;
    char *family;
    size_t group;
};

/* exact.c: the optimal scale of stage i given what the previous stage passes */
cm_status cm_exact_opt_scale_after(const cm_pipeline *p, size_t i, const double *lv, size_t k,
                                   unsigned rounding, double *s, double *mse, cm_diag *d);

/* CM_ROUND_* of a stage (nearest when the format does not say). */
unsigned cm_stage_rounding(const cm_stage *st);

/* Per-thread working memory for one pipeline: per-stage format state and two
 * scratch vectors of `chunk` values. */
struct cm_pipeline_state {
    size_t chunk;
    double *t0, *t1;   /* t0: u, sc, tmp scratch (chunk values each); t1 unused */
    double *stage;     /* per stage: 3 vectors of chunk values (mid/ysel, u, tmp) */
    unsigned char *pass; /* per stage: chunk flags */
    void **fstate;     /* per stage; NULL where the format has no state */
};

#endif
