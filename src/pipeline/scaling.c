/* Block scaling: one scale per K consecutive values, chosen from the block
 * itself by a rule and stored in a scale format (OCP MX v1.0; NVIDIA NVFP4;
 * bitsandbytes absmax blocks). tests/anchors/formats.json has the rules.
 * The exact GMSE of block formats is the engine's (engine/exact_block.c). */
#include "scaling_int.h"

#include <capmetric/grid.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util_int.h"

/* OCP OFP8 E4M3 (max 448), E5M2 (max 57344), BF16, FP16, FP32 */
static const cm_fpgrid G_E4M3 = {3, -6, 1, 448.0};
static const cm_fpgrid G_E5M2 = {2, -14, 1, 57344.0};
static const cm_fpgrid G_BF16 = {7, -126, 1, 0x1.fep127};
static const cm_fpgrid G_FP16 = {10, -14, 1, 65504.0};
static const cm_fpgrid G_FP32 = {23, -126, 1, FLT_MAX};
/* UE5M3 (an unsigned scale of 8 bits): E4M3's layout with 5 exponent bits,
 * bias 15, the all-ones code NaN: max 2^16 * 1.75, subnormals to 2^-17 */
static const cm_fpgrid G_UE5M3 = {3, -14, 1, 114688.0};

/* ueEmM: its grid (0 for another format) */
static int uem_grid(cm_sfmt f, cm_fpgrid *g)
{
    if ((int)f < CM_SF_UEM)
        return 0;
    int E = ((int)f - CM_SF_UEM) / 16, M = ((int)f - CM_SF_UEM) % 16, bias = (1 << (E - 1)) - 1;
    g->M = M;
    g->emin = 1 - bias;
    g->subnormals = 1;
    g->maxv = ldexp(2.0 - ldexp(1.0, -M), (1 << E) - 1 - bias);
    return 1;
}

double cm_sfmt_bits(cm_sfmt f)
{
    if ((int)f >= CM_SF_UEM)
        return ((int)f - CM_SF_UEM) / 16 + ((int)f - CM_SF_UEM) % 16;
    switch (f) {
    case CM_SF_EXACT: return 16; /* an idealized scale, counted like BF16/FP16 */
    case CM_SF_FP32: return 32;
    case CM_SF_BF16:
    case CM_SF_FP16: return 16;
    default: return 8;
    }
}

int cm_sfmt_grid(cm_sfmt f, cm_fpgrid *g)
{
    switch (f) {
    case CM_SF_FP32: *g = G_FP32; return 1;
    case CM_SF_BF16: *g = G_BF16; return 1;
    case CM_SF_FP16: *g = G_FP16; return 1;
    case CM_SF_E4M3:
    case CM_SF_UE4M3: *g = G_E4M3; return 1;
    case CM_SF_E5M2: *g = G_E5M2; return 1;
    case CM_SF_UE5M3: *g = G_UE5M3; return 1;
    default: return uem_grid(f, g);
    }
}

static double sfmt_max(cm_sfmt f)
{
    switch (f) {
    case CM_SF_E4M3:
    case CM_SF_UE4M3: return G_E4M3.maxv;
    case CM_SF_E5M2: return G_E5M2.maxv;
    case CM_SF_UE5M3: return G_UE5M3.maxv;
    case CM_SF_BF16: return G_BF16.maxv;
    case CM_SF_FP16: return G_FP16.maxv;
    case CM_SF_FP32: return G_FP32.maxv;
    case CM_SF_E8M0: return 0x1p127;
    default: {
        cm_fpgrid g;
        return uem_grid(f, &g) ? g.maxv : INFINITY;
    }
    }
}

double cm_sfmt_max(cm_sfmt f) { return sfmt_max(f); }

/* E8M0 (OCP MX): 2^e, e in -127..127; nearest in value, ties to the even code */
static double e8m0_round(double s)
{
    if (!(s > 0))
        return s;
    int e = cm_ilog2(s);
    /* (powers of two from their bits: exact, no libm call; a subnormal s has
     * e = -1023 and goes to 2^-127 by the clamp either way) */
    double f = e >= -1022 ? s * cm_pow2i(-e) : 1.0;
    if (f > 1.5 || (f == 1.5 && ((e + 127) & 1)))
        e++;
    e = e < -127 ? -127 : e > 127 ? 127 : e;
    return cm_pow2i(e);
}

