/* Vector quantization.
 *  - the lattice decoders reproduce the normalized second moments G of
 *    tests/anchors/gaussian.json (bounds_and_lattices, Conway & Sloane) on
 *    input uniform over a union of fundamental regions, within 4 SE;
 *  - k-means in dimension 1 is Lloyd-Max (within 4 SE);
 *  - at 2 bits, dimensions 2, 4 and 8 beat scalar Lloyd-Max (paired z < -4);
 *  - the Z lattice with cube shaping is the scalar midrise grid, value for value;
 *  - codebook files and their refusals; the k-means cache. */
#include <capmetric/capmetric.h>

#include <sys/stat.h>
#include <unistd.h>

#include "../testutil.h"

int cm_vq_lattice_decode(const char *name, const double *x, double *c);

static cm_registry *reg;
static cJSON *gauss;
static char tmpdir[] = "/tmp/cm_vq_XXXXXX";

static void second_moments(void)
{
    struct {
        const char *name, *anchor;
        size_t d;
        double vol;
        double box[8]; /* a box that is a union of fundamental regions */
    } L[] = {
        {"z", "bounds_and_lattices.normalized_second_moment_G.Z", 1, 1, {1}},
        {"a2", "bounds_and_lattices.normalized_second_moment_G.A2", 2, 0.8660254037844386,
         {1, 1.7320508075688772}},
        {"d4", "bounds_and_lattices.normalized_second_moment_G.D4", 4, 2, {2, 2, 2, 2}},
        {"e8", "bounds_and_lattices.normalized_second_moment_G.E8", 8, 1,
         {2, 2, 2, 2, 2, 2, 2, 2}},
    };
    cm_pcg64 g;
    cm_pcg64_stream(&g, 8, 8);
    for (int l = 0; l < 4; l++) {
        const size_t n = 1 << 20, d = L[l].d;
        double s = 0, s2 = 0, x[8], c[8];
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < d; k++)
                x[k] = (cm_uniform01(&g) - 0.5) * L[l].box[k] * 3; /* 3 periods per axis */
            cm_vq_lattice_decode(L[l].name, x, c);
            double e = 0;
            for (size_t k = 0; k < d; k++)
                e += (x[k] - c[k]) * (x[k] - c[k]);
            e /= (double)d;
            s += e;
            s2 += e * e;
        }
        double m = s / (double)n, se = sqrt((s2 / (double)n - m * m) / (double)n);
        double norm = pow(L[l].vol, 2.0 / (double)d), ref = t_num(gauss, L[l].anchor);
        CHECK_NEAR(m / norm, ref, 4 * se / norm + t_digits_tol(ref), L[l].anchor);
    }
}

static cm_plan *parse(const char *spec) { return t_parse(reg, spec); }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void against_scalar(void)
{
    const char *specs[] = {"lloydmax:levels=4", "vq:kmeans,dim=1,bits=2", "vq:kmeans,dim=2,bits=2",
                           "vq:kmeans,dim=4,bits=2", "vq:lattice=e8,bits=2,overload=radial",
                           "vq:lattice=z,dim=2,bits=3,shape=cube,scale=0.5", "int:bits=3,scale=0.5"};
    cm_plan *p[7];
    for (int i = 0; i < 7; i++)
        p[i] = parse(specs[i]);
    cm_mc_opts o = {.samples = 1u << 22, .seed = 77, .threads = 2};
    cm_mc_run *r;
    cm_diag d;
    CHECK(cm_mc_run_alloc(p, 7, &o, &r, &d) == CM_OK, "mc: %s", d.msg);
    double lm, m, se, diff, dse;
    cm_exact_gmse(p[0], &lm, &d);
    cm_mc_gmse(r, 1, &m, &se);
    CHECK(fabs(m - lm) <= 4 * se, "k-means dim 1 %.6g vs Lloyd-Max %.6g (se %.2g)", m, lm, se);
    for (int i = 2; i <= 4; i++) {
        cm_mc_diff(r, (size_t)i, 0, &diff, &dse);
        CHECK(diff / dse < -4, "%s beats Lloyd-Max 2 bits: difference %.4g, z = %.1f", specs[i],
              diff, diff / dse);
    }
    double a, b;
    cm_mc_gmse(r, 5, &a, &se);
    cm_mc_gmse(r, 6, &b, &se);
    CHECK(fabs(a - b) <= 1e-12 * b, "Z lattice, cube shaping = scalar midrise grid: %.15g vs %.15g",
          a, b);
    CHECK(cm_pipeline_bits(t_pipe(p[4])) == 2 && cm_pipeline_group(t_pipe(p[4])) == 8, "e8: 2 bits, group 8");
    CHECK(cm_exact_gmse(p[4], &a, &d) == CM_EUNSUPPORTED, "VQ has no exact path (Monte Carlo)");
    cm_mc_run_free(r);
    for (int i = 0; i < 7; i++)
        t_free(p[i]);
}

