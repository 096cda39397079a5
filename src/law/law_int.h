/* Private (law layer): a law's representation, shared by the built-in table
 * (law.c) and the reader of law files (law_file.c). */
#ifndef CM_LAW_INT_H
#define CM_LAW_INT_H

#include <stddef.h>

#include <capmetric/law.h>

#define BASE_FORM "L = A/(N rho)^alpha + B/D^beta + E"

enum kind {
    K_MAP,      /* rho from GMSE only (A, B unpublished) */
    K_UNIFIED,  /* rho from GMSE and a full loss law */
    K_TABLE,    /* effN/effD per format: QuEST, Quartet, decoupled fits */
    K_KUMAR,
    K_CHEN,
    K_CAPYBARA,
    K_METRIC, /* effN, effD from forward GMSE and backward GMSE/misalignment (fit mode metric) */
    K_OUYANG  /* post-training quantization degradation k D^beta / (N^alpha P^gamma) */
};

/* One format of a table law: effN and effD by training setting. The specs
 * of the built-in tables are canonical (test_law checks each against the
 * parser), so a prediction compares strings and parses nothing. */
enum col { C_WA, C_W, C_WAG_N, C_WAG_D, NCOL };
typedef struct law_row {
    const char *label, *spec;
    double eff[NCOL]; /* NaN: no published value */
} law_row;

struct cm_law {
    const char *name, *source, *form, *inputs;
    enum kind kind;
    double A, alpha, B, beta, E, gamma; /* loss = (A Neff^-alpha + B Deff^-beta)^gamma + E */
    double F, C, L;                     /* tanh map */
    const law_row *rows;
    size_t nrows;
    const double *k; /* kind-specific constants */
    int heap;        /* loaded from a file */
    /* the runs it was fitted on (0: not recorded); constants they leave open */
    double nlo, nhi, dlo, dhi;
    const char *undet;
    /* bootstrap replicates: nboot x kb natural parameters in the fit's order */
    const double *boot;
    size_t nboot, kb;
};

#endif
