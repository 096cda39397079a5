/* The instruction sets (capmetric/isa.h): for a set of formats covering
 * every family, every instruction set this machine runs, with the fused
 * kernels and without, gives the same Monte-Carlo batch sums bit for bit
 * (N(0,1) through the vector generator; Student-t through PCG64) and the same
 * quantized values of an array; the fused kernels give the generic path's
 * bits; and the instruction-set API refuses
 * what it cannot run. The ASan/UBSan build runs this too, vector paths
 * included. */
#include <capmetric/capmetric.h>

#include "../testutil.h"

static cm_registry *reg;

static const char *const specs[] = {
    "int4", "int:bits=3,grid=midrise", "int8", "e2m1", "fp8", "fp:e=4,m=3,subnormals=0",
    "int4_g32", "mxfp4", "mxfp6_e2m3", "mxint8", "nvfp4", "int:bits=3,block=64,scale_fmt=e4m3",
    "int:bits=4,block=12", "e2m1:block=32,scale=mse", "nf4", "lut:name=af4",
    "lut:values=-2;-0.3;0.1;1;4", "lloydmax:levels=16", "lloydmax:levels=100", "e8m0",
    "2:4", "1:4", "4:8", "nm:n=2,m=6", "sparse:density=0.5", "outlier:frac=0.01+int4",
    "2:4+int4", "vq:lattice=d4,bits=2,overload=radial", "vq:codebook=kmeans,dim=2,bits=2",
    "rht:dim=32+mxfp4", "hadamard:dim=16+int4_g32", "int:bits=4,round=stochastic,block=32",
};
#define NS (sizeof specs / sizeof specs[0])

/* every plan's batch sums on one setting */
static double *sums(cm_plan **p, size_t n, uint64_t samples, uint64_t *nb)
{
    cm_mc_opts o = {.samples = samples, .seed = 11, .threads = 2};
    cm_mc_run *r;
    cm_diag d;
    if (cm_mc_run_alloc(p, n, &o, &r, &d) != CM_OK) {
        CHECK(0, "mc: %s", d.msg);
        return NULL;
    }
    *nb = cm_mc_batches(r);
    double *s = malloc(n * *nb * sizeof *s);
    for (size_t i = 0; i < n; i++)
        cm_mc_batch_sums(r, i, s + i * *nb);
    cm_mc_run_free(r);
    return s;
}

static void same_everywhere(const char *dist, uint64_t samples)
{
    cm_plan *p[NS];
    cm_diag d;
    size_t n = 0;
    for (size_t i = 0; i < NS; i++) {
        cm_pipeline *pl;
        cm_eval_opts o;
        cm_eval_opts_default(&o);
        CHECK(cm_dist_parse(dist, &o.dist, &d) == CM_OK, "dist %s", dist);
        CHECK(cm_spec_parse(reg, specs[i], &pl, &d) == CM_OK, "%s: %s", specs[i], d.msg);
        CHECK(cm_plan_alloc_dist(pl, &o.dist, &p[n], &d) == CM_OK, "%s: %s", specs[i], d.msg);
        n++;
    }
    cm_isa_set(CM_ISA_SCALAR, &d);
    cm_fused_set(0);
    uint64_t nb = 0, nb2 = 0;
    double *ref = sums(p, n, samples, &nb);
    int settings = 0;
    for (int isa = 0; isa < CM_ISA_COUNT && ref; isa++) {
        if (!cm_isa_available((cm_isa)isa))
            continue;
        for (int fused = 0; fused < 2; fused++) {
            CHECK(cm_isa_set((cm_isa)isa, &d) == CM_OK, "%s", d.msg);
            cm_fused_set(fused);
            double *s = sums(p, n, samples, &nb2);
            settings++;
            for (size_t i = 0; s && i < n; i++) {
                size_t diff = 0;
                for (uint64_t b = 0; b < nb; b++)
                    diff += memcmp(&s[i * nb + b], &ref[i * nb + b], sizeof *s) != 0;
                CHECK(diff == 0, "%s, %s, fused %d: %zu of %llu batch sums differ from scalar",
                      dist, specs[i], fused, diff, (unsigned long long)nb);
            }
            free(s);
        }
    }
    printf("%s: %zu formats the same on %d settings (instruction sets x fused)\n", dist, n,
           settings);
    free(ref);
    for (size_t i = 0; i < n; i++) {
        cm_pipeline *pl = (cm_pipeline *)cm_plan_pipeline(p[i]);
        cm_plan_free(p[i]);
        cm_pipeline_free(pl);
    }
}