static char *write_tmp(const char *name, const char *content)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    return path;
}

static void bad(const char *spec, cm_status want, const char *msg)
{
    cm_pipeline *p = NULL;
    cm_diag d;
    cm_status s = cm_spec_parse(reg, spec, &p, &d);
    CHECK(s == want && strstr(d.msg, msg), "'%s': status %d (want %d), message '%s' lacks '%s'",
          spec, s, want, d.msg, msg);
    cm_pipeline_free(p);
}

static void files_and_refusals(void)
{
    char spec[800];
    snprintf(spec, sizeof spec, "vq:file=%s",
             write_tmp("cb.json", "{\"dim\": 2, \"codewords\": [[1, 1], [-1, -1], [1, -1], [-1, 1]]}"));
    cm_plan *p = parse(spec);
    CHECK(cm_pipeline_bits(t_pipe(p)) == 1.0 && cm_pipeline_group(t_pipe(p)) == 2, "file codebook: 1 bit, dim 2");
    t_free(p);
    /* the 4-point file codebook at the same scale is 1-bit scalar sign quantization per axis */
    char s1[900];
    snprintf(s1, sizeof s1, "vq:file=%s/cb.json,scale=0.7978845608028654", tmpdir);
    p = parse(s1);
    cm_plan *q = parse("int:bits=1,scale=1.5957691216057308");
    cm_plan *pq[2] = {p, q};
    cm_mc_opts o = {.samples = 1u << 20, .seed = 3, .threads = 1};
    cm_mc_run *r;
    cm_diag d;
    cm_mc_run_alloc(pq, 2, &o, &r, &d);
    double a, b, se;
    cm_mc_gmse(r, 0, &a, &se);
    cm_mc_gmse(r, 1, &b, &se);
    CHECK(fabs(a - b) <= 1e-12 * b, "file codebook {+-1}^2 = sign quantizer: %.15g vs %.15g", a, b);
    cm_mc_run_free(r);
    t_free(p);
    t_free(q);

    snprintf(spec, sizeof spec, "vq:file=%s", write_tmp("shape.json", "{\"dim\": 2, \"codewords\": [[1, 1], [1]]}"));
    bad(spec, CM_EPARSE, "codeword 2 does not have 2 numbers");
    snprintf(spec, sizeof spec, "vq:file=%s", write_tmp("nan.json", "{\"dim\": 1, \"codewords\": [[1], [\"nan\"]]}"));
    bad(spec, CM_EPARSE, "not a finite number");
    snprintf(spec, sizeof spec, "vq:file=%s", write_tmp("dup.json", "{\"dim\": 1, \"codewords\": [[1], [2], [1]]}"));
    bad(spec, CM_EINVAL, "appears twice");
    snprintf(spec, sizeof spec, "vq:file=%s", write_tmp("nodim.json", "{\"codewords\": [[1], [2]]}"));
    bad(spec, CM_EPARSE, "must hold {\"dim\"");
    snprintf(spec, sizeof spec, "vq:file=%s", write_tmp("broken.json", "{\"dim\": 1,\n \"codewords\": [[1]"));
    bad(spec, CM_EPARSE, "not valid JSON (line 2");
    bad("vq:file=/nonexistent/cb.json", CM_EIO, "cannot open");
    bad("vq:lattice=e8,bits=4", CM_ERANGE, "MiB of codebook");
    bad("vq:codebook=kmeans,dim=16,bits=2", CM_ERANGE, "codewords");
    bad("vq:lattice=e8,dim=4", CM_EINVAL, "lattice e8 has dimension 8");
    bad("vq:lattice=z", CM_EINVAL, "give dim=");
    bad("vq", CM_EINVAL, "give exactly one of");
    bad("vq:lattice=d4,codebook=kmeans", CM_EINVAL, "give exactly one of");
    bad("vq:lattice=leech", CM_EPARSE, "none|z|a2|d4|e8");
    bad("vq:lattice=z,dim=3,bits=0.5", CM_ERANGE, "whole number of codewords");
}

