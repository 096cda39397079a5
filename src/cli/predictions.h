/* The capmetric program: predictions of the laws (predictions.c). */
#ifndef CM_CLI_PREDICTIONS_H
#define CM_CLI_PREDICTIONS_H

#include "cli.h"

/* One (spec, law) judgement. */
typedef struct pred {
    size_t spec;
    const cm_law *law;
    cm_status st;
    char why[400];
    cm_law_output out;
    double n_iso;        /* parameters that fit in the memory budget */
    cm_law_output iso;   /* the law at (n_iso, D) */
} pred;

/* What law says of result r (pipeline pipe, spec index i) at the options' N, D. */
void judge(pred *pr, const cm_law *law, const cm_result *r, const opts *o,
           const cm_pipeline *pipe, size_t i);
cJSON *pred_json(const pred *p, const cm_result *r);
size_t pick_laws(const opts *o, const cm_law **ls);
const pred *iso_best(const pred *pv, size_t np, const cm_law *law, int *by_loss);
int print_preds(const opts *o, pred *pv, size_t np, const cm_result *res, size_t n,
                       const cm_law *const *ls, size_t nl);

#endif
