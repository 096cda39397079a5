/* Private (engine layer): a distribution made ready for integration and
 * sampling (dist.c). Unit variance throughout; sigma is applied by the
 * callers (plans, the exact and Monte-Carlo engines). */
#ifndef CM_DIST_INT_H
#define CM_DIST_INT_H

#include <stddef.h>

#include <capmetric/dist.h>
#include <capmetric/rng.h>

typedef struct cm_dens {
    cm_dist d;
    double k;    /* Student-t: X = k T, k = sqrt((nu-2)/nu) */
    double logc; /* Student-t: log of the normalizing constant of t_nu */
    double r;    /* distance of the density's nearest complex singularity from
                    the real axis (sets the quadrature's piece width) */
    double cut;  /* beyond |x| > cut, probability times x^2 is below 1e-30
                    (INFINITY for Student-t) */
} cm_dens;

/* the standard normal, sigma 1: the engines' default */
extern const cm_dens cm_dens_gauss;

void cm_dens_init(cm_dens *D, const cm_dist *d);
static inline int cm_dens_is_gauss(const cm_dens *D) { return D->d.kind == CM_DIST_GAUSS; }

double cm_dens_pdf(const cm_dens *D, double x);
double cm_dens_sf(const cm_dens *D, double x);  /* P(X > x) */
double cm_dens_isf(const cm_dens *D, double q); /* x with P(X > x) = q, q in (0, 1/2] */

/* ∫_a^b (x - c)^2 f(x) dx (a < b, either may be infinite); the Gaussian's
 * closed form (exact_cell.c) for gauss, else Gauss-Legendre on pieces no
 * wider than half the distance to the density's nearest singularity and
 * closed-form tails: ~1e-15 relative. */
double cm_dens_cell(const cm_dens *D, double a, double b, double c);

/* ∫_a^b x (x - c) f(x) dx: a cell of the misalignment's numerator. */
double cm_dens_xe_cell(const cm_dens *D, double a, double b, double c);

/* ∫_lo^hi (x - A)(B - x) f(x) dx: stochastic rounding between A < B. */
double cm_dens_sr_cell(const cm_dens *D, double lo, double hi, double A, double B);

/* n unit-variance variates */
void cm_dens_fill(const cm_dens *D, cm_pcg64 *g, double *out, size_t n);

#endif
