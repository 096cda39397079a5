/* capmetric — evaluate pipelines: GMSE (exact or Monte Carlo), bits, rho.
 *
 * Thread safety: cm_eval only reads the pipelines (it plans them itself) and
 * may run concurrently on the same pipelines from several threads; it uses
 * opts->threads worker threads of its own. cm_result points into its
 * pipeline: keep the pipeline alive while the result is used. */
#ifndef CAPMETRIC_EVAL_H
#define CAPMETRIC_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/dist.h>
#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/law.h>
#include <capmetric/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cm_method {
    CM_METHOD_AUTO = 0,  /* exact where the pipeline has an exact path, else mc */
    CM_METHOD_EXACT = 1, /* exact or fail with CM_EUNSUPPORTED */
    CM_METHOD_MC = 2     /* Monte Carlo for all */
} cm_method;

/*! cm_method_name() / cm_method_parse() : "auto", "exact", "mc" to a method
 * and back; CM_EPARSE lists the names. */
CM_API const char *cm_method_name(cm_method m);
CM_API cm_status cm_method_parse(const char *text, cm_method *out, cm_diag *diag);

typedef struct cm_eval_opts {
    uint64_t samples;   /* default 2^24 */
    uint64_t seed;      /* default 1 */
    unsigned threads;   /* 0 = all cores */
    cm_method method;
    const cm_law *law;  /* NULL = unified-llama-c4 */
    cm_dist dist;       /* the data (dist.h); default N(0, 1), a zeroed one too */
} cm_eval_opts;

/*! cm_eval_law() : the law an evaluation with these options scores rho
 * with: o->law, or the default CM_LAW_DEFAULT (o may be NULL). Never NULL. */
CM_API const cm_law *cm_eval_law(const cm_eval_opts *o);

/*! cm_eval_opts_default() : the defaults of DESIGN §4. */
CM_API void cm_eval_opts_default(cm_eval_opts *o);

typedef struct cm_result {
    const char *spec;   /* canonical (owned by the pipeline) */
    const char *input;  /* as typed (owned by the pipeline) */
    const char *family;
    double bits;
    cm_method method;   /* CM_METHOD_EXACT or CM_METHOD_MC */
    double gmse, gmse_se;
    double scale;       /* scale of the first scalar stage; NaN if none */
    double eff_bits, rho, rho_per_bit;
    double shannon_gmse; /* D(R) = 2^(-2 bits): the rate-distortion bound at these bits */
    double gap_db;       /* 10 log10(gmse / D(R)) */
    double gap_bits;     /* bits - eff_bits: the same gap in bits */
    double rho_product;  /* compositions: product of the stages' rho alone; NaN otherwise */
    double seconds;
    uint64_t samples;   /* 0 for exact */
    double gmse_err;    /* exact: bound on the numerical error of gmse (cm_exact_gmse_err);
                           NaN for Monte Carlo, whose uncertainty is gmse_se */
    unsigned flags;     /* CM_RESULT_*: what a reader should be warned of */
    char dist[40];      /* the data: canonical distribution name (dist.h) */
    double sigma;       /* and its standard deviation; gmse is the MSE / sigma^2 */
    /* misalignment 1 - E[x R(x)] / E[x^2] (Quartet II, arXiv 2601.22813): 0 when
     * R is unbiased in magnitude, > 0 when it shrinks; exact with gmse (then
     * misalignment_err bounds its numerical error, se 0) or Monte Carlo (se
     * its standard error, err NaN); NaN where it is undefined or unknown */
    double misalignment, misalignment_se, misalignment_err;
} cm_result;

/* cm_result.flags */
#define CM_RESULT_INF 0x1u /* values became Inf/NaN (a non-saturating overflow=inf format
                              whose scale lets elements pass its largest value): GMSE is
                              infinite, rho 0 */

#define CM_RESULT_RULE 0x2u /* a power-of-two block scale rule (floor, ceil, even, rceil) gives
                               more than twice the GMSE of the same format with scale=absmax:
                               valid, but almost certainly not what was meant */

/*! cm_result_warning() : the sentence a CM_RESULT_* flag stands for (NULL for
 * none or an unknown flag). */
CM_API const char *cm_result_warning(unsigned flag);

/*! cm_eval() : evaluate n pipelines (resolving their scales). Monte-Carlo
 * pipelines share one run (common random numbers); with `run` non-NULL that
 * run is handed back for paired differences (free with cm_mc_run_free), and
 * mc_index[i] (if non-NULL) receives pipeline i's index in it or SIZE_MAX.
 * @return CM_OK, or the first failure (diag says which spec). */
typedef struct cm_mc_run cm_mc_run;
CM_API cm_status cm_eval(cm_pipeline *const *p, size_t n, const cm_eval_opts *opts, cm_result *res,
                  struct cm_mc_run **run, size_t *mc_index, cm_diag *diag);

/*! cm_default_threads() : the number of online cores (at least 1). */
CM_API unsigned cm_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif
