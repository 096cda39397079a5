/* The Gaussian fill of vrng_int.h with AVX-512F: one 512-bit vector holds
 * word w of the eight lanes; the same operations as the portable fill. This
 * file alone is compiled with -mavx512f; it runs only where cm_isa says so. */
#include "vrng_int.h"

#include <immintrin.h>
#include <string.h>

void cm_vgauss_fill_avx512(cm_vrng *g, double *out, size_t n)
{
    const cm_zig_tab *z = cm_zig_tables();
    __m512i s0 = _mm512_load_si512(g->s[0]), s1 = _mm512_load_si512(g->s[1]);
    __m512i s2 = _mm512_load_si512(g->s[2]), s3 = _mm512_load_si512(g->s[3]);
    const __m512i m8 = _mm512_set1_epi64(0xff), one = _mm512_set1_epi64(1);
    const __m512i magic = _mm512_set1_epi64((long long)CM_TWO52_BITS);
    const __m512d two52 = _mm512_set1_pd(CM_TWO52);
    for (size_t t = 0; t < n; t += CM_VLANES) {
        __m512i r = _mm512_add_epi64(_mm512_rol_epi64(_mm512_add_epi64(s0, s3), 23), s0);
        __m512i tt = _mm512_slli_epi64(s1, 17);
        s2 = _mm512_xor_si512(s2, s0);
        s3 = _mm512_xor_si512(s3, s1);
        s1 = _mm512_xor_si512(s1, s2);
        s0 = _mm512_xor_si512(s0, s3);
        s2 = _mm512_xor_si512(s2, tt);
        s3 = _mm512_rol_epi64(s3, 45);
        __m512i i = _mm512_and_si512(r, m8), j = _mm512_srli_epi64(r, 12);
        __m512d w = _mm512_i64gather_pd(i, z->w52, 8);
        __m512i k = _mm512_i64gather_epi64(i, (const long long *)z->k52, 8);
        __mmask8 ok = _mm512_cmplt_epu64_mask(j, k);
        __m512d d = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(j, magic)), two52);
        __m512i sign = _mm512_slli_epi64(_mm512_and_si512(_mm512_srli_epi64(r, 8), one), 63);
        __m512d x = _mm512_castsi512_pd(
            _mm512_xor_si512(_mm512_castpd_si512(_mm512_mul_pd(d, w)), sign));
        double buf[CM_VLANES];
        double *dst = t + CM_VLANES <= n ? out + t : buf;
        _mm512_storeu_pd(dst, x);
        if (ok != 0xff) { /* a rejection: its lane's slow path, on that lane's state */
            uint64_t u[CM_VLANES];
            _mm512_storeu_si512(u, r);
            _mm512_store_si512(g->s[0], s0);
            _mm512_store_si512(g->s[1], s1);
            _mm512_store_si512(g->s[2], s2);
            _mm512_store_si512(g->s[3], s3);
            for (int l = 0; l < CM_VLANES; l++)
                if (!(ok >> l & 1))
                    dst[l] = cm_vgauss_slow(g, l, u[l]);
            s0 = _mm512_load_si512(g->s[0]);
            s1 = _mm512_load_si512(g->s[1]);
            s2 = _mm512_load_si512(g->s[2]);
            s3 = _mm512_load_si512(g->s[3]);
        }
        if (dst == buf)
            memcpy(out + t, buf, (n - t) * sizeof *out);
    }
    _mm512_store_si512(g->s[0], s0);
    _mm512_store_si512(g->s[1], s1);
    _mm512_store_si512(g->s[2], s2);
    _mm512_store_si512(g->s[3], s3);
}
