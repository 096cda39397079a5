/* Family `int`: uniform integer grids at unit scale.
 *   midrise   : 2^B levels k + 1/2, k = -2^(B-1) .. 2^(B-1)-1 (no zero; the
 *               "INT-b" grid of QuEST arXiv 2502.05003 and the Unified paper)
 *   symmetric : 2^B - 1 levels -(2^(B-1)-1) .. 2^(B-1)-1 (with zero)
 *   twos      : 2^B levels -2^(B-1) .. 2^(B-1)-1 (two's complement)
 * Rounding to nearest, ties to the even code, saturation; NaN stays NaN,
 * +-inf saturate; the zero level is +0. Codes: k - kmin. */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <math.h>
#include <stdlib.h>

enum { GRID_MIDRISE, GRID_SYMMETRIC, GRID_TWOS };
enum { PACK_CODE, PACK_DENSE };

typedef struct int_params {
    int bits, grid, pack;
    double kmin, kmax; /* code range in grid units */
} int_params;

static const cm_param int_keys[] = {
    {.key = "bits", .type = CM_PARAM_INT, .def = "4", .doc = "bits per code B", .min = 1,
     .max = 16},
    {.key = "grid", .type = CM_PARAM_ENUM, .def = "midrise",
     .doc = "midrise: 2^B levels +-1/2, +-3/2, ...; symmetric: 2^B-1 levels with 0; twos: "
            "-2^(B-1)..2^(B-1)-1",
     .choices = "midrise|symmetric|twos"},
    {.key = "pack", .type = CM_PARAM_ENUM, .def = "code",
     .doc = "bits reported: code = B; dense = log2(number of levels) (ideal packing)",
     .choices = "code|dense"},
};

static const cm_alias int_aliases[] = {
    {"int1", "int:bits=1"}, {"int2", "int:bits=2"}, {"int3", "int:bits=3"},
    {"int4", "int:bits=4"}, {"int5", "int:bits=5"}, {"int6", "int:bits=6"},
    {"int7", "int:bits=7"}, {"int8", "int:bits=8"},
    {"ternary", "int:bits=2,grid=symmetric,pack=dense"},
};

static cm_status int_parse(const cm_value *v, void **out, cm_diag *d)
{
    int_params *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->bits = (int)v[0].num;
    p->grid = (int)v[1].num;
    p->pack = (int)v[2].num;
    double h = ldexp(1.0, p->bits - 1);
    if (p->grid == GRID_SYMMETRIC && p->bits < 2) {
        free(p);
        return cm_diag_set_key(d, CM_ERANGE, "bits",
                               "int: grid=symmetric needs bits >= 2 (1 bit has a single level)");
    }
    p->kmin = p->grid == GRID_SYMMETRIC ? -(h - 1) : -h;
    p->kmax = h - 1;
    *out = p;
    return CM_OK;
}

static void int_free(void *p) { free(p); }

static size_t int_count(const int_params *p) { return (size_t)(p->kmax - p->kmin + 1); }

static double int_bits(const void *pp)
{
    const int_params *p = pp;
    return p->pack == PACK_DENSE ? log2((double)int_count(p)) : (double)p->bits;
}

static size_t int_group(const void *p)
{
    (void)p;
    return 1;
}

static inline double level_of(const int_params *p, double k)
{
    return p->grid == GRID_MIDRISE ? k + 0.5 : k;
}

/* grid units: the code k nearest to v, saturated; NaN propagates. For the
 * midrise grid (levels k + 1/2) the nearest code is round(v - 1/2), whose
 * ties-to-even rounding is exactly "ties to the even code". */
static inline double code_of(const int_params *p, double v)
{
    double k = cm_round_even(v - (p->grid == GRID_MIDRISE ? 0.5 : 0.0));
    k = k < p->kmin ? p->kmin : k;
    k = k > p->kmax ? p->kmax : k;
    return k;
}

static void int_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const int_params *p = pp;
    (void)state;
    for (size_t i = 0; i < n; i++)
        y[i] = level_of(p, code_of(p, x[i]));
}

static cm_status int_levels(const void *pp, double *out, size_t cap, size_t *count)
{
    const int_params *p = pp;
    size_t n = int_count(p);
    *count = n;
    if (!out)
        return CM_OK;
    if (cap < n)
        return CM_ERANGE;
    for (size_t i = 0; i < n; i++)
        out[i] = level_of(p, p->kmin + (double)i);
    return CM_OK;
}

static cm_status int_encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    const int_params *p = pp;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return CM_EUNSUPPORTED; /* integer grids have no NaN code */
        codes[i] = (uint64_t)(code_of(p, x[i]) - p->kmin);
    }
    return CM_OK;
}

static cm_status int_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    const int_params *p = pp;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >= int_count(p))
            return CM_ERANGE;
        x[i] = level_of(p, p->kmin + (double)codes[i]);
    }
    return CM_OK;
}

const cm_format cm_format_int = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "int",
    .summary = "uniform integer grid (midrise, symmetric or two's complement)",
    .params = int_keys,
    .n_params = sizeof int_keys / sizeof int_keys[0],
    .flags = CM_FORMAT_SCALAR,
    .params_parse = int_parse,
    .params_free = int_free,
    .bits_per_value = int_bits,
    .group = int_group,
    .quantize = int_quantize,
    .levels = int_levels,
    .encode = int_encode,
    .decode = int_decode,
    .aliases = int_aliases,
    .n_aliases = sizeof int_aliases / sizeof int_aliases[0],
};
