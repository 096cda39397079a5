/* The Monte-Carlo engine: thread-count independence (bit for bit), agreement
 * with the exact path within 4 standard errors for every exact-capable
 * format family, common random numbers (paired SE far below single SE), and
 * refusals of bad options. */
#include <capmetric/capmetric.h>

#include "../testutil.h"

static cm_registry *reg;

static cm_plan *parse(const char *spec) { return t_parse(reg, spec); }

static const char *const specs[] = {
    "int1", "int2", "int3", "int4", "int8", "ternary", "int:bits=4,grid=twos",
    "int:bits=5,grid=symmetric", "e2m1", "e3m2", "e2m3", "e4m3", "e5m2",
    "fp:e=3,m=0", "fp:e=1,m=2", "fp:e=4,m=3,subnormals=0", "fp:e=0,m=3",
    "lut:name=nf4", "lut:name=af4", "lut:values=-2;-0.3;0.1;1;4", "lloydmax:levels=3",
    "lloydmax:levels=16", "lloydmax:levels=100", "int:bits=4,scale=0.2", "fp:e=2,m=1,scale=3",
    "int4+e2m1",
};
#define NS (sizeof specs / sizeof specs[0])

static void threads_identical(cm_plan **p)
{
    cm_mc_run *r[3];
    unsigned th[3] = {1, 2, 7};
    for (int k = 0; k < 3; k++) {
        cm_mc_opts o = {.samples = (1u << 20) + 12345, .seed = 42, .threads = th[k]};
        cm_diag d;
        CHECK(cm_mc_run_alloc(p, NS, &o, &r[k], &d) == CM_OK, "mc run: %s", d.msg);
    }
    for (size_t i = 0; i < NS; i++) {
        double m[3], s[3];
        for (int k = 0; k < 3; k++)
            cm_mc_gmse(r[k], i, &m[k], &s[k]);
        CHECK(m[0] == m[1] && m[0] == m[2] && s[0] == s[1] && s[0] == s[2],
              "%s: threads 1/2/7 give %.17g/%.17g/%.17g", specs[i], m[0], m[1], m[2]);
    }
    CHECK(cm_mc_samples(r[0]) >= (1u << 20) + 12345, "samples rounded up, not down");
    for (int k = 0; k < 3; k++)
        cm_mc_run_free(r[k]);
}

static void agrees_with_exact(cm_plan **p)
{
    cm_mc_opts o = {.samples = 1u << 22, .seed = 7, .threads = 2};
    cm_mc_run *r;
    cm_diag d;
    CHECK(cm_mc_run_alloc(p, NS, &o, &r, &d) == CM_OK, "mc: %s", d.msg);
    int compared = 0;
    for (size_t i = 0; i < NS; i++) {
        double ex, m, se;
        if (cm_exact_gmse(p[i], &ex, &d) != CM_OK)
            continue; /* compositions have no exact path */
        cm_mc_gmse(r, i, &m, &se);
        CHECK(se > 0 && se < 0.05 * ex, "%s: implausible SE %g for gmse %g", specs[i], se, ex);
        CHECK(fabs(m - ex) <= 4 * se, "%s: mc %.8g vs exact %.8g, |z| = %.2f > 4", specs[i], m,
              ex, fabs(m - ex) / se);
        compared++;
    }
    CHECK(compared == (int)NS - 1, "compared %d formats with their exact values", compared);
    /* common random numbers: int4 vs twos-complement int4 differ little and
     * their paired SE is far smaller than either SE */
    double diff, dse, m3, s3, m6, s6;
    cm_mc_diff(r, 3, 6, &diff, &dse);
    cm_mc_gmse(r, 3, &m3, &s3);
    cm_mc_gmse(r, 6, &m6, &s6);
    /* independent draws would give a paired SE of sqrt(s3^2 + s6^2); shared
     * draws cancel most of it (these two grids: about a third of that; the
     * 64-batch SE estimates themselves vary by ~9 %) */
    double indep = sqrt(s3 * s3 + s6 * s6);
    CHECK(dse < 0.5 * indep, "paired SE %g vs %g for independent draws (single SEs %g, %g)", dse,
          indep, s3, s6);
    CHECK(fabs(diff - (m3 - m6)) < 1e-15, "difference of means");
    double ex3, ex6;
    cm_exact_gmse(p[3], &ex3, &d);
    cm_exact_gmse(p[6], &ex6, &d);
    CHECK(fabs(diff - (ex3 - ex6)) <= 4 * dse, "paired difference %.4g vs exact %.4g (se %.2g)",
          diff, ex3 - ex6, dse);
    cm_mc_run_free(r);
}

