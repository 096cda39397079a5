/* Formats on arrays (tensor.h): evaluate or quantize a caller's values.
 *
 * A tensor of shape (..., C) is R rows of C values; with padding each row
 * is followed by zeros up to Cp, the next multiple of the format's group g,
 * so that no group straddles two rows. The padded index space [0, R Cp) is cut
 * into chunks of L values (a multiple of g); chunk k is gathered (converted to
 * double, padding filled in), run through the pipeline with its own seed,
 * measured over its real values and scattered back. Chunks are handed to
 * threads by an atomic counter and their sums reduced in chunk order, so a
 * seed gives the same values and the same sums for any number of threads.
 * Rows are C-order (row r at r C) or, for Fortran-order arrays, Fortran-order
 * (row m's values at m + j R): the layout is read and written as it is. */
#include <capmetric/eval.h>
#include <capmetric/progress.h>
#include <capmetric/tensor.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
#include "util_int.h"

#define CHUNK 16384u /* values a chunk (128 KiB of doubles a buffer: L2-resident) */

void cm_array_opts_default(cm_array_opts *o)
{
    o->seed = 1;
    o->threads = 0;
    o->pad = 0;
    cm_dist_default(&o->dist);
}

typedef struct job {
    const cm_plan *plan;
    const cm_array *x;
    void *out;
    cm_dtype odt;
    uint64_t R, C, Cp, P, L, nchunks;
    uint64_t tr, tc, H, W; /* block=RxC: tiles of tr x tc over the last two dimensions H x W
                              (then "row" r is tile r, in matrix-major, row-major order) */
    uint64_t seed;
    double *sse, *sxq, *sxx; /* per chunk */
    atomic_uint_fast64_t next, finished;
    cm_first_error err;
} job;

/* the run of row r from column j of `len` real values: element offset and stride */
static inline void run_at(const job *J, uint64_t r, uint64_t j, uint64_t *off, uint64_t *stride)
{
    if (J->tr) { /* tile r (row j / tc, column j % tc of it): C order only */
        uint64_t per = (J->H / J->tr) * (J->W / J->tc), m = r / per, t = r % per;
        uint64_t ti = t / (J->W / J->tc), tj = t % (J->W / J->tc);
        *off = m * J->H * J->W + (ti * J->tr + j / J->tc) * J->W + tj * J->tc + j % J->tc;
        *stride = 1;
    } else if (J->x->fortran) {
        *off = r + j * J->R;
        *stride = J->R;
    } else {
        *off = r * J->C + j;
        *stride = 1;
    }
}

/* values from column j of a row that lie next to each other in memory: the
 * rest of the row (tiles: the rest of the tile's row) */
static inline uint64_t seg(const job *J, uint64_t j)
{
    return J->tr ? J->tc - j % J->tc : J->Cp - j;
}

static void gather(const job *J, uint64_t a, uint64_t b, double *xb)
{
    const size_t sz = cm_dtype_size(J->x->dtype);
    const unsigned char *base = J->x->data;
    for (uint64_t i = a; i < b;) {
        uint64_t r = i / J->Cp, j = i % J->Cp, run = seg(J, j) < b - i ? seg(J, j) : b - i;
        uint64_t real = j < J->C ? (J->C - j < run ? J->C - j : run) : 0;
        uint64_t off, stride;
        run_at(J, r, j, &off, &stride);
        double *dst = xb + (i - a);
        if (stride == 1)
            cm_dtype_load(J->x->dtype, base + off * sz, dst, (size_t)real);
        else
            for (uint64_t t = 0; t < real; t++)
                cm_dtype_load(J->x->dtype, base + (off + t * stride) * sz, dst + t, 1);
        memset(dst + real, 0, (size_t)(run - real) * sizeof *dst);
        i += run;
    }
}

