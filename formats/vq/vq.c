/* Family `vq`: vector quantization with a finite codebook of dimension d.
 *
 *  lattice=z|a2|d4|e8 : the 2^(B d) points of a lattice nearest the origin
 *      (shape=sphere: by Euclidean norm; shape=cube: by max-norm, then norm),
 *      ties broken lexicographically. z is (Z + 1/2)^d, so with shape=cube it
 *      is the scalar midrise grid in every coordinate. Nearest point by the
 *      decoders of Conway & Sloane (IEEE Trans. IT-28(2), 1982): rounding for
 *      Z and D_n (with the parity fix), E8 = D8 ∪ (D8 + 1/2), A2 as two
 *      rectangular cosets. A vector whose nearest lattice point is not a
 *      codeword (overload) is, with overload=nearest (the default up to 4096
 *      codewords), mapped to the nearest codeword; with overload=radial (the
 *      default above), first clamped
 *      into the box (shape=cube; exact for Z), else shrunk towards
 *      the origin by bisection on the factor until it is: the usual
 *      treatment of lattice overload, fast but not always the nearest
 *      codeword (E8, 2 bits: GMSE 0.096 instead of 0.0915); overload=nearest
 *      searches the codebook by decreasing norm, stopped by the bound
 *      |x - c| >= |x| - |c| (exact, about 100x slower).
 *  codebook=kmeans (alias vq:kmeans): 2^(B d) codewords trained by Lloyd's
 *      algorithm from k-means++ seeds on N(0,1) samples of a seed (restarts
 *      while cheap), with BLAS distance matrices; cached on disk.
 *  file=PATH.json : {"dim": d, "codewords": [[...], ...]}.
 * The codebook is used at a scale s (scale=opt: the s minimizing the error
 * on a fixed sample of 2^13 Gaussian vectors). GMSE is per dimension; bits
 * per value = log2(codewords) / d. */
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

enum { L_NONE, L_Z, L_A2, L_D4, L_E8 };
enum { SH_SPHERE, SH_CUBE };

#define MAX_CODEWORDS ((size_t)1 << 22)
#define MAX_DIM 16
#define SEARCH_BLOCK 65536 /* doubles of distance scratch per thread */
#define SQRT3 1.7320508075688772

typedef struct vq {
    int lattice, shape, exact_overload;
    double cmax;       /* cube shaping: the largest |coordinate| of a codeword */
    size_t d, K;
    double *cb;        /* K x d, unit scale */
    double *nrm;       /* |c| */
    size_t *order;     /* indices by decreasing norm (overload search) */
    int8_t *key;       /* lattice: 2 c as bytes, for the membership table */
    int32_t *table;    /* open addressing, -1 empty */
    size_t tmask;
    double scale;
} vq;

typedef struct vq_state {
    double dist[SEARCH_BLOCK];
} vq_state;

/* ---- lattices ------------------------------------------------------------------ */

static size_t lattice_dim(int l, size_t d)
{
    return l == L_A2 ? 2 : l == L_D4 ? 4 : l == L_E8 ? 8 : d;
}

static double rnd(double v) { return floor(v + 0.5); }

/* nearest point of D_n (integer vectors with even sum) */
static void decode_dn(const double *x, double *c, size_t n)
{
    double sum = 0, worst = -1;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        c[i] = rnd(x[i]);
        sum += c[i];
        double e = fabs(x[i] - c[i]);
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    if (fmod(fabs(sum), 2.0) == 1.0) /* odd: move the worst coordinate the other way */
        c[wi] += x[wi] > c[wi] ? 1.0 : -1.0;
}

