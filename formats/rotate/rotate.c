/* Families `rht` and `hadamard`: rotations along the last dimension. A
 * transform stage maps each run of K consecutive values to another basis
 * (quantize), the stages after it run there, and inverse() maps their
 * result back, so the error is measured in the data's own basis.
 *   hadamard:dim=K     y = H x / sqrt(K), H the Sylvester-Hadamard matrix
 *                      (the fast Walsh-Hadamard transform, K a power of two)
 *   rht:dim=K,seed=S   y = H D x / sqrt(K), D a diagonal of random signs drawn
 *                      from seed S, the same for every run (the randomized
 *                      Hadamard transform of QuaRot, arXiv 2404.00456, and
 *                      Quartet, arXiv 2505.14669)
 * Both are orthonormal: their inverses are D H / sqrt(K) and H / sqrt(K).
 * They cost no storage (bits 0: the signs come from a seed). */
#include <capmetric/format.h>
#include <capmetric/rng.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"

#define DIM_MAX 4096

typedef struct rot {
    size_t k;
    int random;
    uint64_t seed;
    double norm;        /* 1/sqrt(K) */
    signed char *sign;  /* K signs (rht) */
} rot;

static const cm_param rht_params[] = {
    {"dim", CM_PARAM_INT, "32", "values rotated together (a power of two, 1..4096)", NULL, 1,
     DIM_MAX},
    {"seed", CM_PARAM_INT, "0", "seed of the random signs", NULL, 0, 9007199254740991.0},
};

static cm_status parse(const cm_value *v, void **out, cm_diag *d, int random)
{
    size_t k = (size_t)v[0].num;
    if (k & (k - 1))
        return cm_diag_set_key(d, CM_ERANGE, "dim",
                               "dim=%zu is not a power of two (accepted: 1, 2, 4, ..., 4096)", k);
    rot *r = calloc(1, sizeof *r);
    if (!r || (random && !(r->sign = malloc(k)))) {
        free(r);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    r->k = k;
    r->random = random;
    r->norm = 1.0 / sqrt((double)k);
    if (random) {
        r->seed = (uint64_t)v[1].num;
        cm_pcg64 g;
        CM_HOST->rng_stream(&g, r->seed, 0x726874ull); /* "rht" */
        for (size_t i = 0; i < k; i++)
            r->sign[i] = (CM_HOST->rng_next(&g) >> 63) ? -1 : 1;
    }
    *out = r;
    return CM_OK;
}

static cm_status rht_parse(const cm_value *v, void **out, cm_diag *d) { return parse(v, out, d, 1); }
static cm_status had_parse(const cm_value *v, void **out, cm_diag *d) { return parse(v, out, d, 0); }

static void rot_free(void *p)
{
    rot *r = p;
    if (r) {
        free(r->sign);
        free(r);
    }
}

static double rot_bits(const void *p)
{
    (void)p;
    return 0;
}

static size_t rot_group(const void *p) { return ((const rot *)p)->k; }

/* in-place fast Walsh-Hadamard transform of k values, scaled by 1/sqrt(k) */
static void fwht(double *a, size_t k, double norm)
{
    for (size_t h = 1; h < k; h *= 2)
        for (size_t i = 0; i < k; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                double x = a[j], y = a[j + h];
                a[j] = x + y;
                a[j + h] = x - y;
            }
    for (size_t i = 0; i < k; i++)
        a[i] *= norm;
}

static void forward(const void *p, void *state, const double *x, double *y, size_t n)
{
    (void)state;
    const rot *r = p;
    for (size_t b = 0; b < n; b += r->k) {
        for (size_t i = 0; i < r->k; i++)
            y[b + i] = r->random ? r->sign[i] * x[b + i] : x[b + i];
        fwht(y + b, r->k, r->norm);
    }
}

static void inverse(const void *p, void *state, const double *x, double *y, size_t n)
{
    (void)state;
    const rot *r = p;
    for (size_t b = 0; b < n; b += r->k) {
        memcpy(y + b, x + b, r->k * sizeof *y);
        fwht(y + b, r->k, r->norm);
        if (r->random)
            for (size_t i = 0; i < r->k; i++)
                y[b + i] *= r->sign[i];
    }
}

/* the two families differ in name, doc, keys (seed) and the signs */
#define ROTATION_FORMAT(NAME, SUMMARY, NPARAMS, PARSE)                                       \
    {                                                                                         \
        .abi = CM_ABI_VERSION, .size = sizeof(cm_format), .name = NAME, .summary = SUMMARY,   \
        .flags = CM_FORMAT_TRANSFORM, .params = rht_params, .n_params = NPARAMS,              \
        .params_parse = PARSE, .params_free = rot_free, .bits_per_value = rot_bits,           \
        .group = rot_group, .quantize = forward, .inverse = inverse,                          \
    }

const cm_format cm_format_rht =
    ROTATION_FORMAT("rht",
                    "random-sign Hadamard rotation of each DIM values before the next stages, "
                    "inverted after them (QuaRot, Quartet)",
                    2, rht_parse);

const cm_format cm_format_hadamard =
    ROTATION_FORMAT("hadamard",
                    "Hadamard rotation of each DIM values before the next stages, inverted "
                    "after them",
                    1, had_parse);