static void cache(void)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/cache", tmpdir);
    setenv("CAPMETRIC_CACHE_DIR", dir, 1);
    const char *spec = "vq:kmeans,dim=2,bits=2,seed=7,scale=1";
    double x[64], y1[64], y2[64];
    cm_pcg64 g;
    cm_pcg64_stream(&g, 1, 1);
    cm_gauss_fill(&g, x, 64);
    for (int pass = 0; pass < 2; pass++) {
        cm_plan *p = parse(spec);
        cm_pipeline_state *st;
        cm_diag d;
        cm_plan_state_alloc(p, 64, &st, &d);
        cm_pipeline_apply(t_pipe(p), st, x, pass ? y2 : y1, 64);
        cm_pipeline_state_free(t_pipe(p), st);
        t_free(p);
    }
    CHECK(memcmp(y1, y2, sizeof y1) == 0, "trained and cached codebooks quantize alike");
    struct stat sb;
    char path[900];
    snprintf(path, sizeof path, "%s/kmeans-v2-d2-k16-s7.json", dir);
    CHECK(stat(path, &sb) == 0, "the codebook is cached at %s", path);
    setenv("CAPMETRIC_CACHE_DIR", "/proc/nonexistent", 1); /* unwritable: still works */
    cm_plan *p = parse("vq:kmeans,dim=1,bits=1,seed=9");
    t_free(p);
}

/* k-means in one dimension converges to Lloyd-Max: its codebook (read from the
 * cache), as a lookup table, has an exact GMSE within 0.25 % of Lloyd-Max's (it
 * trailed by 1.1 % at 32 codewords, 3.6 % at 128 and 12.4 % at 256). */
static void kmeans_1d_is_lloyd_max(void)
{
    const int bits[] = {5, 7, 8};
    char cdir[700];
    snprintf(cdir, sizeof cdir, "%s/cache0", tmpdir);
    setenv("CAPMETRIC_CACHE_DIR", cdir, 1);
    for (int i = 0; i < 3; i++) {
        char spec[96], path[800], lut[900];
        size_t K = (size_t)1 << bits[i];
        snprintf(spec, sizeof spec, "vq:kmeans,dim=1,bits=%d", bits[i]);
        t_free(parse(spec)); /* trains and caches the codebook */
        snprintf(path, sizeof path, "%s/cache0/kmeans-v2-d1-k%zu-s1.json", tmpdir, K);
        cJSON *doc = NULL;
        FILE *f = fopen(path, "r");
        char *text = NULL;
        size_t len = 0;
        if (f) {
            text = malloc(1 << 20);
            len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
            fclose(f);
        }
        if (text) {
            text[len] = 0;
            doc = cJSON_Parse(text);
            free(text);
        }
        CHECK(doc != NULL, "no cached codebook %s", path);
        if (!doc)
            continue;
        snprintf(path, sizeof path, "%s/km.json", tmpdir);
        f = fopen(path, "w");
        fputs("{\"values\": [", f);
        double *v = malloc(K * sizeof *v);
        size_t n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "codewords")) v[n++] = e->valuedouble;
        qsort(v, n, sizeof *v, cmp_d);
        for (size_t j = 0; j < n; j++)
            fprintf(f, "%s%.17g", j ? ", " : "", v[j]);
        fputs("]}", f);
        fclose(f);
        free(v);
        cJSON_Delete(doc);
        snprintf(lut, sizeof lut, "lut:file=%s", path);
        snprintf(spec, sizeof spec, "lloydmax:levels=%zu", K);
        cm_plan *a = parse(lut), *b = parse(spec);
        double ga = 0, gb = 0;
        cm_diag d;
        CHECK(cm_exact_gmse(a, &ga, &d) == CM_OK && cm_exact_gmse(b, &gb, &d) == CM_OK &&
                  ga <= gb * 1.0025,
              "k-means 1-D with %zu codewords: %.6g vs Lloyd-Max %.6g (%+.3f %%)", K, ga, gb,
              100 * (ga / gb - 1));
        t_free(a);
        t_free(b);
    }
}

