/* Private: the cell integral of exact.c, for the block-format integrator. */
#ifndef CM_EXACT_INT_H
#define CM_EXACT_INT_H

/* ∫_a^b (x - c)^2 φ(x) dx, a < b (either may be infinite). */
double cm_exact_cell(double a, double b, double c);

/* ∫_lo^hi (x - A)(B - x) φ(x) dx: stochastic rounding between A < B. */
double cm_exact_sr_cell(double lo, double hi, double A, double B);

#endif