static double dist2(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* nearest point of the unit-scale lattice */
static void decode(int l, const double *x, double *c, size_t d)
{
    switch (l) {
    case L_Z:
        for (size_t i = 0; i < d; i++)
            c[i] = floor(x[i]) + 0.5;
        return;
    case L_D4:
        decode_dn(x, c, 4);
        return;
    case L_E8: {
        double h[8], c1[8];
        decode_dn(x, c, 8);
        for (int i = 0; i < 8; i++)
            h[i] = x[i] - 0.5;
        decode_dn(h, c1, 8);
        for (int i = 0; i < 8; i++)
            c1[i] += 0.5;
        if (dist2(x, c1, 8) < dist2(x, c, 8))
            memcpy(c, c1, sizeof c1);
        return;
    }
    case L_A2: { /* cosets {(a, b sqrt3)} and {(a + 1/2, (b + 1/2) sqrt3)} */
        double a0[2] = {rnd(x[0]), rnd(x[1] / SQRT3) * SQRT3};
        double a1[2] = {floor(x[0]) + 0.5, (floor(x[1] / SQRT3) + 0.5) * SQRT3};
        if (dist2(x, a1, 2) < dist2(x, a0, 2)) {
            c[0] = a1[0];
            c[1] = a1[1];
        } else {
            c[0] = a0[0];
            c[1] = a0[1];
        }
        return;
    }
    }
}

/* integer key of a lattice point: coordinates times 2 (A2: y / (sqrt3/2)) */
static void point_key(int l, const double *c, int8_t *k, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        double v = (l == L_A2 && i == 1) ? c[i] / (SQRT3 / 2) : 2 * c[i];
        k[i] = (int8_t)lrint(v);
    }
}

static size_t hash_key(const int8_t *k, size_t d)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < d; i++)
        h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return (size_t)h;
}

static long lookup(const vq *p, const int8_t *k)
{
    for (size_t s = hash_key(k, p->d) & p->tmask;; s = (s + 1) & p->tmask) {
        int32_t i = p->table[s];
        if (i < 0)
            return -1;
        if (!memcmp(p->key + (size_t)i * p->d, k, p->d))
            return i;
    }
}

typedef struct cand {
    double c[MAX_DIM];
    double n2, ninf;
} cand;

typedef struct sort_ctx {
    size_t dim;
    int shape;
} sort_ctx;

/* qsort_r comparators take their context as an argument: parsing is
 * thread-safe (a grid parses points on several threads) */
static int cand_cmp(const void *a, const void *b, void *arg)
{
    const cand *x = a, *y = b;
    const sort_ctx *c = arg;
    if (c->shape == SH_CUBE && x->ninf != y->ninf)
        return x->ninf < y->ninf ? -1 : 1;
    if (x->n2 != y->n2)
        return x->n2 < y->n2 ? -1 : 1;
    for (size_t i = 0; i < c->dim; i++)
        if (x->c[i] != y->c[i])
            return x->c[i] < y->c[i] ? -1 : 1;
    return 0;
}

/* Lattice points within radius r (sphere) or max-norm r (cube), by a
 * depth-first walk over the coordinates pruned by what is left of the norm
 * budget, so that only points near the region are visited. */
typedef struct walk {
    int l, cube;
    size_t d;
    double r, r2, off, cur[MAX_DIM];
    cand *v;
    size_t n, alloc, cap;
    int oom;
} walk;

static void emit(walk *w)
{
    if (w->n == w->alloc) {
        if (w->alloc >= w->cap) {
            w->oom = 1;
            return;
        }
        size_t na = w->alloc ? 2 * w->alloc : 1024;
        cand *nv = realloc(w->v, na * sizeof *nv);
        if (!nv) {
            w->oom = 1;
            return;
        }
        w->v = nv;
        w->alloc = na;
    }
    cand *q = &w->v[w->n++];
    memset(q, 0, sizeof *q);
    for (size_t i = 0; i < w->d; i++) {
        q->c[i] = w->cur[i];
        q->n2 += w->cur[i] * w->cur[i];
        q->ninf = fmax(q->ninf, fabs(w->cur[i]));
    }
}

static void dfs(walk *w, size_t i, double n2, double sum)
{
    if (w->oom)
        return;
    if (i == w->d) {
        if ((w->l == L_D4 || w->l == L_E8) && fmod(fabs(sum), 2.0) != 0.0)
            return;
        emit(w);
        return;
    }
    long R = (long)ceil(w->r) + 1;
    for (long k = -R; k <= R; k++) {
        double val = (double)k + w->off;
        if (w->cube ? fabs(val) > w->r : n2 + val * val > w->r2)
            continue;
        w->cur[i] = val;
        dfs(w, i + 1, n2 + val * val, sum + val);
    }
}

