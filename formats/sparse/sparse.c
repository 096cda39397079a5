/* Families `sparse` and `nm`: magnitude pruning (selecting formats).
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
#include <capmetric/grid.h>

#include <gsl/gsl_cdf.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* log2 of the binomial coefficient C(n, k) */
static double square(const void *p, double a)
{
    (void)p;
    return a * a;
}

/* keep the k largest |x| of x[0..K) (ties: the earlier), by rank counting
 * (K <= 64) or with a sorted copy of the magnitudes (larger blocks) */
static void keep_top(const double *x, double *y, unsigned char *pass, size_t K, size_t k,
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
        keep_top(x + b, y + b, pass + b, p->K, p->k, state);
}

/* A selection alone: the kept values exact, the rest 0, selected in chunks of
 * whole blocks of `group` values. */
static void select_alone(void (*sel)(const void *, void *, const double *, double *,
                                     unsigned char *, size_t),
                         size_t group, const void *pp, void *state, const double *x, double *y,
                         size_t n)
{
    unsigned char pass[4096];
    size_t step = 4096 - 4096 % group;
    for (size_t off = 0; off < n; off += step)
        sel(pp, state, x + off, y + off, pass, n - off < step ? n - off : step);
}

static void sparse_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    select_alone(sparse_select, sparse_group(pp), pp, state, x, y, n);
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
    .reject_mse = square,
};

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
        keep_top(x + b, y + b, pass + b, p->m, p->n, NULL);
}

static void nm_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    select_alone(nm_select, nm_group(pp), pp, state, x, y, n);
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
    .reject_mse = square,
};
