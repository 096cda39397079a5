/* Family `fp`: sign + E exponent bits + M mantissa bits (ExMy), at unit scale.
 *   value(e, m) = 2^(e - bias) (1 + m/2^M) for e >= 1, and the subnormals
 *   2^(1 - bias) m/2^M for e = 0 (flushed to 0 with subnormals=0).
 * special=none : every code finite (the scaling-law papers' convention,
 *                Sun et al. arXiv 2501.02423);
 * special=ieee : the top exponent is reserved for Inf/NaN;
 * special=ocp  : OCP OFP8 — E4M3 keeps the top binade but S.1111.111 is NaN
 *                (max 448), E5M2 is IEEE-like (max 57344), other widths have
 *                no special codes (OCP MX v1.0 FP6/FP4); tests/anchors/formats.json.
 * E = 0 is a pure fixed-point grid (subnormals only).
 * round=rne (default): nearest, ties to the even mantissa; round=away: ties
 * away from zero; round=stochastic: up or down with probability by distance
 * (the state's random stream, reseeded by the engine per batch).
 * overflow=saturate (default): beyond the largest finite value (and +-inf)
 * saturates; overflow=inf (special=ocp|ieee only): a value that rounds past
 * the largest finite value becomes Inf (IEEE-like) or NaN (E4M3, which has no
 * Inf), as OCP OFP8's non-saturating conversion. NaN stays NaN.
 * Codes: sign << (E+M) | e << M | m; encode rounds like quantize (to nearest
 * for round=stochastic, which needs the state). */
#include <capmetric/format.h>
#include <capmetric/grid.h>
#include <capmetric/rng.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"

enum { SP_NONE, SP_OCP, SP_IEEE };
static const char *const sp_names[] = {"none", "ocp", "ieee"};

enum { RND_RNE, RND_AWAY, RND_SR };

typedef struct fp_params {
    int E, M, special, subnormals, bias, round, overflow_inf;
    int emin;          /* exponent of the smallest normal: 1 - bias */
    double maxv;       /* largest finite value */
    double minnorm;    /* 2^emin */
    double sub_q;      /* quantum of the subnormals: 2^(emin - M) */
    cm_fpgrid grid;    /* what cm_fp_round needs */
    int has_nan;
    uint64_t nan_code; /* positive NaN code when has_nan */
} fp_params;

static const cm_param fp_keys[] = {
    {.key = "e", .type = CM_PARAM_INT, .def = "2", .doc = "exponent bits E (0 = fixed point)",
     .min = 0, .max = 8},
    {.key = "m", .type = CM_PARAM_INT, .def = "1", .doc = "mantissa bits M", .min = 0, .max = 23},
    {.key = "special", .type = CM_PARAM_ENUM, .def = "none",
     .doc = "none: all codes finite; ieee: top exponent is Inf/NaN; ocp: OCP OFP8/MX rules",
     .choices = "none|ocp|ieee"},
    {.key = "subnormals", .type = CM_PARAM_INT, .def = "1",
     .doc = "1: subnormals; 0: flush them to zero", .min = 0, .max = 1},
    {.key = "bias", .type = CM_PARAM_REAL, .def = "auto",
     .doc = "exponent bias (auto = 2^(E-1)-1); irrelevant to GMSE under scale=opt",
     .choices = "auto", .min = -1100, .max = 1100},
    {.key = "round", .type = CM_PARAM_ENUM, .def = "rne",
     .doc = "rne: nearest, ties to even; away: ties away from zero; stochastic: unbiased random",
     .choices = "rne|away|stochastic"},
    {.key = "overflow", .type = CM_PARAM_ENUM, .def = "saturate",
     .doc = "saturate: clamp to the largest finite value; inf: Inf/NaN as OCP's non-saturating "
            "mode (special=ocp|ieee)",
     .choices = "saturate|inf"},
};