static double sfmt_round(cm_sfmt f, double s)
{
    switch (f) {
    case CM_SF_EXACT: return s;
    case CM_SF_FP32: return cm_fp_round(&G_FP32, s);
    case CM_SF_BF16: return cm_fp_round(&G_BF16, s);
    case CM_SF_FP16: return cm_fp_round(&G_FP16, s);
    case CM_SF_E8M0: return e8m0_round(s);
    case CM_SF_E4M3:
    case CM_SF_UE4M3: return cm_fp_round(&G_E4M3, s);
    case CM_SF_E5M2: return cm_fp_round(&G_E5M2, s);
    case CM_SF_UE5M3: return cm_fp_round(&G_UE5M3, s);
    case CM_SF_UE8M0_ALIAS: return e8m0_round(s);
    default: {
        cm_fpgrid g;
        return uem_grid(f, &g) ? cm_fp_round(&g, s) : s;
    }
    }
}

static int ceil_log2(double a) { return cm_ilog2(a) + (a != ldexp(1.0, cm_ilog2(a))); }

/* the scale format and tensor scale applied to a raw scale r */
static double finish(const cm_blockspec *b, double r)
{
    /* E8M0 holds OCP's shared scale X, whose exponent clamps at -127 and 127: for
     * integer elements that is s * 2^emax, so the clamp falls where OCP puts it */
    double rs = b->sg == 1.0 ? r : r / b->sg;
    double t = b->sfmt == CM_SF_E8M0 ? sfmt_round(b->sfmt, rs * b->unit) / b->unit
                                     : sfmt_round(b->sfmt, rs);
    if (t == 0)
        t = 1.0; /* NVFP4 recipe: a zero scale is replaced by 1 */
    return t * b->sg * b->mult;
}

double cm_block_scale(const cm_blockspec *b, double amax)
{
    if (!(amax > 0))
        return amax == 0 ? 0.0 : NAN;
    int e;
    switch (b->rule) {
    case CM_RULE_ABSMAX: return finish(b, amax / b->gmax);
    case CM_RULE_FLOOR: e = cm_ilog2(amax) - b->emax; break;
    case CM_RULE_CEIL: e = ceil_log2(amax) - b->emax; break;
    case CM_RULE_EVEN: {
        int e0 = cm_ilog2(amax);
        double r = cm_round_even(ldexp(amax, b->melem - e0));
        e = cm_ilog2(ldexp(r, e0 - b->melem)) - b->emax;
        break;
    }
    case CM_RULE_RCEIL: e = ceil_log2(amax / b->gmax); break;
    default: return finish(b, amax / b->gmax);
    }
    if (b->sfmt == CM_SF_E8M0) { /* OCP MX: shared_exp > 127 is NaN, < -127 clamps */
        int ue = cm_ilog2(b->unit); /* the exponent of OCP's X = s * unit */
        if (e + ue > 127)
            return NAN;
        if (e + ue < -127)
            e = -127 - ue;
    }
    return finish(b, e >= -1022 && e <= 1023 ? cm_pow2i(e) : ldexp(1.0, e));
}

double cm_block_scale_to(const cm_blockspec *b, double amax, double c)
{
    if (!(amax > 0))
        return amax == 0 ? 0.0 : NAN;
    return finish(b, amax / c);
}

