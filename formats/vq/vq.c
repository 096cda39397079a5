/* Family `vq`: vector quantization with a finite codebook of dimension d.
 *
 *  lattice=z|a2|d4|e8 : the 2^(B d) points of a lattice nearest the origin
 *      (shape=sphere: by Euclidean norm; shape=cube: by max-norm, then norm),
 *      ties broken lexicographically. z is (Z + 1/2)^d, so with shape=cube it
 *      is the scalar midrise grid in every coordinate. Nearest point by the
 *      decoders of Conway & Sloane (IEEE Trans. IT-28(2), 1982): rounding for
 *      Z and D_n (with the parity fix), E8 = D8 ∪ (D8 + 1/2), A2 as two
 *      rectangular cosets. A vector whose nearest lattice point is not a
 *      codeword (overload) is, with overload=nearest (the default), mapped to
 *      the nearest codeword (vq_nearest_member: orbit representatives of the
 *      full shells, then a pruned walk over the last shell; exact); with
 *      overload=radial (an approximation, asked for by name), first clamped
 *      into the box (shape=cube; exact for Z), else shrunk towards the origin
 *      by bisection on the factor until it is: the usual treatment of lattice
 *      overload, not always the nearest codeword (E8, 2 bits: GMSE 0.096
 *      instead of 0.0915). A lattice point is a codeword when it does not come
 *      after the codebook's last point in the codebook's order (vq_member).
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

#include "vq_int.h"

#include "../host_int.h"

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
    char *buf = NULL;
    cm_diag why;
    cm_status rs = CM_HOST->file_read(path, &buf, NULL, &why);
    if (rs) /* the host says what failed; say whose file it is */
        return cm_diag_set_key(dg, rs, "file", "vq: %s", why.msg);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        long line = 1, col = 1;
        for (const char *c = buf; end && c < end; c++)
            *c == '\n' ? (line++, col = 1) : col++;
        CM_HOST->file_free(buf);
        return cm_diag_set_key(dg, CM_EPARSE, "file", "vq: '%s' is not valid JSON (line %ld, column %ld)",
                               path, line, col);
    }
    CM_HOST->file_free(buf);
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

/* the exact nearest codeword of an A2 codebook: codewords by decreasing
 * norm, stopped by the bound |x - c| >= |x| - |c| */
static const double *scan_by_norm(const vq *p, const double *x)
{
    double xn = sqrt(vq_dist2(x, (const double[MAX_DIM]){0}, p->d)), best = INFINITY;
    size_t bi = p->order[0];
    for (size_t o = 0; o < p->K; o++) {
        size_t j = p->order[o];
        double lb = xn - p->nrm[j];
        if (lb > 0 && lb * lb > best)
            break;
        double e = vq_dist2(x, p->cb + j * p->d, p->d);
        if (e < best) {
            best = e;
            bi = j;
        }
    }
    return p->cb + bi * p->d;
}

/* overload=radial: shrink x towards the origin until its nearest lattice
 * point is a codeword (bisection on the factor; the standard handling of
 * lattice overload, not an exhaustive nearest-codeword search) */
static void radial(const vq *p, const double *x, double *c)
{
    double y[MAX_DIM], lo = 0.0, hi = 1.0;
    if (p->shape == SH_CUBE) {
        /* cube: clamp each coordinate into the box first (exact for Z) */
        for (size_t j = 0; j < p->d; j++)
            y[j] = x[j] > p->cmax ? p->cmax : x[j] < -p->cmax ? -p->cmax : x[j];
        vq_decode(p->lattice, y, c, p->d);
        if (vq_member(p, c))
            return;
    }
    double found[MAX_DIM];
    memcpy(found, p->cb + p->order[p->K - 1] * p->d, p->d * sizeof *found); /* the origin-most */
    for (int it = 0; it < 16; it++) { /* the factor to 2^-16 */
        double t = 0.5 * (lo + hi);
        for (size_t j = 0; j < p->d; j++)
            y[j] = x[j] * t;
        vq_decode(p->lattice, y, c, p->d);
        if (vq_member(p, c)) {
            memcpy(found, c, p->d * sizeof *c);
            lo = t;
        } else {
            hi = t;
        }
    }
    memcpy(c, found, p->d * sizeof *c);
}

