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

cm_status vq_kmeans(double *cb, size_t K, size_t d, uint64_t seed, cm_diag *dg)
{
    size_t n = K * 256 > 65536 ? K * 256 : 65536;
    if (n > ((size_t)1 << 21))
        n = (size_t)1 << 21;
    /* restarts while cheap: three for small problems, else one k-means++ run */
    int restarts = (double)n * (double)K * (double)d <= 2e7 ? 3 : 1;
    double *x = malloc(n * d * sizeof *x), *c = malloc(K * d * sizeof *c);
    double *cn2 = malloc(K * sizeof *cn2), *best = malloc(n * sizeof *best);
    /* training assigns 4096 vectors per BLAS call (a few MiB of distances) */
    size_t vb = 4096;
    double *acc = malloc(K * d * sizeof *acc), *dist = malloc(vb * K * sizeof *dist);
    size_t *arg = malloc(n * sizeof *arg), *cnt = malloc(K * sizeof *cnt);
    cm_status st = CM_OK;
    if (!x || !c || !cn2 || !best || !acc || !dist || !arg || !cnt) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory for k-means (%zu x %zu)", n, K);
        goto out;
    }
    cm_pcg64 g;
    CM_HOST->rng_stream(&g, seed, 0x6b6d65616e73ull); /* "kmeans" */
    CM_HOST->gauss_fill(&g, x, n * d);
    double best_mse = INFINITY;
    for (int r = 0; r < restarts; r++) {
        /* k-means++ seeding (Arthur & Vassilvitskii 2007) */
        size_t first = (size_t)(CM_HOST->uniform01(&g) * (double)n);
        memcpy(c, x + first * d, d * sizeof *c);
        for (size_t i = 0; i < n; i++)
            best[i] = vq_dist2(x + i * d, c, d);
        for (size_t j = 1; j < K; j++) {
            double tot = 0;
            for (size_t i = 0; i < n; i++)
                tot += best[i];
            double u = CM_HOST->uniform01(&g) * tot, run = 0;
            size_t pick = n - 1;
            for (size_t i = 0; i < n; i++) {
                run += best[i];
                if (run >= u) {
                    pick = i;
                    break;
                }
            }
            memcpy(c + j * d, x + pick * d, d * sizeof *c);
            for (size_t i = 0; i < n; i++) {
                double e = vq_dist2(x + i * d, c + j * d, d);
                best[i] = e < best[i] ? e : best[i];
            }
        }
        /* Lloyd */
        double prev = INFINITY, mse = INFINITY;
        for (int it = 0; it < 100; it++) {
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
            if (prev - mse <= 1e-5 * mse)
                break;
            prev = mse;
        }
        if (mse < best_mse) {
            best_mse = mse;
            memcpy(cb, c, K * d * sizeof *cb);
        }
    }
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
#define VQ_CACHE_VERSION 1

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