cm_status cm_block_prepare(cm_blockspec *b, const cm_format *f, const double *lv, size_t k,
                           cm_diag *d)
{
    b->gmax = fmax(fabs(lv[0]), fabs(lv[k - 1]));
    if (!(b->gmax > 0) || !isfinite(b->gmax))
        return cm_diag_set_key(d, CM_EINVAL, "block", "block scaling needs a grid with a non-zero value");
    b->emax = cm_ilog2(b->gmax);
    b->sg = 1.0;
    int integer = 1; /* an integer element grid (OCP MXINT: fixed point, top bit at 2^0) */
    for (size_t i = 0; i < k && integer; i++)
        integer = lv[i] == floor(lv[i]);
    b->unit = integer ? ldexp(1.0, b->emax) : 1.0;
    if ((b->rule == CM_RULE_FLOOR || b->rule == CM_RULE_CEIL || b->rule == CM_RULE_EVEN) &&
        !(f->flags & CM_FORMAT_POW2))
        return cm_diag_set_key(d, CM_EINVAL, "scale",
                               "scale=floor|ceil|even are the OCP MX power-of-two rules, defined "
                               "for fp and int element grids; '%s' is not one (use absmax, "
                               "rceil or mse)",
                               f->name);
    if (b->rule == CM_RULE_EVEN) {
        /* mantissa width from the top binade's spacing: gmax - next = 2^(emax - M) */
        double next = -INFINITY;
        for (size_t i = 0; i < k; i++)
            if (fabs(lv[i]) < b->gmax && fabs(lv[i]) > next)
                next = fabs(lv[i]);
        double m = b->emax - log2(b->gmax - next);
        /* a mantissa-free grid (every non-zero |level| a power of two, E?M0) has
         * a top binade of one value: the spacing above says M + 1, M is 0 */
        int pow2_only = 1;
        for (size_t i = 0; i < k && pow2_only; i++) {
            double a = fabs(lv[i]);
            pow2_only = a == 0 || a == ldexp(1.0, cm_ilog2(a));
        }
        if (pow2_only && next > 0)
            m = 0;
        if (!(next > 0) || m != floor(m) || m < 0 || m > 52)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=even needs a grid whose top binade is evenly spaced "
                                   "(an FP or integer element grid)");
        b->melem = (int)m;
    }
    if (b->rule == CM_RULE_MSE) {
        int n = 0;
        for (size_t i = k; i-- > 0 && n < b->ncand;)
            if (lv[i] > 0 && (n == 0 || lv[i] < b->cand[n - 1]))
                b->cand[n++] = lv[i];
        if (n == 0)
            return cm_diag_set_key(d, CM_EINVAL, "scale", "scale=mse needs positive grid values");
        b->ncand = n;
    }
    cm_block_retarget(b, b->tensor_amax);
    return CM_OK;
}

void cm_block_retarget(cm_blockspec *b, double tensor_amax)
{
    if (b->tensor && tensor_amax > 0 && isfinite(tensor_amax))
        b->sg = cm_fp_round(&G_FP32,
                            tensor_amax / ((b->top > 0 ? b->top : sfmt_max(b->sfmt)) * b->gmax));
}

/* ---- data path ------------------------------------------------------------- */

CM_HOT_LOOP
static double block_amax_impl(const double *x, size_t K)
{
    /* of the finite values (NaN stays NaN, inf saturates); branch-free, four
     * independent maxima so that the compares pipeline */
    double m[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= K; i += 4)
        for (int j = 0; j < 4; j++) {
            double a = fabs(x[i + (size_t)j]);
            a = a < INFINITY ? a : 0.0;
            m[j] = a > m[j] ? a : m[j];
        }
    for (; i < K; i++) {
        double a = fabs(x[i]);
        a = a < INFINITY ? a : 0.0;
        m[0] = a > m[0] ? a : m[0];
    }
    double a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    return a > b ? a : b;
}

double cm_block_amax(const double *x, size_t K) { return block_amax_impl(x, K); }

double cm_block_stat(const cm_blockspec *b, const double *x, size_t K)
{
    if (b->rule != CM_RULE_RMS)
        return block_amax_impl(x, K);
    double s = 0;
    for (size_t i = 0; i < K; i++)
        s += x[i] * x[i];
    return sqrt(s / (double)K) * b->rclip;
}

/* Stochastic rounding of a positive scale v onto the scale format: the two
 * neighbours lo <= v <= hi, hi with probability (v - lo) / (hi - lo)
 * (unbiased; Quartet II's sr_e4m3 / sr_e8m0); saturating at the top. */
static double sfmt_round_sr(const cm_blockspec *b, double v, cm_pcg64 *rng)
{
    cm_fpgrid g;
    double lo, hi;
    if (b->sfmt == CM_SF_EXACT || !(v > 0) || !isfinite(v))
        return v;
    if (b->sfmt == CM_SF_E8M0) { /* in OCP's X = s * unit */
        double w = v * b->unit;
        int e = cm_ilog2(w);
        lo = cm_pow2i(e < -127 ? -127 : e > 127 ? 127 : e);
        hi = 2 * lo > 0x1p127 ? lo : 2 * lo;
        if (w >= hi || w <= lo)
            return (w >= hi ? hi : lo) / b->unit;
        return (cm_uniform01(rng) * (hi - lo) < w - lo ? hi : lo) / b->unit;
    }
    if (!cm_sfmt_grid(b->sfmt, &g))
        return v;
    if (v >= g.maxv)
        return g.maxv;
    double r = cm_fp_round(&g, v);
    if (r == v)
        return v;
    int e = cm_ilog2(r < v ? r : v);
    double ulp = cm_pow2i((e < g.emin ? g.emin : e) - g.M); /* the spacing around v */
    lo = r < v ? r : r - ulp;
    hi = r > v ? r : r + ulp;
    if (hi > g.maxv)
        hi = g.maxv;
    return cm_uniform01(rng) * (hi - lo) < v - lo ? hi : lo;
}