static cm_status enumerate(int l, int cube, size_t d, double r, cand **out, size_t *n, size_t cap,
                           cm_diag *dg)
{
    walk w = {.l = l, .cube = cube, .d = d, .r = r, .r2 = r * r, .cap = cap};
    if (l == L_A2) { /* two rectangular cosets in the plane */
        long R = (long)ceil(r) + 1;
        for (int t = 0; t < 2 && !w.oom; t++)
            for (long a = -R; a <= R; a++)
                for (long b = -R; b <= R; b++) {
                    w.cur[0] = (double)a + 0.5 * t;
                    w.cur[1] = ((double)b + 0.5 * t) * SQRT3;
                    double n2 = w.cur[0] * w.cur[0] + w.cur[1] * w.cur[1];
                    if (cube ? fmax(fabs(w.cur[0]), fabs(w.cur[1])) <= r : n2 <= w.r2)
                        emit(&w);
                }
    } else {
        int cosets = l == L_E8 ? 2 : 1;
        for (int t = 0; t < cosets && !w.oom; t++) {
            w.off = (l == L_Z || t == 1) ? 0.5 : 0.0;
            dfs(&w, 0, 0.0, 0.0);
        }
    }
    if (w.oom) {
        free(w.v);
        return cm_diag_set(dg, CM_ERANGE, "vq: more than %zu lattice points to sort", cap);
    }
    *out = w.v;
    *n = w.n;
    return CM_OK;
}

static cm_status build_lattice(vq *p, cm_diag *dg)
{
    /* radius from the volume: K points fill a ball of volume K V */
    static const double vol[] = {0, 1, 0.8660254037844386, 2, 1}; /* Z, A2, D4, E8 */
    double V = vol[p->lattice], dd = (double)p->d;
    double unit = pow(M_PI, dd / 2) / tgamma(dd / 2 + 1);
    /* a ball of K V volume; a cube of side (K V)^(1/d); a margin for the boundary */
    double r = p->shape == SH_CUBE ? 0.5 * pow((double)p->K * V, 1.0 / dd) + 1.0
                                   : pow((double)p->K * V / unit, 1.0 / dd) + 0.75;
    for (int attempt = 0; attempt < 8; attempt++, r *= 1.15) {
        cand *v = NULL;
        size_t n = 0;
        cm_status s = enumerate(p->lattice, p->shape == SH_CUBE, p->d, r, &v, &n,
                                8 * p->K + 4096, dg);
        if (s == CM_ERANGE)
            return cm_diag_set_key(dg, CM_ERANGE, "bits",
                                   "vq: the %zu-point codebook of this lattice needs more than %zu "
                                   "points sorted (%.3g MiB)",
                                   p->K, 8 * p->K + 4096,
                                   (double)(8 * p->K + 4096) * sizeof(cand) / 1048576.0);
        if (s)
            return s;
        sort_ctx sc = {p->d, p->shape};
        qsort_r(v, n, sizeof *v, cand_cmp, &sc);
        /* enough points inside the walked region: the first K are the K nearest */
        if (n >= p->K) {
            for (size_t i = 0; i < p->K; i++)
                memcpy(p->cb + i * p->d, v[i].c, p->d * sizeof(double));
            free(v);
            return CM_OK;
        }
        free(v);
    }
    return cm_diag_set(dg, CM_ENUMERIC, "vq: lattice enumeration did not reach %zu points", p->K);
}

/* ---- k-means --------------------------------------------------------------------- */

