/* What the pruning families (sparse, nm) share: keeping the largest
 * magnitudes of a group. */
#include <capmetric/format.h>

#include <math.h>
#include <stddef.h>

#include "prune_int.h"

/* reject_mse of pruning: a pruned value of magnitude a costs a^2 */
double prune_square(const void *p, double a)
{
    (void)p;
    return a * a;
}

/* keep the k largest |x| of x[0..K) (ties: the earlier), by rank counting
 * (K <= 64) or with a sorted copy of the magnitudes (larger blocks) */
void prune_keep_top(const double *x, double *y, unsigned char *pass, size_t K, size_t k,
                     double *scratch)
{
    double thr;
    if (K <= 64 || !scratch) { /* (no scratch: the quadratic way, still correct) */
        for (size_t i = 0; i < K; i++) {
            double a = fabs(x[i]);
            size_t above = 0;
            for (size_t j = 0; j < K; j++) {
                double b = fabs(x[j]);
                above += b > a || (b == a && j < i);
            }
            pass[i] = above < k;
            y[i] = pass[i] ? x[i] : 0.0;
        }
        return;
    }
    for (size_t i = 0; i < K; i++)
        scratch[i] = isnan(x[i]) ? -1.0 : fabs(x[i]); /* NaN: kept below, never ranked */
    /* k-th largest by partial selection */
    size_t lo = 0, hi = K - 1, want = k - 1;
    while (lo < hi) {
        double piv = scratch[(lo + hi) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (scratch[i] > piv)
                i++;
            while (scratch[j] < piv)
                j--;
            if (i <= j) {
                double t = scratch[i];
                scratch[i] = scratch[j];
                scratch[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    thr = scratch[want];
    size_t taken = 0, equal_left = 0;
    for (size_t i = 0; i < K; i++)
        taken += fabs(x[i]) > thr;
    equal_left = k - taken; /* values equal to the threshold still to keep, earliest first */
    for (size_t i = 0; i < K; i++) {
        double a = fabs(x[i]);
        pass[i] = isnan(a) || a > thr || (a == thr && equal_left > 0 && (equal_left--, 1));
        y[i] = pass[i] ? x[i] : 0.0;
    }
}

/* A selection alone: the kept values exact, the rest 0, selected in chunks of
 * whole blocks of `group` values. */
void prune_select_alone(void (*sel)(const void *, void *, const double *, double *,
                                     unsigned char *, size_t),
                         size_t group, const void *pp, void *state, const double *x, double *y,
                         size_t n)
{
    unsigned char pass[4096];
    size_t step = 4096 - 4096 % group;
    for (size_t off = 0; off < n; off += step)
        sel(pp, state, x + off, y + off, pass, n - off < step ? n - off : step);
}
