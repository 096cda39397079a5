/* Which pipelines have a fused kernel (kern_int.h), and the run-time choice
 * of the kernels' instruction set. A kernel is taken only after it gave the
 * format's own quantize() values on probes at every level, every midpoint
 * and their neighbours, and beyond the range: a family whose rounding reads
 * differently keeps the generic path. */
#include "kern_int.h"

#include <capmetric/isa.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"

static atomic_int fused_off = -1; /* -1: not read yet from CAPMETRIC_FUSED */

int cm_fused_enabled(void)
{
    int v = atomic_load(&fused_off);
    if (v < 0) {
        const char *e = getenv("CAPMETRIC_FUSED");
        v = e && !strcmp(e, "0");
        atomic_store(&fused_off, v);
    }
    return !v;
}

void cm_fused_set(int on) { atomic_store(&fused_off, !on); }

/* the kernels of each instruction set this build has */
static const struct {
    double (*sumsq)(const double *, const double *, size_t, double *);
    double (*sse)(const cm_kern *, const double *, size_t, double *, double *);
    void (*apply)(const cm_kern *, const double *, double *, size_t, double *);
} isa_kern[CM_ISA_COUNT] = {
    {cm_kern_sumsq_scalar, cm_kern_sse_scalar, cm_kern_apply_scalar},
#if defined(CM_HAVE_AVX2)
    {cm_kern_sumsq_avx2, cm_kern_sse_avx2, cm_kern_apply_avx2},
#else
    {cm_kern_sumsq_scalar, cm_kern_sse_scalar, cm_kern_apply_scalar},
#endif
#if defined(CM_HAVE_AVX512)
    {cm_kern_sumsq_avx512, cm_kern_sse_avx512, cm_kern_apply_avx512},
#else
    {cm_kern_sumsq_scalar, cm_kern_sse_scalar, cm_kern_apply_scalar},
#endif
};

double cm_kern_sumsq(const double *x, const double *y, size_t n, double *sxe)
{
    return isa_kern[cm_isa_active()].sumsq(x, y, n, sxe);
}

double cm_kern_sse(const cm_kern *k, const double *x, size_t n, double *sc, double *sxe)
{
    return isa_kern[cm_isa_active()].sse(k, x, n, sc, sxe);
}

/* any sorted grid: nearest level, ties to the even index (cm_grid_init) */
static int grid_kern(const double *lv, size_t n, cm_kern *k)
{
    size_t P = 1;
    while (P < n)
        P *= 2;
    if (P > CM_KERN_GRID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(lv[i]) || (i && !(lv[i] > lv[i - 1])))
            return 0;
        k->lv[i] = lv[i];
    }
    for (size_t i = 0; i < P; i++)
        k->t[i] = i + 1 < n ? 0.5 * (lv[i] + lv[i + 1]) : INFINITY;
    k->kind = CM_KERN_GRID;
    k->k = n;
    k->P = P;
    return 1;
}

/* 1 if the kernel rounds like the format at every probe */
static int probes_agree(const cm_stage *st, const cm_kern *k, const double *lv, size_t n)
{
    size_t cap = 8 * n + 16, m = 0;
    double *pr = malloc(2 * cap * sizeof *pr);
    if (!pr)
        return 0;
    double *q = pr + cap;
    for (size_t i = 0; i < n; i++) {
        pr[m++] = lv[i];
        double mid = i + 1 < n ? 0.5 * (lv[i] + lv[i + 1]) : 2 * lv[i] + 1;
        pr[m++] = mid;
        pr[m++] = nextafter(mid, -INFINITY);
        pr[m++] = nextafter(mid, INFINITY);
        pr[m++] = 0.75 * lv[i] + 0.25 * (i + 1 < n ? lv[i + 1] : lv[i] + 1);
    }
    static const double extra[] = {0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, 0.1, -0.1};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        pr[m++] = extra[i];
    st->fmt->quantize(st->params, NULL, pr, q, m);
    int ok = 1;
    for (size_t i = 0; i < m && ok; i++)
        ok = cm_kern_round(k, pr[i]) == q[i];
    free(pr);
    return ok;
}

/* the element grid as INT (consecutive integers) or FP (a grid with
 * subnormals: the smallest step 2^(emin - M), the top binade's 2^(emax - M)) */
static int read_grid(const double *lv, size_t n, cm_kern *k)
{
    int integer = 1;
    for (size_t i = 0; i < n && integer; i++)
        integer = lv[i] == floor(lv[i]) && (i == 0 || lv[i] == lv[i - 1] + 1);
    if (integer) {
        k->kind = CM_KERN_INT;
        k->lo = lv[0];
        k->hi = lv[n - 1];
        return 1;
    }
    double maxv = lv[n - 1], next = -INFINITY, minpos = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (lv[i] < maxv && lv[i] > next)
            next = lv[i];
        if (lv[i] > 0 && lv[i] < minpos)
            minpos = lv[i];
    }
    if (!(maxv > 0) || !(next > 0) || !(minpos < maxv) || lv[0] != -maxv)
        return 0;
    double M = cm_ilog2(maxv) - log2(maxv - next);
    if (M != floor(M) || M < 0 || M > 52)
        return 0;
    k->kind = CM_KERN_FP;
    k->g.M = (int)M;
    k->g.emin = cm_ilog2(minpos) + (int)M;
    k->g.subnormals = 1;
    k->g.maxv = maxv;
    return k->g.emin - k->g.M >= -1022 && maxv < 0x1p1000;
}

