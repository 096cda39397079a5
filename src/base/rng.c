/* PCG generators (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation") and a 256-layer
 * ziggurat for N(0,1) (Marsaglia & Tsang 2000, J. Stat. Softw. 5(8)). */
#include <capmetric/rng.h>

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "vrng_int.h"

/* 128-bit arithmetic: GCC/Clang's unsigned __int128 (marked as an extension
 * so that -Wpedantic accepts it). */
__extension__ typedef unsigned __int128 u128;

/* Multipliers of the reference library (pcg_variants.h). */
#define PCG32_MULT UINT64_C(6364136223846793005)
#define PCG64_MULT_HI UINT64_C(2549297995355413924)
#define PCG64_MULT_LO UINT64_C(4865540595714422341)

static inline u128 mk128(uint64_t hi, uint64_t lo) { return ((u128)hi << 64) | lo; }

void cm_pcg32_seed(cm_pcg32 *g, uint64_t initstate, uint64_t initseq)
{
    g->state = 0;
    g->inc = (initseq << 1) | 1u;
    (void)cm_pcg32_next(g);
    g->state += initstate;
    (void)cm_pcg32_next(g);
}

uint32_t cm_pcg32_next(cm_pcg32 *g)
{
    uint64_t old = g->state;
    g->state = old * PCG32_MULT + g->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    unsigned rot = (unsigned)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

static inline void pcg64_step(cm_pcg64 *g)
{
    u128 s = mk128(g->state_hi, g->state_lo);
    s = s * mk128(PCG64_MULT_HI, PCG64_MULT_LO) + mk128(g->inc_hi, g->inc_lo);
    g->state_hi = (uint64_t)(s >> 64);
    g->state_lo = (uint64_t)s;
}

void cm_pcg64_seed(cm_pcg64 *g, uint64_t state_hi, uint64_t state_lo, uint64_t seq_hi,
                   uint64_t seq_lo)
{
    u128 inc = (mk128(seq_hi, seq_lo) << 1) | 1u;
    g->state_hi = g->state_lo = 0;
    g->inc_hi = (uint64_t)(inc >> 64);
    g->inc_lo = (uint64_t)inc;
    pcg64_step(g);
    u128 s = mk128(g->state_hi, g->state_lo) + mk128(state_hi, state_lo);
    g->state_hi = (uint64_t)(s >> 64);
    g->state_lo = (uint64_t)s;
    pcg64_step(g);
}

/* XSL RR output of the state after the step, as pcg64_random_r does.
 * Static inline so the ziggurat loop keeps the state in registers. */
static inline uint64_t pcg64_next(cm_pcg64 *g)
{
    pcg64_step(g);
    uint64_t v = g->state_hi ^ g->state_lo;
    unsigned rot = (unsigned)(g->state_hi >> 58);
    return (v >> rot) | (v << ((-rot) & 63u));
}

uint64_t cm_pcg64_next(cm_pcg64 *g) { return pcg64_next(g); }

/* SplitMix64 finalizer (Steele, Lea & Flood 2014): spreads (seed, stream)
 * over the 128-bit start state so that nearby seeds give unrelated states. */
static uint64_t mix64(uint64_t z)
{
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void cm_pcg64_stream(cm_pcg64 *g, uint64_t seed, uint64_t stream)
{
    uint64_t hi = mix64(seed ^ mix64(stream));
    uint64_t lo = mix64(hi ^ seed ^ UINT64_C(0x632be59bd9b4e019));
    cm_pcg64_seed(g, hi, lo, seed, stream);
}

static inline double uniform01(cm_pcg64 *g) { return (double)(int64_t)(pcg64_next(g) >> 11) * 0x1p-53; }

double cm_uniform01(cm_pcg64 *g) { return uniform01(g); }

/* ---- ziggurat ----------------------------------------------------------
 * Unnormalized density f(x) = exp(-x^2/2) on x >= 0, cut into ZN layers of
 * equal area v. Layer 0 is the base strip [0, x[0]] x [0, f(r)] whose part
 * beyond r is the tail; layer i >= 1 spans heights f(x[i])..f(x[i+1]) and
 * widths [0, x[i]]; x[1] = r, x[ZN] = 0. r is solved here from the closure
 * condition rather than copied, so the tables follow from ZN alone. */
#define ZN 256

static struct {
    double x[ZN + 1];   /* layer right edges */
    double f[ZN + 1];   /* f(x[i]) */
    double w[ZN];       /* x[i] * 2^-53: scales a 53-bit integer to [0, x[i]) */
    uint64_t k[ZN];     /* accept fast if the 53-bit integer < k[i] */
    double r;
} zig;

static cm_zig_tab ztab; /* the same layers for the vector generator (vrng.c) */

static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static double tail_area(double r) { return sqrt(M_PI / 2.0) * erfc(r / sqrt(2.0)); }

/* Build the layers for a given r; return the top-layer area mismatch. */
static double zig_build(double r)
{
    double v = r * exp(-0.5 * r * r) + tail_area(r);
    zig.x[0] = v / exp(-0.5 * r * r);
    zig.x[1] = r;
    for (int i = 1; i < ZN - 1; i++) {
        double y = v / zig.x[i] + exp(-0.5 * zig.x[i] * zig.x[i]);
        if (y >= 1.0)
            return 1.0; /* layers too thick: r too small */
        zig.x[i + 1] = sqrt(-2.0 * log(y));
    }
    /* top layer [0, x[ZN-1]] x [f(x[ZN-1]), 1] must have area v too */
    double top = zig.x[ZN - 1] * (1.0 - exp(-0.5 * zig.x[ZN - 1] * zig.x[ZN - 1]));
    return v - top;
}

static void zig_init(void)
{
    double lo = 2.5, hi = 5.0; /* bracket of r for ZN = 256 */
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (zig_build(mid) > 0)
            lo = mid;
        else
            hi = mid;
    }
    zig.r = 0.5 * (lo + hi);
    (void)zig_build(zig.r);
    zig.x[ZN] = 0.0;
    for (int i = 0; i <= ZN; i++)
        zig.f[i] = exp(-0.5 * zig.x[i] * zig.x[i]);
    zig.f[0] = zig.f[1]; /* the base strip's height is f(r) */
    for (int i = 0; i < ZN; i++) {
        zig.w[i] = zig.x[i] * 0x1p-53;
        zig.k[i] = (uint64_t)(zig.x[i + 1] / zig.x[i] * 0x1p53);
    }
    memcpy(ztab.x, zig.x, sizeof ztab.x);
    memcpy(ztab.f, zig.f, sizeof ztab.f);
    for (int i = 0; i < ZN; i++) {
        ztab.w52[i] = zig.x[i] * 0x1p-52;
        ztab.k52[i] = (uint64_t)(zig.x[i + 1] / zig.x[i] * 0x1p52);
    }
    ztab.r = zig.r;
}

const cm_zig_tab *cm_zig_tables(void)
{
    pthread_once(&zig_once, zig_init);
    return &ztab;
}

/* The slow path: u was rejected by the fast test in layer i. */
static double zig_slow(cm_pcg64 *g, uint64_t u)
{
    for (;;) {
        unsigned i = (unsigned)(u & 0xff);
        int neg = (int)((u >> 8) & 1u);
        uint64_t j = u >> 11;
        double x = (double)j * zig.w[i];
        if (j < zig.k[i])
            return neg ? -x : x;
        if (i == 0) {
            /* tail beyond r (Marsaglia 1964) */
            double xt, yt;
            do {
                xt = -log(1.0 - uniform01(g)) / zig.r;
                yt = -log(1.0 - uniform01(g));
            } while (2.0 * yt < xt * xt);
            x = zig.r + xt;
            return neg ? -x : x;
        }
        /* wedge between f(x[i]) and f(x[i+1]) */
        double y = zig.f[i] + uniform01(g) * (zig.f[i + 1] - zig.f[i]);
        if (y < exp(-0.5 * x * x))
            return neg ? -x : x;
        u = pcg64_next(g);
    }
}

void cm_gauss_fill(cm_pcg64 *g, double *out, size_t n)
{
    pthread_once(&zig_once, zig_init);
    /* Local copy of the state: lets the compiler keep it in registers. */
    cm_pcg64 s = *g;
    for (size_t t = 0; t < n; t++) {
        uint64_t u = pcg64_next(&s);
        unsigned i = (unsigned)(u & 0xff);
        uint64_t j = u >> 11;
        double x = (double)(int64_t)j * zig.w[i]; /* j < 2^53: signed convert is one instruction */
        if (__builtin_expect(j < zig.k[i], 1)) {
            out[t] = (u & 0x100) ? -x : x;
        } else {
            out[t] = zig_slow(&s, u);
        }
    }
    *g = s;
}

double cm_gauss(cm_pcg64 *g)
{
    double v;
    cm_gauss_fill(g, &v, 1);
    return v;
}