/* argmin_j |x_i - c_j|^2 for n vectors, by D = |c|^2 - 2 X C^T (BLAS) */
static void nearest_block(const double *x, size_t n, const double *cb, const double *cn2, size_t K,
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

static cm_status kmeans(double *cb, size_t K, size_t d, uint64_t seed, cm_diag *dg)
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
    cm_pcg64_stream(&g, seed, 0x6b6d65616e73ull); /* "kmeans" */
    cm_gauss_fill(&g, x, n * d);
    double best_mse = INFINITY;
    for (int r = 0; r < restarts; r++) {
        /* k-means++ seeding (Arthur & Vassilvitskii 2007) */
        size_t first = (size_t)(cm_uniform01(&g) * (double)n);
        memcpy(c, x + first * d, d * sizeof *c);
        for (size_t i = 0; i < n; i++)
            best[i] = dist2(x + i * d, c, d);
        for (size_t j = 1; j < K; j++) {
            double tot = 0;
            for (size_t i = 0; i < n; i++)
                tot += best[i];
            double u = cm_uniform01(&g) * tot, run = 0;
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
                double e = dist2(x + i * d, c + j * d, d);
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
                nearest_block(x + i * d, m, c, cn2, K, d, dist, arg + i, best + i);
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
static int cache_path(char *buf, size_t cap, size_t K, size_t d, uint64_t seed)
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

static int cache_read(const char *path, double *cb, size_t K, size_t d)
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

static void cache_write(const char *path, const double *cb, size_t K, size_t d)
{
    char tmp[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    mkdirs(dir);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return; /* a cache that cannot be written is no error */
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

/* ---- file codebooks ------------------------------------------------------------------ */

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const double *x = a, *y = b;
    int d = *(const int *)arg;
    for (int i = 0; i < d; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static cm_status read_codebook(const char *path, vq *p, cm_diag *dg)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cm_diag_set_key(dg, CM_EIO, "file", "vq: cannot open '%s': %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0 || len > (64L << 20)) {
        fclose(f);
        return cm_diag_set_key(dg, CM_ERANGE, "file", "vq: '%s' is larger than 64 MiB", path);
    }
    char *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        return cm_diag_set_key(dg, CM_EIO, "file", "vq: error reading '%s'", path);
    }
    fclose(f);
    buf[len] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        long line = 1, col = 1;
        for (const char *c = buf; end && c < end; c++)
            *c == '\n' ? (line++, col = 1) : col++;
        free(buf);
        return cm_diag_set_key(dg, CM_EPARSE, "file", "vq: '%s' is not valid JSON (line %ld, column %ld)",
                               path, line, col);
    }
    free(buf);
    cm_status st = CM_OK;
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(root, "dim");
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(root, "codewords");
    if (!cJSON_IsNumber(dim) || dim->valuedouble != floor(dim->valuedouble) || dim->valuedouble < 1 ||
        dim->valuedouble > MAX_DIM || !cJSON_IsArray(cw) || cJSON_GetArraySize(cw) < 2) {
        st = cm_diag_set_key(dg, CM_EPARSE, "file",
                             "vq: '%s' must hold {\"dim\": 1..%d, \"codewords\": [[d numbers], "
                             "... at least 2]}",
                             path, MAX_DIM);
        goto out;
    }
    p->d = (size_t)dim->valuedouble;
    p->K = (size_t)cJSON_GetArraySize(cw);
    if (p->K > MAX_CODEWORDS) {
        st = cm_diag_set_key(dg, CM_ERANGE, "file", "vq: '%s' holds %zu codewords (at most %zu)",
                             path, p->K, MAX_CODEWORDS);
        goto out;
    }
    p->cb = malloc(p->K * p->d * sizeof *p->cb);
    if (!p->cb) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
        goto out;
    }
    size_t i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cw)
    {
        if (!cJSON_IsArray(row) || (size_t)cJSON_GetArraySize(row) != p->d) {
            st = cm_diag_set_key(dg, CM_EPARSE, "file",
                                 "vq: '%s': codeword %zu does not have %zu numbers", path, i + 1,
                                 p->d);
            goto out;
        }
        const cJSON *v;
        size_t k = 0;
        cJSON_ArrayForEach(v, row)
        {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                st = cm_diag_set_key(dg, CM_EPARSE, "file",
                                     "vq: '%s': codeword %zu has a value that is not a finite "
                                     "number",
                                     path, i + 1);
                goto out;
            }
            p->cb[i * p->d + k++] = v->valuedouble;
        }
        i++;
    }
    /* duplicates: sort a copy */
    double *cp = malloc(p->K * p->d * sizeof *cp);
    if (!cp) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
        goto out;
    }
    memcpy(cp, p->cb, p->K * p->d * sizeof *cp);
    int nd = (int)p->d;
    qsort_r(cp, p->K, p->d * sizeof *cp, cmp_rows, &nd);
    for (size_t j = 1; j < p->K && !st; j++)
        if (!cmp_rows(cp + (j - 1) * p->d, cp + j * p->d, &nd))
            st = cm_diag_set_key(dg, CM_EINVAL, "file", "vq: '%s': a codeword appears twice", path);
    free(cp);
out:
    cJSON_Delete(root);
    return st;
}

/* ---- quantization ------------------------------------------------------------------------ */