/* sums over the real values of [a, b); scatter q to out */
CM_HOT_LOOP
static void measure(const job *J, uint64_t a, uint64_t b, const double *xb, const double *yb,
                    double *sse, double *sxq, double *sxx)
{
    const size_t osz = J->out ? cm_dtype_size(J->odt) : 0;
    double e = 0, m = 0, q = 0;
    for (uint64_t i = a; i < b;) {
        uint64_t r = i / J->Cp, j = i % J->Cp, run = seg(J, j) < b - i ? seg(J, j) : b - i;
        uint64_t real = j < J->C ? (J->C - j < run ? J->C - j : run) : 0;
        const double *x = xb + (i - a), *y = yb + (i - a);
        /* four lanes of each sum: the additions pipeline and vectorize (the
         * order is fixed: the same sums on every machine) */
        double e2[4] = {0, 0, 0, 0}, m2[4] = {0, 0, 0, 0}, q2[4] = {0, 0, 0, 0};
        uint64_t t = 0;
        for (; t + 4 <= real; t += 4)
            for (int l = 0; l < 4; l++) {
                double xv = x[t + (uint64_t)l], yv = y[t + (uint64_t)l], dv = xv - yv;
                e2[l] += dv * dv;
                m2[l] += xv * yv;
                q2[l] += xv * xv;
            }
        for (; t < real; t++) {
            double dv = x[t] - y[t];
            e2[0] += dv * dv;
            m2[0] += x[t] * y[t];
            q2[0] += x[t] * x[t];
        }
        e += (e2[0] + e2[1]) + (e2[2] + e2[3]);
        m += (m2[0] + m2[1]) + (m2[2] + m2[3]);
        q += (q2[0] + q2[1]) + (q2[2] + q2[3]);
        if (J->out && real) {
            uint64_t off, stride;
            run_at(J, r, j, &off, &stride);
            unsigned char *o = J->out;
            if (stride == 1)
                cm_dtype_store(J->odt, y, o + off * osz, (size_t)real);
            else
                for (uint64_t u = 0; u < real; u++)
                    cm_dtype_store(J->odt, y + u, o + (off + u * stride) * osz, 1);
        }
        i += run;
    }
    *sse = e;
    *sxq = m;
    *sxx = q;
}

static void job_fail(job *J, cm_status s, const cm_diag *d)
{
    cm_first_error_set(&J->err, s, d);
}

static void *worker(void *arg)
{
    job *J = arg;
    cm_diag d;
    cm_diag_clear(&d);
    double *xb = malloc(2 * J->L * sizeof *xb);
    cm_pipeline_state *ps = NULL;
    cm_status s = xb ? cm_plan_state_alloc(J->plan, (size_t)J->L, &ps, &d)
                     : cm_diag_set(&d, CM_ENOMEM, "out of memory");
    if (s) {
        job_fail(J, s, &d);
        free(xb);
        return NULL;
    }
    double *yb = xb + J->L;
    const cm_pipeline *p = J->plan->p;
    for (;;) {
        uint64_t k = atomic_fetch_add(&J->next, 1);
        if (k >= J->nchunks || atomic_load(&J->err.failed))
            break;
        if (cm_cancel_requested()) {
            cm_diag_set(&d, CM_ECANCELED, "canceled");
            job_fail(J, CM_ECANCELED, &d);
            break;
        }
        uint64_t a = k * J->L, b = a + J->L < J->P ? a + J->L : J->P;
        gather(J, a, b, xb);
        cm_pipeline_state_seed(p, ps, J->seed * UINT64_C(0x9e3779b97f4a7c15) ^
                                          (k + 1) * UINT64_C(0xbf58476d1ce4e5b9));
        if (!cm_pipeline_apply_fused(p, ps, xb, yb, (size_t)(b - a)))
            cm_pipeline_apply(p, ps, xb, yb, (size_t)(b - a));
        measure(J, a, b, xb, yb, &J->sse[k], &J->sxq[k], &J->sxx[k]);
        uint64_t f = atomic_fetch_add(&J->finished, 1) + 1;
        if (J->nchunks >= 64 && f % 16 == 0)
            cm_progress("tensor", (double)f, (double)J->nchunks);
    }
    cm_pipeline_state_free(p, ps);
    free(xb);
    return NULL;
}

/* Σ x^2 over the array, its largest |x|, and the first non-finite value's
 * index (or UINT64_MAX) */