static const cm_alias fp_aliases[] = {
    {"fp4", "fp:e=2,m=1"},
    {"e2m1", "fp:e=2,m=1"},
    {"e2m3", "fp:e=2,m=3"},
    {"e3m2", "fp:e=3,m=2"},
    /* a uniform 4-bit grid: 0, 0.25 .. 1.75 (E1M2); UFP4 of arXiv 2606.20381 is
     * built on uniform FP4 grids */
    {"e1m2", "fp:e=1,m=2"},
    {"ufp4", "fp:e=1,m=2"},
    {"e4m3", "fp:e=4,m=3,special=ocp"},
    {"e5m2", "fp:e=5,m=2,special=ocp"},
    {"fp8", "fp:e=4,m=3,special=ocp"},
    {"fp16", "fp:e=5,m=10,special=ieee"},
    {"bf16", "fp:e=8,m=7,special=ieee"},
    /* OCP MX v1.0: blocks of 32, E8M0 scale, shared_exp = floor(log2 amax) - emax_elem */
    {"mxfp4", "fp:e=2,m=1,block=32,scale=floor,scale_fmt=e8m0"},
    {"mxfp6_e2m3", "fp:e=2,m=3,block=32,scale=floor,scale_fmt=e8m0"},
    {"mxfp6_e3m2", "fp:e=3,m=2,block=32,scale=floor,scale_fmt=e8m0"},
    {"mxfp8_e4m3", "fp:e=4,m=3,special=ocp,block=32,scale=floor,scale_fmt=e8m0"},
    {"mxfp8_e5m2", "fp:e=5,m=2,special=ocp,block=32,scale=floor,scale_fmt=e8m0"},
    /* NVIDIA NVFP4: blocks of 16, E4M3 block scale under an FP32 tensor scale */
    {"nvfp4", "fp:e=2,m=1,block=16,scale=absmax,scale_fmt=e4m3,tensor_scale=fp32"},
    /* "four over six" (arXiv 2512.02010): block max mapped to 6 or 4, the better kept */
    {"nvfp4_4o6", "fp:e=2,m=1,block=16,scale=mse,candidates=2,scale_fmt=e4m3,tensor_scale=fp32"},
};

static double fp_value(const fp_params *p, int e, int m)
{
    if (e == 0)
        return p->subnormals ? ldexp((double)m, p->emin - p->M) : 0.0;
    return ldexp(1.0 + ldexp((double)m, -p->M), e - p->bias);
}

/* Is the code (e, m) a finite value of the format? */
static int fp_finite(const fp_params *p, int e, int m)
{
    int top = (1 << p->E) - 1;
    if (p->special == SP_IEEE && e == top && p->E > 0)
        return 0;
    if (p->special == SP_OCP && e == top && m == (1 << p->M) - 1)
        return 0;
    return 1;
}

static cm_status fp_parse(const cm_value *v, void **out, cm_diag *d)
{
    fp_params q = {0};
    q.E = (int)v[0].num;
    q.M = (int)v[1].num;
    q.special = (int)v[2].num;
    q.subnormals = (int)v[3].num;
    if (q.E + q.M < 1)
        return cm_diag_set_key(d, CM_ERANGE, "m", "fp: e + m must be at least 1 (e=0,m=0 has "
                                                  "only zero)");
    if (q.E == 0 && !q.subnormals)
        return cm_diag_set_key(d, CM_ERANGE, "subnormals",
                               "fp: e=0 is a fixed-point grid made of subnormals; it needs "
                               "subnormals=1");
    /* OCP defines special codes for E4M3 (fn) and E5M2 (IEEE) only */
    if (q.special == SP_OCP)
        q.special = (q.E == 5 && q.M == 2) ? SP_IEEE : (q.E == 4 && q.M == 3) ? SP_OCP : SP_NONE;
    if (q.special == SP_IEEE && q.E < 2)
        return cm_diag_set_key(d, CM_ERANGE, "special",
                               "fp: special=ieee needs e >= 2 (the top exponent is reserved)");
    if (v[4].is_word) {
        q.bias = q.E ? (1 << (q.E - 1)) - 1 : 0;
    } else {
        if (v[4].num != floor(v[4].num))
            return cm_diag_set_key(d, CM_ERANGE, "bias", "fp: bias must be an integer, not %s",
                                   v[4].text);
        q.bias = (int)v[4].num;
    }
    q.round = (int)v[5].num;
    q.overflow_inf = (int)v[6].num;
    if (q.overflow_inf && q.special == SP_NONE)
        return cm_diag_set_key(d, CM_EINVAL, "overflow",
                               "fp: overflow=inf needs Inf or NaN codes (special=ocp with e4m3/"
                               "e5m2, or special=ieee)");
    q.emin = 1 - q.bias;
    int top = q.E ? (1 << q.E) - 1 : 0;
    int emax = top - q.bias;
    /* every value and its quantum must be a normal double */
    if (q.emin - q.M < -1022 || emax > 1022)
        return cm_diag_set_key(d, CM_ERANGE, "bias",
                               "fp: bias %d puts the grid outside double range (accepted: "
                               "%d..%d for e=%d, m=%d)",
                               q.bias, top - 1022, 1023 - q.M, q.E, q.M);
    q.minnorm = ldexp(1.0, q.emin);
    q.sub_q = ldexp(1.0, q.emin - q.M);
    /* largest finite: scan the top codes downwards */
    q.maxv = 0;
    for (int e = top; e >= 0 && q.maxv == 0; e--)
        for (int m = (1 << q.M) - 1; m >= 0; m--)
            if (fp_finite(&q, e, m)) {
                q.maxv = fp_value(&q, e, m);
                break;
            }
    q.has_nan = q.special == SP_OCP || (q.special == SP_IEEE && q.M >= 1);
    if (q.has_nan)
        q.nan_code = ((uint64_t)top << q.M) | (uint64_t)((1 << q.M) - 1);
    q.grid.M = q.M;
    q.grid.emin = q.emin;
    q.grid.subnormals = q.subnormals;
    q.grid.maxv = q.maxv;
    fp_params *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    *p = q;
    *out = p;
    return CM_OK;
}