/* The z lattice in one dimension is the midrise integer grid: at every rate it
 * accepts, each value goes to floor(x) + 1/2 clamped to the 2^B levels (its
 * keys once wrapped past coordinate 63.5: 9-bit GMSE 0.68 instead of 2.4e-5). */
static void z_lattice_every_rate(void)
{
    enum { N = 2048 };
    double x[N], y[N];
    for (int B = 1; B <= 16; B++) { /* every rate vq accepts in one dimension */
        char spec[96];
        snprintf(spec, sizeof spec, "vq:lattice=z,dim=1,bits=%d,scale=1", B);
        cm_plan *p = parse(spec);
        double top = ldexp(1.0, B - 1) - 0.5;
        for (int i = 0; i < N; i++) /* across the whole range and beyond, never on a tie */
            x[i] = (i - N / 2) * (2.3 * top / (N / 2)) + 0.25 + 1e-3 * (i % 7);
        cm_pipeline_state *st;
        cm_diag d;
        CHECK(cm_plan_state_alloc(p, N, &st, &d) == CM_OK, "%s: %s", spec, d.msg);
        cm_pipeline_apply(t_pipe(p), st, x, y, N);
        int wrong = 0;
        for (int i = 0; i < N; i++) {
            double want = floor(x[i]) + 0.5;
            want = want > top ? top : want < -top ? -top : want;
            wrong += y[i] != want;
        }
        CHECK(wrong == 0, "%s: %d of %d values off the midrise grid", spec, wrong, N);
        cm_pipeline_state_free(t_pipe(p), st);
        t_free(p);
    }
}

/* Codebooks larger than the distance scratch are searched in chunks (they
 * overflowed it): every vector gets its nearest codeword, checked by brute force. */
static void large_codebook(void)
{
    const size_t K = 66000; /* > SEARCH_BLOCK codewords of dimension 2 */
    char path[800];
    snprintf(path, sizeof path, "%s/big.json", tmpdir);
    FILE *f = fopen(path, "w");
    double *cb = malloc(2 * K * sizeof *cb);
    CHECK(f && cb, "cannot write %s", path);
    if (!f || !cb) {
        if (f)
            fclose(f);
        free(cb);
        return;
    }
    cm_pcg64 g;
    cm_pcg64_stream(&g, 77, 0);
    cm_gauss_fill(&g, cb, 2 * K);
    fprintf(f, "{\"dim\": 2, \"codewords\": [");
    for (size_t i = 0; i < K; i++)
        fprintf(f, "%s[%.17g, %.17g]", i ? ", " : "", cb[2 * i], cb[2 * i + 1]);
    fprintf(f, "]}\n");
    fclose(f);
    char spec[900];
    snprintf(spec, sizeof spec, "vq:file=%s,scale=1", path);
    cm_plan *p = parse(spec);
    enum { NV = 512 };
    double x[2 * NV], y[2 * NV];
    cm_gauss_fill(&g, x, 2 * NV);
    cm_pipeline_state *st;
    cm_diag d;
    CHECK(cm_plan_state_alloc(p, 2 * NV, &st, &d) == CM_OK, "state: %s", d.msg);
    cm_pipeline_apply(t_pipe(p), st, x, y, 2 * NV);
    int wrong = 0;
    for (size_t v = 0; v < NV; v++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t j = 0; j < K; j++) {
            double a = x[2 * v] - cb[2 * j], b = x[2 * v + 1] - cb[2 * j + 1];
            if (a * a + b * b < bd) {
                bd = a * a + b * b;
                best = j;
            }
        }
        wrong += y[2 * v] != cb[2 * best] || y[2 * v + 1] != cb[2 * best + 1];
    }
    CHECK(wrong == 0, "%d of %d vectors did not get their nearest of %zu codewords", wrong, NV, K);
    cm_pipeline_state_free(t_pipe(p), st);
    t_free(p);
    free(cb);
}


