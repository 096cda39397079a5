/* Conformance: the same checks over every registered format — each family
 * with representative specs, every alias, and (when run with plugins loaded
 * through $CAPMETRIC_PLUGIN_PATH) plugin formats with their defaults.
 *
 * Policy checked here (DESIGN §5): deterministic; idempotent at unit scale;
 * outputs are grid values; monotone; nearest (no grid value is closer);
 * symmetric grids give Q(-x) = -Q(x); NaN -> NaN; +-inf saturate to the
 * extreme values (IEEE Inf codes decode to Inf); -0 keeps its sign for fp and maps to the zero level
 * otherwise; ties go to the even code; group sizes 1, odd and large give the
 * same values as one call; decode(encode(x)) == Q(x) bit for bit; every code
 * decodes to a value that encodes back to the same value. */
#include <capmetric/capmetric.h>

#include <dirent.h>

#include "../testutil.h"

static const char *const extra[] = {
    "int:bits=1", "int:bits=3,grid=symmetric", "int:bits=5,grid=twos", "int:bits=12",
    "int:bits=16,grid=twos", "fp:e=3,m=0", "fp:e=0,m=4", "fp:e=1,m=2", "fp:e=3,m=4",
    "fp:e=4,m=3,subnormals=0", "fp:e=5,m=2,special=ieee", "fp:e=2,m=3,bias=5",
    "fp:e=8,m=1", "fp:e=3,m=0,special=ieee", "lut:values=-3;-1;0.25;2", "lut:name=af4",
    "lut:name=nf4", "lloydmax:levels=2", "lloydmax:levels=7", "lloydmax:levels=64",
    "int:bits=4,scale=0.25", "e2m1:round=away", "int:bits=3,grid=symmetric,round=away",
    "int:bits=4,round=away", "e2m1:round=stochastic", "int4:round=stochastic", "e8m0",
    "fp:e=2,m=1,block=7", "mxfp4", "lut:name=af4,block=3,scale=rceil,scale_fmt=bf16",
    "sparse:density=0.3", "nm:n=3,m=7", "sparse:density=0.5,block=100", "outlier:frac=0.05",
    "vq:lattice=a2,bits=2", "vq:lattice=d4,bits=1", "vq:lattice=d4,bits=1,overload=nearest",
    "vq:kmeans,dim=2,bits=1", "vq:lattice=z,dim=3,bits=2,shape=cube",
};

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static double rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1p-53;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_spec(const cm_registry *reg, const char *spec)
{
    cm_pipeline *p = NULL;
    cm_diag d;
    if (cm_spec_parse(reg, spec, &p, &d) != CM_OK) {
        CHECK(0, "%s: does not parse: %s", spec, d.msg);
        return;
    }
    cm_plan *plan = NULL;
    if (cm_plan_alloc(p, &plan, &d) != CM_OK) {
        CHECK(0, "%s: cannot plan: %s", spec, d.msg);
        cm_pipeline_free(p);
        return;
    }
    const cm_format *f = cm_pipeline_format(p, 0);
    const void *par = cm_pipeline_params(p, 0);
    const unsigned rmode = CM_FORMAT_HAS(f, rounding) ? f->rounding(par) : CM_ROUND_NEAREST;
    /* stochastic rounding is deterministic for a given state and seed, but
     * consumes its random stream in call order, is not symmetric and has no
     * ties: those three checks apply to nearest rounding only */
    const int sr = (rmode & 0xff) == CM_ROUND_STOCHASTIC, away = (rmode & CM_ROUND_TIES_AWAY) != 0;
    /* the per-thread state the ABI promises a format that asks for one (stochastic
     * rounding is checked without one: u = 1/2, its deterministic policy; its
     * randomness is tested in test_codec) */
    void *fst = NULL;
    if (!sr && CM_FORMAT_HAS(f, state_size) && f->state_size(par)) {
        fst = calloc(1, f->state_size(par));
        if (CM_FORMAT_HAS(f, state_init))
            f->state_init(par, fst);
    }
    size_t g = cm_pipeline_group(p);
    const size_t N = 4099 * g;
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
    double *w = malloc(N * sizeof *w);
    double *lv = NULL;
    size_t k = 0;
    cm_status ls = cm_exact_pipeline_levels(p, 0, &lv, &k, &d);
    double lo = -1, hi = 1;
    if (ls == CM_OK) {
        lo = lv[0];
        hi = lv[k - 1];
    }
    double span = fmax(fabs(lo), fabs(hi));
    for (size_t i = 0; i < N; i++) {
        double sd = span * pow(10, 3 * rnd() - 2); /* from 1% to 10x the grid range */
        x[i] = (rnd() - 0.5) * 2 * sd;
    }
    /* special inputs at unit scale */
    x[0] = 0.0;
    x[1] = -0.0;
    x[2] = INFINITY;
    x[3] = -INFINITY;
    x[4] = NAN;
    x[5] = 1e300;
    x[6] = -1e-300;

    /* 1. deterministic, and 2. group sizes 1 / odd / large agree */
    f->quantize(par, fst, x, y, N);
    f->quantize(par, fst, x, z, N);
    int det = 1, grp = 1;
    for (size_t i = 0; i < N; i++)
        det &= same_bits(y[i], z[i]);
    CHECK(det, "%s: quantize is not deterministic", spec);
    for (size_t i = 0; i < N; i += g)
        f->quantize(par, fst, x + i, z + i, g);
    for (size_t i = 0; i + 7 * g <= N; i += 7 * g)
        f->quantize(par, fst, x + i, w + i, 7 * g);
    for (size_t i = 0; i < N; i++) {
        grp &= same_bits(y[i], z[i]);
        if (i < N / (7 * g) * 7 * g)
            grp &= same_bits(y[i], w[i]);
    }
    CHECK(grp, "%s: group sizes 1, 7 and %zu disagree", spec, N);

    /* NaN and infinities */
    CHECK(isnan(y[4]), "%s: NaN must stay NaN, got %g", spec, y[4]);
    if (ls == CM_OK) {
        CHECK(y[2] == hi && y[3] == lo, "%s: +-inf must saturate to %g/%g, got %g/%g", spec, hi,
              lo, y[2], y[3]);
        CHECK(y[5] == hi, "%s: 1e300 must saturate to %g, got %g", spec, hi, y[5]);
    }
    /* -0 (scalar formats: with a group > 1, y[0] and y[1] belong to one vector) */
    CHECK(g > 1 || y[0] == y[1], "%s: Q(-0) = %g differs from Q(+0) = %g", spec, y[1], y[0]);
    if (!strcmp(f->name, "fp"))
        CHECK(signbit(y[1]) && !signbit(y[0]), "%s: fp keeps the sign of zero", spec);

    if (ls == CM_OK) {
        /* 3. idempotent, 4. grid values, 5. monotone, 6. nearest, 7. symmetric */
        f->quantize(par, fst, y, z, N);
        int idem = 1, ongrid = 1, nearest = 1, sym = 1, mono = 1;
        int symgrid = 1;
        for (size_t i = 0; i < k; i++)
            symgrid &= lv[i] == -lv[k - 1 - i];
        for (size_t i = 0; i < N; i++) {
            if (isnan(x[i]))
                continue;
            idem &= same_bits(y[i], z[i]);
            size_t a = 0, b = k; /* bisection for y in lv */
            while (a < b) {
                size_t m = (a + b) / 2;
                if (lv[m] < y[i])
                    a = m + 1;
                else
                    b = m;
            }
            ongrid &= a < k && lv[a] == y[i];
            if (isfinite(x[i]) && a < k) {
                double e = fabs(x[i] - y[i]);
                if (a > 0)
                    nearest &= e <= fabs(x[i] - lv[a - 1]);
                if (a + 1 < k)
                    nearest &= e <= fabs(x[i] - lv[a + 1]);
            }
        }
        for (size_t i = 0; i < N; i++)
            w[i] = -x[i];
        f->quantize(par, fst, w, z, N);
        /* exact ties (e.g. x = 0 in an even-sized grid) go to the even code
         * on both sides, so they are the one place symmetry cannot hold */
        for (size_t i = 0; symgrid && !sr && i < N; i++)
            if (!isnan(x[i]) && x[i] != 0.0)
                sym &= z[i] == -y[i];
        for (size_t i = 0; i < 2000; i++) {
            double t = lo - 1 + (hi - lo + 2) * (double)i / 2000, qa, qb;
            double t2 = t + (hi - lo + 2) / 2000;
            f->quantize(par, fst, &t, &qa, 1);
            f->quantize(par, fst, &t2, &qb, 1);
            mono &= qa <= qb;
        }
        CHECK(idem, "%s: quantizing twice differs from once", spec);
        CHECK(ongrid, "%s: an output is not a grid value", spec);
        CHECK(nearest, "%s: an output is not the nearest grid value", spec);
        CHECK(sym, "%s: symmetric grid but Q(-x) != -Q(x)", spec);
        CHECK(mono, "%s: quantize is not monotone", spec);
    }

    /* 8. codecs */
    if (f->encode && f->decode) {
        uint64_t *c = malloc(N * sizeof *c);
        size_t finite = 0;
        for (size_t i = 0; i < N; i++)
            if (!isnan(x[i]))
                w[finite++] = x[i];
        CHECK(f->encode(par, w, c, finite) == CM_OK, "%s: encode failed", spec);
        CHECK(f->decode(par, c, z, finite) == CM_OK, "%s: decode failed", spec);
        f->quantize(par, fst, w, y, finite);
        int rt = 1;
        for (size_t i = 0; i < finite; i++)
            rt &= same_bits(y[i], z[i]);
        CHECK(rt, "%s: decode(encode(x)) != quantize(x)", spec);
        /* ties between neighbouring levels go to the even code */
        if (ls == CM_OK && !sr) {
            /* ties: the even code (fp: the even mantissa, checked below), or
             * away from zero with CM_ROUND_TIES_AWAY */
            int ok = 1;
            for (size_t i = 0; i + 1 < k && i < 4000; i++) {
                double mid = 0.5 * (lv[i] + lv[i + 1]), q;
                uint64_t code;
                f->encode(par, &mid, &code, 1);
                f->quantize(par, fst, &mid, &q, 1);
                if (away)
                    ok &= fabs(q) >= fabs(mid);
                else if (strcmp(f->name, "fp") != 0)
                    ok &= (code & 1) == 0;
            }
            CHECK(ok, "%s: a tie did not go to the %s", spec,
                  away ? "value farther from zero" : "even code");
        }
        /* exhaustive: every code decodes to a value that encodes back to it */
        double bits = f->bits_per_value(par);
        if (bits <= 17) {
            uint64_t ncode = (uint64_t)1 << (uint64_t)ceil(bits);
            size_t bad = 0, checked = 0;
            for (uint64_t code = 0; code < ncode; code++) {
                double v, v2;
                uint64_t back;
                /* NaN codes have no value; +-Inf codes decode to +-Inf but
                 * encoding +-Inf saturates (overflow=saturate) */
                if (f->decode(par, &code, &v, 1) != CM_OK || !isfinite(v))
                    continue;
                checked++;
                if (f->encode(par, &v, &back, 1) != CM_OK || f->decode(par, &back, &v2, 1) ||
                    !same_bits(v, v2))
                    bad++;
            }
            CHECK(bad == 0 && checked > 0, "%s: %zu of %zu codes do not round-trip", spec, bad,
                  checked);
        }
        if (!strcmp(f->name, "fp") && ls == CM_OK && bits <= 9 && !sr && !away) {
            /* fp ties: halfway between neighbours the even mantissa wins */
            size_t odd = 0;
            for (size_t i = 0; i + 1 < k; i++) {
                if (lv[i] == lv[i + 1])
                    continue;
                double mid = 0.5 * (lv[i] + lv[i + 1]), q;
                f->quantize(par, fst, &mid, &q, 1);
                uint64_t code;
                f->encode(par, &q, &code, 1);
                const char *m = strstr(cm_pipeline_canonical(p), ",m=");
                if (m && atoi(m + 3) >= 1)
                    odd += code & 1;
            }
            CHECK(odd == 0, "%s: %zu ties went to an odd mantissa", spec, odd);
        }
        free(c);
    }
    /* the pipeline with its scale also handles group sizes identically */
    cm_pipeline_state *st;
    if (!sr && cm_plan_state_alloc(plan, 1024, &st, &d) == CM_OK) {
        cm_pipeline_apply(p, st, x, y, N);
        int same = 1;
        for (size_t i = 0; i < N; i += g) {
            cm_pipeline_apply(p, st, x + i, z + i, g);
        }
        for (size_t i = 0; i < N; i++)
            same &= same_bits(y[i], z[i]) || (isnan(y[i]) && isnan(z[i]));
        CHECK(same, "%s: pipeline apply depends on the call size", spec);
        cm_pipeline_state_free(p, st);
    }
    if (fst && CM_FORMAT_HAS(f, state_fini))
        f->state_fini(par, fst);
    free(fst);
    free(lv);
    free(x);
    free(y);
    free(z);
    free(w);
    cm_plan_free(plan);
    cm_pipeline_free(p);
}