/* the data path (eval --data, quantize): the same quantized values on every
 * setting, for heavy-tailed data at a scale of its own */
static void arrays_everywhere(void)
{
    enum { R = 64, C = 384 };
    static double x[R * C], y0[R * C], y1[R * C];
    cm_pcg64 g;
    cm_pcg64_stream(&g, 5, 0);
    for (size_t i = 0; i < R * C; i++) { /* Student-t-like: a Gaussian over a random scale */
        double u = cm_uniform01(&g);
        x[i] = 0.02 * cm_gauss(&g) / sqrt(0.05 + u);
    }
    cm_array a = {x, CM_DTYPE_F64, 2, {R, C}, 0};
    cm_array_opts ao;
    cm_array_opts_default(&ao);
    cm_diag d;
    int settings = 0;
    for (size_t i = 0; i < NS; i++) {
        cm_pipeline *pl;
        if (cm_spec_parse(reg, specs[i], &pl, &d) != CM_OK ||
            C % cm_pipeline_group(pl) != 0) {
            cm_pipeline_free(pl);
            continue;
        }
        cm_array_stats st;
        cm_isa_set(CM_ISA_SCALAR, &d);
        cm_fused_set(0);
        CHECK(cm_array_quantize(pl, &a, &ao, y0, CM_DTYPE_F64, &st, &d) == CM_OK, "%s: %s",
              specs[i], d.msg);
        for (int isa = 0; isa < CM_ISA_COUNT; isa++)
            for (int fused = 0; fused < 2 && cm_isa_available((cm_isa)isa); fused++) {
                cm_isa_set((cm_isa)isa, &d);
                cm_fused_set(fused);
                CHECK(cm_array_quantize(pl, &a, &ao, y1, CM_DTYPE_F64, &st, &d) == CM_OK,
                      "%s: %s", specs[i], d.msg);
                CHECK(!memcmp(y0, y1, sizeof y0), "%s, %s, fused %d: quantized values differ",
                      specs[i], cm_isa_name((cm_isa)isa), fused);
                settings++;
            }
        cm_pipeline_free(pl);
    }
    printf("arrays: the same quantized values on %d (format, setting) pairs\n", settings);
}

static void api(void)
{
    cm_diag d;
    cm_isa isa;
    CHECK(cm_isa_parse("avx2", &isa, &d) == CM_OK && isa == CM_ISA_AVX2, "parse avx2");
    CHECK(cm_isa_parse("sse9", &isa, &d) == CM_EINVAL && strstr(d.msg, "scalar, avx2, avx512"),
          "an unknown name lists the accepted ones: %s", d.msg);
    CHECK(cm_isa_available(CM_ISA_SCALAR), "scalar always runs");
    CHECK(cm_isa_set((cm_isa)7, &d) == CM_EUNSUPPORTED, "set 7");
    for (int i = 0; i < CM_ISA_COUNT; i++)
        if (!cm_isa_available((cm_isa)i))
            CHECK(cm_isa_set((cm_isa)i, &d) == CM_EUNSUPPORTED, "set %s", cm_isa_name((cm_isa)i));
    printf("this machine runs:%s%s%s\n", " scalar", cm_isa_available(CM_ISA_AVX2) ? " avx2" : "",
           cm_isa_available(CM_ISA_AVX512) ? " avx512" : "");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cm_diag d;
    if (cm_registry_alloc(&reg, &d) != CM_OK)
        return 1;
    api();
    same_everywhere("gauss", (1u << 18) + 1000); /* a short last batch and chunk */
    same_everywhere("student:nu=5", 1u << 16);
    arrays_everywhere();
    cm_registry_free(reg);
    printf("isa: %d passed, %d failed\n", t_pass, t_fail);
    return t_fail != 0;
}