static double sum_squares(const cm_array *x, uint64_t n, double *amax, uint64_t *bad)
{
    double buf[4096], s = 0, mx = 0;
    const size_t sz = cm_dtype_size(x->dtype);
    *bad = UINT64_MAX;
    for (uint64_t i = 0; i < n; i += 4096) {
        size_t m = (size_t)(n - i < 4096 ? n - i : 4096);
        cm_dtype_load(x->dtype, (const unsigned char *)x->data + i * sz, buf, m);
        double a = 0;
        for (size_t t = 0; t < m; t++) {
            a += buf[t] * buf[t];
            mx = fabs(buf[t]) > mx ? fabs(buf[t]) : mx;
        }
        if (!isfinite(a)) {
            for (size_t t = 0; t < m; t++)
                if (!isfinite(buf[t])) {
                    *bad = i + t;
                    return NAN;
                }
        }
        s += a;
    }
    *amax = mx;
    return s;
}

static cm_status not_finite(uint64_t i, cm_diag *d)
{
    return cm_diag_set(d, CM_EINVAL, "value %llu (flat index, in the file's order) is not finite "
                       "(NaN or infinite)", (unsigned long long)i);
}

/* the format reads the tensor's scale: scale=opt, or a two-level tensor scale */
static int needs_prepass(const cm_pipeline *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].scale_opt || p->st[i].blk.tensor)
            return 1;
    return 0;
}

/* the block scaling of a one-stage pipeline with block=RxC tiles, or NULL */
static const cm_blockspec *tile_of(const cm_pipeline *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].blk.tile_r)
            return &p->st[i].blk;
    return NULL;
}

/* rows of C values padded to Cp (a multiple of the group g), chunks of L;
 * block=RxC: "rows" are the tiles, K = R C values each, none padded */
static void layout(job *J, const cm_pipeline *p, const cm_array *x, uint64_t g)
{
    const uint64_t n = cm_array_count(x);
    const cm_blockspec *tb = tile_of(p);
    if (tb && x->ndim >= 2) {
        J->tr = tb->tile_r;
        J->tc = tb->tile_c;
        J->H = x->shape[x->ndim - 2];
        J->W = x->shape[x->ndim - 1];
        J->C = J->Cp = g;
        J->R = n / g;
        J->P = n;
        J->L = g >= CHUNK ? g : CHUNK / g * g;
        J->L = J->L < J->P ? J->L : J->P;
        J->nchunks = (J->P + J->L - 1) / J->L;
        return;
    }
    J->C = x->ndim ? x->shape[x->ndim - 1] : 1;
    J->R = J->C ? n / J->C : 0;
    J->Cp = (J->C + g - 1) / g * g;
    J->P = J->R * J->Cp;
    J->L = g >= CHUNK ? g : CHUNK / g * g;
    J->L = J->L < J->P ? J->L : J->P; /* (small arrays: small buffers) */
    J->nchunks = (J->P + J->L - 1) / J->L;
}


/* The checks every pass over an array makes, and its plan: scale=opt for the
 * options' distribution at the tensor's RMS, tensor scales for its largest
 * value. A first pass over the values finds those where the format reads
 * them (or `always`, which also refuses a non-finite value before any work). */
