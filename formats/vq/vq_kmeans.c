/* Family vq: k-means codebooks (Lloyd from k-means++ seeds, BLAS distances)
 * and their on-disk cache. */
#include <capmetric/format.h>
#include <capmetric/rng.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vq_int.h"

#include "../host_int.h"

/* ---- k-means --------------------------------------------------------------------- */

/* argmin_j |x_i - c_j|^2 for n vectors, by D = |c|^2 - 2 X C^T (BLAS) */
void vq_nearest_block(const double *x, size_t n, const double *cb, const double *cn2, size_t K,
                          size_t d, double *dist, size_t *arg, double *best)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)K, (int)d, -2.0, x, (int)d,
                cb, (int)d, 0.0, dist, (int)K);
    for (size_t i = 0; i < n; i++) {
        double b = INFINITY, xn = 0;
        size_t a = 0;
        for (size_t j = 0; j < K; j++) {
            double v = dist[i * K + j] + cn2[j];
            if (v < b) {
                b = v;
                a = j;
            }
        }
        for (size_t k = 0; k < d; k++)
            xn += x[i * d + k] * x[i * d + k];
        arg[i] = a;
        if (best)
            best[i] = b + xn > 0 ? b + xn : 0.0;
    }
}

/* ---- training ----------------------------------------------------------------------
 * Lloyd's algorithm on a large Gaussian sample of the seed, started well:
 *  - one dimension: codewords at the quantiles (i + 1/2)/K of N(0, 3), then Lloyd on the
 *    2^22 quantiles of N(0,1) (cells are intervals: K binary searches an iteration); it
 *    converges to the Lloyd-Max quantizer within 0.02 % (tested to 1024 codewords);
 *  - two dimensions: the product of two such grids of sqrt(K) (K = 2^(2B) is a square),
 *    then Lloyd with BLAS distances;
 *  - more: splitting (Linde, Buzo & Gray 1980) from the mean, Lloyd after each split.
 * (k-means++ seeding was O(n K^2): 4096 codewords did not finish in minutes.) */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1-D Lloyd on the sorted sample xs[0..n): codewords c[0..K) sorted */
static void lloyd_1d(const double *xs, size_t n, double *c, size_t K, int iters)
{
    double *pre = malloc((n + 1) * sizeof *pre);
    if (!pre)
        return;
    pre[0] = 0;
    for (size_t i = 0; i < n; i++)
        pre[i + 1] = pre[i] + xs[i];
    for (int it = 0; it < iters; it++) {
        size_t lo = 0;
        double moved = 0;
        for (size_t j = 0; j < K; j++) {
            size_t hi = n;
            if (j + 1 < K) { /* first sample beyond the midpoint to the next codeword */
                double t = 0.5 * (c[j] + c[j + 1]);
                size_t a = lo, b = n;
                while (a < b) {
                    size_t m = a + (b - a) / 2;
                    if (xs[m] <= t)
                        a = m + 1;
                    else
                        b = m;
                }
                hi = a;
            }
            if (hi > lo) {
                double nc = (pre[hi] - pre[lo]) / (double)(hi - lo);
                moved = fmax(moved, fabs(nc - c[j]));
                c[j] = nc;
            }
            lo = hi;
        }
        if (moved < 1e-13)
            break;
    }
    free(pre);
}

/* the 1-D codebook of K words: quantile start, Lloyd on a sample of n (sorted here) */
static void train_1d(double *xs, size_t n, double *c, size_t K)
{
    qsort(xs, n, sizeof *xs, cmp_dbl);
    /* the asymptotically optimal level density is phi^(1/3), the density of N(0, 3)
     * (Panter & Dite 1951): its quantiles are nearly the answer, Lloyd finishes it */
    for (size_t j = 0; j < K; j++)
        c[j] = sqrt(3.0) * CM_HOST->normal_quantile(((double)j + 0.5) / (double)K);
    lloyd_1d(xs, n, c, K, 20000); /* an iteration is K binary searches: cheap */
}

/* training progress: iterations done of those planned (an upper bound:
 * Lloyd stops early once converged) */
typedef struct kprog {
    char task[64];
    double done, total;
} kprog;

static void kprog_step(kprog *pg)
{
    pg->done += 1;
    CM_HOST->progress(pg->task, pg->done < pg->total ? pg->done : pg->total - 1, pg->total);
}

