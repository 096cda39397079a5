/* The fused kernels' body (kern_int.h), compiled once per instruction set:
 * the includer defines KSUF(name). Plain C on 8-lane arrays, which the
 * compiler turns into vectors of the file's instruction set; nothing here
 * depends on the lane width the hardware has. */
#include <math.h>
#include <stdint.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <string.h>

#include "kern_int.h"

#define L 8

static inline double lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

double KSUF(cm_kern_sumsq)(const double *x, const double *y, size_t n, double *sxe)
{
    double a[L] = {0, 0, 0, 0, 0, 0, 0, 0}, b[L] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + L <= n; i += L)
        for (int l = 0; l < L; l++) {
            double v = x[i + (size_t)l], e = v - y[i + (size_t)l];
            a[l] += e * e;
            b[l] += v * e;
        }
    for (; i < n; i++) {
        double e = x[i] - y[i];
        a[i % L] += e * e;
        b[i % L] += x[i] * e;
    }
    *sxe = lanes_total(b);
    return lanes_total(a);
}

/* Vectors of W doubles (GCC/Clang vector extensions; the includer sets W to
 * its registers' width: 8 for AVX-512, 4 for AVX2, 2 for SSE2), L / W of
 * them side by side for the 8 lanes. Every operation is lane-wise IEEE or
 * integer arithmetic, so the width changes the speed only. */
#define NV (L / W)
typedef double vd __attribute__((vector_size(8 * W)));
typedef int64_t vi __attribute__((vector_size(8 * W)));
typedef uint64_t vu __attribute__((vector_size(8 * W)));

