/* Family `nm`: N:M structured pruning (a selecting format).
 *
 * nm:n=N,m=M keeps the N largest magnitudes of every M consecutive values;
 *   a value of magnitude a is kept with probability
 *   Σ_{j<N} C(M-1, j) p^j (1-p)^(M-1-j), p = P(|X| > a) (exact path).
 * Alone, kept values are exact and pruned ones are 0. In a composition
 * (`2:4+int4`) the kept values go on to the next stage and pruned values stay
 * exactly 0. NaN stays NaN (kept, without taking the place of a value).
 * Bits: the mask (mask=entropy: log2 C(M,N)/M; bitmap: 1; none: 0) plus,
 * added by the host, the kept fraction times the bits of whatever stores the
 * kept values (16 when nothing follows). */
#include <capmetric/format.h>

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"
#include "../prune/prune_int.h"

/* ---- nm ---------------------------------------------------------------------------- */

typedef struct nm {
    size_t n, m;
    int mask;
    double lc[64]; /* log C(m-1, j) */
} nm;

static const cm_param nm_keys[] = {
    {.key = "n", .type = CM_PARAM_INT, .def = "2", .doc = "values kept per group", .min = 1,
     .max = 63},
    {.key = "m", .type = CM_PARAM_INT, .def = "4", .doc = "group size", .min = 2, .max = 64},
    {.key = "mask", .type = CM_PARAM_ENUM, .def = "entropy",
     .doc = "mask bits: entropy (log2 C(M,N)/M), bitmap (1), none (0)",
     .choices = CM_MASK_CHOICES},
};

static const cm_alias nm_aliases[] = {
    {"2:4", "nm:n=2,m=4"}, {"4:8", "nm:n=4,m=8"}, {"1:4", "nm:n=1,m=4"}, {"1:2", "nm:n=1,m=2"},
};

static cm_status nm_parse(const cm_value *v, void **out, cm_diag *d)
{
    size_t n = (size_t)v[0].num, m = (size_t)v[1].num;
    if (n >= m)
        return cm_diag_set_key(d, CM_ERANGE, "n", "nm: n must be below m (n=%zu, m=%zu)", n, m);
    nm *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->n = n;
    p->m = m;
    p->mask = (int)v[2].num;
    for (size_t j = 0; j < m; j++)
        p->lc[j] = lgamma((double)m) - lgamma((double)j + 1) - lgamma((double)(m - j));
    *out = p;
    return CM_OK;
}

static void nm_free(void *p) { free(p); }

static double nm_bits(const void *pp)
{
    const nm *p = pp;
    return cm_mask_bits(p->mask, (double)p->m, (double)p->n, (double)p->n / (double)p->m);
}

static size_t nm_group(const void *pp) { return ((const nm *)pp)->m; }

static void nm_select(const void *pp, void *state, const double *x, double *y,
                      unsigned char *pass, size_t n)
{
    const nm *p = pp;
    (void)state;
    for (size_t b = 0; b < n; b += p->m)
        prune_keep_top(x + b, y + b, pass + b, p->m, p->n, NULL);
}

static void nm_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    prune_select_alone(nm_select, nm_group(pp), pp, state, x, y, n);
}

static double nm_pass_fraction(const void *pp)
{
    const nm *p = pp;
    return (double)p->n / (double)p->m;
}

/* P(kept | |x| = a): fewer than n of the other m-1 exceed a */
static double nm_pass_prob(const void *pp, double a)
{
    const nm *p = pp;
    double q = erfc(a * M_SQRT1_2); /* P(|X| > a) */
    if (q <= 0)
        return 1.0;
    if (q >= 1)
        return p->n >= p->m ? 1.0 : 0.0;
    double lq = log(q), l1q = log1p(-q), sum = 0;
    for (size_t j = 0; j < p->n; j++)
        sum += exp(p->lc[j] + (double)j * lq + (double)(p->m - 1 - j) * l1q);
    return sum > 1 ? 1.0 : sum;
}

static double nm_threshold(const void *pp, int *above)
{
    (void)pp;
    *above = 1;
    return NAN;
}

const cm_format cm_format_nm = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "nm",
    .summary = "N:M structured sparsity (keep the N largest of every M)",
    .params = nm_keys,
    .n_params = sizeof nm_keys / sizeof nm_keys[0],
    .params_parse = nm_parse,
    .params_free = nm_free,
    .bits_per_value = nm_bits,
    .group = nm_group,
    .quantize = nm_quantize,
    .aliases = nm_aliases,
    .n_aliases = sizeof nm_aliases / sizeof nm_aliases[0],
    .select = nm_select,
    .pass_fraction = nm_pass_fraction,
    .pass_prob = nm_pass_prob,
    .pass_threshold = nm_threshold,
    .reject_mse = prune_square,
};
