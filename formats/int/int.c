/* Family `int`: uniform integer grids at unit scale.
 *   midrise   : 2^B levels k + 1/2, k = -2^(B-1) .. 2^(B-1)-1 (no zero; the
 *               "INT-b" grid of QuEST arXiv 2502.05003 and the Unified paper)
 *   symmetric : 2^B - 1 levels -(2^(B-1)-1) .. 2^(B-1)-1 (with zero)
 *   twos      : 2^B levels -2^(B-1) .. 2^(B-1)-1 (two's complement)
 * Rounding to nearest, ties to the even code, saturation; NaN stays NaN,
 * +-inf saturate; the zero level is +0. Codes: k in B-bit two's complement
 * (so an even code is an even k; -2^(B-1) is not a code of the symmetric grid). */
#include <capmetric/format.h>
#include <capmetric/grid.h>
#include <capmetric/rng.h>

#include <math.h>
#include <stdlib.h>

#include "../host_int.h"

enum { GRID_MIDRISE, GRID_SYMMETRIC, GRID_TWOS };
enum { PACK_CODE, PACK_DENSE };

enum { RND_RNE, RND_AWAY, RND_SR };

typedef struct int_params {
    int bits, grid, pack, round;
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
    {.key = "round", .type = CM_PARAM_ENUM, .def = "rne",
     .doc = "rne: nearest, ties to the even code; away: ties away from zero; stochastic: "
            "unbiased random (saturating outside the grid)",
     .choices = "rne|away|stochastic"},
};

static const cm_alias int_aliases[] = {
    {"int1", "int:bits=1"}, {"int2", "int:bits=2"}, {"int3", "int:bits=3"},
    {"int4", "int:bits=4"}, {"int5", "int:bits=5"}, {"int6", "int:bits=6"},
    {"int7", "int:bits=7"}, {"int8", "int:bits=8"},
    {"ternary", "int:bits=2,grid=symmetric,pack=dense"},
    /* OCP MX v1.0 MXINT8: elements +-127/64 (codes clamped to +-127), E8M0 scale */
    {"mxint8", "int:bits=8,grid=symmetric,block=32,scale=floor,scale_fmt=e8m0"},
    /* group-wise INT4 (levels -7..7, absmax scale per group) */
    {"int4_g32", "int:bits=4,grid=symmetric,block=32"},
    {"int4_g64", "int:bits=4,grid=symmetric,block=64"},
    {"int4_g128", "int:bits=4,grid=symmetric,block=128"},
    /* INT4 elements (-7..7) under NVFP4's two-level scale: blocks of 16, E4M3
     * scale, FP32 tensor scale (the NVINT4 of arXiv 2510.25602) */
    {"nvint4", "int:bits=4,grid=symmetric,block=16,scale=absmax,scale_fmt=e4m3,tensor_scale=fp32"},
    /* MXINT8's recipe with 4-bit elements: blocks of 32, E8M0 floor scale (the
     * MXINT4 of arXiv 2510.25602) */
    {"mxint4", "int:bits=4,grid=symmetric,block=32,scale=floor,scale_fmt=e8m0"},
};

