/* capmetric — the data a format is measured on.
 *
 * GMSE is defined on N(0, 1) and Gaussian stays the default everywhere. A
 * cm_dist names another distribution of i.i.d. values, each scaled to unit
 * variance, and a standard deviation sigma that scales it:
 *   gauss           N(0, 1)
 *   laplace         Laplace with b = 1/sqrt(2)
 *   logistic        logistic with s = sqrt(3)/pi
 *   student:nu=V    Student-t with V degrees of freedom (2 < V <= 1000),
 *                   times sqrt((V-2)/V)
 *   uniform         uniform on [-sqrt(3), sqrt(3)]
 * A result on such data reports the MSE divided by sigma^2 (the error
 * relative to the data's variance; for gauss and sigma 1 exactly GMSE), and
 * rho is the law's map applied to it. sigma matters where a format has an
 * absolute range: fixed scales, scale formats that underflow or saturate.
 *
 * Thread safety: plain values; every function is reentrant. */
#ifndef CAPMETRIC_DIST_H
#define CAPMETRIC_DIST_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cm_dist_kind {
    CM_DIST_GAUSS = 0,
    CM_DIST_LAPLACE = 1,
    CM_DIST_LOGISTIC = 2,
    CM_DIST_STUDENT = 3,
    CM_DIST_UNIFORM = 4
} cm_dist_kind;

#define CM_DIST_NU_MAX 1000.0 /* beyond, Student-t is Gaussian to 1e-3: use gauss */

typedef struct cm_dist {
    cm_dist_kind kind;
    double nu;    /* Student-t degrees of freedom; unused otherwise */
    double sigma; /* standard deviation of the data; 0 (a zeroed struct) means 1 */
} cm_dist;

/*! cm_dist_default() : N(0, 1). */
CM_API void cm_dist_default(cm_dist *d);

/*! cm_dist_parse() : "gauss", "laplace", "logistic", "student:nu=V",
 * "uniform" (as listed above) into out->kind and out->nu; out->sigma is left
 * as it was. @return CM_OK, CM_EPARSE (unknown name: the message lists the
 * accepted ones), CM_ERANGE (nu not in (2, 1000]). */
CM_API cm_status cm_dist_parse(const char *text, cm_dist *out, cm_diag *diag);

/*! cm_dist_check() : CM_OK if kind, nu and sigma (> 0 and finite, or 0 for
 * 1) are valid, else CM_ERANGE / CM_EINVAL saying which. */
CM_API cm_status cm_dist_check(const cm_dist *d, cm_diag *diag);

/*! cm_dist_name() : the canonical name ("student:nu=5") into buf; returns buf. */
CM_API const char *cm_dist_name(const cm_dist *d, char *buf, size_t cap);

/*! cm_dist_sigma() : sigma, with 0 read as 1. */
CM_API double cm_dist_sigma(const cm_dist *d);

/*! cm_dist_is_default() : 1 for N(0, 1) (gauss, sigma 1). */
CM_API int cm_dist_is_default(const cm_dist *d);

/*! cm_dist_pdf() / cm_dist_sf() / cm_dist_isf() : density, upper tail
 * P(X > x) and its inverse (q in (0, 1)) of the unit-variance distribution
 * (sigma not applied). */
CM_API double cm_dist_pdf(const cm_dist *d, double x);
CM_API double cm_dist_sf(const cm_dist *d, double x);
CM_API double cm_dist_isf(const cm_dist *d, double q);

#ifdef __cplusplus
}
#endif

#endif
