/* Cell integrals of N(0,1): the building block of every exact GMSE.
 *
 * A cell [a, b] with code c contributes I = ∫_a^b (x - c)^2 φ(x) dx. With the
 * antiderivative F(x) = (1 + c^2) Φ(x) - (x - 2c) φ(x):
 *     I = (1 + c^2) [Φ(b) - Φ(a)] - [(b - 2c) φ(b) - (a - 2c) φ(a)].
 * For a narrow cell the two terms nearly cancel (relative size ~ w^2/12), so
 * there we expand φ about the midpoint m instead: with φ^(k)(m) =
 * (-1)^k He_k(m) φ(m) (probabilists' Hermite polynomials), h the half-width
 * and d = m - c,
 *     I = φ(m) Σ_k (-1)^k He_k(m)/k! ∫_{-h}^{h} (u + d)^2 u^k du,
 * which converges fast when h (|m| + 4) <= 1/2. Both are accurate to ~1e-14
 * relative per cell; the cells are all non-negative, so the sum is too. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>

#include "exact_int.h"

static inline double npdf(double x) { return isinf(x) ? 0.0 : gsl_ran_ugaussian_pdf(x); }
/* upper tail Q(x) = P(X > x), accurate in both tails. libm erfc, not GSL's
 * gsl_cdf_ugaussian_Q: that differs in the last bits and moves the argmin of
 * flat optimal-scale objectives by up to 1e-8 (GMSE unchanged to 1e-13). */
static inline double nq(double x) { return 0.5 * erfc(x * M_SQRT1_2); }

double cm_normal_pdf(double x) { return npdf(x); }

/* P(a < X < b), from whichever tail keeps its digits */
static double nprob(double a, double b)
{
    if (a >= 0)
        return nq(a) - nq(b);
    if (b <= 0)
        return nq(-b) - nq(-a);
    return 1.0 - nq(b) - nq(-a);
}

static double cell_closed(double a, double b, double c)
{
    double D = nprob(a, b);
    double tb = isinf(b) ? 0.0 : (b - 2 * c) * npdf(b);
    double ta = isinf(a) ? 0.0 : (a - 2 * c) * npdf(a);
    double I = (1 + c * c) * D - (tb - ta);
    return I > 0 ? I : 0.0;
}

#define SERIES_MAX 40
/* 1/k!, 1/(k+1), 1/(k+2), 1/(k+3): multiplications instead of divisions.
 * Compile-time constants, so that no entry point can meet them unset. */
static const double inv_fact[SERIES_MAX] = {
    1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333,
    0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05, 2.7557319223985893e-06,
    2.755731922398589e-07, 2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10,
    1.1470745597729725e-11, 7.647163731819816e-13, 4.779477332387385e-14,
    2.8114572543455206e-15, 1.5619206968586225e-16, 8.22063524662433e-18, 4.110317623312165e-19,
    1.9572941063391263e-20, 8.896791392450574e-22, 3.8681701706306835e-23,
    1.6117375710961184e-24, 6.446950284384474e-26, 2.4795962632247972e-27,
    9.183689863795546e-29, 3.279889237069838e-30, 1.1309962886447718e-31,
    3.7699876288159054e-33, 1.2161250415535181e-34, 3.800390754854744e-36,
    1.151633562077195e-37, 3.387157535521162e-39, 9.67759295863189e-41, 2.688220266286636e-42,
    7.265460179153071e-44, 1.911963205040282e-45, 4.902469756513544e-47,
};
/* inv_n[i] = 1/(i+1): the series needs 1/(k+1), 1/(k+2) and 1/(k+3). */
static const double inv_n[SERIES_MAX + 2] = {
    1.0 / 1, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6, 1.0 / 7, 1.0 / 8, 1.0 / 9, 1.0 / 10,
    1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17, 1.0 / 18, 1.0 / 19,
    1.0 / 20, 1.0 / 21, 1.0 / 22, 1.0 / 23, 1.0 / 24, 1.0 / 25, 1.0 / 26, 1.0 / 27, 1.0 / 28,
    1.0 / 29, 1.0 / 30, 1.0 / 31, 1.0 / 32, 1.0 / 33, 1.0 / 34, 1.0 / 35, 1.0 / 36, 1.0 / 37,
    1.0 / 38, 1.0 / 39, 1.0 / 40, 1.0 / 41, 1.0 / 42,
};

