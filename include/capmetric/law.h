/* capmetric — capacity laws: GMSE -> effective-parameter multiplier rho. */
#ifndef CAPMETRIC_LAW_H
#define CAPMETRIC_LAW_H

#include <stddef.h>

#include <capmetric/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_law cm_law;

/*! cm_law_find() : a law by name; CM_ENOTFOUND lists the names. */
cm_status cm_law_find(const char *name, const cm_law **out, cm_diag *diag);
size_t cm_law_count(void);
const cm_law *cm_law_get(size_t i);
const char *cm_law_name(const cm_law *law);
const char *cm_law_source(const cm_law *law);

/*! cm_law_rho() : rho = L tanh(F log4(1/gmse))^C (Unified paper Eq. 3), 0 for
 * gmse >= 1, L for gmse == 0; NaN for NaN or negative input. */
double cm_law_rho(const cm_law *law, double gmse);

/*! cm_eff_bits() : log4(1/gmse), the bits of an ideal quantizer with this
 * error (+inf for 0). */
double cm_eff_bits(double gmse);

#ifdef __cplusplus
}
#endif
#endif
