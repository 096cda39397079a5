/* Monte-Carlo GMSE. Work is cut into fixed batches: batch b holds values
 * [b*bs, (b+1)*bs) and is always drawn from PCG stream b of the seed; each
 * batch's squared-error sum is stored per pipeline and reduced in batch order
 * after the threads join, so results do not depend on the thread count. Every
 * pipeline sees the same values (common random numbers). Each thread owns its
 * buffers and format states, allocated before the hot loop. */
#include <capmetric/export.h>
#include <capmetric/mc.h>
#include <capmetric/progress.h>
#include <capmetric/rng.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <capmetric/exact.h>
#include <gsl/gsl_cdf.h>

#include "dist_int.h"
#include "plan_int.h"
#include "util_int.h"
#include "vrng_int.h"

#define MC_BATCH 65536u /* values per batch for large runs */
#define MC_MIN_BATCHES 64u
#define MC_CHUNK 4096u  /* values generated and quantized at a time (L1/L2 resident) */

struct cm_mc_run {
    size_t n;            /* pipelines */
    uint64_t samples, nb, bs; /* values drawn; batches of bs values (the last may hold fewer) */
    size_t *group;       /* per pipeline: its group size */
    uint64_t *used;      /* per pipeline: values it quantized (whole groups of each chunk) */
    double *tail_t;      /* per pipeline: stratification threshold T (0: none) */
    double *tail_q;      /* per pipeline: P(|X| > T) */
    cm_dens dens;        /* the data (every plan's), sigma in dens.d.sigma */
    double *sse;         /* nb x n, batch-major: sum (x - R(x))^2 */
    double *sxe;         /* nb x n: sum x (x - R(x)), the misalignment's numerator */
    double *sxx;         /* nb x n: sum x^2 of the same values, its denominator */
    double seconds;
};

/* Values a pipeline of group g quantizes out of m drawn: whole groups of each
 * chunk of MC_CHUNK. The draws do not depend on the other pipelines of a run,
 * so neither does any pipeline's estimate. */
static uint64_t used_in(uint64_t m, size_t g)
{
    return m / MC_CHUNK * (MC_CHUNK / g * g) + m % MC_CHUNK / g * g;
}

static uint64_t batch_values(const cm_mc_run *r, uint64_t b)
{
    return b + 1 == r->nb ? r->samples - b * r->bs : r->bs;
}

typedef struct shared {
    cm_plan *const *p;
    size_t n;
    const cm_mc_opts *o;
    cm_mc_run *run;
    size_t chunk;
    atomic_uint_fast64_t next;
    atomic_uint_fast64_t finished; /* batches done, for progress */
    const uint64_t *spec_hash; /* FNV-1a of each canonical spec */
    cm_first_error err;
} shared;

/* Tail stratification (value-wise pipelines, group 1): the error of a fine
 * grid lives beyond its largest level, where plain sampling almost never
 * looks (INT16: |x| > 5.94, probability 3e-9; 2^24 samples saw none and the
 * SE claimed 2e-4 relative on a 5 % bias). Each batch estimates
 *   E[e] = E[e; |x| <= T] + q E[e | |x| > T],  q = P(|X| > T),
 * the first term from the batch's own draws (values beyond T dropped), the
 * second from TAIL_DRAWS values drawn from the tail alone (inverse CDF). Both
 * are unbiased, the batches independent: the batch spread stays an honest SE. */
#define TAIL_DRAWS 256u
#define TAIL_MIN_T 3.3 /* q < 1e-3: below, plain sampling sees the tail well enough */
#define TAIL_MAX_Q 1e-3 /* the same for the other distributions */

/* the three sums of a batch: (x - R(x))^2, x (x - R(x)), x^2 */
typedef struct sums {
    double ee, xe, xx;
} sums;

static sums sums_center(const double *x, const double *y, size_t n, double t)
{
    sums a = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double e = x[i] - y[i];
        int in = fabs(x[i]) <= t;
        a.ee += in ? e * e : 0.0;
        a.xe += in ? x[i] * e : 0.0;
        a.xx += in ? x[i] * x[i] : 0.0;
    }
    return a;
}