/* a lattice vector x beyond the codebook: its codeword c */
static void overload(const vq *p, const double *x, double *c)
{
    if (!p->exact_overload)
        radial(p, x, c);
    else if (p->lattice != L_A2)
        vq_nearest_member(p, x, c);
    else
        memcpy(c, scan_by_norm(p, x), p->d * sizeof *c);
}

static void quantize_at_careful(const vq *p, double s, const double *x, double *y, size_t n);

/* E8, 8 vectors at a time (decoded together); others one by one */
static void quantize_e8(const vq *p, double s, const double *x, double *y, size_t n)
{
    const double inv = 1.0 / s;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        double u[64], c[64], n2[8];
        int small = 1; /* every |u| < 2^50 (also: no NaN, no inf) */
        for (size_t k = 0; k < 64; k++) {
            u[k] = x[i + k] * inv;
            small &= fabs(u[k]) < 0x1p50;
        }
        if (!small) {
            quantize_at_careful(p, s, x + i, y + i, 64);
            continue;
        }
        vq_decode_e8x8(u, c, n2);
        for (size_t v = 0; v < 8; v++)
            if (!(n2[v] < p->last_n2) && !vq_member(p, c + 8 * v))
                overload(p, u + 8 * v, c + 8 * v);
        for (size_t k = 0; k < 64; k++)
            y[i + k] = s * c[k];
    }
    quantize_at_careful(p, s, x + i, y + i, n - i);
}