/* batch b's values depend on (seed, b) only: a format's estimate is the same
 * whatever else shares the run (also with stochastic rounding) */
static void companions_do_not_matter(void)
{
    cm_plan *a[2] = {parse("e2m1:round=stochastic"), parse("int4")};
    cm_plan *b[3] = {parse("mxfp4"), parse("int4"), parse("e2m1:round=stochastic")};
    cm_mc_opts o = {.samples = 1u << 20, .seed = 5, .threads = 2};
    cm_mc_run *ra, *rb;
    cm_diag d;
    cm_mc_run_alloc(a, 2, &o, &ra, &d);
    cm_mc_run_alloc(b, 3, &o, &rb, &d);
    double m1, s1, m2, s2, m3, s3, m4, s4;
    cm_mc_gmse(ra, 0, &m1, &s1);
    cm_mc_gmse(rb, 2, &m2, &s2);
    cm_mc_gmse(ra, 1, &m3, &s3);
    cm_mc_gmse(rb, 1, &m4, &s4);
    CHECK(m3 == m4 && s3 == s4, "int4 alone-ish and with others: %.17g vs %.17g", m3, m4);
    /* a companion whose group does not divide the others' (3): nothing changes for them
     * (the sample count was rounded to the groups' LCM: 0.011556654 -> 0.011556661), and
     * a block of 4096 runs beside it (their LCM exceeded the chunk: refused) */
    cm_plan *c1[1] = {parse("int4")}, *c2[2] = {parse("int4"), parse("nm:n=1,m=3")};
    cm_plan *c3[2] = {parse("mxfp4:block=4096"), c2[1]};
    cm_mc_opts o2 = {.samples = 1u << 22, .seed = 5, .threads = 2};
    cm_mc_run *r1 = NULL, *r2 = NULL, *r3 = NULL;
    CHECK(cm_mc_run_alloc(c1, 1, &o2, &r1, &d) == CM_OK && cm_mc_run_alloc(c2, 2, &o2, &r2, &d) == CM_OK,
          "runs: %s", d.msg);
    double a1, e1, a2, e2;
    cm_mc_gmse(r1, 0, &a1, &e1);
    cm_mc_gmse(r2, 0, &a2, &e2);
    CHECK(a1 == a2 && e1 == e2, "int4 alone %.17g, beside nm 1:3 %.17g", a1, a2);
    CHECK(cm_mc_used(r2, 1) == (uint64_t)(1u << 22) / 4096 * 4095, "1:3 uses whole groups: %llu",
          (unsigned long long)cm_mc_used(r2, 1));
    CHECK(cm_mc_run_alloc(c3, 2, &o2, &r3, &d) == CM_OK, "block 4096 beside 1:3: %s", d.msg);
    cm_mc_run_free(r1);
    cm_mc_run_free(r2);
    cm_mc_run_free(r3);
    t_free(c1[0]);
    t_free(c2[0]);
    t_free(c2[1]);
    t_free(c3[0]);
    CHECK(m1 == m2 && s1 == s2, "stochastic rounding: the same estimate in both runs");
    cm_mc_run_free(ra);
    cm_mc_run_free(rb);
    for (int i = 0; i < 2; i++)
        t_free(a[i]);
    for (int i = 0; i < 3; i++)
        t_free(b[i]);
}

/* Fine grids keep their error in the tails (INT16: beyond 5.94, probability 3e-9):
 * plain sampling missed it and claimed a tiny SE (z = -119 at 2^24 samples). With
 * the tails stratified, Monte Carlo agrees with exact within 4 SE for every seed. */
