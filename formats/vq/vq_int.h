/* Family vq: what its files share (vq.c the format, vq_lattice.c the
 * lattice codebooks and decoders, vq_kmeans.c training and its cache). */
#ifndef CM_VQ_INT_H
#define CM_VQ_INT_H

#include <capmetric/format.h>
#include <capmetric/rng.h>
#include <stddef.h>
#include <stdint.h>

enum { L_NONE, L_Z, L_A2, L_D4, L_E8 };

enum { SH_SPHERE, SH_CUBE };

#define MAX_CODEWORDS ((size_t)1 << 22)

#define MAX_DIM 16

#define SEARCH_BLOCK 65536 /* doubles of distance scratch per thread */

/* A lattice point's key: its coordinates times 2 (A2: y / (sqrt3/2)) as
 * integers. 32 bits: codebooks of 2^22 points reach coordinates far beyond
 * what 8 bits held (a z lattice at 9 bits has coordinates to 255.5). */
typedef int32_t vq_key;
#define VQ_KEY_MAX 1073741824.0 /* 2^30: beyond every codeword, so never a member */

typedef struct vq {
    int lattice, shape, exact_overload;
    double cmax;       /* cube shaping: the largest |coordinate| of a codeword */
    size_t d, K;
    double *cb;        /* K x d, unit scale */
    double *nrm;       /* |c| */
    size_t *order;     /* indices by decreasing norm (overload search) */
    vq_key *key;       /* lattice: 2 c as integers, for the membership table */
    int32_t *table;    /* open addressing, -1 empty */
    size_t tmask;
    double scale;
} vq;

typedef struct vq_state {
    double dist[SEARCH_BLOCK];
} vq_state;

size_t vq_lattice_dim(int l, size_t d);
double vq_dist2(const double *a, const double *b, size_t n);
void vq_decode(int l, const double *x, double *c, size_t d);
void vq_point_key(int l, const double *c, vq_key *k, size_t d);
size_t vq_hash_key(const vq_key *k, size_t d);
long vq_lookup(const vq *p, const vq_key *k);
cm_status vq_build_lattice(vq *p, cm_diag *dg);
void vq_nearest_block(const double *x, size_t n, const double *cb, const double *cn2, size_t K,
                          size_t d, double *dist, size_t *arg, double *best);
cm_status vq_kmeans(double *cb, size_t K, size_t d, uint64_t seed, cm_diag *dg);
int vq_cache_path(char *buf, size_t cap, size_t K, size_t d, uint64_t seed);
int vq_cache_read(const char *path, double *cb, size_t K, size_t d);
void vq_cache_write(const char *path, const double *cb, size_t K, size_t d);

#endif