static void fp_free(void *p) { free(p); }

static double fp_bits(const void *pp)
{
    const fp_params *p = pp;
    return 1.0 + p->E + p->M;
}

static size_t fp_group(const void *p)
{
    (void)p;
    return 1;
}

static int fp_print(const void *pp, char *buf, size_t cap)
{
    static const char *const rnd[] = {"rne", "away", "stochastic"};
    const fp_params *p = pp;
    return snprintf(buf, cap, "e=%d,m=%d,special=%s,subnormals=%d,bias=%d,round=%s,overflow=%s",
                    p->E, p->M, sp_names[p->special], p->subnormals, p->bias, rnd[p->round],
                    p->overflow_inf ? "inf" : "saturate");
}

/* quantum exponent of |v| = a: the spacing of the grid around a is 2^q */
static inline int fp_quantum(const fp_params *p, double a)
{
    return a < p->minnorm ? p->emin - p->M : cm_ilog2(a) - p->M;
}

/* Rounding other than the fast RNE path: away from zero, stochastic (u in
 * [0,1)), and non-saturating overflow. */
static double fp_round_slow(const fp_params *p, double v, double u)
{
    double a = fabs(v);
    if (isnan(v))
        return v;
    if (!(a < INFINITY))
        return p->overflow_inf ? (p->special == SP_IEEE ? v : NAN) : copysign(p->maxv, v);
    double r;
    if (!p->subnormals && a < p->minnorm) {
        r = p->round == RND_SR ? (u * p->minnorm < a ? p->minnorm : 0.0)
            : (a > 0.5 * p->minnorm || (p->round == RND_AWAY && a == 0.5 * p->minnorm))
                ? p->minnorm
                : 0.0;
    } else {
        int q = fp_quantum(p, a);
        double t = a * cm_pow2i(-q), k = cm_round_even(t);
        if (p->round == RND_AWAY && t - (k > t ? k - 1 : k) == 0.5)
            k = (k > t ? k : k + 1); /* ties up in magnitude */
        else if (p->round == RND_SR) {
            double fl = k > t ? k - 1 : k;
            k = fl + (u < t - fl ? 1.0 : 0.0);
        }
        r = k * cm_pow2i(q);
    }
    if (r > p->maxv)
        r = p->overflow_inf ? (p->special == SP_IEEE ? INFINITY : NAN) : p->maxv;
    return copysign(r, v);
}

static inline double fp_round(const fp_params *p, double v)
{
    if (p->round == RND_RNE && !p->overflow_inf)
        return cm_fp_round(&p->grid, v);
    return fp_round_slow(p, v, 0.5); /* stochastic without a state: u = 1/2 */
}

typedef struct fp_state {
    cm_pcg64 g;
} fp_state;

