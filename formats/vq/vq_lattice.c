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

/* floor without a call into libm (baseline x86-64 has no rounding
 * instruction): exact for every double (beyond 2^52 all are integers) */
static inline double ffloor(double v)
{
    if (!(fabs(v) < 4503599627370496.0))
        return v;
    double t = (double)(long long)v;
    return t - (double)(t > v);
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
 * points' squared norms, summed as norms() does. */
typedef double v8d __attribute__((vector_size(32))); /* four lanes: native to AVX2 */
typedef long long v8l __attribute__((vector_size(32)));

/* (macros, not functions: vector arguments would change the ABI) */
#define VSEL(m, a, b) ((v8d)(((v8l)(a) & (m)) | ((v8l)(b) & ~(m))))
#define VSPLAT(a) ((v8d){(a), (a), (a), (a)})
#define VABS(v) ((v8d)((v8l)(v) & ~(v8l)VSPLAT(-0.0)))
/* dst = floor(v): round to an integer by adding and taking away 2^52 of v's
 * sign, then one less where that went up */
#define VFLOOR(dst, v)                                                                        \
    do {                                                                                      \
        v8d c_ = (v8d)((v8l)VSPLAT(0x1p52) | ((v8l)(v) & (v8l)VSPLAT(-0.0)));                 \
        v8d t_ = ((v) + c_) - c_;                                                             \
        (dst) = t_ - (v8d)((v8l)VSPLAT(1.0) & (t_ > (v)));                                    \
    } while (0)

static inline __attribute__((always_inline)) void decode_e8x4(const double *x, double *c, double *n2)
{
    v8d X[8], A[8], B[8], sa = VSPLAT(0.0), sb = VSPLAT(0.0), wa = VSPLAT(-1.0), wb = VSPLAT(-1.0);
    v8d ia = VSPLAT(0.0), ib = VSPLAT(0.0), one = VSPLAT(1.0), half = VSPLAT(0.5), t, u;
    for (int k = 0; k < 8; k++) {
        for (int v = 0; v < 4; v++)
            X[k][v] = x[8 * v + k];
        v8d h = X[k] - half, kk = VSPLAT((double)k);
        u = X[k] + half;
        VFLOOR(A[k], u);
        u = h + half;
        VFLOOR(B[k], u);
        sa += A[k];
        sb += B[k];
        v8d ea = VABS(X[k] - A[k]), eb = VABS(h - B[k]);
        v8l ma = ea > wa, mb = eb > wb;
        ia = VSEL(ma, kk, ia);
        wa = VSEL(ma, ea, wa);
        ib = VSEL(mb, kk, ib);
        wb = VSEL(mb, eb, wb);
    }
    /* odd sums: the worst coordinate's index, else -1 */
    u = 0.5 * sa;
    VFLOOR(t, u);
    v8d oa = VSEL((sa - 2.0 * t) != 0.0, ia, VSPLAT(-1.0));
    u = 0.5 * sb;
    VFLOOR(t, u);
    v8d ob = VSEL((sb - 2.0 * t) != 0.0, ib, VSPLAT(-1.0));
    v8d da = VSPLAT(0.0), db = VSPLAT(0.0);
    for (int k = 0; k < 8; k++) {
        v8d kk = VSPLAT((double)k);
        v8d fa = VSEL(X[k] > A[k], one, -one), fb = VSEL(X[k] - half > B[k], one, -one);
        A[k] += VSEL(oa == kk, fa, VSPLAT(0.0));
        B[k] += VSEL(ob == kk, fb, VSPLAT(0.0));
        B[k] += half;
        da += (X[k] - A[k]) * (X[k] - A[k]);
        db += (X[k] - B[k]) * (X[k] - B[k]);
    }
    v8l pick = db < da;
    v8d s = VSPLAT(0.0);
    for (int k = 0; k < 8; k++) {
        v8d w = VSEL(pick, B[k], A[k]);
        s += w * w;
        for (int v = 0; v < 4; v++)
            c[8 * v + k] = w[v];
    }
    for (int v = 0; v < 4; v++)
        n2[v] = s[v];
}

CM_HOT_LOOP void vq_decode_e8x8(const double *x, double *c, double *n2)
{
    decode_e8x4(x, c, n2);
    decode_e8x4(x + 32, c + 32, n2 + 4);
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
static void norms(const double *c, size_t d, double *n2, double *ninf)
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
static int order_cmp(int cube, size_t d, const double *a, double an2, double ainf,
                     const double *b, double bn2, double binf)
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
    norms(c, p->d, &n2, &ninf);
    if (!(n2 <= p->last_n2) && p->shape != SH_CUBE) /* also NaN */
        return 0;
    return order_cmp(p->shape == SH_CUBE, p->d, c, n2, ninf, p->last, p->last_n2,
                     p->last_ninf) <= 0;
}

/* ---- the exact nearest codeword (Z, D4, E8) ---------------------------------------------- */

/* Sphere decoding restricted to the codebook: a depth-first walk over the
 * coordinates of one coset (integers, or integers + 1/2), each coordinate's
 * values from the one nearest x outwards (Schnorr & Euchner 1994), pruned by
 * the best distance so far plus a lower bound of the coordinates still to
 * come, and by the codebook's norm (sphere) or max-norm (cube) budget. */
typedef struct srch {
    const vq *p;
    const double *x;
    size_t d;
    int parity;
    size_t perm[MAX_DIM]; /* the walk's coordinate i is x's coordinate perm[i] */
    double off, cur[MAX_DIM], best[MAX_DIM], bestd, rest[MAX_DIM + 1], xr2[MAX_DIM + 1], vmax;
    int found;
    int shell; /* only the last shell's codewords: (max-norm and) norm of the last one */
} srch;

static void leaf(srch *s, double dist, double n2)
{
    if (s->shell && n2 != s->p->last_n2)
        return;
    if (!vq_member(s->p, s->cur))
        return;
    if (s->found && dist == s->bestd) { /* a tie: the earlier codeword in the order */
        double a2, ai, b2, bi;
        norms(s->cur, s->d, &a2, &ai);
        norms(s->best, s->d, &b2, &bi);
        if (order_cmp(s->p->shape == SH_CUBE, s->d, s->cur, a2, ai, s->best, b2, bi) >= 0)
            return;
    }
    memcpy(s->best, s->cur, s->d * sizeof *s->cur);
    s->bestd = dist;
    s->found = 1;
}

/* tight: (shell walks, in x's order) the coordinates so far are the last
 * codeword's, so this one may not exceed the last's (lexicographic order) */
static void walk_near(srch *s, size_t i, double dist, double n2, double sum, int tight)
{
    if (i == s->d) {
        leaf(s, dist, n2);
        return;
    }
    /* the values this coordinate may take: |v| <= lim, lim from the budget */
    double lim = s->vmax;
    const int sphere = s->p->shape != SH_CUBE || s->shell;
    const double budget = s->p->last_n2 - n2;
    if (sphere) {
        double left = budget - (double)(s->d - i - 1) * s->off * s->off;
        if (left < 0)
            return;
        double r = sqrt(left);
        lim = r < lim ? r : lim;
    }
    double lo = -ffloor(lim + s->off) + s->off, hi = ffloor(lim - s->off) + s->off;
    if (tight) { /* the largest value of this coset not above the last's */
        double h = ffloor(s->p->last[i] - s->off) + s->off;
        hi = h < hi ? h : hi;
    }
    if (lo > hi)
        return;
    const double xi = s->x[i];
    double v0 = ffloor(xi - s->off + 0.5) + s->off; /* nearest in the coset, then clamped */
    v0 = v0 < lo ? lo : v0 > hi ? hi : v0;
    double up = v0, dn = v0 - 1.0;
    for (;;) { /* zig-zag: the nearer of the next value above and below */
        double v;
        if (up <= hi && (dn < lo || fabs(up - xi) <= fabs(dn - xi)))
            v = up++;
        else if (dn >= lo)
            v = dn--;
        else
            return;
        double nd = dist + (v - xi) * (v - xi);
        if (nd + s->rest[i + 1] > s->bestd)
            return; /* every later value is farther */
        if (sphere) {
            /* the coordinates still to come are within the norm budget B
             * left: at least (|x_rest| - sqrt(B))^2 away from x_rest */
            double g = sqrt(s->xr2[i + 1]) - sqrt(fmax(0.0, budget - v * v));
            if (s->shell) /* exactly that norm: also when x_rest is inside */
                g = fabs(g);
            if (g > 0 && nd + g * g > s->bestd)
                continue;
        }
        if (i + 1 == s->d && s->parity && (sum + v) - 2.0 * ffloor(0.5 * (sum + v)) != 0.0)
            continue; /* D4, E8: the coordinates' sum is even */
        s->cur[s->perm[i]] = v;
        walk_near(s, i + 1, nd, n2 + v * v, sum + v, tight && v == s->p->last[i]);
    }
}

/* ---- orbit representatives ------------------------------------------------------------------ */

/* Z, D4 and E8 and their codebooks' full shells are invariant under
 * permutations and sign changes of the coordinates (E8: an even number of
 * them). So the codewords before the last shell (and that shell whole) are
 * the orbits of a few representatives: |coordinates| in decreasing order,
 * with the signs a lattice point needs (any; an even or an odd number of
 * minus signs). The nearest point of an orbit to x: sort |x| the same way and
 * match; if x's count of minus signs has the wrong parity, flip the sign of
 * the smallest pair (the other pairings cost more: Conway & Sloane's D_n
 * argument). */
#define VQ_MAX_REPS 512

typedef struct rep_walk {
    vq *p;
    double off, a[MAX_DIM];
    int fail;
} rep_walk;

static void rep_add(rep_walk *w)
{
    vq *p = w->p;
    double n2, ninf, sum = 0;
    norms(w->a, p->d, &n2, &ninf);
    for (size_t i = 0; i < p->d; i++)
        sum += w->a[i];
    int par = 0;
    if (p->lattice == L_D4 || p->lattice == L_E8) {
        int even = sum - 2.0 * ffloor(0.5 * sum) == 0.0;
        if (w->off == 0.0 && !even)
            return; /* no sign pattern is a lattice point */
        par = w->off == 0.0 ? 0 : even ? 1 : 2;
    }
    int cube = p->shape == SH_CUBE, shell;
    if (cube ? ninf < p->last_ninf || (ninf == p->last_ninf && n2 < p->last_n2) : n2 < p->last_n2)
        shell = 0;
    else if (n2 == p->last_n2 && (!cube || ninf == p->last_ninf))
        shell = 1;
    else
        return;
    if (p->nrep[0] + p->nrep[1] == VQ_MAX_REPS) {
        w->fail = 1;
        return;
    }
    vq_rep *r = &p->rep[p->nrep[0] + p->nrep[1]];
    memcpy(r->a, w->a, sizeof r->a);
    r->parity = par;
    r->shell = shell;
    p->nrep[shell]++;
}

static void rep_dfs(rep_walk *w, size_t i, double n2, double top)
{
    vq *p = w->p;
    if (w->fail)
        return;
    if (i == p->d) {
        rep_add(w);
        return;
    }
    for (double v = w->off; v <= top; v += 1.0) {
        if (p->shape == SH_CUBE ? v > p->last_ninf : n2 + v * v > p->last_n2)
            break;
        w->a[i] = v;
        rep_dfs(w, i + 1, n2 + v * v, v);
    }
}

static int rep_by_shell(const void *a, const void *b)
{
    return ((const vq_rep *)a)->shell - ((const vq_rep *)b)->shell;
}

/* the representatives of a Z, D4 or E8 codebook (none if there are too many) */
static void build_reps(vq *p)
{
    p->nrep[0] = p->nrep[1] = 0;
    if (p->lattice == L_A2 || !(p->rep = malloc(VQ_MAX_REPS * sizeof *p->rep)))
        return;
    rep_walk w = {.p = p};
    for (int t = 0; t < (p->lattice == L_E8 ? 2 : 1) && !w.fail; t++) {
        w.off = (p->lattice == L_Z || t == 1) ? 0.5 : 0.0;
        rep_dfs(&w, 0, 0.0, INFINITY);
    }
    if (w.fail) {
        free(p->rep);
        p->rep = NULL;
        p->nrep[0] = p->nrep[1] = 0;
        return;
    }
    qsort(p->rep, p->nrep[0] + p->nrep[1], sizeof *p->rep, rep_by_shell);
    /* first_coordinate_bound: the values c_0 <= last_0 of each coset, and
     * sqrt(last_n2 - c_0^2) */
    size_t nf = 0;
    for (int t = 0; p->shape == SH_SPHERE && t < (p->lattice == L_E8 ? 2 : 1); t++) {
        double off = (p->lattice == L_Z || t == 1) ? 0.5 : 0.0;
        for (double v = ffloor(p->last[0] - off) + off; v * v <= p->last_n2; v -= 1.0, nf++)
            if (nf < VQ_MAX_FIRST) {
                p->first[nf][0] = v;
                p->first[nf][1] = sqrt(p->last_n2 - v * v);
            }
    }
    p->nfirst = nf <= VQ_MAX_FIRST ? nf : 0; /* too many: no bound */
    /* the same, eight representatives side by side (lane l of block b is
     * representative 8 b + l of its set); unused lanes far away */
    size_t nb = (p->nrep[0] + 7) / 8 + (p->nrep[1] + 7) / 8;
    if (!(p->repv = calloc(nb ? nb : 1, sizeof *p->repv))) {
        free(p->rep);
        p->rep = NULL;
        p->nrep[0] = p->nrep[1] = 0;
        return;
    }
    const vq_rep *r = p->rep;
    vq_repv *b = p->repv;
    for (int set = 0; set < 2; set++) {
        size_t n = p->nrep[set];
        for (size_t k0 = 0; k0 < n; k0 += 8, b++)
            for (size_t l = 0; l < 8; l++) {
                const vq_rep *q = k0 + l < n ? &r[k0 + l] : NULL;
                for (size_t i = 0; i < MAX_DIM; i++)
                    b->a[i][l] = q ? q->a[i] : 1e150;
                /* x has an even (odd) number of minus signs and the
                 * representative needs an odd (even) one */
                b->flip_even[l] = q && q->parity == 2;
                b->flip_odd[l] = q && q->parity == 1;
            }
        r += n;
    }
}

/* the nearest point to x of the orbits of reps r[0..n): y is |x| in
 * decreasing order (y[i] = |x[perm[i]]|), odd says x has an odd number of
 * negative coordinates */
CM_HOT_LOOP static double rep_nearest(const vq *p, int set, size_t d, const double *x,
                                      const double *y, const size_t *perm, int odd, double *c)
{
    const size_t n = p->nrep[set];
    const vq_repv *b = p->repv + (set ? (p->nrep[0] + 7) / 8 : 0);
    double best = INFINITY;
    size_t bk = 0;
    int bflip = 0;
    for (size_t k0 = 0; k0 < n; k0 += 8, b++)
        for (size_t h = 0; h < 8 && k0 + h < n; h += 4) { /* four representatives at a time */
            v8d e = VSPLAT(0.0), a = e, f, t;
            for (size_t i = 0; i < d; i++) {
                memcpy(&a, &b->a[i][h], sizeof a);
                t = VSPLAT(y[i]) - a;
                e += t * t;
            }
            /* the wrong parity of minus signs: flip the last pair */
            memcpy(&f, odd ? &b->flip_odd[h] : &b->flip_even[h], sizeof f);
            memcpy(&a, &b->a[d - 1][h], sizeof a);
            e += VSEL(f != 0.0, VSPLAT(4.0 * y[d - 1]) * a, VSPLAT(0.0));
            for (size_t l = 0; l < 4 && k0 + h + l < n; l++)
                if (e[l] < best) {
                    best = e[l];
                    bk = k0 + h + l;
                    bflip = f[l] != 0.0;
                }
        }
    const vq_rep *r = p->rep + (set ? p->nrep[0] : 0) + bk;
    for (size_t i = 0; i < d; i++) {
        double v = x[perm[i]] < 0 ? -r->a[i] : r->a[i];
        c[perm[i]] = r->a[i] == 0 ? 0.0 : (bflip && i == d - 1) ? -v : v;
    }
    return best;
}

/* The exact nearest codeword to x (unit scale) of a Z, D4 or E8 codebook.
 * Far beyond the codebook (|x_i| > 1e100, e.g. an infinite input) squared
 * distances would overflow: x is brought to max-norm 1e8 along its direction. */
static void walk_cosets(srch *s)
{
    const double *xp = s->x;
    s->xr2[s->d] = 0;
    for (size_t i = s->d; i-- > 0;)
        s->xr2[i] = s->xr2[i + 1] + xp[i] * xp[i];
    for (int t = 0; t < (s->p->lattice == L_E8 ? 2 : 1); t++) {
        s->off = (s->p->lattice == L_Z || t == 1) ? 0.5 : 0.0;
        s->rest[s->d] = 0;
        for (size_t i = s->d; i-- > 0;) {
            double e = xp[i] - (ffloor(xp[i] - s->off + 0.5) + s->off);
            s->rest[i] = s->rest[i + 1] + e * e;
        }
        walk_near(s, 0, 0.0, 0.0, 0.0, s->shell);
    }
}

/* The last shell's codewords c come no later than the last one, so c_0 <=
 * last_0, and (sphere) |c|^2 = last_n2: |x - c|^2 >= (x_0 - c_0)^2 +
 * (|x_rest| - sqrt(last_n2 - c_0^2))^2, least over the c_0 that may be. */
static double first_coordinate_bound(const vq *p, const double *x, double n2)
{
    if (!p->nfirst)
        return 0.0;
    double rest = sqrt(fmax(0.0, n2 - x[0] * x[0])), lb = INFINITY;
    for (size_t k = 0; k < p->nfirst; k++) {
        double a = x[0] - p->first[k][0], b = rest - p->first[k][1], e = a * a + b * b;
        lb = e < lb ? e : lb;
    }
    return lb;
}

/* x's coordinates by decreasing magnitude (ties: the earlier first), by
 * ranks: no data-dependent branches */
static void sort_by_magnitude(const double *x, size_t d, size_t *perm, double *y)
{
    double ax[MAX_DIM];
    for (size_t i = 0; i < d; i++)
        ax[i] = fabs(x[i]);
    for (size_t i = 0; i < d; i++) {
        size_t r = 0;
        for (size_t j = 0; j < d; j++)
            r += (size_t)(ax[j] > ax[i]) + (size_t)(ax[j] == ax[i] && j < i);
        perm[r] = i;
    }
    for (size_t i = 0; i < d; i++)
        y[i] = ax[perm[i]];
}

/* The exact nearest codeword to x (unit scale) of a Z, D4 or E8 codebook:
 * the nearest of the representatives' orbits before the last shell; then the
 * last shell's codewords, if that whole shell has a point nearer (a walk over
 * the shell in x's order, pruned lexicographically). Without representatives
 * (too many): one walk over all codewords from a first bound.
 * Far beyond the codebook (|x_i| > 1e100, e.g. an infinite input) squared
 * distances would overflow: x is brought to max-norm 1e8 along its direction. */
void vq_nearest_member(const vq *p, const double *x, double *c)
{
    const size_t d = p->d;
    double m = 0, xs[MAX_DIM], n2 = 0;
    for (size_t i = 0; i < d; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    for (size_t i = 0; i < d; i++) {
        xs[i] = m > 1e100 ? x[i] * (1e8 / m) : x[i];
        n2 += xs[i] * xs[i];
    }
    srch s; /* (its arrays are written before they are read: no clearing) */
    s.p = p;
    s.d = d;
    s.bestd = INFINITY;
    s.parity = p->lattice == L_D4 || p->lattice == L_E8;
    s.vmax = p->shape == SH_CUBE ? p->last_ninf : INFINITY;
    s.found = s.shell = 0;
    double y[MAX_DIM];
    sort_by_magnitude(xs, d, s.perm, y);
    if (p->rep) {
        int odd = 0;
        for (size_t i = 0; i < d; i++)
            odd ^= xs[i] < 0;
        if (p->nrep[0])
            s.bestd = rep_nearest(p, 0, d, xs, y, s.perm, odd, s.best);
        s.found = p->nrep[0] > 0;
        double sc[MAX_DIM], dsh = 0;
        /* the last shell's codewords: no nearer than the nearest point of that
         * shell, nor than the bound of first_coordinate_bound */
        if (p->nrep[1] && first_coordinate_bound(p, xs, n2) < s.bestd &&
            (dsh = rep_nearest(p, 1, d, xs, y, s.perm, odd, sc)) < s.bestd) {
            if (vq_member(p, sc)) {
                s.bestd = dsh;
                memcpy(s.best, sc, d * sizeof *sc);
            } else {
                for (size_t i = 0; i < d; i++)
                    s.perm[i] = i;
                s.x = xs;
                s.shell = 1;
                walk_cosets(&s);
            }
        }
        memcpy(c, s.best, d * sizeof *c);
        return;
    }
    /* a first bound: x brought into the codebook (radius, or box) and decoded */
    for (int k = 0; k < 3 && !s.found; k++) {
        double f = p->shape == SH_CUBE ? 1.0 : sqrt(p->last_n2 / n2) * (1.0 - 0.05 * k), yb[MAX_DIM];
        for (size_t i = 0; i < d; i++) {
            yb[i] = xs[i] * f;
            if (p->shape == SH_CUBE)
                yb[i] = fmin(fmax(yb[i], -p->last_ninf), p->last_ninf) * (1.0 - 0.05 * k);
        }
        vq_decode(p->lattice, yb, s.cur, d);
        if (vq_member(p, s.cur)) {
            memcpy(s.best, s.cur, d * sizeof *s.cur);
            s.bestd = vq_dist2(xs, s.cur, d);
            s.found = 1;
        }
    }
    /* the walk takes the largest coordinates first: the budgets bite early */
    double xp[MAX_DIM];
    for (size_t i = 0; i < d; i++)
        xp[i] = xs[s.perm[i]];
    s.x = xp;
    walk_cosets(&s);
    memcpy(c, s.best, d * sizeof *c);
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
    return order_cmp(c->shape == SH_CUBE, c->dim, x->c, x->n2, x->ninf, y->c, y->n2, y->ninf);
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
    norms(q->c, w->d, &q->n2, &q->ninf);
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
            build_reps(p);
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
