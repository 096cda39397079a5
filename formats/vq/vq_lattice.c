/* Family vq: lattice codebooks (the points nearest the origin) and the
 * nearest-point decoders of Conway & Sloane (IEEE Trans. IT-28(2), 1982). */
#include <capmetric/export.h>
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

static double rnd(double v) { return ffloor(v + 0.5); }

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
    if (sum - 2.0 * ffloor(0.5 * sum) != 0.0) /* odd: move the worst coordinate the other way */
        c[wi] += x[wi] > c[wi] ? 1.0 : -1.0;
}

/* nearest point of E8 = D8 u (D8 + 1/2): both cosets in one pass, the
 * nearer kept (a tie: D8); the same operations as decode_dn on x and on x - 1/2 */
static void decode_e8(const double *x, double *c)
{
    double a[8], b[8], sa = 0, sb = 0, wa = -1, wb = -1;
    int ia = 0, ib = 0;
    for (int i = 0; i < 8; i++) {
        double h = x[i] - 0.5;
        a[i] = rnd(x[i]);
        b[i] = rnd(h);
        sa += a[i];
        sb += b[i];
        double ea = fabs(x[i] - a[i]), eb = fabs(h - b[i]);
        if (ea > wa) {
            wa = ea;
            ia = i;
        }
        if (eb > wb) {
            wb = eb;
            ib = i;
        }
    }
    if (sa - 2.0 * ffloor(0.5 * sa) != 0.0)
        a[ia] += x[ia] > a[ia] ? 1.0 : -1.0;
    if (sb - 2.0 * ffloor(0.5 * sb) != 0.0)
        b[ib] += x[ib] - 0.5 > b[ib] ? 1.0 : -1.0;
    double da = 0, db = 0;
    for (int i = 0; i < 8; i++) {
        b[i] += 0.5;
        da += (x[i] - a[i]) * (x[i] - a[i]);
        db += (x[i] - b[i]) * (x[i] - b[i]);
    }
    memcpy(c, db < da ? b : a, sizeof a);
}

/* decode_e8 for 8 vectors x[8 v .. 8 v + 8) at once, lane v = vector v, in
 * GCC/Clang vector types (each instruction set's clone lowers them to its
 * registers); the same IEEE operations in the same order as decode_e8, so the
 * same points. Every |x| < 2^50 (the floor below is exact there). n2[v]: the
 * points' squared norms, summed as vq_norms() does. */
static inline __attribute__((always_inline)) void decode_e8x4(const double *x, double *c, double *n2)
{
    v4d X[8], A[8], B[8], sa = VSPLAT(0.0), sb = VSPLAT(0.0), wa = VSPLAT(-1.0), wb = VSPLAT(-1.0);
    v4d ia = VSPLAT(0.0), ib = VSPLAT(0.0), one = VSPLAT(1.0), half = VSPLAT(0.5), t, u;
    for (int k = 0; k < 8; k++) {
        for (int v = 0; v < 4; v++)
            X[k][v] = x[8 * v + k];
        v4d h = X[k] - half, kk = VSPLAT((double)k);
        u = X[k] + half;
        VFLOOR(A[k], u);
        u = h + half;
        VFLOOR(B[k], u);
        sa += A[k];
        sb += B[k];
        v4d ea = VABS(X[k] - A[k]), eb = VABS(h - B[k]);
        v4l ma = ea > wa, mb = eb > wb;
        ia = VSEL(ma, kk, ia);
        wa = VSEL(ma, ea, wa);
        ib = VSEL(mb, kk, ib);
        wb = VSEL(mb, eb, wb);
    }
    /* odd sums: the worst coordinate's index, else -1 */
    u = 0.5 * sa;
    VFLOOR(t, u);
    v4d oa = VSEL((sa - 2.0 * t) != 0.0, ia, VSPLAT(-1.0));
    u = 0.5 * sb;
    VFLOOR(t, u);
    v4d ob = VSEL((sb - 2.0 * t) != 0.0, ib, VSPLAT(-1.0));
    v4d da = VSPLAT(0.0), db = VSPLAT(0.0);
    for (int k = 0; k < 8; k++) {
        v4d kk = VSPLAT((double)k);
        v4d fa = VSEL(X[k] > A[k], one, -one), fb = VSEL(X[k] - half > B[k], one, -one);
        A[k] += VSEL(oa == kk, fa, VSPLAT(0.0));
        B[k] += VSEL(ob == kk, fb, VSPLAT(0.0));
        B[k] += half;
        da += (X[k] - A[k]) * (X[k] - A[k]);
        db += (X[k] - B[k]) * (X[k] - B[k]);
    }
    v4l pick = db < da;
    v4d s = VSPLAT(0.0);
    for (int k = 0; k < 8; k++) {
        v4d w = VSEL(pick, B[k], A[k]);
        s += w * w;
        for (int v = 0; v < 4; v++)
            c[8 * v + k] = w[v];
    }
    for (int v = 0; v < 4; v++)
        n2[v] = s[v];
}