CM_HOT_LOOP
static void fp_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const fp_params *p = pp;
    if (p->round == RND_SR && state) {
        fp_state *st = state;
        for (size_t i = 0; i < n; i++)
            y[i] = fp_round_slow(p, x[i], CM_HOST->uniform01(&st->g));
        return;
    }
    if (p->round == RND_RNE && !p->overflow_inf && p->grid.subnormals) {
        const cm_fpgrid g = p->grid;
        for (size_t i = 0; i < n; i++) /* (branch-free: vectorized) */
            y[i] = cm_fp_round_sub(&g, x[i]);
        return;
    }
    if (p->round == RND_RNE && !p->overflow_inf) {
        for (size_t i = 0; i < n; i++)
            y[i] = cm_fp_round(&p->grid, x[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = fp_round(p, x[i]);
}

static size_t fp_state_size(const void *pp)
{
    return ((const fp_params *)pp)->round == RND_SR ? sizeof(fp_state) : 0;
}

static cm_status fp_state_init(const void *pp, void *state)
{
    (void)pp;
    CM_HOST->rng_stream(&((fp_state *)state)->g, 0, 0);
    return CM_OK;
}

static void fp_state_seed(const void *pp, void *state, uint64_t seed)
{
    (void)pp;
    CM_HOST->rng_stream(&((fp_state *)state)->g, seed, 0);
}

static unsigned fp_rounding(const void *pp)
{
    const fp_params *p = pp;
    return (p->round == RND_SR ? CM_ROUND_STOCHASTIC : CM_ROUND_NEAREST) |
           (p->overflow_inf ? CM_ROUND_OVERFLOW_INF : 0u) |
           (p->round == RND_AWAY ? CM_ROUND_TIES_AWAY : 0u);
}

#define FP_MAX_LEVEL_BITS 20 /* list grids of up to 2^21 codes */

static cm_status fp_levels(const void *pp, double *out, size_t cap, size_t *count)
{
    const fp_params *p = pp;
    if (p->E + p->M > FP_MAX_LEVEL_BITS)
        return CM_EUNSUPPORTED;
    int top = p->E ? (1 << p->E) - 1 : 0;
    size_t nmag = 0;
    for (int e = 0; e <= top; e++)
        for (int m = 0; m < (1 << p->M); m++)
            nmag += fp_finite(p, e, m) && !(e == 0 && m == 0);
    *count = 2 * nmag + 1; /* +-magnitudes and one zero */
    if (!out)
        return CM_OK;
    if (cap < *count)
        return CM_ERANGE;
    size_t i = nmag; /* zero in the middle; magnitudes increase with (e, m) */
    out[i] = 0.0;
    for (int e = 0; e <= top; e++)
        for (int m = 0; m < (1 << p->M); m++)
            if (fp_finite(p, e, m) && !(e == 0 && m == 0)) {
                double val = fp_value(p, e, m);
                i++;
                out[i] = val;
                out[2 * nmag - i] = -val;
            }
    return CM_OK;
}

static cm_status fp_encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    const fp_params *p = pp;
    for (size_t i = 0; i < n; i++) {
        double r = fp_round(p, x[i]);
        uint64_t s = signbit(r) ? (uint64_t)1 << (p->E + p->M) : 0;
        if (isinf(r)) { /* overflow=inf with IEEE codes */
            codes[i] = s | ((uint64_t)((1 << p->E) - 1) << p->M);
            continue;
        }
        if (isnan(r)) {
            if (!p->has_nan)
                return CM_EUNSUPPORTED;
            codes[i] = s | p->nan_code;
            continue;
        }
        double a = fabs(r);
        uint64_t e, m;
        if (a < p->minnorm) {
            e = 0;
            m = (uint64_t)(a / p->sub_q);
        } else {
            int ex = cm_ilog2(a);
            e = (uint64_t)(ex + p->bias);
            m = (uint64_t)(a * cm_pow2i(p->M - ex)) - ((uint64_t)1 << p->M);
        }
        codes[i] = s | (e << p->M) | m;
    }
    return CM_OK;
}

static cm_status fp_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    const fp_params *p = pp;
    uint64_t mmask = ((uint64_t)1 << p->M) - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = codes[i];
        if (c >> (p->E + p->M + 1))
            return CM_ERANGE;
        int e = (int)((c >> p->M) & (((uint64_t)1 << p->E) - 1));
        int m = (int)(c & mmask);
        double sgn = (c >> (p->E + p->M)) & 1 ? -1.0 : 1.0;
        if (!fp_finite(p, e, m)) {
            int inf = p->special == SP_IEEE && m == 0;
            x[i] = inf ? sgn * INFINITY : copysign(NAN, sgn);
            continue;
        }
        x[i] = sgn * fp_value(p, e, m);
    }
    return CM_OK;
}

const cm_format cm_format_fp = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "fp",
    .summary = "floating point ExMy (sign, E exponent bits, M mantissa bits)",
    .params = fp_keys,
    .n_params = sizeof fp_keys / sizeof fp_keys[0],
    .flags = CM_FORMAT_SCALAR | CM_FORMAT_POW2,
    .params_parse = fp_parse,
    .params_free = fp_free,
    .bits_per_value = fp_bits,
    .group = fp_group,
    .quantize = fp_quantize,
    .levels = fp_levels,
    .encode = fp_encode,
    .decode = fp_decode,
    .aliases = fp_aliases,
    .n_aliases = sizeof fp_aliases / sizeof fp_aliases[0],
    .params_print = fp_print,
    .state_size = fp_state_size,
    .state_init = fp_state_init,
    .rounding = fp_rounding,
    .state_seed = fp_state_seed,
};
