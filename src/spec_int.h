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

/* CM_ROUND_* of a stage (nearest when the format does not say). */
unsigned cm_stage_rounding(const cm_stage *st);

/* Per-thread working memory for one pipeline: per-stage format state and two
 * scratch vectors of `chunk` values. */
struct cm_pipeline_state {
    size_t chunk;
    double *t0, *t1;   /* stage outputs; followed by u, sc, tmp (chunk values each) */
    void **fstate;     /* per stage; NULL where the format has no state */
};

#endif