/* nearest codeword to x (unit scale: x already divided by the scale) */
static const double *nearest(const vq *p, const double *x, double *scratch)
{
    if (p->lattice) {
        double c[MAX_DIM];
        int8_t k[MAX_DIM];
        decode(p->lattice, x, c, p->d);
        point_key(p->lattice, c, k, p->d);
        long i = lookup(p, k);
        if (i >= 0)
            return p->cb + (size_t)i * p->d;
        if (p->exact_overload) {
            /* the nearest codeword: codewords by decreasing norm, stopped by
             * the bound |x - c| >= |x| - |c| */
            double xn = 0, best = INFINITY;
            for (size_t j = 0; j < p->d; j++)
                xn += x[j] * x[j];
            xn = sqrt(xn);
            size_t bi = p->order[0];
            for (size_t o = 0; o < p->K; o++) {
                size_t j = p->order[o];
                double lb = xn - p->nrm[j];
                if (lb > 0 && lb * lb > best)
                    break;
                double e = dist2(x, p->cb + j * p->d, p->d);
                if (e < best) {
                    best = e;
                    bi = j;
                }
            }
            return p->cb + bi * p->d;
        }
        double lo = 0.0, hi = 1.0, y[MAX_DIM];
        if (p->shape == SH_CUBE) {
            /* cube: clamp each coordinate into the box first (exact for Z) */
            for (size_t j = 0; j < p->d; j++)
                y[j] = x[j] > p->cmax ? p->cmax : x[j] < -p->cmax ? -p->cmax : x[j];
            decode(p->lattice, y, c, p->d);
            point_key(p->lattice, c, k, p->d);
            long ii = lookup(p, k);
            if (ii >= 0)
                return p->cb + (size_t)ii * p->d;
        }
        /* overload: shrink x towards the origin until its nearest lattice
         * point is a codeword (bisection on the factor; the standard handling
         * of lattice overload, not an exhaustive nearest-codeword search) */
        long found = lookup(p, p->key + (size_t)p->order[p->K - 1] * p->d); /* the origin-most */
        for (int it = 0; it < 16; it++) { /* the factor to 2^-16 */
            double t = 0.5 * (lo + hi);
            for (size_t j = 0; j < p->d; j++)
                y[j] = x[j] * t;
            decode(p->lattice, y, c, p->d);
            point_key(p->lattice, c, k, p->d);
            long ii = lookup(p, k);
            if (ii >= 0) {
                found = ii;
                lo = t;
            } else {
                hi = t;
            }
        }
        size_t bi = (size_t)found;
        return p->cb + bi * p->d;
    }
    (void)scratch;
    double best = INFINITY;
    size_t bi = 0;
    for (size_t j = 0; j < p->K; j++) {
        double e = dist2(x, p->cb + j * p->d, p->d);
        if (e < best) {
            best = e;
            bi = j;
        }
    }
    return p->cb + bi * p->d;
}

/* vector by vector: NaN gives NaN, +-inf the farthest codeword that way */
static void quantize_at_careful(const vq *p, double s, const double *x, double *y, size_t n)
{
    const size_t d = p->d;
    double u[MAX_DIM];
    const double inv = 1.0 / s;
    for (size_t i = 0; i < n; i += d) {
        int nan = 0;
        for (size_t k = 0; k < d; k++) {
            u[k] = x[i + k] * inv;
            nan |= isnan(u[k]);
            if (isinf(u[k]))
                u[k] = copysign(1e300, u[k]);
        }
        if (nan) {
            for (size_t k = 0; k < d; k++)
                y[i + k] = NAN;
            continue;
        }
        const double *c = nearest(p, u, NULL);
        for (size_t k = 0; k < d; k++)
            y[i + k] = s * c[k];
    }
}

