/* Family vq: the exact nearest codeword of a Z, D4 or E8 codebook to a
 * vector beyond it (overload=nearest), from orbit representatives of the
 * codebook's full shells and a pruned walk over its last shell. */
#include <capmetric/export.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vq_int.h"

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
        vq_norms(s->cur, s->d, &a2, &ai);
        vq_norms(s->best, s->d, &b2, &bi);
        if (vq_order_cmp(s->p->shape == SH_CUBE, s->d, s->cur, a2, ai, s->best, b2, bi) >= 0)
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
    vq_norms(w->a, p->d, &n2, &ninf);
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
void vq_build_reps(vq *p)
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
            v4d e = VSPLAT(0.0), a = e, f, t;
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
