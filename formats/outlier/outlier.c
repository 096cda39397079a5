/* Family `outlier`: keep the fraction P of largest magnitudes aside and send
 * the rest on (a selecting format; the Unified paper's Fig. 4 trade-off).
 *
 * Values with |x| >= t, t = Φ^-1(1 - P/2) (the N(0,1) quantile), are kept
 * exactly and stored at `bits` bits each plus their position (mask=entropy:
 * H(P) bits per value; bitmap: 1; none: 0); the others go to the next stage
 * of a composition (`outlier:frac=0.01+int4`), which then sees a Gaussian
 * truncated to (-t, t) and optimizes its scale for it. Alone, every value is
 * kept exactly. */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <gsl/gsl_cdf.h>

#include <math.h>
#include <stdlib.h>

typedef struct outlier {
    double frac, t;
    int bits, mask;
} outlier;

static const cm_param keys[] = {
    {.key = "frac", .type = CM_PARAM_REAL, .def = "0.01",
     .doc = "fraction of values kept aside (the largest magnitudes)", .min = 1e-9, .max = 0.5},
    {.key = "bits", .type = CM_PARAM_INT, .def = "16",
     .doc = "storage bits of one outlier value (kept exactly)", .min = 1, .max = 64},
    {.key = "mask", .type = CM_PARAM_ENUM, .def = "entropy",
     .doc = "position bits: entropy (H(P)), bitmap (1), none (0)",
     .choices = CM_MASK_CHOICES},
};

static cm_status ol_parse(const cm_value *v, void **out, cm_diag *d)
{
    outlier *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->frac = v[0].num;
    p->bits = (int)v[1].num;
    p->mask = (int)v[2].num;
    p->t = gsl_cdf_ugaussian_Qinv(0.5 * p->frac); /* P(|X| >= t) = frac */
    *out = p;
    return CM_OK;
}

static void ol_free(void *p) { free(p); }

static double ol_bits(const void *pp)
{
    const outlier *p = pp;
    return p->frac * p->bits + cm_mask_bits(p->mask, 0, 0, p->frac);
}

static size_t ol_group(const void *p)
{
    (void)p;
    return 1;
}

static void ol_select(const void *pp, void *state, const double *x, double *y,
                      unsigned char *pass, size_t n)
{
    const outlier *p = pp;
    (void)state;
    for (size_t i = 0; i < n; i++) {
        pass[i] = (unsigned char)!(fabs(x[i]) >= p->t);
        y[i] = x[i];
    }
}

static void ol_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    (void)pp;
    (void)state;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
}

static double ol_pass_fraction(const void *pp) { return 1.0 - ((const outlier *)pp)->frac; }

static double ol_pass_prob(const void *pp, double a) { return a < ((const outlier *)pp)->t; }

static double ol_threshold(const void *pp, int *above)
{
    *above = 0;
    return ((const outlier *)pp)->t;
}

static double ol_reject(const void *pp, double a)
{
    (void)pp;
    (void)a;
    return 0.0;
}

const cm_format cm_format_outlier = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "outlier",
    .summary = "keep the largest fraction P of values exactly, pass the rest on",
    .params = keys,
    .n_params = sizeof keys / sizeof keys[0],
    .params_parse = ol_parse,
    .params_free = ol_free,
    .bits_per_value = ol_bits,
    .group = ol_group,
    .quantize = ol_quantize,
    .select = ol_select,
    .pass_fraction = ol_pass_fraction,
    .pass_prob = ol_pass_prob,
    .pass_threshold = ol_threshold,
    .reject_mse = ol_reject,
};