/* sum x^2 in 8 lanes by index (the loop vectorizes; the order is fixed) */
CM_HOT_LOOP static double sum_x2(const double *x, size_t n)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t l = 0; l < 8; l++)
            a[l] += x[i + l] * x[i + l];
    for (; i < n; i++)
        a[i % 8] += x[i] * x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* T for pipeline p: 0.9 of its saturation point (one stage, a scalar grid at one
 * scale), if that is far enough out; else 0 (no stratification). T is in the
 * data's units (sigma x). */
static double tail_threshold(const cm_plan *plan)
{
    const cm_pipeline *p = plan->p;
    if (p->group != 1 || p->n != 1 || !p->st[0].scalar || p->st[0].blk.K)
        return 0;
    double *lv = NULL;
    size_t k = 0;
    cm_diag d;
    if (cm_exact_pipeline_levels(p, 0, &lv, &k, &d) != CM_OK)
        return 0;
    double top = fmax(fabs(lv[0]), fabs(lv[k - 1])) * plan->scale[0];
    free(lv);
    double t = 0.9 * top;
    const cm_dens *D = &plan->dens;
    if (!cm_dens_is_gauss(D) || D->d.sigma != 1.0) {
        double q = 2 * cm_dens_sf(D, t / D->d.sigma);
        return isfinite(t) && q < TAIL_MAX_Q && q > 1e-300 ? t : 0;
    }
    /* beyond ~37 the tail's probability is below 1e-300: nothing to sample, nothing missed */
    return isfinite(t) && t >= TAIL_MIN_T && t <= 37.0 ? t : 0;
}

/* P(|X| > t) for the threshold t (data units) */
static double tail_prob(const cm_dens *D, double t)
{
    if (cm_dens_is_gauss(D) && D->d.sigma == 1.0)
        return 2 * gsl_cdf_ugaussian_Q(t);
    return 2 * cm_dens_sf(D, t / D->d.sigma);
}

/* the mean sums of TAIL_DRAWS values drawn from |X| > T, for batch b of
 * pipeline f: a stream of its own (seed, batch, spec), whatever else runs */
static sums tail_mean(const shared *sh, size_t f, uint64_t b, cm_pipeline_state *ps, double *x,
                      double *y, size_t C)
{
    const double q2 = 0.5 * sh->run->tail_q[f];
    const cm_dens *D = &sh->run->dens;
    cm_pcg64 g;
    cm_pcg64_stream(&g, sh->o->seed ^ sh->spec_hash[f] ^ UINT64_C(0x7a11), b);
    sums sum = {0, 0, 0};
    for (size_t done = 0; done < TAIL_DRAWS; done += C) {
        size_t c = TAIL_DRAWS - done < C ? TAIL_DRAWS - done : C;
        for (size_t i = 0; i < c; i++) {
            uint64_t r = cm_pcg64_next(&g);
            double u = ((double)(r >> 11) + 0.5) * 0x1p-53; /* (0, 1) */
            double a = D->d.sigma * cm_dens_isf(D, u * q2); /* |x| beyond T */
            x[i] = (r & 1) ? -a : a;
        }
        cm_pipeline_apply(sh->p[f]->p, ps, x, y, c);
        double xe;
        sum.ee += cm_kern_sumsq(x, y, c, &xe);
        sum.xe += xe;
        sum.xx += sum_x2(x, c);
    }
    sum.ee /= TAIL_DRAWS;
    sum.xe /= TAIL_DRAWS;
    sum.xx /= TAIL_DRAWS;
    return sum;
}

static void fail(shared *sh, cm_status st, const cm_diag *d)
{
    cm_first_error_set(&sh->err, st, d);
}