static void quantize_at(const vq *p, double s, const double *x, double *y, size_t n,
                        double *scratch)
{
    const size_t d = p->d;
    const double inv = 1.0 / s;
    if (!p->lattice && p->K >= 32 && scratch) {
        /* codebooks: blocks of vectors against the codebook with BLAS */
        size_t vb = SEARCH_BLOCK / (p->K + 1);
        vb = vb ? vb : 1;
        double *tmp = scratch + vb * p->K, cn2[1];
        (void)cn2;
        size_t arg[4096];
        vb = vb > 4096 ? 4096 : vb;
        for (size_t i = 0; i < n; i += vb * d) {
            size_t m = (n - i) / d < vb ? (n - i) / d : vb;
            int finite = 1;
            for (size_t k = 0; k < m * d; k++) {
                tmp[k] = x[i + k] * inv;
                finite &= isfinite(tmp[k]);
            }
            if (!finite) { /* NaN and +-inf take the careful path below */
                quantize_at_careful(p, s, x + i, y + i, m * d);
                continue;
            }
            nearest_block(tmp, m, p->cb, p->nrm /* holds |c|^2 here */, p->K, d, scratch, arg,
                          NULL);
            for (size_t v = 0; v < m; v++)
                for (size_t k = 0; k < d; k++)
                    y[i + v * d + k] = s * p->cb[arg[v] * d + k];
        }
        return;
    }
    quantize_at_careful(p, s, x, y, n);
}

static void vq_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const vq *p = pp;
    quantize_at(p, p->scale, x, y, n, state ? ((vq_state *)state)->dist : NULL);
}

/* scale=opt: golden section on log s over the error of a fixed Gaussian sample */
static double sample_mse(const vq *p, double s, const double *x, double *y, size_t n,
                         double *scratch)
{
    quantize_at(p, s, x, y, n, scratch);
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (x[i] - y[i]) * (x[i] - y[i]);
    return e / (double)n;
}

static cm_status optimize_scale(vq *p, cm_diag *dg)
{
    /* 2^13 vectors, 2^12 for large codebooks (their overload path is slow):
     * GMSE is flat at the optimum, second order in the scale's error */
    size_t n = ((size_t)1 << (p->K > 4096 ? 12 : 13)) * p->d;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *scratch = malloc(SEARCH_BLOCK * sizeof *scratch + 4096 * MAX_DIM * sizeof(double));
    if (!x || !y || !scratch) {
        free(x);
        free(y);
        free(scratch);
        return cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
    }
    cm_pcg64 g;
    cm_pcg64_stream(&g, 0x5ca1e, 0);
    cm_gauss_fill(&g, x, n);
    /* codebook RMS -> unit: the bracket starts around there */
    double rms = 0;
    for (size_t i = 0; i < p->K * p->d; i++)
        rms += p->cb[i] * p->cb[i];
    rms = sqrt(rms / (double)(p->K * p->d));
    double best_ls = log(1.0 / rms), best = INFINITY;
    for (int i = -8; i <= 8; i++) { /* scan: a quarter-octave over +-2 octaves */
        double ls = log(1.0 / rms) + i * M_LN2 / 4, f = sample_mse(p, exp(ls), x, y, n, scratch);
        if (f < best) {
            best = f;
            best_ls = ls;
        }
    }
    /* golden section, one new evaluation per step */
    const double gr = 0.6180339887498949;
    double a = best_ls - M_LN2 / 4, b = best_ls + M_LN2 / 4;
    double c = b - (b - a) * gr, e = a + (b - a) * gr;
    double fc = sample_mse(p, exp(c), x, y, n, scratch), fe = sample_mse(p, exp(e), x, y, n, scratch);
    for (int it = 0; it < 25; it++) {
        if (fc < fe) {
            b = e;
            e = c;
            fe = fc;
            c = b - (b - a) * gr;
            fc = sample_mse(p, exp(c), x, y, n, scratch);
        } else {
            a = c;
            c = e;
            fc = fe;
            e = a + (b - a) * gr;
            fe = sample_mse(p, exp(e), x, y, n, scratch);
        }
    }
    p->scale = exp(0.5 * (a + b));
    free(x);
    free(y);
    free(scratch);
    return CM_OK;
}

/* ---- the format ------------------------------------------------------------------------ */