static inline vd ld(const double *p)
{
    vd v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline vd splat(double x) { return (vd){0} + x; }
static inline vd sel(vi m, vd a, vd b) { return (vd)((m & (vi)a) | (~m & (vi)b)); }

static inline vd vround(vd u)
{
    const vd magic = splat(6755399441055744.0); /* 1.5 * 2^52 */
    return (u + magic) - magic;
}

static inline vd vq_int(vd lo, vd hi, vd u)
{
    vd k = vround(u);
    k = sel(k < lo, lo, k);
    return sel(k > hi, hi, k);
}

/* cm_fp_round_sub (grid.h) on W lanes; the exponent's clamp to [emin, 1000] done on |v| (the
 * same exponent, with no 64-bit integer compare) */
static inline vd vq_fp(const cm_fpgrid *g, double lo, double hi, vd v)
{
    const vu absm = (vu){0} + (uint64_t)INT64_MAX;
    vd a = (vd)((vu)v & absm), c = a;
    c = sel(c < lo, splat(lo), c);
    c = sel(c > hi, splat(hi), c);
    vi e = (vi)((vu)c >> 52) - 1023;
    vd pu = (vd)((g->M - e + 1023) << 52), pd = (vd)((e - g->M + 1023) << 52);
    vd r = vround(a * pu) * pd;
    r = sel(a < g->maxv, r, splat(g->maxv));
    r = sel(v == v, r, v);
    return (vd)(((vu)r & absm) | ((vu)v & ~absm));
}

/* base[idx] on W lanes: the gather instruction where the file has one */
static inline vd gather(const double *base, vi idx)
{
#if W == 8 && defined(__AVX512F__)
    return (vd)_mm512_i64gather_pd((__m512i)idx, base, 8);
#elif W == 4 && defined(__AVX2__)
    return (vd)_mm256_i64gather_pd(base, (__m256i)idx, 8);
#else
    vd r;
    for (int w = 0; w < W; w++)
        r[w] = base[idx[w]];
    return r;
#endif
}

/* cm_grid_index + level (grid_round.c), on W lanes: a branch-free binary
 * search over the padded midpoints, the even index on a midpoint; NaN stays */
static inline vd vq_grid(const cm_kern *k, vd v)
{
    vi pos = {0};
    if (k->k <= 16) {
        /* a small grid: the count of midpoints below v, compares without a
         * chain; v on an odd midpoint j (then the count is j) goes up */
        vi up = {0};
        for (size_t j = 0; j + 1 < k->k; j++) {
            pos -= v > k->t[j];
            if (j & 1)
                up |= v == k->t[j];
        }
        pos -= up;
        return sel(v == v, gather(k->lv, pos), v);
    }
    for (size_t step = k->P / 2; step; step /= 2) {
        vd tt = gather(k->t + step - 1, pos);
        pos += (v > tt) & (vi)((vi){0} + (int64_t)step);
    }
    const vi top = (vi){0} + (int64_t)(k->k - 1);
    const vi over = pos > top;
    pos = (over & top) | (~over & pos);
    vd tp = gather(k->t, pos);
    pos += ((pos < top) & (v == tp) & ((pos & 1) != 0)) & 1;
    return sel(v == v, gather(k->lv, pos), v);
}

/* the largest finite |x| of a block, as cm_block_amax */
static inline double amax8(const double *x, size_t K)
{
    const vu absm = (vu){0} + (uint64_t)INT64_MAX;
    vd m = {0};
    for (size_t i = 0; i < K; i += W) {
        vd a = (vd)((vu)ld(x + i) & absm);
        a = sel(a < INFINITY, a, (vd){0});
        m = sel(a > m, a, m);
    }
    double r = 0;
    for (int l = 0; l < W; l++)
        r = m[l] > r ? m[l] : r;
    return r;
}

/* cm_block_scale of W blocks at a time, for absmax blocks (rule absmax:
 * finish(amax / gmax) in scaling.c): the blocks' maxima in sc become their
 * scales; returns how many were done (the rest: cm_block_scale) */
static inline size_t block_scales(const cm_kern *k, double *sc, size_t nb)
{
    const cm_blockspec *b = k->b;
    const double lo = cm_pow2i(k->sgrid.emin), hi = 0x1p1000;
    size_t j = 0;
    for (; j + W <= nb; j += W) {
        vd am = ld(sc + j), r = am / b->gmax, t;
        if (b->sg != 1.0)
            r = r / b->sg;
        t = k->sfast == 2 ? vq_fp(&k->sgrid, lo, hi, r) : r;
        t = sel(t == 0, splat(1.0), t); /* the NVFP4 recipe: a zero scale becomes 1 */
        t = t * b->sg;
        t = t * b->mult;
        t = sel(am > 0, t, sel(am == 0, (vd){0}, splat(NAN)));
        memcpy(sc + j, &t, sizeof t);
    }
    return j;
}

/* a result r of value v: stored in y (apply), or its squared error and
 * v (v - r) added to the lanes (acc[0..NV) and acc[NV..2 NV)); y is a
 * constant NULL or not where these are inlined */
static inline void out(double *y, size_t i, vd v, vd r, vd *acc)
{
    if (y) {
        memcpy(y + i, &r, sizeof r);
    } else {
        vd e = v - r;
        acc[0] += e * e;
        acc[NV] += v * e;
    }
}

/* the tail's: a[0..8) squared errors, a[8..16) v (v - r) */
static inline void out1(double *y, size_t i, double v, double r, double *a)
{
    if (y) {
        y[i] = r;
    } else {
        double e = v - r;
        a[i % L] += e * e;
        a[L + i % L] += v * e;
    }
}

/* values [i0, i1) of one scale s, errors into lanes by index (i0 % 8 == 0):
 * acc[h] holds lanes h W .. h W + W - 1, a the tail's */
static inline void run_int(const cm_kern *k, const double *x, double *y, size_t i0, size_t i1,
                           double s, vd *acc, double *a)
{
    const vd lo = splat(k->lo), hi = splat(k->hi);
    size_t i = i0;
    for (; i + L <= i1; i += L)
        for (int h = 0; h < NV; h++) {
            vd v = ld(x + i + (size_t)(h * W)), r = vq_int(lo, hi, v / s) * s;
            out(y, i + (size_t)(h * W), v, r, &acc[h]);
        }
    for (; i < i1; i++)
        out1(y, i, x[i], cm_kern_round(k, x[i] / s) * s, a);
}

static inline void run_fp(const cm_kern *k, const double *x, double *y, size_t i0, size_t i1,
                          double s, vd *acc, double *a)
{
    const cm_fpgrid g = k->g;
    const double lo = cm_pow2i(g.emin), hi = 0x1p1000;
    size_t i = i0;
    for (; i + L <= i1; i += L)
        for (int h = 0; h < NV; h++) {
            vd v = ld(x + i + (size_t)(h * W)), r = vq_fp(&g, lo, hi, v / s) * s;
            out(y, i + (size_t)(h * W), v, r, &acc[h]);
        }
    for (; i < i1; i++)
        out1(y, i, x[i], cm_kern_round(k, x[i] / s) * s, a);
}

static inline void run_grid(const cm_kern *k, const double *x, double *y, size_t i0,
                            size_t i1, double s, vd *acc, double *a)
{
    size_t i = i0;
    for (; i + L <= i1; i += L)
        for (int h = 0; h < NV; h++) {
            vd v = ld(x + i + (size_t)(h * W)), r = vq_grid(k, v / s) * s;
            out(y, i + (size_t)(h * W), v, r, &acc[h]);
        }
    for (; i < i1; i++)
        out1(y, i, x[i], cm_kern_round(k, x[i] / s) * s, a);
}

/* N:M pruning alone (formats/nm): value p of a group is kept when fewer than
 * N others rank above it (a larger |x|, or an equal one earlier); a pruned
 * value's error is itself. M divides 8: a row of 8 holds whole groups. */
static inline __attribute__((always_inline)) double nm_keep(const double *g, size_t p,
                                                           size_t N, const size_t M)
{
    double ap = fabs(g[p]);
    size_t above = 0;
    for (size_t q = 0; q < M; q++) {
        double aq = fabs(g[q]);
        above += q < p ? aq >= ap : q > p ? aq > ap : 0;
    }
    return above < N ? g[p] : 0.0;
}

static inline __attribute__((always_inline)) void run_nm(const double *x, size_t n, size_t N,
                                                        const size_t M, double *a)
{
    size_t i = 0;
    for (; i + L <= n; i += L) {
        double e[L];
        for (size_t g = 0; g < L; g += M)
            for (size_t p = 0; p < M; p++)
                e[g + p] = x[i + g + p] - nm_keep(x + i + g, p, N, M);
        for (int l = 0; l < L; l++) {
            a[l] += e[l] * e[l];
            a[L + l] += x[i + (size_t)l] * e[l];
        }
    }
    for (; i < n; i += M) /* the last groups of a short chunk */
        for (size_t p = 0; p < M; p++) {
            double e = x[i + p] - nm_keep(x + i, p, N, M);
            a[(i + p) % L] += e * e;
            a[L + (i + p) % L] += x[i + p] * e;
        }
}

/* a block whose scale is not positive: zeros stay zeros, the rest is lost
 * (NaN), as cm_block_apply does */
static inline void run_dead(const double *x, double *y, size_t i0, size_t i1, double s,
                            vd *acc)
{
    for (size_t i = i0; i < i1; i++) {
        double r = s == 0 && x[i] == 0 ? x[i] : NAN, e = x[i] - r;
        if (y) {
            y[i] = r;
        } else {
            acc[i % L / W][i % W] += e * e;
            acc[NV + i % L / W][i % W] += x[i] * e;
        }
    }
}

static inline __attribute__((always_inline)) double core(const cm_kern *k, const double *x,
                                                         double *y, size_t n, double *sc,
                                                         double *sxe)
{
    /* lane l sums the values of index l mod 8: the vector part in acc, the
     * tail (n % 8 values, after every whole group of 8) in a; adding acc's
     * lanes into a first keeps each lane's order. acc[0..NV) and a[0..8):
     * squared errors; acc[NV..2 NV) and a[8..16): x (x - R(x)). */
    double a[2 * L] = {0};
    vd acc[2 * NV];
    for (int h = 0; h < 2 * NV; h++)
        acc[h] = (vd){0};
    if (k->kind == CM_KERN_NM) {
        if (k->m == 2)
            run_nm(x, n, k->nkeep, 2, a);
        else if (k->m == 4)
            run_nm(x, n, k->nkeep, 4, a);
        else
            run_nm(x, n, k->nkeep, 8, a);
        if (sxe)
            *sxe = lanes_total(a + L);
        return lanes_total(a);
    }
    if (!k->b) {
        if (k->kind == CM_KERN_INT)
            run_int(k, x, y, 0, n, k->scale, acc, a);
        else if (k->kind == CM_KERN_FP)
            run_fp(k, x, y, 0, n, k->scale, acc, a);
        else
            run_grid(k, x, y, 0, n, k->scale, acc, a);
    } else {
        const size_t K = k->b->K, nb = n / K;
        for (size_t j = 0; j < nb; j++)
            sc[j] = amax8(x + j * K, K);
        size_t j0 = k->sfast ? block_scales(k, sc, nb) : 0;
        for (size_t j = j0; j < nb; j++)
            sc[j] = cm_block_scale(k->b, sc[j]);
        for (size_t j = 0; j < nb; j++) {
            double s = sc[j];
            if (!(s > 0)) {
                run_dead(x, y, j * K, (j + 1) * K, s, acc);
            } else if (k->kind == CM_KERN_INT) {
                run_int(k, x, y, j * K, (j + 1) * K, s, acc, a);
            } else if (k->kind == CM_KERN_FP) {
                run_fp(k, x, y, j * K, (j + 1) * K, s, acc, a);
            } else {
                run_grid(k, x, y, j * K, (j + 1) * K, s, acc, a);
            }
        }
    }
    double t[L], u[L];
    for (int l = 0; l < L; l++) {
        t[l] = acc[l / W][l % W] + a[l];
        u[l] = acc[NV + l / W][l % W] + a[L + l];
    }
    if (sxe)
        *sxe = lanes_total(u);
    return lanes_total(t);
}

double KSUF(cm_kern_sse)(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe)
{
    return core(k, x, NULL, n, sc, sxe);
}

void KSUF(cm_kern_apply)(const cm_kern *k, const double *x, double *y, size_t n, double *sc)
{
    (void)core(k, x, y, n, sc, NULL);
}