static void *worker(void *arg)
{
    shared *sh = arg;
    cm_mc_run *run = sh->run;
    size_t n = sh->n, C = sh->chunk;
    cm_diag d;
    cm_diag_clear(&d);
    double *x = malloc(2 * C * sizeof *x);
    sums *acc = malloc(n * sizeof *acc);
    cm_pipeline_state **ps = calloc(n, sizeof *ps);
    if (!x || !acc || !ps) {
        cm_diag_set(&d, CM_ENOMEM, "out of memory");
        fail(sh, CM_ENOMEM, &d);
        goto out;
    }
    double *y = x + C;
    for (size_t f = 0; f < n; f++) {
        cm_status st = cm_plan_state_alloc(sh->p[f], C, &ps[f], &d);
        if (st) {
            fail(sh, st, &d);
            goto out;
        }
    }
    for (;;) {
        uint64_t b = atomic_fetch_add(&sh->next, 1);
        if (b >= run->nb || atomic_load(&sh->err.failed))
            break;
        if (cm_cancel_requested()) {
            cm_diag_set(&d, CM_ECANCELED, "Monte Carlo canceled");
            fail(sh, CM_ECANCELED, &d);
            break;
        }
        /* N(0,1): the vector generator (stream version 2); the other
         * distributions' samplers draw from PCG64 */
        cm_pcg64 g;
        cm_vrng vg;
        const int gauss = cm_dens_is_gauss(&run->dens);
        if (gauss)
            cm_vrng_stream(&vg, sh->o->seed, b);
        else
            cm_pcg64_stream(&g, sh->o->seed, b);
        uint64_t m = b + 1 == run->nb ? run->samples - b * run->bs : run->bs;
        for (size_t f = 0; f < n; f++)
            acc[f] = (sums){0, 0, 0};
        /* randomized formats: a seed per (run seed, batch, canonical spec), not
         * drawn from the batch's stream, so that batch b's values and each
         * format's rounding are the same whatever else is in the run */
        for (size_t f = 0; f < n; f++)
            cm_pipeline_state_seed(sh->p[f]->p, ps[f],
                                   sh->o->seed * UINT64_C(0x9e3779b97f4a7c15) ^
                                       (b + 1) * UINT64_C(0xbf58476d1ce4e5b9) ^ sh->spec_hash[f]);
        for (uint64_t off = 0; off < m; off += C) {
            size_t c = (size_t)(m - off < C ? m - off : C);
            if (gauss)
                cm_vgauss_fill(&vg, x, c);
            else
                cm_dens_fill(&run->dens, &g, x, c);
            if (run->dens.d.sigma != 1.0)
                for (size_t i = 0; i < c; i++)
                    x[i] *= run->dens.d.sigma;
            size_t xx_n = 0; /* sum x^2 of the first xx_n values, shared */
            double xx = 0;
            for (size_t f = 0; f < n; f++) {
                size_t cf = c / run->group[f] * run->group[f];
                if (!cf)
                    continue;
                double sse, sxe;
                if (run->tail_t[f] > 0) {
                    cm_pipeline_apply(sh->p[f]->p, ps[f], x, y, cf);
                    sums a = sums_center(x, y, cf, run->tail_t[f]);
                    acc[f].ee += a.ee;
                    acc[f].xe += a.xe;
                    acc[f].xx += a.xx;
                    continue;
                }
                if (!cm_pipeline_sse(sh->p[f]->p, ps[f], x, cf, &sse, &sxe)) {
                    /* (fused above: the same bits as these two lines) */
                    cm_pipeline_apply(sh->p[f]->p, ps[f], x, y, cf);
                    sse = cm_kern_sumsq(x, y, cf, &sxe);
                }
                if (xx_n != cf) {
                    xx = sum_x2(x, cf);
                    xx_n = cf;
                }
                acc[f].ee += sse;
                acc[f].xe += sxe;
                acc[f].xx += xx;
            }
        }
        for (size_t f = 0; f < n; f++)
            if (run->tail_t[f] > 0) {
                sums t = tail_mean(sh, f, b, ps[f], x, y, C);
                double w = (double)used_in(m, 1) * run->tail_q[f];
                acc[f].ee += w * t.ee;
                acc[f].xe += w * t.xe;
                acc[f].xx += w * t.xx;
            }
        /* a NaN result for finite input (a non-saturating format's overflow) lost
         * the value: its error is infinite, never NaN (its misalignment: NaN) */
        const double var = run->dens.d.sigma * run->dens.d.sigma;
        for (size_t f = 0; f < n; f++) {
            if (isnan(acc[f].ee))
                acc[f].ee = INFINITY;
            run->sse[b * n + f] = acc[f].ee / var; /* relative to the variance */
            run->sxe[b * n + f] = acc[f].xe / var;
            run->sxx[b * n + f] = acc[f].xx / var;
        }
        cm_progress("monte carlo", (double)(atomic_fetch_add(&sh->finished, 1) + 1),
                    (double)run->nb);
    }
out:
    if (ps)
        for (size_t f = 0; f < n; f++)
            cm_pipeline_state_free(sh->p[f]->p, ps[f]);
    free(ps);
    free(acc);
    free(x);
    return NULL;
}