/* Lloyd with BLAS distances: c[0..K) of dimension d on x[0..n); returns the MSE */
static double lloyd(const double *x, size_t n, double *c, size_t K, size_t d, int iters,
                    double tol, double *cn2, double *best, double *acc, double *dist,
                    size_t *arg, size_t *cnt, kprog *pg)
{
    const size_t vb = 4096;
    double prev = INFINITY, mse = INFINITY;
    for (int it = 0; it < iters; it++) {
        for (size_t j = 0; j < K; j++) {
            cn2[j] = 0;
            for (size_t k = 0; k < d; k++)
                cn2[j] += c[j * d + k] * c[j * d + k];
        }
        for (size_t i = 0; i < n; i += vb) {
            size_t m = n - i < vb ? n - i : vb;
            vq_nearest_block(x + i * d, m, c, cn2, K, d, dist, arg + i, best + i);
        }
        mse = 0;
        for (size_t i = 0; i < n; i++)
            mse += best[i];
        mse /= (double)(n * d);
        memset(acc, 0, K * d * sizeof *acc);
        memset(cnt, 0, K * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            cnt[arg[i]]++;
            for (size_t k = 0; k < d; k++)
                acc[arg[i] * d + k] += x[i * d + k];
        }
        for (size_t j = 0; j < K; j++) {
            if (cnt[j] == 0) { /* empty cell: restart it at the worst-served sample */
                size_t w = 0;
                for (size_t i = 1; i < n; i++)
                    w = best[i] > best[w] ? i : w;
                memcpy(c + j * d, x + w * d, d * sizeof *c);
                best[w] = 0;
                continue;
            }
            for (size_t k = 0; k < d; k++)
                c[j * d + k] = acc[j * d + k] / (double)cnt[j];
        }
        kprog_step(pg);
        if (prev - mse <= tol * mse)
            break;
        prev = mse;
    }
    return mse;
}

cm_status vq_kmeans(double *cb, size_t K, size_t d, uint64_t seed, cm_diag *dg)
{
    /* the sample: 2^22 quantile points in one dimension (an iteration is K binary
     * searches); above, 64 vectors a codeword, from 2^16 to 2^20 (an iteration costs n K) */
    size_t n = d == 1 ? (size_t)1 << 22 : K * 64;
    n = d == 1 ? n : n < ((size_t)1 << 16) ? (size_t)1 << 16 : n > ((size_t)1 << 20) ? (size_t)1 << 20 : n;
    /* Lloyd iterations of the final codebook: to convergence, within ~2e10 distance
     * evaluations (seconds; 4096 codewords in 2-D: ~40 s); the starts are close already */
    double work = (double)n * (double)K;
    int final_iters = work > 0 ? (int)fmin(300.0, fmax(10.0, 2e10 / work)) : 300;
    double *x = malloc(n * d * sizeof *x), *c = malloc(K * d * sizeof *c);
    double *cn2 = malloc(K * sizeof *cn2), *best = malloc(n * sizeof *best);
    size_t vb = 4096;
    double *acc = malloc(K * d * sizeof *acc), *dist = malloc(vb * K * sizeof *dist);
    size_t *arg = malloc(n * sizeof *arg), *cnt = malloc(K * sizeof *cnt);
    cm_status st = CM_OK;
    if (!x || !c || !cn2 || !best || !acc || !dist || !arg || !cnt) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory for k-means (%zu x %zu)", n, K);
        goto out;
    }
    kprog pg = {.done = 0, .total = final_iters};
    snprintf(pg.task, sizeof pg.task, "k-means training (%zu codewords, dim %zu)", K, d);
    if (d > 2 || (d == 2 && (size_t)llround(sqrt((double)K)) * (size_t)llround(sqrt((double)K)) != K))
        for (size_t have = 1; have < K; have *= 2)
            pg.total += have * 2 < K ? 20 : 0;
    cm_pcg64 g;
    CM_HOST->rng_stream(&g, seed, 0x6b6d65616e73ull); /* "kmeans" */
    CM_HOST->gauss_fill(&g, x, n * d);
    if (d == 1) {
        /* in one dimension the "sample" is the n quantiles (i + 1/2)/n of N(0,1): the tail
         * cells, where random samples are few, are trained on the density itself */
        for (size_t i = 0; i < n; i++)
            x[i] = CM_HOST->normal_quantile(((double)i + 0.5) / (double)n);
        train_1d(x, n, c, K);
    } else if (d == 2) {
        size_t r = (size_t)llround(sqrt((double)K)), rr = r * r == K ? r : 0;
        double *c1 = malloc((rr ? rr : 1) * sizeof *c1), *xs = malloc(n * sizeof *xs);
        if (!c1 || !xs) {
            free(c1);
            free(xs);
            st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory for k-means");
            goto out;
        }
        if (rr) { /* the product of two 1-D codebooks of sqrt(K) words */
            for (size_t i = 0; i < n; i++)
                xs[i] = x[2 * i];
            train_1d(xs, n, c1, rr);
            for (size_t a = 0; a < rr; a++)
                for (size_t b = 0; b < rr; b++) {
                    c[2 * (a * rr + b)] = c1[a];
                    c[2 * (a * rr + b) + 1] = c1[b];
                }
        }
        free(c1);
        free(xs);
        if (!rr) /* (a non-square K: split like higher dimensions) */
            goto split;
        lloyd(x, n, c, K, d, final_iters, 1e-6, cn2, best, acc, dist, arg, cnt, &pg);
    } else {
    split:
        /* splitting: from the mean, every codeword into two, Lloyd after each */
        for (size_t k = 0; k < d; k++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += x[i * d + k];
            c[k] = s / (double)n;
        }
        size_t have = 1;
        while (have < K) {
            size_t add = have * 2 <= K ? have : K - have;
            for (size_t j = 0; j < add; j++)
                for (size_t k = 0; k < d; k++) {
                    /* perturbations of either sign along a direction of its own */
                    double e = 1e-3 * (((j * 2654435761u + k * 40503u) >> 4) % 2 ? 1.0 : -1.0);
                    c[(have + j) * d + k] = c[j * d + k] + e;
                    c[j * d + k] -= e;
                }
            have += add;
            lloyd(x, n, c, have, d, have == K ? final_iters : 20, have == K ? 1e-6 : 1e-3, cn2,
                  best, acc, dist, arg, cnt, &pg);
        }
    }
    CM_HOST->progress(pg.task, pg.total, pg.total);
    memcpy(cb, c, K * d * sizeof *cb);
