/* Family `sparse`: magnitude pruning (a selecting format); formats/nm has N:M.
 *
 * sparse:density=D keeps the values with |x| > t, t = Φ^-1((1 + s)/2) for the
 *   zeroed fraction s = 1 - D (the population threshold of N(0,1), whose GMSE
 *   s - 2 t φ(t) is in tests/anchors/gaussian.json sparsity); with block=K it
 *   keeps the ceil(D K) largest magnitudes of every block of K (ties: the
 *   earlier value).
 * nm:n=N,m=M keeps the N largest magnitudes of every M consecutive values;
 *   a value of magnitude a is kept with probability
 *   Σ_{j<N} C(M-1, j) p^j (1-p)^(M-1-j), p = P(|X| > a) (exact path).
 * Alone, kept values are exact and pruned ones are 0. In a composition
 * (`2:4+int4`) the kept values go on to the next stage and pruned values stay
 * exactly 0. NaN stays NaN (kept, without taking the place of a value).
 * Bits: the mask (mask=entropy: H(D), or log2 C(M,N)/M resp.
 * log2 C(K, k)/K for blocks; bitmap: 1; none: 0) plus, added by the host,
 * the kept fraction times the bits of whatever stores the kept values (16
 * when nothing follows). */
#include <capmetric/format.h>

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"
#include "../prune/prune_int.h"

/* ---- sparse ------------------------------------------------------------------ */

typedef struct sparse {
    double density, t;
    size_t K, k; /* block size and kept per block (K = 0: population threshold) */
    int mask;
} sparse;

static const cm_param sparse_keys[] = {
    {.key = "density", .type = CM_PARAM_REAL, .def = "0.5",
     .doc = "fraction of values kept (the largest magnitudes), in (0, 1]", .min = 1e-9, .max = 1},
    {.key = "block", .type = CM_PARAM_INT, .def = "0",
     .doc = "0: keep |x| above the N(0,1) quantile; K: keep the ceil(D*K) largest of each block",
     .min = 0, .max = 4096},
    {.key = "mask", .type = CM_PARAM_ENUM, .def = "entropy",
     .doc = "mask bits: entropy (H(D), or log2 C(K,k)/K), bitmap (1), none (0)",
     .choices = CM_MASK_CHOICES},
};

static cm_status sparse_parse(const cm_value *v, void **out, cm_diag *d)
{
    sparse *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->density = v[0].num;
    p->K = (size_t)v[1].num;
    p->k = p->K ? (size_t)ceil(p->density * (double)p->K - 1e-9) : 0;
    if (p->K && p->k == 0)
        p->k = 1;
    p->mask = (int)v[2].num;
    /* zeroed fraction s: threshold Φ^-1((1 + s)/2) */
    double s = 1.0 - p->density;
    p->t = s > 0 ? gsl_cdf_ugaussian_Pinv(0.5 * (1.0 + s)) : 0.0;
    *out = p;
    return CM_OK;
}

static void sparse_free(void *p) { free(p); }

static double sparse_kept(const sparse *p)
{
    return p->K ? (double)p->k / (double)p->K : p->density;
}

static double sparse_bits(const void *pp)
{
    const sparse *p = pp;
    return cm_mask_bits(p->mask, (double)p->K, (double)p->k, sparse_kept(p));
}

static size_t sparse_group(const void *pp)
{
    const sparse *p = pp;
    return p->K ? p->K : 1;
}

static size_t sparse_state_size(const void *pp)
{
    const sparse *p = pp;
    return p->K > 64 ? p->K * sizeof(double) : 0;
}

static void sparse_select(const void *pp, void *state, const double *x, double *y,
                          unsigned char *pass, size_t n)
{
    const sparse *p = pp;
    if (!p->K) {
        for (size_t i = 0; i < n; i++) {
            pass[i] = fabs(x[i]) > p->t || isnan(x[i]);
            y[i] = pass[i] ? x[i] : 0.0;
        }
        return;
    }
    for (size_t b = 0; b < n; b += p->K)
        prune_keep_top(x + b, y + b, pass + b, p->K, p->k, state);
}

static void sparse_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    prune_select_alone(sparse_select, sparse_group(pp), pp, state, x, y, n);
}

static double sparse_pass_fraction(const void *pp) { return sparse_kept(pp); }

static double sparse_pass_prob(const void *pp, double a)
{
    const sparse *p = pp;
    return p->K ? NAN : (a > p->t ? 1.0 : 0.0);
}

static double sparse_threshold(const void *pp, int *above)
{
    const sparse *p = pp;
    *above = 1;
    return p->K ? NAN : p->t;
}

const cm_format cm_format_sparse = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "sparse",
    .summary = "unstructured magnitude pruning (keep a fraction D of the values)",
    .params = sparse_keys,
    .n_params = sizeof sparse_keys / sizeof sparse_keys[0],
    .params_parse = sparse_parse,
    .params_free = sparse_free,
    .bits_per_value = sparse_bits,
    .group = sparse_group,
    .quantize = sparse_quantize,
    .state_size = sparse_state_size,
    .select = sparse_select,
    .pass_fraction = sparse_pass_fraction,
    .pass_prob = sparse_pass_prob,
    .pass_threshold = sparse_threshold,
    .reject_mse = prune_square,
};
