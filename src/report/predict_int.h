/* Private (report layer, also compiled into the program): predictions of
 * the laws (predict.c). */
#ifndef CM_REPORT_PREDICT_INT_H
#define CM_REPORT_PREDICT_INT_H

#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include "runs_int.h" /* json_num */

/* What a prediction is asked at: N, D, the memory budget (0: 16 N bits),
 * the tensors the format is applied to (CM_TENSOR_*, 0: w,a). */
typedef struct pred_ask {
    double params, tokens, memory;
    unsigned tensors;
    double ci;      /* interval level (0: 0.9) */
    long vs;        /* --vs: index of the reference format among the results (-1: none) */
} pred_ask;

/* One (spec, law) judgement. */
typedef struct pred {
    size_t spec;
    const cm_law *law;
    cm_status st;
    char why[400];
    cm_law_output out;
    double n_iso;        /* parameters that fit in the memory budget */
    cm_law_output iso;   /* the law at (n_iso, D) */
    int has_ci;          /* lo, hi: the interval from the law's bootstrap replicates */
    cm_law_output lo, hi;
    char warn[640];      /* warnings, "; "-separated ("" none) */
    /* --vs: loss - the reference's loss at equal N (interval: paired replicates)
     * and at equal memory; NaN without */
    double dloss, dlo, dhi, diso;
} pred;

/* What law says of result r (pipeline pipe, spec index i) at the options' N, D. */
void judge(pred *pr, const cm_law *law, const cm_result *r, const pred_ask *o,
           const cm_pipeline *pipe, size_t i);
/* --vs: the differences of pr against the reference judgement ref */
void judge_vs(pred *pr, const pred *ref, const cm_result *r, const cm_result *rr,
              const pred_ask *o, const cm_pipeline *pipe, const cm_pipeline *rpipe);
/* the closing line of --vs: equal-N and equal-memory verdicts and the laws behind them */
char *vs_verdict(const pred *pv, size_t np, const cm_result *res, const pred_ask *o);
cJSON *pred_json(const pred *p, const cm_result *r);
/* the law asked for, or (NULL) every built-in law; how many */
size_t pick_laws(const cm_law *law, const cm_law **ls);
const pred *iso_best(const pred *pv, size_t np, const cm_law *law, int *by_loss);
/* predict --json's document */
cJSON *predict_doc(const pred_ask *o, const pred *pv, size_t np, const cm_result *res,
                   const cm_law *const *ls, size_t nl);
/* every (spec, law) judged into *out (malloc'ed; ls holds 64): with a law
 * asked for, its refusal is the error */
cm_status predict_all(const pred_ask *a, const cm_law *asked, cm_pipeline *const *p,
                      const cm_result *res, size_t n, const cm_law **ls, size_t *nl, pred **out,
                      size_t *np, cm_diag *d);

/* the program's table (src/cli/predictions.c) */
int print_preds(const pred_ask *o, int json, pred *pv, size_t np, const cm_result *res, size_t n,
                const cm_law *const *ls, size_t nl);

#endif