static void tails_are_honest(void)
{
    const char *fine[] = {"int:bits=12", "int:bits=14", "int:bits=16", "lloydmax:levels=1024",
                           "e4m3", "e5m2"};
    const size_t ns = sizeof fine / sizeof *fine;
    double worst = 0;
    for (size_t i = 0; i < ns; i++) {
        cm_plan *p = parse(fine[i]);
        double ex;
        cm_diag d;
        CHECK(cm_exact_gmse(p, &ex, &d) == CM_OK, "%s: %s", fine[i], d.msg);
        for (uint64_t seed = 1; seed <= 6; seed++) {
            cm_mc_opts o = {.samples = 1u << 20, .seed = seed, .threads = 2};
            cm_mc_run *r;
            double m, se;
            CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_OK, "%s: %s", fine[i], d.msg);
            cm_mc_gmse(r, 0, &m, &se);
            double z = (m - ex) / se;
            worst = fmax(worst, fabs(z));
            CHECK(fabs(z) <= 4, "%s seed %llu: mc %.6g +- %.2g vs exact %.6g (z = %.1f)", fine[i],
                  (unsigned long long)seed, m, se, ex, z);
            cm_mc_run_free(r);
        }
        t_free(p);
    }
    printf("tails: fine grids over 6 seeds, largest |z| %.2f\n", worst);
}

static void se_is_calibrated(void)
{
    /* over 40 seeds the spread of the estimates matches the reported SE:
     * the ratio of empirical SD to mean SE is within its sampling range
     * (chi distribution with 39 dof: 5th..95th percentile ~ 0.74..1.26, use 0.6..1.4) */
    cm_plan *p = parse("int3");
    double sum = 0, sum2 = 0, sesum = 0;
    for (int k = 0; k < 40; k++) {
        cm_mc_opts o = {.samples = 1u << 16, .seed = (uint64_t)k + 100, .threads = 1};
        cm_mc_run *r;
        cm_diag d;
        cm_mc_run_alloc(&p, 1, &o, &r, &d);
        double m, se;
        cm_mc_gmse(r, 0, &m, &se);
        sum += m;
        sum2 += m * m;
        sesum += se;
        cm_mc_run_free(r);
    }
    double mean = sum / 40, sd = sqrt((sum2 - 40 * mean * mean) / 39), ratio = sd / (sesum / 40);
    CHECK(ratio > 0.6 && ratio < 1.4, "empirical SD / reported SE = %.3f", ratio);
    t_free(p);
}

static void refusals(void)
{
    cm_plan *p = parse("int4");
    cm_mc_run *r = NULL;
    cm_diag d;
    cm_mc_opts o = {.samples = 0, .seed = 1, .threads = 1};
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_ERANGE && !r, "samples 0 refused");
    o.samples = 1;
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_ERANGE, "samples 1 refused");
    o.samples = CM_MC_MAX_SAMPLES + 1;
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_ERANGE, "samples > 2^40 refused");
    o.samples = 1000;
    o.threads = 0;
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_ERANGE, "threads 0 refused");
    o.threads = 1;
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_OK, "1000 samples work: %s", d.msg);
    CHECK(cm_mc_batches(r) >= 2, "at least two batches for an SE");
    cm_mc_run_free(r);
    o.samples = 2;
    CHECK(cm_mc_run_alloc(&p, 1, &o, &r, &d) == CM_OK, "2 samples work: %s", d.msg);
    cm_mc_run_free(r);
    cm_pipeline *u = NULL;
    cm_pipeline_state *ps = NULL;
    cm_spec_parse(reg, "int4", &u, &d); /* scale=opt is the plan's to resolve */
    CHECK(cm_pipeline_state_alloc(u, NULL, 64, &ps, &d) == CM_EINVAL && !ps,
          "a state without the resolved scale refused");
    cm_pipeline_free(u);
    t_free(p);
}

int main(void)
{
    cm_diag d;
    if (cm_registry_alloc(&reg, &d))
        return 99;
    cm_plan *p[NS];
    for (size_t i = 0; i < NS; i++)
        p[i] = parse(specs[i]);
    threads_identical(p);
    agrees_with_exact(p);
    companions_do_not_matter();
    se_is_calibrated();
    tails_are_honest();
    refusals();
    for (size_t i = 0; i < NS; i++)
        t_free(p[i]);
    cm_registry_free(reg);
    return t_done("mc");
}