/* the kernel's N:M rule (kern_body.h's) on one group */
static void nm_ref(const cm_kern *k, const double *x, double *y)
{
    for (size_t p = 0; p < k->m; p++) {
        size_t above = 0;
        for (size_t q = 0; q < k->m; q++)
            above += q < p ? fabs(x[q]) >= fabs(x[p]) : q > p ? fabs(x[q]) > fabs(x[p]) : 0;
        y[p] = above < k->nkeep ? x[p] : 0.0;
    }
}

/* N:M pruning alone: the family nm with m = 2, 4 or 8, if it prunes as the
 * kernel does on groups with ties, zeros, NaN and signs */
static void nm_setup(const cm_pipeline *p, cm_kern *k)
{
    double n, m;
    if (strcmp(p->st[0].fmt->name, "nm") || cm_pipeline_value(p, 0, "n", &n, NULL) ||
        cm_pipeline_value(p, 0, "m", &m, NULL) || !(m == 2 || m == 4 || m == 8) || !(n < m))
        return;
    cm_kern t;
    memset(&t, 0, sizeof t);
    t.kind = CM_KERN_NM;
    t.nkeep = (size_t)n;
    t.m = (size_t)m;
    enum { G = 64 };
    double x[8 * G], y[8 * G], r[8];
    static const double pool[] = {0.5, -0.5, 1.0, -2.0, 0.0, -0.0, 3.0, NAN, 0.5, -1.0};
    for (size_t i = 0; i < 8 * G; i++)
        x[i] = pool[(i * 7 + i / 8 * 3) % (sizeof pool / sizeof *pool)];
    p->st[0].fmt->quantize(p->st[0].params, NULL, x, y, 8 * G);
    for (size_t g = 0; g < 8 * G; g += t.m) {
        nm_ref(&t, x + g, r);
        for (size_t q = 0; q < t.m; q++)
            if (memcmp(&r[q], &y[g + q], sizeof r[q]) && !(r[q] != r[q] && y[g + q] != y[g + q]))
                return;
    }
    *k = t;
}

/* the state's fused kernel (kind 0 when the pipeline has none) */
static void kern_setup(const cm_pipeline *p, cm_kern *k)
{
    memset(k, 0, sizeof *k);
    const cm_stage *st = &p->st[0];
    if (p->n == 1 && st->sel && !st->scalar && !st->blk.K) {
        nm_setup(p, k);
        return;
    }
    if (p->n != 1 || !st->scalar || st->sel || st->rot || cm_stage_rounding(st) != 0 ||
        !CM_FORMAT_HAS(st->fmt, levels) ||
        (st->blk.K && (st->blk.K % 8 || st->blk.rule == CM_RULE_MSE ||
                        st->blk.rule == CM_RULE_SEARCH || st->blk.rule == CM_RULE_RMS ||
                        st->blk.eden)))
        return;
    size_t n = 0;
    if (st->fmt->levels(st->params, NULL, 0, &n) || n < 2 || n > 4096)
        return;
    double *lv = malloc(n * sizeof *lv);
    cm_kern t;
    memset(&t, 0, sizeof t);
    if (lv && !st->fmt->levels(st->params, lv, n, &n)) {
        if (read_grid(lv, n, &t) && probes_agree(st, &t, lv, n))
            *k = t;
        else if (grid_kern(lv, n, &t) && probes_agree(st, &t, lv, n))
            *k = t; /* a lookup table, or a grid whose rounding reads differently */
    }
    if (k->kind && st->blk.K && st->blk.rule == CM_RULE_ABSMAX)
        k->sfast = cm_sfmt_grid(st->blk.sfmt, &k->sgrid) ? 2
                   : st->blk.sfmt == CM_SF_EXACT      ? 1
                                                      : 0;
    free(lv);
}

/* the kernel as this state runs it: its data's block scaling and scale */
static int ready(const cm_pipeline *p, cm_pipeline_state *s, cm_kern *k, cm_blockspec *tmp)
{
    if (!s->kern_known) { /* once per state, i.e. per thread */
        kern_setup(p, &s->kern);
        s->kern_known = 1;
    }
    if (!s->kern.kind || !cm_fused_enabled())
        return 0;
#if defined(CM_HAVE_AVX2)
    /* on x86-64 without AVX2 the generic loops (compiled for the CPU) are
     * faster than the kernels' SSE2 form: the same bits either way */
    if (cm_isa_active() == CM_ISA_SCALAR)
        return 0;
#endif
    *k = s->kern;
    k->b = p->st[0].blk.K ? cm_stage_blockspec(&p->st[0], s, tmp) : NULL;
    k->scale = s->scale[0];
    return 1;
}

int cm_pipeline_apply_fused(const cm_pipeline *p, cm_pipeline_state *s, const double *x,
                            double *y, size_t n)
{
    cm_kern k;
    cm_blockspec tmp;
    if (!ready(p, s, &k, &tmp) || k.kind == CM_KERN_NM) /* (N:M: errors only) */
        return 0;
    const cm_isa isa = cm_isa_active();
    for (size_t off = 0; off < n; off += s->chunk) {
        size_t m = n - off < s->chunk ? n - off : s->chunk;
        isa_kern[isa].apply(&k, x + off, y + off, m, s->t0);
    }
    return 1;
}

int cm_pipeline_sse(const cm_pipeline *p, cm_pipeline_state *s, const double *x, size_t n,
                    double *sse, double *sxe)
{
    cm_kern k;
    cm_blockspec tmp;
    if (n > s->chunk || !ready(p, s, &k, &tmp))
        return 0;
    *sse = cm_kern_sse(&k, x, n, s->t0, sxe);
    return 1;
}