/* Narrow cell about midpoint m, half-width h, code c; phi_m = φ(m). */
static double cell_series(double m, double h, double c, double phi_m)
{
    double d = m - c, d2 = d * d;
    double he_prev = 1.0, he = m;   /* He_0, He_1 */
    double hp = h;                  /* h^(k+1) */
    double sum = 2.0 * h * h * h / 3.0 + d2 * 2.0 * h; /* k = 0 */
    double tprev = sum;
    for (int k = 1; k < SERIES_MAX; k++) {
        hp *= h;                    /* h^(k+1) */
        double J;
        if (k & 1)
            J = 4.0 * d * hp * h * inv_n[k + 1];
        else
            J = 2.0 * hp * (h * h * inv_n[k + 2] + d2 * inv_n[k]);
        double t = ((k & 1) ? -he : he) * inv_fact[k] * J;
        sum += t;
        /* two terms in a row: with the code at the midpoint (d = 0) every
         * odd term is exactly zero */
        if (k >= 4 && fabs(t) + fabs(tprev) < 1e-18 * fabs(sum))
            break;
        tprev = t;
        double next = m * he - k * he_prev;
        he_prev = he;
        he = next;
    }
    return phi_m * sum;
}

double cm_exact_cell(double a, double b, double c)
{
    if (isfinite(a) && isfinite(b)) {
        double h = 0.5 * (b - a), m = 0.5 * (a + b);
        if (h * (fabs(m) + 4.0) <= 0.5)
            return cell_series(m, h, c, npdf(m));
    }
    return cell_closed(a, b, c);
}

/* 8-point Gauss–Legendre of w(x) φ(x) on [m - h, m + h], w the polynomial
 * (x - A)(B - x) (sr) or x - A: exact for the polynomial, φ smooth there */
static double gl8(double m, double h, int sr, double A, double B)
{
    static const double gx[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
                                 0.9602898564975363};
    static const double gw[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
                                 0.1012285362903763};
    double t = 0;
    for (int i = 0; i < 4; i++)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            double x = m + sgn * h * gx[i];
            t += gw[i] * (sr ? (x - A) * (B - x) : x - A) * npdf(x);
        }
    return t * h;
}

/* Stochastic rounding between neighbouring values A < B: E[(x - Q)^2] =
 * (x - A)(B - x). ∫_lo^hi (x - A)(B - x) φ(x) dx in closed form, with
 * ∫ x^2 φ = Φ - x φ and ∫ x φ = -φ; for a narrow interval, where the closed
 * form cancels, 8-point Gauss–Legendre (exact for the quadratic, and φ is
 * smooth on the interval). */
double cm_exact_sr_cell(double lo, double hi, double A, double B)
{
    double h = 0.5 * (hi - lo), m = 0.5 * (hi + lo);
    if (h * (fabs(m) + 4.0) <= 1.0)
        return gl8(m, h, 1, A, B);
    double D = nprob(lo, hi);
    double x2 = D - (hi * npdf(hi) - lo * npdf(lo)); /* ∫ x^2 φ */
    double x1 = npdf(lo) - npdf(hi);                 /* ∫ x φ */
    double r = -x2 + (A + B) * x1 - A * B * D;
    return r > 0 ? r : 0.0;
}

/* ∫_a^b (x - c) φ(x) dx = φ(a) - φ(b) - c [Φ(b) - Φ(a)]; for a narrow cell,
 * where those cancel, 8-point Gauss–Legendre (exact for the linear factor,
 * φ smooth on the cell). With cm_exact_cell it gives the misalignment's cell
 * ∫ x (x - c) φ = ∫ (x - c)^2 φ + c ∫ (x - c) φ (cm_exact_xe_cell). */
double cm_exact_dev_cell(double a, double b, double c)
{
    if (!(b > a))
        return 0.0;
    double h = 0.5 * (b - a), m = 0.5 * (b + a);
    if (isfinite(a) && isfinite(b) && h * (fabs(m) + 4.0) <= 1.0)
        return gl8(m, h, 0, c, 0.0);
    return npdf(a) - npdf(b) - c * nprob(a, b);
}

double cm_exact_xe_cell(double a, double b, double c)
{
    return b > a ? cm_exact_cell(a, b, c) + c * cm_exact_dev_cell(a, b, c) : 0.0;
}
