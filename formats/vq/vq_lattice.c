/* Family vq: lattice codebooks (the points nearest the origin) and the
 * nearest-point decoders of Conway & Sloane (IEEE Trans. IT-28(2), 1982). */
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

#define SQRT3 1.7320508075688772

/* ---- lattices ------------------------------------------------------------------ */

size_t vq_lattice_dim(int l, size_t d)
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

double vq_dist2(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* nearest point of the unit-scale lattice */
void vq_decode(int l, const double *x, double *c, size_t d)
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
        if (vq_dist2(x, c1, 8) < vq_dist2(x, c, 8))
            memcpy(c, c1, sizeof c1);
        return;
    }
    case L_A2: { /* cosets {(a, b sqrt3)} and {(a + 1/2, (b + 1/2) sqrt3)} */
        double a0[2] = {rnd(x[0]), rnd(x[1] / SQRT3) * SQRT3};
        double a1[2] = {floor(x[0]) + 0.5, (floor(x[1] / SQRT3) + 0.5) * SQRT3};
        if (vq_dist2(x, a1, 2) < vq_dist2(x, a0, 2)) {
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
void vq_point_key(int l, const double *c, vq_key *k, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        double v = (l == L_A2 && i == 1) ? c[i] / (SQRT3 / 2) : 2 * c[i];
        /* clamped before the conversion: a far-away point is no codeword */
        v = v > VQ_KEY_MAX ? VQ_KEY_MAX : v < -VQ_KEY_MAX ? -VQ_KEY_MAX : v != v ? VQ_KEY_MAX : v;
        k[i] = (vq_key)lrint(v);
    }
}

size_t vq_hash_key(const vq_key *k, size_t d)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < d; i++)
        h = (h ^ (uint32_t)k[i]) * 1099511628211ull;
    return (size_t)h;
}

long vq_lookup(const vq *p, const vq_key *k)
{
    for (size_t s = vq_hash_key(k, p->d) & p->tmask;; s = (s + 1) & p->tmask) {
        int32_t i = p->table[s];
        if (i < 0)
            return -1;
        if (!memcmp(p->key + (size_t)i * p->d, k, p->d * sizeof *k))
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

cm_status vq_build_lattice(vq *p, cm_diag *dg)
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

/* For tests: the unbounded nearest-point decoder of a lattice by name. */
int cm_vq_lattice_decode(const char *name, const double *x, double *c);

int cm_vq_lattice_decode(const char *name, const double *x, double *c)
{
    int l = !strcmp(name, "z") ? L_Z : !strcmp(name, "a2") ? L_A2 : !strcmp(name, "d4") ? L_D4
          : !strcmp(name, "e8") ? L_E8 : L_NONE;
    if (l == L_NONE)
        return -1;
    vq_decode(l, x, c, vq_lattice_dim(l, 1));
    return 0;
}