static cm_status int_parse(const cm_value *v, void **out, cm_diag *d)
{
    int_params *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->bits = (int)v[0].num;
    p->grid = (int)v[1].num;
    p->pack = (int)v[2].num;
    p->round = (int)v[3].num;
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

/* grid units: the code k nearest to v, saturated; NaN propagates.
 * Midrise (levels k + 1/2): k = floor(v), exact for every v (v - 1/2 would
 * round away values below half an ulp of 1/2); v exactly on an integer is a
 * tie between codes v-1 and v, which goes to the even one. */
static inline double code_of(const int_params *p, double v)
{
    double k;
    if (p->grid == GRID_MIDRISE) {
        double r = cm_round_even(v);
        k = r > v ? r - 1.0 : r;
        double odd = k != 2.0 * cm_round_even(0.5 * k) ? 1.0 : 0.0;
        k -= v == k ? odd : 0.0;
    } else {
        k = cm_round_even(v);
    }
    k = k < p->kmin ? p->kmin : k;
    k = k > p->kmax ? p->kmax : k;
    return k;
}

/* round=away and round=stochastic (u in [0,1); u = 1/2 without a state) */
static double code_slow(const int_params *p, double v, double u)
{
    double off = p->grid == GRID_MIDRISE ? 0.5 : 0.0, t = v - off;
    double r = cm_round_even(t), fl = r > t ? r - 1 : r, k;
    if (p->round == RND_SR)
        k = fl + (u < t - fl ? 1.0 : 0.0);
    else if (t - fl == 0.5) /* a tie: away from zero (the level, not the code) */
        k = v >= 0 ? fl + 1 : fl;
    else
        k = r;
    k = k < p->kmin ? p->kmin : k;
    k = k > p->kmax ? p->kmax : k;
    return isnan(v) ? v : k;
}

typedef struct int_state {
    cm_pcg64 g;
} int_state;

CM_HOT_LOOP
static void int_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const int_params *p = pp;
    const double lo = p->kmin, hi = p->kmax;
    if (p->round != RND_RNE) {
        const double off = p->grid == GRID_MIDRISE ? 0.5 : 0.0;
        int_state *st = state;
        for (size_t i = 0; i < n; i++)
            y[i] = code_slow(p, x[i], st && p->round == RND_SR ? CM_HOST->uniform01(&st->g) : 0.5) + off;
        return;
    }
    if (p->grid != GRID_MIDRISE) {
        for (size_t i = 0; i < n; i++) {
            double k = cm_round_even(x[i]);
            k = k < lo ? lo : k;
            y[i] = (k > hi ? hi : k);
        }
        return;
    }
    /* nearest level = round(x - 1/2) + 1/2, except where x - 1/2 is a tie:
     * a true tie (x an integer, whose even code code_of() picks) or x - 1/2
     * rounded (|x| below 2^-54, beyond the clamp otherwise); those few are
     * redone by code_of() in a second pass, only when one occurred */
    double tie = 0.0;
    for (size_t i = 0; i < n; i++) {
        double t = x[i] - 0.5, k = cm_round_even(t);
        tie = fabs(t - k) == 0.5 ? 1.0 : tie;
        k = k < lo ? lo : k;
        y[i] = (k > hi ? hi : k) + 0.5;
    }
    if (__builtin_expect(tie != 0.0, 0))
        for (size_t i = 0; i < n; i++) {
            double t = x[i] - 0.5;
            if (fabs(t - cm_round_even(t)) == 0.5)
                y[i] = code_of(p, x[i]) + 0.5;
        }
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
    const uint64_t mask = ((uint64_t)1 << p->bits) - 1;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return CM_EUNSUPPORTED; /* integer grids have no NaN code */
        double k = p->round == RND_RNE ? code_of(p, x[i]) : code_slow(p, x[i], 0.5);
        codes[i] = (uint64_t)(int64_t)k & mask;
    }
    return CM_OK;
}

static cm_status int_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    const int_params *p = pp;
    const uint64_t span = (uint64_t)1 << p->bits;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >= span)
            return CM_ERANGE;
        double k = codes[i] < span / 2 ? (double)codes[i] : (double)codes[i] - (double)span;
        if (k < p->kmin)
            return CM_ERANGE;
        x[i] = level_of(p, k);
    }
    return CM_OK;
}

static size_t int_state_size(const void *pp)
{
    return ((const int_params *)pp)->round == RND_SR ? sizeof(int_state) : 0;
}

static cm_status int_state_init(const void *pp, void *state)
{
    (void)pp;
    CM_HOST->rng_stream(&((int_state *)state)->g, 0, 0);
    return CM_OK;
}

static void int_state_seed(const void *pp, void *state, uint64_t seed)
{
    (void)pp;
    CM_HOST->rng_stream(&((int_state *)state)->g, seed, 0);
}

static unsigned int_rounding(const void *pp)
{
    int r = ((const int_params *)pp)->round;
    return r == RND_SR ? CM_ROUND_STOCHASTIC : r == RND_AWAY ? CM_ROUND_TIES_AWAY : CM_ROUND_NEAREST;
}

const cm_format cm_format_int = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "int",
    .summary = "uniform integer grid (midrise, symmetric or two's complement)",
    .params = int_keys,
    .n_params = sizeof int_keys / sizeof int_keys[0],
    .flags = CM_FORMAT_SCALAR | CM_FORMAT_POW2,
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
    .state_size = int_state_size,
    .state_init = int_state_init,
    .rounding = int_rounding,
    .state_seed = int_state_seed,
};