/* the scale format's code next to a stored scale t > 0 (dir +1 up, -1 down);
 * t itself at either end of the format */
static double sfmt_step(const cm_blockspec *b, double t, int dir)
{
    cm_fpgrid g;
    if (b->sfmt == CM_SF_E8M0) {
        double w = t * b->unit, n = dir > 0 ? 2 * w : 0.5 * w;
        return n > 0x1p127 || n < 0x1p-127 ? t : n / b->unit;
    }
    if (!cm_sfmt_grid(b->sfmt, &g))
        return t;
    int e = cm_ilog2(t);
    /* going down from a power of two: the spacing below is half */
    if (dir < 0 && t == cm_pow2i(e) && e > g.emin)
        e--;
    double n = t + dir * cm_pow2i((e < g.emin ? g.emin : e) - g.M);
    return n > g.maxv || !(n > 0) ? t : n;
}

/* correct=eden on the nb blocks of one correction group (values x, unit
 * codes q, scales sc): the factor c that makes <x, R(x)> = <x, x> over the
 * group (1 when undefined) on every block scale, each stored scale then
 * rounded stochastically onto the scale format (exact and FP32: as is).
 * eden_scaled takes the ratio on x / s_j instead, each block weighted by
 * 1/s_j^2, as Quartet II's kernel does (IST-DASLab/Quartet-II
 * nvfp4_triton.py eden_1x16s_fp4_kernel: num and denom of x_scaled). */
static void eden_correct(const cm_blockspec *b, const double *x, const double *q, double *sc,
                         size_t nb, cm_pcg64 *rng)
{
    const size_t K = b->K;
    double xx = 0, xq = 0;
    for (size_t j = 0; j < nb; j++) {
        /* a block without a scale reconstructs to 0: its energy stays in <x,x>
         * (eden), or it has no scaled values to add (eden_scaled) */
        const int has = sc[j] > 0, scaled = b->eden == CM_EDEN_SCALED;
        if (!has && scaled)
            continue;
        const double w = scaled ? 1.0 / sc[j] : 1.0;
        const double s = !has ? 0.0 : scaled ? 1.0 : sc[j];
        for (size_t i = 0; i < K; i++) {
            double v = x[j * K + i] * w;
            xx += v * v;
            xq += v * s * q[j * K + i];
        }
    }
    double c = xx / xq;
    if (!(c > 0) || !isfinite(c))
        return;
    const double sgm = b->sg * b->mult; /* the stored scale is s / (sg mult) */
    for (size_t j = 0; j < nb; j++)
        if (sc[j] > 0)
            sc[j] = b->sfmt == CM_SF_FP32 ? sc[j] * c
                                          : sfmt_round_sr(b, sc[j] / sgm * c, rng) * sgm;
}

/* One candidate scale s of a block (scale=mse, scale=search): its error by
 * sel (sum e^2, sum |e| or max |e|); its values go to yb when the error is
 * below *best, or when it is the first candidate. u, tmp: K values of scratch. */
static inline void try_scale(const cm_format *f, const void *params, void *fstate,
                             const double *xb, double *yb, size_t K, double s, cm_select sel,
                             int first, double *best, double *u, double *tmp)
{
    for (size_t i = 0; i < K; i++)
        u[i] = xb[i] / s;
    f->quantize(params, fstate, u, tmp, K);
    double err = 0;
    for (size_t i = 0; i < K; i++) {
        double e = xb[i] - s * tmp[i];
        err = sel == CM_SEL_MSE ? err + e * e : sel == CM_SEL_L1 ? err + fabs(e) : fmax(err, fabs(e));
    }
    if (err < *best || first) {
        *best = err;
        for (size_t i = 0; i < K; i++)
            yb[i] = s * tmp[i];
    }
}