cm_status cm_mc_run_alloc(cm_plan *const *plans, size_t n, const cm_mc_opts *o,
                          cm_mc_run **out, cm_diag *d)
{
    cm_plan *const *p = plans;
    *out = NULL;
    if (!o || n == 0 || !p)
        return cm_diag_set(d, CM_EINVAL, "nothing to run");
    if (o->samples < CM_MC_MIN_SAMPLES || o->samples > CM_MC_MAX_SAMPLES)
        return cm_diag_set(d, CM_ERANGE, "samples must be from %u to 2^40, not %llu",
                           CM_MC_MIN_SAMPLES, (unsigned long long)o->samples);
    if (o->threads < 1 || o->threads > 1024)
        return cm_diag_set(d, CM_ERANGE, "threads must be from 1 to 1024, not %u", o->threads);
    for (size_t i = 1; i < n; i++)
        if (p[i]->dens.d.kind != p[0]->dens.d.kind || p[i]->dens.d.nu != p[0]->dens.d.nu ||
            p[i]->dens.d.sigma != p[0]->dens.d.sigma)
            return cm_diag_set(d, CM_EINVAL,
                               "the plans of one run must be made for the same data "
                               "(distribution and sigma)");
    for (size_t i = 0; i < n; i++)
        if (p[i]->p->group > MC_CHUNK)
            return cm_diag_set(d, CM_ERANGE, "'%s': a group of %zu values exceeds %u",
                               p[i]->p->input, p[i]->p->group, MC_CHUNK);
    cm_mc_run *run = calloc(1, sizeof *run);
    if (!run || !(run->group = malloc(n * sizeof *run->group)) ||
        !(run->used = calloc(n, sizeof *run->used)) ||
        !(run->tail_t = calloc(n, sizeof *run->tail_t)) ||
        !(run->tail_q = calloc(n, sizeof *run->tail_q))) {
        cm_mc_run_free(run);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    run->n = n;
    run->dens = p[0]->dens;
    /* the draws depend on the samples only, never on the other pipelines: fixed
     * batches (at least two, for an SE) of which each pipeline quantizes whole groups */
    uint64_t S = o->samples;
    uint64_t bs = S >= (uint64_t)MC_BATCH * MC_MIN_BATCHES ? MC_BATCH : S / MC_MIN_BATCHES;
    if (bs < 1)
        bs = 1;
    run->samples = S;
    run->bs = bs;
    run->nb = (S + bs - 1) / bs;
    if (run->nb < 2) {
        run->bs = bs = (S + 1) / 2;
        run->nb = (S + bs - 1) / bs;
    }
    for (size_t i = 0; i < n; i++) {
        run->group[i] = p[i]->p->group;
        run->tail_t[i] = tail_threshold(p[i]);
        run->tail_q[i] = run->tail_t[i] > 0 ? tail_prob(&run->dens, run->tail_t[i]) : 0;
        for (uint64_t b = 0; b < run->nb; b++)
            run->used[i] += used_in(batch_values(run, b), run->group[i]);
        if (run->used[i] < 2) {
            size_t g = run->group[i];
            unsigned long long s = (unsigned long long)S;
            cm_mc_run_free(run);
            return cm_diag_set(d, CM_ERANGE,
                               "'%s' quantizes groups of %zu values: %llu samples give it fewer "
                               "than two (give more --samples)",
                               p[i]->p->input, g, s);
        }
    }
    run->sse = calloc(run->nb * n, sizeof *run->sse);
    run->sxe = calloc(run->nb * n, sizeof *run->sxe);
    run->sxx = calloc(run->nb * n, sizeof *run->sxx);
    if (!run->sse || !run->sxe || !run->sxx) {
        unsigned long long nb = run->nb;
        cm_mc_run_free(run);
        return cm_diag_set(d, CM_ENOMEM, "out of memory (%llu batches)", nb);
    }
    uint64_t *hash = malloc(n * sizeof *hash);
    if (!hash) {
        cm_mc_run_free(run);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (const char *c = p[i]->p->canonical; *c; c++)
            h = (h ^ (unsigned char)*c) * UINT64_C(0x100000001b3);
        hash[i] = h;
    }
    shared sh = {.p = p, .n = n, .o = o, .run = run, .spec_hash = hash};
    sh.chunk = MC_CHUNK;
    atomic_init(&sh.next, 0);
    atomic_init(&sh.finished, 0);
    cm_first_error_init(&sh.err);
    unsigned T = o->threads;
    if ((uint64_t)T > run->nb)
        T = (unsigned)run->nb;
    double t0 = cm_now();
    cm_run_threads(T, worker, &sh);
    free(hash);
    run->seconds = cm_now() - t0;
    cm_status st = cm_first_error_fini(&sh.err, d);
    if (st) {
        cm_mc_run_free(run);
        return st;
    }
    *out = run;
    return CM_OK;
}

void cm_mc_run_free(cm_mc_run *run)
{
    if (!run)
        return;
    free(run->sse);
    free(run->sxe);
    free(run->sxx);
    free(run->group);
    free(run->used);
    free(run->tail_t);
    free(run->tail_q);
    free(run);
}

/* Ratio estimator over batches: mean_i = Σ s_ib / Σ m_ib (m_ib the values
 * pipeline i quantized in batch b); its variance from the residuals
 * r_ib = s_ib - m_ib mean_i. A difference i - j pairs the residuals batch by
 * batch (common random numbers). */
static void estimate(const cm_mc_run *r, size_t i, size_t j, int diff, double *mean, double *se)
{
    double ti = 0, tj = 0;
    for (uint64_t b = 0; b < r->nb; b++) {
        ti += r->sse[b * r->n + i];
        tj += r->sse[b * r->n + j];
    }
    double Ni = (double)r->used[i], Nj = (double)r->used[j];
    double mi = ti / Ni, mj = tj / Nj;
    *mean = diff ? mi - mj : mi;
    if (!isfinite(ti) || (diff && !isfinite(tj))) { /* values became Inf/NaN: no spread */
        *se = NAN;
        return;
    }
    double ss = 0;
    for (uint64_t b = 0; b < r->nb; b++) {
        uint64_t m = batch_values(r, b);
        double ri = (r->sse[b * r->n + i] - (double)used_in(m, r->group[i]) * mi) / Ni;
        double rj = diff ? (r->sse[b * r->n + j] - (double)used_in(m, r->group[j]) * mj) / Nj : 0;
        ss += (ri - rj) * (ri - rj);
    }
    double nb = (double)r->nb;
    *se = sqrt(ss * nb / (nb - 1));
}

void cm_mc_gmse(const cm_mc_run *r, size_t i, double *mean, double *se)
{
    estimate(r, i, i, 0, mean, se);
}

void cm_mc_diff(const cm_mc_run *r, size_t i, size_t j, double *diff, double *se)
{
    estimate(r, i, j, 1, diff, se);
}

/* Misalignment 1 - E[x R(x)] / E[x^2] = E[x (x - R(x))] / E[x^2]: the ratio
 * of the two batch sums, its SE from the residuals r_b = (a_b - m s_b) / S
 * (the delta method, as estimate() does for the GMSE). */
void cm_mc_misalignment(const cm_mc_run *r, size_t i, double *mean, double *se)
{
    double A = 0, S = 0;
    for (uint64_t b = 0; b < r->nb; b++) {
        A += r->sxe[b * r->n + i];
        S += r->sxx[b * r->n + i];
    }
    double m = A / S, ss = 0;
    *mean = m;
    if (!isfinite(m)) {
        *mean = NAN;
        *se = NAN;
        return;
    }
    for (uint64_t b = 0; b < r->nb; b++) {
        double rb = (r->sxe[b * r->n + i] - m * r->sxx[b * r->n + i]) / S;
        ss += rb * rb;
    }
    double nb = (double)r->nb;
    *se = sqrt(ss * nb / (nb - 1));
}

uint64_t cm_mc_samples(const cm_mc_run *r) { return r->samples; }
uint64_t cm_mc_used(const cm_mc_run *r, size_t i) { return r->used[i]; }
uint64_t cm_mc_batch_used(const cm_mc_run *r, size_t i) { return used_in(r->bs, r->group[i]); }
uint64_t cm_mc_batches(const cm_mc_run *r) { return r->nb; }
double cm_mc_seconds(const cm_mc_run *r) { return r->seconds; }

uint64_t cm_mc_batch_size(const cm_mc_run *r) { return r->bs; }

void cm_mc_batch_sums(const cm_mc_run *r, size_t i, double *out)
{
    for (uint64_t b = 0; b < r->nb; b++)
        out[b] = r->sse[b * r->n + i];
}