/* ---- the exact nearest codeword of lattice codebooks, against brute force ---------------- */

typedef struct lpt {
    double c[8], n2, ninf;
} lpt;

static int lpt_cube;

static int lpt_cmp(const void *a, const void *b)
{
    const lpt *x = a, *y = b;
    if (lpt_cube && x->ninf != y->ninf)
        return x->ninf < y->ninf ? -1 : 1;
    if (x->n2 != y->n2)
        return x->n2 < y->n2 ? -1 : 1;
    for (int i = 0; i < 8; i++)
        if (x->c[i] != y->c[i])
            return x->c[i] < y->c[i] ? -1 : 1;
    return 0;
}

typedef struct lgen {
    const char *lat;
    int d;
    double r2, h; /* every point with |c|^2 <= r2 and max |c_i| <= h */
    lpt *v;
    size_t n, cap;
    double cur[8];
} lgen;

/* lattice points by brute force: coordinates in halves, the lattice's rule at the end */
static void lgen_walk(lgen *g, int i, double n2)
{
    if (i == g->d) {
        int half = 0, integer = 0;
        double sum = 0, ninf = 0;
        for (int k = 0; k < g->d; k++) {
            int h = g->cur[k] != floor(g->cur[k]);
            half += h;
            integer += !h;
            sum += g->cur[k];
            ninf = fmax(ninf, fabs(g->cur[k]));
        }
        int ok = !strcmp(g->lat, "z")    ? half == g->d
               : !strcmp(g->lat, "d4")   ? integer == g->d && fmod(fabs(sum), 2) == 0
                                         : (half == g->d || integer == g->d) && fmod(fabs(sum), 2) == 0;
        if (!ok || g->n == g->cap)
            return;
        lpt *q = &g->v[g->n++];
        memset(q, 0, sizeof *q);
        memcpy(q->c, g->cur, (size_t)g->d * sizeof(double));
        q->n2 = n2;
        q->ninf = ninf;
        return;
    }
    for (double v = -g->h; v <= g->h; v += 0.5) {
        if (n2 + v * v > g->r2)
            continue;
        g->cur[i] = v;
        lgen_walk(g, i + 1, n2 + v * v);
    }
}