/* the nearest codeword c to x (unit scale: x already divided by the scale) */
static void nearest(const vq *p, const double *x, double *c)
{
    const double *w;
    if (p->lattice) {
        vq_decode(p->lattice, x, c, p->d);
        if (!vq_member(p, c))
            overload(p, x, c);
        return;
    } else {
        double best = INFINITY;
        w = p->cb;
        for (size_t j = 0; j < p->K; j++) {
            double e = vq_dist2(x, p->cb + j * p->d, p->d);
            if (e < best) {
                best = e;
                w = p->cb + j * p->d;
            }
        }
    }
    memcpy(c, w, p->d * sizeof *c);
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
        double c[MAX_DIM];
        nearest(p, u, c);
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
        /* codebooks: blocks of vectors against chunks of the codebook with BLAS;
         * distances (vb x kc) and the scaled vectors (vb x d) share the
         * SEARCH_BLOCK doubles of scratch, for any codebook size */
        const size_t kc = p->K < SEARCH_BLOCK / 2 ? p->K : SEARCH_BLOCK / 2;
        size_t vb = SEARCH_BLOCK / (kc + d);
        vb = vb < 1 ? 1 : vb > 4096 ? 4096 : vb;
        double *tmp = scratch + vb * kc;
        size_t arg[4096], a2[4096];
        double best[4096], b2[4096];
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
            /* p->nrm holds |c|^2 for codebooks */
            vq_nearest_block(tmp, m, p->cb, p->nrm, kc, d, scratch, arg, best);
            for (size_t c0 = kc; c0 < p->K; c0 += kc) {
                size_t nc = p->K - c0 < kc ? p->K - c0 : kc;
                vq_nearest_block(tmp, m, p->cb + c0 * d, p->nrm + c0, nc, d, scratch, a2, b2);
                for (size_t v2 = 0; v2 < m; v2++)
                    if (b2[v2] < best[v2]) { /* ties: the earlier codeword, as in one scan */
                        best[v2] = b2[v2];
                        arg[v2] = c0 + a2[v2];
                    }
            }
            for (size_t v2 = 0; v2 < m; v2++)
                for (size_t k = 0; k < d; k++)
                    y[i + v2 * d + k] = s * p->cb[arg[v2] * d + k];
        }
        return;
    }
    if (p->lattice == L_E8 && p->shape == SH_SPHERE) {
        quantize_e8(p, s, x, y, n);
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
    CM_HOST->rng_stream(&g, 0x5ca1e, 0);
    CM_HOST->gauss_fill(&g, x, n);
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
    {.key = "overload", .type = CM_PARAM_ENUM, .def = "nearest",
     .doc = "lattice vectors beyond the codebook: nearest (default: the exact nearest "
            "codeword), radial (shrink until inside: the classic approximation; E8 2 bits: "
            "GMSE 0.096 instead of 0.0915), auto (= nearest)",
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
    free(p->rep);
    free(p->repv);
    free(p);
}

static int by_norm_desc(const void *a, const void *b, void *arg)
{
    const double *nrm = arg;
    double x = nrm[*(const size_t *)a], y = nrm[*(const size_t *)b];
    return (x < y) - (x > y);
}

/* A lattice or k-means codebook of 2^(bits dim) words (dim 0: the lattice's). */
static cm_status generate_codebook(vq *p, const cm_value *v, size_t dim, double bits, cm_diag *dg)
{
    cm_status st = CM_OK;
    size_t want = p->lattice && p->lattice != L_Z ? vq_lattice_dim(p->lattice, 0) : 0;
    if (want && dim && dim != want) {
        st = cm_diag_set_key(dg, CM_EINVAL, "dim", "vq: lattice %s has dimension %zu, not %zu",
                             v[0].text, want, dim);
        return st;
    }
    p->d = want ? want : dim;
    if (!p->d) {
        st = cm_diag_set_key(dg, CM_EINVAL, "dim", "vq: give dim=1..%d", MAX_DIM);
        return st;
    }
    double kk = exp2(bits * (double)p->d);
    if (kk > (double)MAX_CODEWORDS || kk < 2) {
        st = cm_diag_set_key(dg, CM_ERANGE, "bits",
                             "vq: bits=%g at dim=%zu means %.3g codewords, %.3g MiB of codebook "
                             "(accepted: 2 to %zu codewords)",
                             bits, p->d, kk, kk * (double)p->d * 8 / 1048576.0, MAX_CODEWORDS);
        return st;
    }
    p->K = (size_t)llround(kk);
    if (fabs((double)p->K - kk) > 1e-6 * kk) {
        st = cm_diag_set_key(dg, CM_ERANGE, "bits",
                             "vq: 2^(bits*dim) must be a whole number of codewords (bits=%g, "
                             "dim=%zu)",
                             bits, p->d);
        return st;
    }
    p->cb = malloc(p->K * p->d * sizeof *p->cb);
    if (!p->cb) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
        return st;
    }
    if (p->lattice) {
        if ((st = vq_build_lattice(p, dg)))
            return st;
        vq_build_reps(p); /* (the exact overload search's representatives) */
    } else {
        char path[4096];
        uint64_t seed = (uint64_t)v[7].num;
        int cached = vq_cache_path(path, sizeof path, p->K, p->d, seed) == 0 &&
                     vq_cache_read(path, p->cb, p->K, p->d) == 0;
        if (!cached) {
            if ((st = vq_kmeans(p->cb, p->K, p->d, seed, dg)))
                return st;
            if (vq_cache_path(path, sizeof path, p->K, p->d, seed) == 0)
                vq_cache_write(path, p->cb, p->K, p->d);
        }
    }
    return CM_OK;
}

/* Norms, search order and the lattice membership table of a codebook. */
static cm_status index_codebook(vq *p, cm_diag *dg)
{
    cm_status st = CM_OK;
    /* norms (lattice: |c| for the overload search; codebooks: |c|^2 for BLAS) */
    p->nrm = malloc(p->K * sizeof *p->nrm);
    p->order = malloc(p->K * sizeof *p->order);
    if (!p->nrm || !p->order) {
        st = cm_diag_set(dg, CM_ENOMEM, "vq: out of memory");
        return st;
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
    if (p->lattice)
        qsort_r(p->order, p->K, sizeof *p->order, by_norm_desc, p->nrm);
    return CM_OK;
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
        if ((st = generate_codebook(p, v, dim, bits, dg)))
            goto fail;
    }
    if ((st = index_codebook(p, dg)))
        goto fail;
    p->exact_overload = ov != 1; /* the exact nearest codeword unless radial is asked for */
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
