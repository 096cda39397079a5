/* Private (pipeline layer): the pipeline's structure, for the parser that
 * builds it and the engines that read it (read only: a pipeline is immutable
 * once parsed; engines keep what they resolve in a cm_plan of their own). */
#ifndef CM_PIPELINE_INT_H
#define CM_PIPELINE_INT_H

#include <capmetric/format.h>
#include <capmetric/spec.h>

#include "kern_int.h"
#include "scaling_int.h"

/* One parsed key of a stage, kept for readers of the pipeline (laws). */
typedef struct cm_stage_val {
    const char *key;   /* the descriptor's key (static storage of the format or host) */
    char *text;        /* canonical text of the value */
    double num;        /* INT, REAL: the number; ENUM or word: index in choices */
    int is_word;
} cm_stage_val;

typedef struct cm_stage {
    const cm_format *fmt;
    void *params;
    int scalar;        /* CM_FORMAT_SCALAR: apply as s * Q(x / s) */
    int scale_opt;     /* scale=opt */
    double scale;      /* fixed value; NaN for scale=opt (the engine's plan resolves it) */
    size_t group;
    cm_blockspec blk;  /* blk.K > 0: block scaling (then `scale` is unused) */
    int sel;           /* the format selects values (sparsity, outliers) */
    int rot;           /* a transform (rotation): the later stages run in its basis */
    char *canon;       /* this stage's canonical spec */
    cm_stage_val *vals; /* the stage's keys as parsed, defaults filled in */
    size_t nvals;
} cm_stage;

struct cm_pipeline {
    const cm_registry *reg;
    size_t n;
    cm_stage *st;
    char *canonical;
    char *input;
    char *family;
    size_t group;
    int borrowed;      /* a view of another pipeline's stage: params not owned */
};

/* The most per-thread scratch a format may ask for (state_size). */
#define CM_STATE_MAX ((size_t)1 << 30)

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
    double *scale;     /* per stage: the scale applied (resolved for scale=opt) */
    /* block stages with tensor_scale=fp32 map the data's largest |x| to their
     * largest scale: tamax_abs when > 0 (a tensor's own), else tamax_mul times
     * the stage's tensor_amax key (data sigma times wider than N(0,1)) */
    double tamax_abs, tamax_mul;
    cm_pcg64 *srng;    /* per stage: correct=eden's generator (seeded with the state) */
    cm_kern kern;      /* the fused kernel of a one-stage pipeline (kind 0: none) */
    int kern_known;    /* kern set up (kern.c, at first use) */
};

/* stage st's block scaling for these data: the stage's own, or (tensor
 * scale) a copy in *tmp retargeted to the state's tensor amax */
const cm_blockspec *cm_stage_blockspec(const cm_stage *st, const cm_pipeline_state *s,
                                       cm_blockspec *tmp);

/* sum (x - R(x))^2 and sum x (x - R(x)) over n values (at most the state's
 * chunk) by the fused kernel, bit-identical to cm_pipeline_apply +
 * cm_kern_sumsq: 1 and *sse, *sxe, or 0 when the pipeline has no kernel (or
 * CAPMETRIC_FUSED=0) */
int cm_pipeline_sse(const cm_pipeline *p, cm_pipeline_state *s, const double *x, size_t n,
                    double *sse, double *sxe);
/* y = R(x) by the fused kernel, the bits of cm_pipeline_apply: 1, or 0 when
 * the pipeline has none (then use cm_pipeline_apply) */
int cm_pipeline_apply_fused(const cm_pipeline *p, cm_pipeline_state *s, const double *x,
                            double *y, size_t n);

#endif