static cm_status plan_for(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                          int always, cm_plan **plan, cm_diag *d)
{
    const uint64_t n = cm_array_count(x), g = cm_pipeline_group(p);
    const uint64_t C = x->ndim ? x->shape[x->ndim - 1] : 1;
    if (!x->data)
        return cm_diag_set(d, CM_EINVAL, "no data");
    const cm_blockspec *tb = tile_of(p);
    if (tb) { /* 2-D tiles: one stage, C order, whole tiles of the last two dimensions */
        uint64_t H = x->ndim >= 2 ? x->shape[x->ndim - 2] : 0;
        if (p->n != 1 || x->ndim < 2 || x->fortran || H % tb->tile_r || C % tb->tile_c || o->pad)
            return cm_diag_set(d, CM_EINVAL,
                               "block=%zux%zu tiles the last two dimensions of a C-order tensor "
                               "of at least 2 dimensions, in a format of one stage: they must be "
                               "multiples of %zu and %zu (shape ends %llu x %llu; no --pad, no "
                               "Fortran order)",
                               tb->tile_r, tb->tile_c, tb->tile_r, tb->tile_c,
                               (unsigned long long)H, (unsigned long long)C);
    } else if (C % g && !o->pad)
        return cm_diag_set(d, CM_EINVAL,
                           "the last dimension (%llu) is not a multiple of the format's group "
                           "of %llu values (blocks run along the last dimension): pad the rows "
                           "with zeros (--pad), or choose a block that divides it",
                           (unsigned long long)C, (unsigned long long)g);
    uint64_t bad = UINT64_MAX;
    double amax = 0, rms = 1.0;
    if (always || needs_prepass(p)) {
        double sxx = sum_squares(x, n, &amax, &bad);
        if (bad != UINT64_MAX)
            return not_finite(bad, d);
        rms = sqrt(sxx / (double)n);
    }
    cm_dist dist = o->dist;
    dist.sigma = rms > 0 ? rms : 1.0;
    cm_status s = cm_plan_alloc_dist(p, &dist, plan, d);
    if (!s)
        (*plan)->tensor_amax = amax; /* two-level (NVFP4) scales: the tensor's own */
    return s;
}

static cm_status run(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o, void *out,
                     cm_dtype odt, cm_array_stats *st, cm_diag *d)
{
    cm_array_opts defaults;
    if (!o) {
        cm_array_opts_default(&defaults);
        o = &defaults;
    }
    memset(st, 0, sizeof *st);
    if (x->ndim < 0 || x->ndim > CM_TENSOR_MAX_DIMS || (unsigned)x->dtype > CM_DTYPE_F64 ||
        (out && (unsigned)odt > CM_DTYPE_F64))
        return cm_diag_set(d, CM_EINVAL, "bad array description (ndim, dtype)");
    const uint64_t n = cm_array_count(x);
    if (n == 0) {
        st->mse = st->nmse = st->eff_bits = st->misalignment = st->rms = NAN;
        return CM_OK;
    }
    cm_plan *plan = NULL;
    cm_status s = plan_for(p, x, o, 0, &plan, d);
    if (s)
        return s;
    job J = {.plan = plan, .x = x, .out = out, .odt = odt, .seed = o->seed};
    layout(&J, p, x, cm_pipeline_group(p));
    J.sse = malloc(J.nchunks * sizeof *J.sse);
    J.sxq = malloc(J.nchunks * sizeof *J.sxq);
    J.sxx = malloc(J.nchunks * sizeof *J.sxx);
    if (!J.sse || !J.sxq || !J.sxx) {
        free(J.sse);
        free(J.sxq);
        free(J.sxx);
        cm_plan_free(plan);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    atomic_init(&J.next, 0);
    atomic_init(&J.finished, 0);
    cm_first_error_init(&J.err);
    unsigned T = o->threads ? o->threads : cm_cores();
    if ((uint64_t)T > J.nchunks)
        T = (unsigned)J.nchunks;
    cm_run_threads(T, worker, &J);
    s = cm_first_error_fini(&J.err, d);
    double sse = 0, sxq = 0, sxx = 0;
    for (uint64_t k = 0; !s && k < J.nchunks; k++) {
        sse += J.sse[k];
        sxq += J.sxq[k];
        sxx += J.sxx[k];
    }
    if (!s && !isfinite(sxx)) { /* a NaN or infinity in the data: say where */
        uint64_t bad;
        double amax;
        sum_squares(x, n, &amax, &bad);
        s = not_finite(bad, d);
    }
    if (!s) {
        double rms = sqrt(sxx / (double)n);
        st->values = n;
        st->padded = J.P - n;
        st->sse = sse;
        st->sxx = sxx;
        st->sxq = sxq;
        st->mse = sse / (double)n;
        st->nmse = sxx > 0 ? sse / sxx : NAN;
        st->eff_bits = cm_eff_bits(st->nmse);
        st->misalignment = sxx > 0 ? 1 - sxq / sxx : NAN;
        st->rms = rms;
    }
    free(J.sse);
    free(J.sxq);
    free(J.sxx);
    cm_plan_free(plan);
    return s;
}

cm_status cm_array_eval(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                        cm_array_stats *stats, cm_diag *d)
{
    return run(p, x, o, NULL, CM_DTYPE_F64, stats, d);
}

cm_status cm_array_quantize(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                            void *out, cm_dtype out_dtype, cm_array_stats *stats, cm_diag *d)
{
    cm_array_stats tmp;
    if (!out)
        return cm_diag_set(d, CM_EINVAL, "no output buffer");
    return run(p, x, o, out, out_dtype, stats ? stats : &tmp, d);
}

/* ---- codes ------------------------------------------------------------------------ */

static cm_status encode_ok(const cm_pipeline *p, cm_diag *d)
{
    const cm_stage *st = &p->st[0];
    if (p->n != 1)
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "'%s': codes are written for one stage, not a composition", p->input);
    if (!CM_FORMAT_HAS(st->fmt, encode) || !st->scalar)
        return cm_diag_set(d, CM_EUNSUPPORTED, "'%s': format '%s' has no codec", p->input,
                           st->fmt->name);
    if ((cm_stage_rounding(st) & 0xff) != CM_ROUND_NEAREST)
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "'%s': stochastic rounding has no single code per value", p->input);
    if (st->blk.K && (st->blk.rule == CM_RULE_MSE || st->blk.rule == CM_RULE_SEARCH ||
                      st->blk.eden))
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "'%s': scales chosen per block by search or correction: codes are not "
                           "written",
                           p->input);
    return CM_OK;
}

