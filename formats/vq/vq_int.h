/* Family vq: what its files share (vq.c the format, vq_lattice.c the
 * lattice codebooks and decoders, vq_kmeans.c training and its cache). */
#ifndef CM_VQ_INT_H
#define CM_VQ_INT_H

#include <capmetric/format.h>
#include <capmetric/rng.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>

enum { L_NONE, L_Z, L_A2, L_D4, L_E8 };

enum { SH_SPHERE, SH_CUBE };

#define MAX_CODEWORDS ((size_t)1 << 22)

#define MAX_DIM 16

#define VQ_MAX_FIRST 64

#define SEARCH_BLOCK 65536 /* doubles of distance scratch per thread */

/* an orbit representative: |coordinates| in decreasing order (see vq_lattice.c) */
typedef struct vq_rep {
    double a[MAX_DIM];
    int parity; /* minus signs a lattice point needs: 0 any, 1 an even, 2 an odd number */
    int shell;  /* 0: before the last shell, 1: the last shell */
} vq_rep;

/* eight representatives side by side, for the search (lanes vectorize) */
typedef struct vq_repv {
    double a[MAX_DIM][8];
    double flip_even[8], flip_odd[8]; /* 1: flip a sign for x with an even / odd count of them */
} vq_repv;

typedef struct vq {
    int lattice, shape, exact_overload;
    double cmax;       /* cube shaping: the largest |coordinate| of a codeword */
    size_t d, K;
    double *cb;        /* K x d, unit scale */
    double *nrm;       /* |c| */
    size_t *order;     /* indices by decreasing norm (overload search) */
    double last[MAX_DIM], last_n2, last_ninf; /* lattice: the last codeword in order */
    vq_rep *rep;       /* Z, D4, E8: orbit representatives, NULL if too many */
    vq_repv *repv;     /* the same by eights: those before the last shell, then the shell */
    size_t nrep[2];    /* before the last shell, of the last shell */
    double first[VQ_MAX_FIRST][2]; /* the last shell's first coordinates and rest radii */
    size_t nfirst;
    double scale;
} vq;

typedef struct vq_state {
    double dist[SEARCH_BLOCK];
} vq_state;

size_t vq_lattice_dim(int l, size_t d);
double vq_dist2(const double *a, const double *b, size_t n);
void vq_decode(int l, const double *x, double *c, size_t d);
void vq_decode_e8x8(const double *x, double *c, double *n2);
int vq_member(const vq *p, const double *c);
void vq_norms(const double *c, size_t d, double *n2, double *ninf);
int vq_order_cmp(int cube, size_t d, const double *a, double an2, double ainf, const double *b,
                 double bn2, double binf);
void vq_build_reps(vq *p);
void vq_nearest_member(const vq *p, const double *x, double *c);
cm_status vq_build_lattice(vq *p, cm_diag *dg);
void vq_nearest_block(const double *x, size_t n, const double *cb, const double *cn2, size_t K,
                          size_t d, double *dist, size_t *arg, double *best);
cm_status vq_kmeans(double *cb, size_t K, size_t d, uint64_t seed, cm_diag *dg);
int vq_cache_path(char *buf, size_t cap, size_t K, size_t d, uint64_t seed);
int vq_cache_read(const char *path, double *cb, size_t K, size_t d);
void vq_cache_write(const char *path, const double *cb, size_t K, size_t d);

/* floor without a call into libm (baseline x86-64 has no rounding
 * instruction): exact for every double (beyond 2^52 all are integers) */
static inline double ffloor(double v)
{
    if (!(fabs(v) < 4503599627370496.0))
        return v;
    double t = (double)(long long)v;
    return t - (double)(t > v);
}

typedef double v4d __attribute__((vector_size(32))); /* four lanes: native to AVX2 */
typedef long long v4l __attribute__((vector_size(32)));

/* (macros, not functions: vector arguments would change the ABI) */
#define VSEL(m, a, b) ((v4d)(((v4l)(a) & (m)) | ((v4l)(b) & ~(m))))
#define VSPLAT(a) ((v4d){(a), (a), (a), (a)})
#define VABS(v) ((v4d)((v4l)(v) & ~(v4l)VSPLAT(-0.0)))
/* dst = floor(v): round to an integer by adding and taking away 2^52 of v's
 * sign, then one less where that went up */
#define VFLOOR(dst, v)                                                                        \
    do {                                                                                      \
        v4d c_ = (v4d)((v4l)VSPLAT(0x1p52) | ((v4l)(v) & (v4l)VSPLAT(-0.0)));                 \
        v4d t_ = ((v) + c_) - c_;                                                             \
        (dst) = t_ - (v4d)((v4l)VSPLAT(1.0) & (t_ > (v)));                                    \
    } while (0)

#endif
