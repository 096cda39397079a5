/* The capmetric program: the Quartet II runs and their schemes' metrics
 * (q2data.c), for `validate`. */
#ifndef CM_CLI_Q2DATA_H
#define CM_CLI_Q2DATA_H

#include <capmetric/capmetric.h>
#include <stddef.h>

typedef struct q2data {
    /* runs */
    size_t n;
    double *N, *D, *y;
    size_t *sch;          /* scheme of each run */
    /* schemes (rows of quartet2_specs.csv) */
    size_t ns;
    char **label, **fwd, **bwd, **src, **note;
    size_t *cnt;          /* runs per scheme */
    double *nf;           /* forward formats per scheme */
    double *fg, *fmis, *fb; /* forward: mean GMSE, mean misalignment, mean 4^-bits (NaN: none) */
    double *bg, *bm, *bb; /* backward loads: sum of GMSE, |misalignment|, 4^-bits (NaN: none) */
    /* the distinct specs */
    size_t nspec;
    char **spec;
    double *sgmse, *smis, *sbits;
    int *smc;             /* scored by Monte Carlo */
} q2data;

/* Read the runs and the spec map, score every spec with `ev`. 0, or the exit
 * code after a message (EXIT_USAGE for a bad file). Free with q2_free, also
 * on failure. */
int q2_load(q2data *q, const char *runs, const char *specs, const cm_registry *reg,
            const cm_eval_opts *ev);
void q2_free(q2data *q);

#endif