CM_HOT_LOOP static void decode_e8x8(const double *x, double *c, double *n2)
{
    decode_e8x4(x, c, n2);
    decode_e8x4(x + 32, c + 32, n2 + 4);
}

/* (not itself multiversioned: an ifunc symbol would escape the library's
 * hidden visibility) */
void vq_decode_e8x8(const double *x, double *c, double *n2) { decode_e8x8(x, c, n2); }

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
            c[i] = ffloor(x[i]) + 0.5;
        return;
    case L_D4:
        decode_dn(x, c, 4);
        return;
    case L_E8:
        decode_e8(x, c);
        return;
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

/* ---- the codebook's order and membership ---------------------------------------------- */

/* squared norm and max-norm, summed in coordinate order (the codebook's
 * points and a decoded point get the same bits) */
void vq_norms(const double *c, size_t d, double *n2, double *ninf)
{
    double s = 0, m = 0;
    for (size_t i = 0; i < d; i++) {
        s += c[i] * c[i];
        m = fabs(c[i]) > m ? fabs(c[i]) : m;
    }
    *n2 = s;
    *ninf = m;
}

/* the order the codebook was chosen by: (max-norm for cube,) squared norm,
 * then coordinates lexicographically */
int vq_order_cmp(int cube, size_t d, const double *a, double an2, double ainf, const double *b,
                 double bn2, double binf)
{
    if (cube && ainf != binf)
        return ainf < binf ? -1 : 1;
    if (an2 != bn2)
        return an2 < bn2 ? -1 : 1;
    for (size_t i = 0; i < d; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* The codebook is every lattice point up to its last one in that order, so a
 * lattice point is a codeword exactly when it does not come after the last. */
int vq_member(const vq *p, const double *c)
{
    double n2, ninf;
    vq_norms(c, p->d, &n2, &ninf);
    if (!(n2 <= p->last_n2) && p->shape != SH_CUBE) /* also NaN */
        return 0;
    return vq_order_cmp(p->shape == SH_CUBE, p->d, c, n2, ninf, p->last, p->last_n2,
                     p->last_ninf) <= 0;
}

/* ---- codebooks ---------------------------------------------------------------------------- */

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
    return vq_order_cmp(c->shape == SH_CUBE, c->dim, x->c, x->n2, x->ninf, y->c, y->n2, y->ninf);
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
    memcpy(q->c, w->cur, w->d * sizeof *q->c);
    vq_norms(q->c, w->d, &q->n2, &q->ninf);
}

static void dfs(walk *w, size_t i, double n2, double sum)
{
    if (w->oom)
        return;
    if (i == w->d) {
        if ((w->l == L_D4 || w->l == L_E8) && sum - 2.0 * ffloor(0.5 * sum) != 0.0)
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
            memcpy(p->last, v[p->K - 1].c, sizeof p->last); /* membership: see vq_member */
            p->last_n2 = v[p->K - 1].n2;
            p->last_ninf = v[p->K - 1].ninf;
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