static const cm_param vq_keys[] = {
    {.key = "lattice", .type = CM_PARAM_ENUM, .def = "none",
     .doc = "a lattice codebook: z ((Z+1/2)^dim), a2, d4, e8", .choices = "none|z|a2|d4|e8"},
    {.key = "shape", .type = CM_PARAM_ENUM, .def = "sphere",
     .doc = "which lattice points: sphere (smallest norm) or cube (smallest max-norm)",
     .choices = "sphere|cube"},
    {.key = "codebook", .type = CM_PARAM_ENUM, .def = "none",
     .doc = "kmeans: train 2^(bits*dim) codewords on N(0,1) (alias vq:kmeans)",
     .choices = "none|kmeans"},
    {.key = "file", .type = CM_PARAM_STRING, .def = NULL,
     .doc = "a JSON codebook {\"dim\": d, \"codewords\": [[...], ...]}"},
    {.key = "dim", .type = CM_PARAM_INT, .def = "0",
     .doc = "dimension (lattices: implied; z and kmeans: required)", .min = 0, .max = MAX_DIM},
    {.key = "bits", .type = CM_PARAM_REAL, .def = "2",
     .doc = "bits per value: 2^(bits*dim) codewords", .min = 0.0625, .max = 16},
    {.key = "scale", .type = CM_PARAM_REAL, .def = "opt",
     .doc = "scale of the codebook: opt (least error on a fixed N(0,1) sample) or a number",
     .choices = "opt", .min = 1e-300, .max = 1e300},
    {.key = "seed", .type = CM_PARAM_INT, .def = "1", .doc = "kmeans: training seed", .min = 0,
     .max = 9007199254740991.0},
    {.key = "overload", .type = CM_PARAM_ENUM, .def = "auto",
     .doc = "lattice vectors beyond the codebook: nearest (the nearest codeword), radial "
            "(shrink until inside; fast), auto (nearest up to 4096 codewords, else radial)",
     .choices = "auto|radial|nearest"},
};

static const cm_alias vq_aliases[] = {{"vq:kmeans", "vq:codebook=kmeans,dim=2"}};

static void vq_free(void *pp)
{
    vq *p = pp;
    if (!p)
        return;
    free(p->cb);
    free(p->nrm);
    free(p->order);
    free(p->key);
    free(p->table);
    free(p);
}

static int by_norm_desc(const void *a, const void *b, void *arg)
{
    const double *nrm = arg;
    double x = nrm[*(const size_t *)a], y = nrm[*(const size_t *)b];
    return (x < y) - (x > y);
}