static void lattice_nearest_brute(void)
{
    struct {
        const char *spec, *lat;
        int d, cube;
        size_t K;
        double r2, h, spread;
    } C[] = {
        {"vq:lattice=e8,bits=2,scale=1", "e8", 8, 0, 65536, 12, 3.5, 1.6},
        {"vq:lattice=e8,bits=1.5,scale=1", "e8", 8, 0, 4096, 8, 3, 1.3},
        {"vq:lattice=e8,bits=1,scale=1", "e8", 8, 0, 256, 8, 3, 0.8},
        {"vq:lattice=d4,bits=2,scale=1", "d4", 4, 0, 256, 12, 4, 2.0},
        {"vq:lattice=d4,bits=3,shape=cube,scale=1", "d4", 4, 1, 4096, 99, 5, 3.5},
        {"vq:lattice=z,dim=3,bits=2,scale=1", "z", 3, 0, 64, 20, 4.5, 2.0},
        {"vq:lattice=z,dim=3,bits=2.5,shape=cube,scale=1", "z", 3, 1, 181, 99, 3.5, 2.5},
    };
    for (size_t t = 0; t < sizeof C / sizeof *C; t++) {
        if (C[t].K == 181) /* 2^(2.5*3) is not whole: refused, see files_and_refusals */
            continue;
        lgen g = {.lat = C[t].lat, .d = C[t].d, .r2 = C[t].r2, .h = C[t].h, .cap = 1u << 21};
        g.v = malloc(g.cap * sizeof *g.v);
        lgen_walk(&g, 0, 0.0);
        lpt_cube = C[t].cube;
        qsort(g.v, g.n, sizeof *g.v, lpt_cmp);
        CHECK(g.n > C[t].K && g.n < g.cap, "%s: %zu lattice points enumerated", C[t].spec, g.n);
        lpt last = g.v[C[t].K - 1];
        /* the region walked holds every point up to the K-th */
        CHECK(C[t].cube ? last.ninf <= C[t].h : last.n2 <= C[t].r2, "%s: region too small",
              C[t].spec);
        cm_plan *p = parse(C[t].spec);
        enum { NV = 4000 };
        const size_t d = (size_t)C[t].d;
        double *x = malloc(NV * d * sizeof *x), *y = malloc(NV * d * sizeof *y);
        cm_pcg64 rg;
        cm_pcg64_stream(&rg, 5, t);
        cm_gauss_fill(&rg, x, NV * d);
        for (size_t i = 0; i < NV * d; i++) /* every vector another size: inside and far beyond */
            x[i] *= C[t].spread * (0.5 + (double)((i / d) % 8) * 0.25);
        cm_pipeline_state *st;
        cm_diag dg;
        CHECK(cm_plan_state_alloc(p, NV * d, &st, &dg) == CM_OK, "state: %s", dg.msg);
        cm_pipeline_apply(t_pipe(p), st, x, y, NV * d);
        int wrong = 0, over = 0;
        for (size_t v = 0; v < NV; v++) {
            double b1 = INFINITY, b2 = INFINITY, got = 0;
            size_t bi = 0;
            for (size_t j = 0; j < C[t].K; j++) {
                double e = 0;
                for (size_t k = 0; k < d; k++)
                    e += (x[v * d + k] - g.v[j].c[k]) * (x[v * d + k] - g.v[j].c[k]);
                if (e < b1) {
                    b2 = b1;
                    b1 = e;
                    bi = j;
                } else if (e < b2) {
                    b2 = e;
                }
            }
            for (size_t k = 0; k < d; k++)
                got += (x[v * d + k] - y[v * d + k]) * (x[v * d + k] - y[v * d + k]);
            over += bi >= C[t].K / 2; /* the outer half of the codebook */
            if (b2 - b1 < 1e-9)
                continue; /* a tie to rounding */
            int same = 1;
            for (size_t k = 0; k < d; k++)
                same &= y[v * d + k] == g.v[bi].c[k];
            if (!same && wrong++ < 3)
                fprintf(stderr, "  %s vector %zu: distance^2 %.12g, nearest %.12g (n2 %g, got n2 %g) x=%g %g %g %g %g %g %g %g\n", C[t].spec, v,
                        got, b1, g.v[bi].n2, 0.0, x[v*d],x[v*d+1],x[v*d+2],x[v*d+3],x[v*d+4],x[v*d+5],x[v*d+6],x[v*d+7]);
        }
        CHECK(wrong == 0, "%s: %d of %d vectors not at their nearest codeword (brute force over %zu)",
              C[t].spec, wrong, NV, C[t].K);
        CHECK(over > NV / 10, "%s: only %d vectors reach the outer codewords", C[t].spec, over);
        cm_pipeline_state_free(t_pipe(p), st);
        t_free(p);
        free(x);
        free(y);
        free(g.v);
    }
}

int main(int argc, char **argv)
{
    t_anchor_dir = argc > 1 ? argv[1] : getenv("CM_ANCHORS");
    gauss = t_load_json("gaussian.json");
    if (!mkdtemp(tmpdir))
        return 99;
    char cdir[700];
    snprintf(cdir, sizeof cdir, "%s/cache0", tmpdir);
    setenv("CAPMETRIC_CACHE_DIR", cdir, 1);
    cm_diag d;
    if (cm_registry_alloc(&reg, &d))
        return 99;
    second_moments();
    against_scalar();
    files_and_refusals();
    cache();
    large_codebook();
    lattice_nearest_brute();
    z_lattice_every_rate();
    kmeans_1d_is_lloyd_max();
    cm_registry_free(reg);
    cJSON_Delete(gauss);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done("vq");
}
