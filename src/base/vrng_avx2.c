/* The Gaussian fill of vrng_int.h with AVX2: two 256-bit vectors hold word w
 * of lanes 0-3 and 4-7; the same operations as the portable fill. This file
 * alone is compiled with -mavx2; it runs only where cm_isa says so. */
#include "vrng_int.h"

#include <immintrin.h>
#include <string.h>

static inline __m256i rotl(__m256i x, int k)
{
    return _mm256_or_si256(_mm256_slli_epi64(x, k), _mm256_srli_epi64(x, 64 - k));
}

typedef struct half {
    __m256i s0, s1, s2, s3;
} half;

static inline half lanes_load(const cm_vrng *g, int h)
{
    half v = {_mm256_load_si256((const __m256i *)&g->s[0][4 * h]),
              _mm256_load_si256((const __m256i *)&g->s[1][4 * h]),
              _mm256_load_si256((const __m256i *)&g->s[2][4 * h]),
              _mm256_load_si256((const __m256i *)&g->s[3][4 * h])};
    return v;
}

static inline void lanes_store(cm_vrng *g, int h, const half *v)
{
    _mm256_store_si256((__m256i *)&g->s[0][4 * h], v->s0);
    _mm256_store_si256((__m256i *)&g->s[1][4 * h], v->s1);
    _mm256_store_si256((__m256i *)&g->s[2][4 * h], v->s2);
    _mm256_store_si256((__m256i *)&g->s[3][4 * h], v->s3);
}

/* one step of four lanes: the draws r, their values x, the accepted lanes */
static inline int step(half *v, const cm_zig_tab *z, __m256i *r, __m256d *x)
{
    const __m256i m8 = _mm256_set1_epi64x(0xff), one = _mm256_set1_epi64x(1);
    const __m256i magic = _mm256_set1_epi64x((long long)CM_TWO52_BITS);
    *r = _mm256_add_epi64(rotl(_mm256_add_epi64(v->s0, v->s3), 23), v->s0);
    __m256i tt = _mm256_slli_epi64(v->s1, 17);
    v->s2 = _mm256_xor_si256(v->s2, v->s0);
    v->s3 = _mm256_xor_si256(v->s3, v->s1);
    v->s1 = _mm256_xor_si256(v->s1, v->s2);
    v->s0 = _mm256_xor_si256(v->s0, v->s3);
    v->s2 = _mm256_xor_si256(v->s2, tt);
    v->s3 = rotl(v->s3, 45);
    __m256i i = _mm256_and_si256(*r, m8), j = _mm256_srli_epi64(*r, 12);
    __m256d w = _mm256_i64gather_pd(z->w52, i, 8);
    __m256i k = _mm256_i64gather_epi64((const long long *)z->k52, i, 8);
    __m256i ok = _mm256_cmpgt_epi64(k, j); /* both below 2^63: signed compare */
    __m256d d = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(j, magic)),
                              _mm256_set1_pd(CM_TWO52));
    __m256i sign = _mm256_slli_epi64(_mm256_and_si256(_mm256_srli_epi64(*r, 8), one), 63);
    *x = _mm256_castsi256_pd(_mm256_xor_si256(_mm256_castpd_si256(_mm256_mul_pd(d, w)), sign));
    return _mm256_movemask_pd(_mm256_castsi256_pd(ok));
}

void cm_vgauss_fill_avx2(cm_vrng *g, double *out, size_t n)
{
    const cm_zig_tab *z = cm_zig_tables();
    half a = lanes_load(g, 0), b = lanes_load(g, 1);
    for (size_t t = 0; t < n; t += CM_VLANES) {
        __m256i ra, rb;
        __m256d xa, xb;
        int ok = step(&a, z, &ra, &xa) | step(&b, z, &rb, &xb) << 4;
        double buf[CM_VLANES];
        double *dst = t + CM_VLANES <= n ? out + t : buf;
        _mm256_storeu_pd(dst, xa);
        _mm256_storeu_pd(dst + 4, xb);
        if (ok != 0xff) { /* a rejection: its lane's slow path, on that lane's state */
            uint64_t u[CM_VLANES];
            _mm256_storeu_si256((__m256i *)u, ra);
            _mm256_storeu_si256((__m256i *)(u + 4), rb);
            lanes_store(g, 0, &a);
            lanes_store(g, 1, &b);
            for (int l = 0; l < CM_VLANES; l++)
                if (!(ok >> l & 1))
                    dst[l] = cm_vgauss_slow(g, l, u[l]);
            a = lanes_load(g, 0);
            b = lanes_load(g, 1);
        }
        if (dst == buf)
            memcpy(out + t, buf, (n - t) * sizeof *out);
    }
    lanes_store(g, 0, &a);
    lanes_store(g, 1, &b);
}
