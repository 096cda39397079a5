/* capmetric — fitting scaling laws to training runs.
 *
 * As the papers fit them: a robust (Huber) loss on log residuals, minimized by
 * Levenberg-Marquardt (GSL multifit_nlinear) from every point of a grid of
 * starting values (Hoffmann et al. 2022; QuEST uses 1125 starts), keeping the
 * start with the lowest cost. Parameter uncertainty comes from the curvature at
 * the optimum and, optionally, from a bootstrap over runs; a parameter the
 * data do not determine is reported as such.
 *
 * Thread safety: cm_fit reads its data and runs its starts on opts->threads
 * threads of its own; the same data may be fitted from several threads at
 * once. A cm_fit_result belongs to its caller. */
#ifndef CAPMETRIC_FIT_H
#define CAPMETRIC_FIT_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cm_fit_mode {
    CM_FIT_DECOUPLED = 0, /* L = A/(N eff_g)^alpha + B/D^beta + E, one eff per group */
    CM_FIT_UNIFIED = 1,   /* the same with eff = L_f tanh(F_f log4(1/GMSE))^C_f per family */
    CM_FIT_MAP = 2,       /* rho = prod_k L_f tanh(F_f log4(1/GMSE_k))^C_f, fitted to rho */
    CM_FIT_QUARTET = 3,   /* L = (A/(N effN_g)^alpha + B/(D effD_h)^beta)^gamma + E */
    CM_FIT_METRIC = 4     /* the same with effN = 1/(1 + kN x), effD = 1/(1 + kG x2 + kM x3):
                             x a forward metric (GMSE), x2 and x3 backward loads (GMSE and
                             |misalignment| summed over the quantized backward operands);
                             x3 NULL: no kM. `capmetric validate` fits it to Quartet II */
} cm_fit_mode;

/*! cm_fit_mode_parse() / cm_fit_mode_name() : "decoupled", "unified", "map",
 * "quartet" to a mode and back ("metric" is named, not parsed: its data come
 * from `validate`); CM_EPARSE lists the names. */
CM_API cm_status cm_fit_mode_parse(const char *text, cm_fit_mode *out, cm_diag *diag);
CM_API const char *cm_fit_mode_name(cm_fit_mode m);

/* Group index of an uncompressed run (eff fixed at 1). */
#define CM_FIT_BASE ((size_t)-1)

typedef struct cm_fit_data {
    size_t n;                  /* points */
    const double *N, *D;       /* loss modes: parameters and tokens */
    const double *y;           /* loss (nats/token), or rho for CM_FIT_MAP */
    const size_t *g;           /* decoupled, quartet: effN group or CM_FIT_BASE */
    size_t ng;
    const size_t *g2;          /* quartet: effD group or CM_FIT_BASE (NULL: all BASE) */
    size_t ng2;
    const char *const *glabel;  /* names of the groups (for parameter names); may be NULL */
    const char *const *g2label;
    const double *x;           /* unified: GMSE (NaN = uncompressed); map: GMSE;
                                  metric: the forward metric (NaN = not quantized) */
    const double *x2;          /* map: GMSE of a second factor (NaN = none); may be NULL;
                                  metric: the backward load (NaN = not quantized) */
    const double *x3;          /* metric: a second backward load (NULL = none) */
    const size_t *fam;         /* unified, map: family of each point (NULL = one family) */
    size_t nfam;
    const char *const *famlabel;
} cm_fit_data;

typedef struct cm_fit_opts {
    double huber;          /* delta of the Huber loss on residuals; INFINITY = least squares
                              (default 1e-3, Hoffmann et al.) */
    double rscale;         /* residuals are multiplied by this first (QuEST: 1e-3; default 1) */
    unsigned bootstrap;    /* bootstrap replicates over points (0 = none) */
    uint64_t seed;         /* for the bootstrap */
    unsigned threads;      /* 0 = all cores; results do not depend on it */
    const double *fixed;   /* quartet: A, alpha, B, beta, E, gamma held fixed (NULL = fit them) */
    size_t max_starts;     /* 0 = the whole default grid; else its first max_starts points */
    const double *start;   /* natural parameter values (the result's order) to start from
                              instead of the grid (a warm start); NULL = the grid */
} cm_fit_opts;

CM_API void cm_fit_opts_default(cm_fit_opts *o);

typedef struct cm_fit_param {
    char name[64];
    double value;          /* natural units */
    double se;             /* from the curvature at the optimum (delta method); NaN if singular */
    double lo, hi, sd;     /* bootstrap 2.5 % and 97.5 % quantiles and SD; NaN without */
    int determined;        /* 0: the data do not pin it down (relative SE > 1, or singular) */
} cm_fit_param;

typedef struct cm_fit_result {
    cm_fit_mode mode;
    size_t np;
    cm_fit_param *p;
    double *theta;         /* internal parameters (log of positive ones) */
    double cost;           /* sum of Huber losses of the scaled residuals at the optimum */
    double rmse;           /* RMS of the unscaled residuals (log loss, or rho for map) */
    double mae;            /* mean |residual| */
    size_t n, starts, converged, at_best;
    unsigned boot_done;
    double seconds;
    double base[6];        /* quartet with fixed constants: those constants */
    int base_fixed;
    double *boot;          /* nboot x np natural parameter values of the bootstrap
                              replicates that converged (NULL without a bootstrap) */
    size_t nboot;
} cm_fit_result;

/*! cm_fit() : fit `mode` to `data`. CM_EINVAL (bad data: non-positive or
 * non-finite values, fewer points than parameters, a group without points),
 * CM_ENUMERIC (no start converged; diag gives the best cost found), CM_ENOMEM.
 * Free the result with cm_fit_result_free, also on failure. */
CM_API cm_status cm_fit(cm_fit_mode mode, const cm_fit_data *data, const cm_fit_opts *opts,
                 cm_fit_result *res, cm_diag *diag);

/*! cm_fit_predict() : the fitted model at point i of `data` (same groups and
 * families as the fit; a point may come from another data set). */
CM_API double cm_fit_predict(const cm_fit_result *res, const cm_fit_data *data, size_t i);

CM_API void cm_fit_result_free(cm_fit_result *res);

#ifdef __cplusplus
}
#endif
#endif