cm_status cm_array_encode(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                          uint64_t *codes, double *scales, uint64_t *nscales, cm_diag *d)
{
    cm_status s = encode_ok(p, d);
    if (s)
        return s;
    cm_array_opts defaults;
    if (!o) {
        cm_array_opts_default(&defaults);
        o = &defaults;
    }
    const cm_stage *st = &p->st[0];
    const uint64_t K = st->blk.K ? st->blk.K : 1;
    job J = {.x = x};
    layout(&J, p, x, K);
    *nscales = st->blk.K ? J.R * (J.Cp / K) : 1;
    if (!scales || cm_array_count(x) == 0)
        return CM_OK;
    cm_plan *plan = NULL;
    if ((s = plan_for(p, x, o, 1, &plan, d)))
        return s;
    J.plan = plan;
    cm_blockspec b = st->blk;
    cm_block_retarget(&b, plan->tensor_amax); /* a tensor scale calibrated to this tensor */
    double *xb = malloc(2 * J.L * sizeof *xb);
    uint64_t *cb = malloc(J.L * sizeof *cb);
    if (!xb || !cb) {
        free(xb);
        free(cb);
        cm_plan_free(plan);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    double *u = xb + J.L;
    for (uint64_t a = 0; a < J.P && !s; a += J.L) {
        uint64_t e = a + J.L < J.P ? a + J.L : J.P;
        gather(&J, a, e, xb);
        for (uint64_t j = a; j < e; j += K) { /* each block's scale, then x / s */
            double sc = plan->scale[0];
            if (st->blk.K) { /* the scale the block path computes (scaling.c) */
                sc = cm_block_scale(&b, cm_block_stat(&b, xb + (j - a), (size_t)K));
                scales[j / K] = sc;
            }
            for (uint64_t t = 0; t < K; t++)
                u[j - a + t] = sc > 0 ? xb[j - a + t] / sc : 0.0;
        }
        s = st->fmt->encode(st->params, u, cb, (size_t)(e - a));
        if (s) {
            cm_diag_set(d, s, "format '%s': encode() failed", st->fmt->name);
            break;
        }
        for (uint64_t i = a; i < e;) { /* scatter the real values' codes */
            uint64_t r = i / J.Cp, j = i % J.Cp, run = seg(&J, j) < e - i ? seg(&J, j) : e - i;
            uint64_t real = j < J.C ? (J.C - j < run ? J.C - j : run) : 0, off, stride;
            run_at(&J, r, j, &off, &stride);
            for (uint64_t t = 0; t < real; t++)
                codes[off + t * stride] = cb[i - a + t];
            i += run;
        }
    }
    if (!st->blk.K)
        scales[0] = plan->scale[0];
    free(xb);
    free(cb);
    cm_plan_free(plan);
    return s;
}