int main(void)
{
    cm_registry *reg;
    cm_diag d;
    if (cm_registry_alloc(&reg, &d))
        return 99;
    /* plugins on $CAPMETRIC_PLUGIN_PATH join the suite */
    const char *pp = getenv("CAPMETRIC_PLUGIN_PATH");
    if (pp && *pp) {
        DIR *dh = opendir(pp);
        struct dirent *e;
        while (dh && (e = readdir(dh))) {
            size_t l = strlen(e->d_name);
            if (l > 3 && !strcmp(e->d_name + l - 3, ".so")) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", pp, e->d_name);
                CHECK(cm_registry_load_plugin(reg, path, &d) == CM_OK, "plugin %s: %s", path,
                      d.msg);
            }
        }
        if (dh)
            closedir(dh);
    }
    int tested = 0;
    for (size_t i = 0; i < cm_registry_count(reg); i++) {
        const cm_format *f = cm_registry_get(reg, i, NULL);
        cm_pipeline *p = NULL;
        if (cm_spec_parse(reg, f->name, &p, &d) == CM_OK) { /* defaults, if it has them */
            cm_pipeline_free(p);
            check_spec(reg, f->name);
            tested++;
        }
    }
    for (size_t i = 0; i < cm_registry_alias_count(reg); i++) {
        check_spec(reg, cm_registry_alias_get(reg, i, NULL)->name);
        tested++;
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        check_spec(reg, extra[i]);
        tested++;
    }
    printf("conformance over %d specs\n", tested);
    cm_registry_free(reg);
    return t_done("conformance");
}
