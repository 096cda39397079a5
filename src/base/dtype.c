/* Element types of tensors (tensor.h): names and conversions. Loads go
 * through memcpy (file data need not be aligned); stores round to nearest,
 * ties to even, with overflow to infinity past the largest finite value plus
 * half a step, and gradual underflow. */
#include <capmetric/tensor.h>

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const dtype_names[] = {"float16", "bfloat16", "float32", "float64"};

size_t cm_dtype_size(cm_dtype t)
{
    static const size_t sz[] = {2, 2, 4, 8};
    return (unsigned)t <= CM_DTYPE_F64 ? sz[t] : 0;
}

const char *cm_dtype_name(cm_dtype t)
{
    return (unsigned)t <= CM_DTYPE_F64 ? dtype_names[t] : "?";
}

cm_status cm_dtype_parse(const char *s, cm_dtype *out, cm_diag *d)
{
    static const char *const shortn[] = {"f16", "bf16", "f32", "f64"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, dtype_names[i]) || !strcmp(s, shortn[i])) {
            *out = (cm_dtype)i;
            return CM_OK;
        }
    return cm_diag_set(d, CM_EPARSE,
                       "unknown dtype '%s' (accepted: float16, bfloat16, float32, float64)", s);
}

/* ---- 16-bit formats ------------------------------------------------------------- */

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 0x400, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double bf16_to_double(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* x rounded to a binary format with `mb` stored mantissa bits, exponent bias
 * `bias` and all-ones exponent for Inf/NaN (`ebits` exponent bits), packed */
static uint32_t pack_small(double x, int mb, int ebits)
{
    const int bias = (1 << (ebits - 1)) - 1, emax_field = (1 << ebits) - 1;
    uint32_t s = signbit(x) ? 1u << (mb + ebits) : 0;
    if (isnan(x))
        return s | ((uint32_t)emax_field << mb) | (1u << (mb - 1));
    double a = fabs(x);
    /* largest finite (2 - 2^-mb) 2^(emax), emax = emax_field - 1 - bias; half a step above rounds up */
    double over = ldexp(2.0 - ldexp(1.0, -mb - 1), emax_field - 1 - bias);
    if (a >= over)
        return s | ((uint32_t)emax_field << mb);
    const int emin = 1 - bias; /* smallest normal exponent */
    if (a < ldexp(1.0, emin)) { /* subnormal, in units of 2^(emin - mb) */
        double q = nearbyint(ldexp(a, mb - emin)); /* 2^mb: the smallest normal, packed alike */
        return s | (uint32_t)q;
    }
    int e;
    frexp(a, &e); /* a = f 2^e, f in [0.5, 1): the leading bit is 2^(e-1) */
    double q = nearbyint(ldexp(a, mb + 1 - e)); /* in [2^mb, 2^(mb+1)] */
    if (q >= ldexp(1.0, mb + 1)) {
        q = ldexp(1.0, mb);
        e++;
    }
    uint32_t E = (uint32_t)(e - 1 + bias);
    if (E >= (uint32_t)emax_field)
        return s | ((uint32_t)emax_field << mb);
    return s | (E << mb) | ((uint32_t)q - (1u << mb));
}

CM_HOT_LOOP static void dtype_load(cm_dtype t, const void *in, double *x, size_t n)
{
    const unsigned char *p = in;
    switch (t) {
    case CM_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            x[i] = half_to_double(h);
        }
        return;
    case CM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            x[i] = bf16_to_double(h);
        }
        return;
    case CM_DTYPE_F32:
        for (size_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            x[i] = f;
        }
        return;
    case CM_DTYPE_F64: memcpy(x, in, n * sizeof *x); return;
    }
}

/* double to float without the undefined conversion of out-of-range values
 * (beyond FLT_MAX + half a step infinity, between FLT_MAX: as rounding to
 * nearest gives) */
static inline float to_float(double v)
{
    const double a = fabs(v);
    if (__builtin_expect(!(a <= FLT_MAX), 0)) {
        if (a != a)
            return (float)v;
        return (float)copysign(a >= 0x1.ffffffp127 ? INFINITY : FLT_MAX, v);
    }
    return (float)v;
}

CM_HOT_LOOP static void dtype_store(cm_dtype t, const double *x, void *out, size_t n)
{
    unsigned char *p = out;
    switch (t) {
    case CM_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)pack_small(x[i], 10, 5);
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    case CM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)pack_small(x[i], 7, 8);
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    case CM_DTYPE_F32: {
        /* in range (the usual case: checked by a vectorized maximum), a plain
         * conversion that vectorizes; else value by value */
        double m0 = 0, m1 = 0;
        size_t i = 0;
        for (; i + 2 <= n; i += 2) {
            double a0 = fabs(x[i]), a1 = fabs(x[i + 1]);
            m0 = a0 > m0 ? a0 : m0;
            m1 = a1 > m1 ? a1 : m1;
        }
        for (; i < n; i++)
            m0 = fabs(x[i]) > m0 ? fabs(x[i]) : m0;
        int plain = m0 <= FLT_MAX && m1 <= FLT_MAX; /* (a NaN's compare is false) */
        for (i = 0; i < n && plain; i++) {
            float f = (float)x[i];
            memcpy(p + 4 * i, &f, 4);
        }
        for (i = 0; i < n && !plain; i++) {
            float f = to_float(x[i]);
            memcpy(p + 4 * i, &f, 4);
        }
        return;
    }
    case CM_DTYPE_F64: memcpy(out, x, n * sizeof *x); return;
    }
}

void cm_dtype_load(cm_dtype t, const void *in, double *x, size_t n) { dtype_load(t, in, x, n); }

void cm_dtype_store(cm_dtype t, const double *x, void *out, size_t n) { dtype_store(t, x, out, n); }