/* (multiversioned as a file-local function: an exported ifunc would leak the symbol) */
CM_HOT_LOOP static void block_apply(const cm_blockspec *b, const cm_format *f,
                                    const void *params, void *fstate, const double *x, double *y,
                                    size_t n, double *u, double *sc, double *tmp, cm_pcg64 *rng)
{
    const size_t K = b->K, nb = n / K;
    if (b->rule == CM_RULE_SEARCH) {
        /* the absmax scale's code, then window codes above and below it, in
         * that order; the least squared error wins (a tie: the earlier) */
        const double sgm = b->sg * b->mult;
        for (size_t j = 0; j < nb; j++) {
            const double *xb = x + j * K;
            double *yb = y + j * K, s0 = cm_block_scale(b, block_amax_impl(xb, K));
            double best = INFINITY, up = s0 / sgm, dn = s0 / sgm;
            for (int c = 0; c <= 2 * b->window; c++) {
                double s = s0;
                if (c) {
                    double *t = (c & 1) ? &up : &dn, nt = sfmt_step(b, *t, (c & 1) ? 1 : -1);
                    if (nt == *t || !(s0 > 0))
                        continue; /* the format's end, or an all-zero block */
                    *t = nt;
                    s = nt * sgm;
                }
                if (!(s > 0)) { /* all-zero block (0) or a NaN scale */
                    for (size_t i = 0; i < K; i++)
                        yb[i] = s == 0 && xb[i] == 0 ? xb[i] : NAN;
                    break;
                }
                try_scale(f, params, fstate, xb, yb, K, s, CM_SEL_MSE, 0, &best, u, tmp);
            }
        }
        return;
    }
    if (b->rule == CM_RULE_MSE) {
        for (size_t j = 0; j < nb; j++) {
            const double *xb = x + j * K;
            double *yb = y + j * K, amax = block_amax_impl(xb, K), best = INFINITY;
            for (int c = 0; c < b->ncand; c++) {
                double s = cm_block_scale_to(b, amax, b->cand[c]);
                if (!(s > 0))
                    s = 1.0; /* all-zero block: any scale gives zeros */
                try_scale(f, params, fstate, xb, yb, K, s, b->select, c == 0, &best, u, tmp);
            }
        }
        return;
    }
    for (size_t j = 0; j < nb; j++) {
        const double *xb = x + j * K;
        double s = cm_block_scale(b, b->rule == CM_RULE_RMS ? cm_block_stat(b, xb, K)
                                                            : block_amax_impl(xb, K));
        sc[j] = s;
        /* x / s as defined (ties like x/s = 3.5 exactly must stay ties): a
         * power-of-two scale's reciprocal is exact, any other is divided by */
        int e;
        if (!(s > 0)) {
            for (size_t i = 0; i < K; i++)
                u[j * K + i] = 0.0;
        } else if (frexp(s, &e) == 0.5) {
            double inv = 1.0 / s;
            for (size_t i = 0; i < K; i++)
                u[j * K + i] = xb[i] * inv;
        } else {
            for (size_t i = 0; i < K; i++)
                u[j * K + i] = xb[i] / s;
        }
    }
    f->quantize(params, fstate, u, y, n);
    if (b->eden && rng) /* n is a multiple of the correction group (the stage's group) */
        for (size_t j = 0; j < nb; j += b->egroup / K)
            eden_correct(b, x + j * K, y + j * K, sc + j, b->egroup / K, rng);
    for (size_t j = 0; j < nb; j++) {
        double s = sc[j];
        double *yb = y + j * K;
        if (s > 0) {
            for (size_t i = 0; i < K; i++)
                yb[i] *= s;
        } else { /* all-zero block gives zeros; NaN scale gives NaN */
            for (size_t i = 0; i < K; i++)
                yb[i] = s == 0 && x[j * K + i] == 0 ? x[j * K + i] : NAN;
        }
    }
}


void cm_block_apply(const cm_blockspec *b, const cm_format *f, const void *params, void *fstate,
                    const double *x, double *y, size_t n, double *u, double *sc, double *tmp,
                    cm_pcg64 *rng)
{
    block_apply(b, f, params, fstate, x, y, n, u, sc, tmp, rng);
}