out:
    free(x);
    free(c);
    free(cn2);
    free(best);
    free(acc);
    free(dist);
    free(arg);
    free(cnt);
    return st;
}

/* cache: $CAPMETRIC_CACHE_DIR, else $XDG_CACHE_HOME/capmetric, else ~/.cache/capmetric */
#define VQ_CACHE_VERSION 2 /* 2: quantile, product and splitting starts */

int vq_cache_path(char *buf, size_t cap, size_t K, size_t d, uint64_t seed)
{
    const char *dir = getenv("CAPMETRIC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    char base[3072];
    if (dir && *dir)
        snprintf(base, sizeof base, "%s", dir);
    else if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/capmetric", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache/capmetric", home);
    else
        return -1;
    int n = snprintf(buf, cap, "%s/kmeans-v%d-d%zu-k%zu-s%llu.json", base, VQ_CACHE_VERSION, d,
                     K, (unsigned long long)seed);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int vq_cache_read(const char *path, double *cb, size_t K, size_t d)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len > 0 ? malloc((size_t)len + 1) : NULL;
    int ok = buf && fread(buf, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    if (!ok) {
        free(buf);
        return -1;
    }
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(root, "codewords");
    ok = cJSON_IsArray(cw) && (size_t)cJSON_GetArraySize(cw) == K * d;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cw)
    {
        if (!ok || !cJSON_IsNumber(e)) {
            ok = 0;
            break;
        }
        cb[i++] = e->valuedouble;
    }
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

static void mkdirs(char *path)
{
    for (char *s = path + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(path, 0755);
            *s = '/';
        }
}

void vq_cache_write(const char *path, const double *cb, size_t K, size_t d)
{
    char tmp[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    mkdirs(dir);
    /* a unique temporary name (two threads or processes may train the same
     * codebook at once), renamed over the cache file: readers see all or nothing */
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return; /* a cache that cannot be written is no error */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        remove(tmp);
        return;
    }
    fprintf(f, "{\"version\": %d, \"dim\": %zu, \"size\": %zu, \"codewords\": [", VQ_CACHE_VERSION,
            d, K);
    for (size_t i = 0; i < K * d; i++)
        fprintf(f, "%s%.17g", i ? "," : "", cb[i]);
    fprintf(f, "]}\n");
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        remove(tmp);
}
