/* The Monte-Carlo engine's Gaussian generator for vector lanes (vrng_int.h):
 * seeding, the portable fill that defines the stream, and the ziggurat's
 * slow path that every fill shares. */
#include "vrng_int.h"

#include <math.h>
#include <string.h>

/* SplitMix64 (Steele, Lea & Flood 2014), as xoshiro's authors seed it */
static uint64_t splitmix(uint64_t *z)
{
    uint64_t x = (*z += UINT64_C(0x9e3779b97f4a7c15));
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

void cm_vrng_stream(cm_vrng *g, uint64_t seed, uint64_t stream)
{
    uint64_t z = seed;
    uint64_t a = splitmix(&z);
    z = a ^ (stream * UINT64_C(0xd1342543de82ef95)) ^ UINT64_C(0x5851f42d4c957f2d);
    (void)splitmix(&z);
    z ^= stream;
    for (int l = 0; l < CM_VLANES; l++) {
        for (int w = 0; w < 4; w++)
            g->s[w][l] = splitmix(&z);
        if (!(g->s[0][l] | g->s[1][l] | g->s[2][l] | g->s[3][l]))
            g->s[0][l] = 1; /* xoshiro's one forbidden state */
    }
}

static inline double lane_uniform(cm_vrng *g, int l)
{
    return (double)(int64_t)(cm_vrng_lane_next(g, l) >> 11) * 0x1p-53;
}

/* the fast path of one draw: its value, and whether the test accepted it */
static inline double fast(const cm_zig_tab *z, uint64_t u, int *ok)
{
    unsigned i = (unsigned)(u & 0xff);
    uint64_t j = u >> 12, b = CM_TWO52_BITS | j, sb;
    double d, x;
    memcpy(&d, &b, sizeof d);
    x = (d - CM_TWO52) * z->w52[i]; /* j exactly, times the layer's width */
    memcpy(&sb, &x, sizeof sb);
    sb ^= ((u >> 8) & 1u) << 63;
    memcpy(&x, &sb, sizeof x);
    *ok = j < z->k52[i];
    return x;
}

double cm_vgauss_slow(cm_vrng *g, int l, uint64_t u)
{
    const cm_zig_tab *z = cm_zig_tables();
    for (;;) {
        unsigned i = (unsigned)(u & 0xff);
        int ok;
        double x = fast(z, u, &ok), a = fabs(x);
        if (ok)
            return x;
        if (i == 0) { /* the tail beyond r (Marsaglia 1964) */
            double xt, yt;
            do {
                xt = -log(1.0 - lane_uniform(g, l)) / z->r;
                yt = -log(1.0 - lane_uniform(g, l));
            } while (2.0 * yt < xt * xt);
            return copysign(z->r + xt, x);
        }
        /* the wedge between f(x[i]) and f(x[i+1]) */
        double y = z->f[i] + lane_uniform(g, l) * (z->f[i + 1] - z->f[i]);
        if (y < exp(-0.5 * a * a))
            return x;
        u = cm_vrng_lane_next(g, l);
    }
}

void cm_vgauss_fill_scalar(cm_vrng *g, double *out, size_t n)
{
    const cm_zig_tab *z = cm_zig_tables();
    for (size_t t = 0; t < n; t += CM_VLANES)
        for (int l = 0; l < CM_VLANES; l++) {
            uint64_t u = cm_vrng_lane_next(g, l);
            int ok;
            double x = fast(z, u, &ok);
            if (!ok)
                x = cm_vgauss_slow(g, l, u);
            if (t + (size_t)l < n)
                out[t + (size_t)l] = x;
        }
}