static cm_status vq_parse(const cm_value *v, void **out, cm_diag *dg)
{
    vq *p = calloc(1, sizeof *p);
    if (!p)
        return cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
    p->lattice = (int)v[0].num;
    p->shape = (int)v[1].num;
    int ov = (int)v[8].num; /* auto, radial, nearest */
    int km = (int)v[2].num == 1, file = v[3].present;
    size_t dim = (size_t)v[4].num;
    double bits = v[5].num;
    cm_status st = CM_OK;
    if ((p->lattice != L_NONE) + km + file != 1) {
        st = cm_diag_set_key(dg, CM_EINVAL, "lattice",
                             "vq: give exactly one of lattice=z|a2|d4|e8, codebook=kmeans (vq:kmeans) "
                             "or file=PATH.json");
        goto fail;
    }
    if (file) {
        if (v[4].num != 0 || v[0].num != 0) {
            st = cm_diag_set_key(dg, CM_EINVAL, "dim", "vq: a codebook file sets its own dim");
            goto fail;
        }
        if ((st = read_codebook(v[3].text, p, dg)))
            goto fail;
    } else {
        size_t want = p->lattice && p->lattice != L_Z ? lattice_dim(p->lattice, 0) : 0;
        if (want && dim && dim != want) {
            st = cm_diag_set_key(dg, CM_EINVAL, "dim", "vq: lattice %s has dimension %zu, not %zu",
                                 v[0].text, want, dim);
            goto fail;
        }
        p->d = want ? want : dim;
        if (!p->d) {
            st = cm_diag_set_key(dg, CM_EINVAL, "dim", "vq: give dim=1..%d", MAX_DIM);
            goto fail;
        }
        double kk = exp2(bits * (double)p->d);
        if (kk > (double)MAX_CODEWORDS || kk < 2) {
            st = cm_diag_set_key(dg, CM_ERANGE, "bits",
                                 "vq: bits=%g at dim=%zu means %.3g codewords, %.3g MiB of codebook "
                                 "(accepted: 2 to %zu codewords)",
                                 bits, p->d, kk, kk * (double)p->d * 8 / 1048576.0, MAX_CODEWORDS);
            goto fail;
        }
        p->K = (size_t)llround(kk);
        if (fabs((double)p->K - kk) > 1e-6 * kk) {
            st = cm_diag_set_key(dg, CM_ERANGE, "bits",
                                 "vq: 2^(bits*dim) must be a whole number of codewords (bits=%g, "
                                 "dim=%zu)",
                                 bits, p->d);
            goto fail;
        }
        p->cb = malloc(p->K * p->d * sizeof *p->cb);
        if (!p->cb) {
            st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
            goto fail;
        }
        if (p->lattice) {
            if ((st = build_lattice(p, dg)))
                goto fail;
        } else {
            char path[4096];
            uint64_t seed = (uint64_t)v[7].num;
            int cached = cache_path(path, sizeof path, p->K, p->d, seed) == 0 &&
                         cache_read(path, p->cb, p->K, p->d) == 0;
            if (!cached) {
                if ((st = kmeans(p->cb, p->K, p->d, seed, dg)))
                    goto fail;
                if (cache_path(path, sizeof path, p->K, p->d, seed) == 0)
                    cache_write(path, p->cb, p->K, p->d);
            }
        }
    }
    /* norms (lattice: |c| for the overload search; codebooks: |c|^2 for BLAS) */
    p->nrm = malloc(p->K * sizeof *p->nrm);
    p->order = malloc(p->K * sizeof *p->order);
    if (!p->nrm || !p->order) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->K; i++) {
        double n2 = 0;
        for (size_t k = 0; k < p->d; k++) {
            n2 += p->cb[i * p->d + k] * p->cb[i * p->d + k];
            p->cmax = fmax(p->cmax, fabs(p->cb[i * p->d + k]));
        }
        p->nrm[i] = p->lattice ? sqrt(n2) : n2;
        p->order[i] = i;
    }
    if (p->lattice) {
        qsort_r(p->order, p->K, sizeof *p->order, by_norm_desc, p->nrm);
        size_t ts = 1;
        while (ts < 2 * p->K)
            ts *= 2;
        p->tmask = ts - 1;
        p->table = malloc(ts * sizeof *p->table);
        p->key = malloc(p->K * p->d);
        if (!p->table || !p->key) {
            st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ts; i++)
            p->table[i] = -1;
        for (size_t i = 0; i < p->K; i++) {
            point_key(p->lattice, p->cb + i * p->d, p->key + i * p->d, p->d);
            size_t s = hash_key(p->key + i * p->d, p->d) & p->tmask;
            while (p->table[s] >= 0)
                s = (s + 1) & p->tmask;
            p->table[s] = (int32_t)i;
        }
    }
    p->exact_overload = ov == 2 || (ov == 0 && p->K <= 4096);
    if (v[6].is_word) {
        if ((st = optimize_scale(p, dg)))
            goto fail;
    } else {
        p->scale = v[6].num;
    }
    *out = p;
    return CM_OK;
fail:
    vq_free(p);
    return st;
}

static double vq_bits(const void *pp)
{
    const vq *p = pp;
    return log2((double)p->K) / (double)p->d;
}

static size_t vq_group(const void *pp) { return ((const vq *)pp)->d; }

static size_t vq_state_size(const void *pp)
{
    (void)pp;
    return sizeof(vq_state) + 4096 * MAX_DIM * sizeof(double);
}

const cm_format cm_format_vq = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "vq",
    .summary = "vector quantization: lattice (Z, A2, D4, E8), trained (k-means) or file codebooks",
    .params = vq_keys,
    .n_params = sizeof vq_keys / sizeof vq_keys[0],
    .params_parse = vq_parse,
    .params_free = vq_free,
    .bits_per_value = vq_bits,
    .group = vq_group,
    .quantize = vq_quantize,
    .state_size = vq_state_size,
    .aliases = vq_aliases,
    .n_aliases = 1,
};

/* For tests: the unbounded nearest-point decoder of a lattice by name. */
int cm_vq_lattice_decode(const char *name, const double *x, double *c);
int cm_vq_lattice_decode(const char *name, const double *x, double *c)
{
    int l = !strcmp(name, "z") ? L_Z : !strcmp(name, "a2") ? L_A2 : !strcmp(name, "d4") ? L_D4
          : !strcmp(name, "e8") ? L_E8 : L_NONE;
    if (l == L_NONE)
        return -1;
    decode(l, x, c, lattice_dim(l, 1));
    return 0;
}
