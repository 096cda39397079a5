/* The 2026 block-format variants (issue: misalignment and block variants):
 *  - scale_mult, tensor_top, ue5m3 and ue8m0 scales: hand-worked blocks, bit
 *    for bit;
 *  - select=mse|l1|absmax: on random blocks the chosen candidate is no worse,
 *    in its own measure, than either candidate alone (scale_mult=1.5 gives
 *    the 4-candidate alone: amax / 6 * 1.5 = amax / 4);
 *  - the new aliases (nvint4, mxint4, e1m2, ufp4, seq2) against their spelled-out specs;
 *  - the exact path of scale_mult and tensor_top against Monte Carlo (4 SE). */
#include <capmetric/capmetric.h>

#include "../testutil.h"

static cm_registry *reg;

/* apply `spec` to n values (whole blocks) */
static int apply(const char *spec, const double *x, double *y, size_t n)
{
    cm_pipeline *p;
    cm_plan *plan = NULL;
    cm_diag d;
    if (cm_spec_parse(reg, spec, &p, &d) || cm_plan_alloc(p, &plan, &d)) {
        CHECK(0, "%s: %s", spec, d.msg);
        return -1;
    }
    cm_pipeline_state *st;
    cm_plan_state_alloc(plan, n, &st, &d);
    cm_pipeline_apply(p, st, x, y, n);
    cm_pipeline_state_free(p, st);
    cm_plan_free(plan);
    cm_pipeline_free(p);
    return 0;
}

static void hand_worked(void)
{
    double x[16] = {3.0, -1.1, 0.4, 2.2}, y[16];
    /* int -7..7, exact absmax scale 3/7, times 0.5: s = 3/14; 3 / s = 14 saturates to 7 */
    apply("int:bits=4,grid=symmetric,block=16,scale_mult=0.5", x, y, 16);
    double s = 3.0 / 7.0 * 0.5;
    CHECK(y[0] == 7 * s && y[1] == -5 * s && y[2] == 2 * s && y[3] == 7 * s,
          "scale_mult=0.5: %.17g %.17g %.17g %.17g", y[0], y[1], y[2], y[3]);
    /* NVFP4 with tensor_top=256, tensor_amax=6: sg = fp32(6 / (256 * 6)) = 2^-8; the
     * block max 3 gives raw scale 0.5, 0.5 / sg = 128 (an E4M3 value), s = 0.5 */
    apply("nvfp4:tensor_top=256", x, y, 16);
    CHECK(y[0] == 3.0 && y[1] == -1.0 && y[2] == 0.5 && y[3] == 2.0,
          "tensor_top=256: %.17g %.17g %.17g %.17g", y[0], y[1], y[2], y[3]);
    /* tensor_top=7: sg = fp32(6 / 42); 0.5 / sg rounds to 3.5 in E4M3: s = 3.5 sg */
    apply("nvfp4:tensor_top=7", x, y, 16);
    double sg = (double)(float)(6.0 / 42.0), s7 = 3.5 * sg;
    CHECK(y[0] == 6 * s7, "tensor_top=7: %.17g, expected %.17g", y[0], 6 * s7);
    /* UE5M3: raw scale 19.8 / 6 = 3.3 rounds to 3.25 (3 mantissa bits), so 19.8 -> 6 * 3.25 */
    double z[16] = {19.8};
    apply("fp:e=2,m=1,block=16,scale_fmt=ue5m3", z, y, 16);
    CHECK(y[0] == 19.5, "ue5m3: 19.8 gives %.17g, expected 19.5", y[0]);
    /* UE5M3 saturates at 2^16 * 1.75 */
    z[0] = 6e6;
    apply("fp:e=2,m=1,block=16,scale_fmt=ue5m3", z, y, 16);
    CHECK(y[0] == 6 * 114688.0, "ue5m3 max: %.17g", y[0]);
    /* ue8m0 is e8m0, also in the canonical text */
    cm_pipeline *p;
    cm_diag d;
    if (cm_spec_parse(reg, "mxfp4:scale_fmt=ue8m0", &p, &d) == CM_OK) {
        CHECK(strstr(cm_pipeline_canonical(p), "scale_fmt=e8m0") != NULL, "ue8m0 canonical: %s",
              cm_pipeline_canonical(p));
        cm_pipeline_free(p);
    } else {
        CHECK(0, "ue8m0: %s", d.msg);
    }
}

static double measure(int sel, const double *x, const double *y, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(x[i] - y[i]);
        e = sel == 0 ? e + a * a : sel == 1 ? e + a : fmax(e, a);
    }
    return e;
}

static void selection(void)
{
    enum { K = 16, NB = 400 };
    static const char *const sel[] = {"mse", "l1", "absmax"};
    double x[K * NB], y[K * NB], c6[K * NB], c4[K * NB];
    cm_pcg64 g;
    cm_pcg64_stream(&g, 99, 0);
    cm_gauss_fill(&g, x, K * NB);
    apply("fp:e=2,m=1,block=16", x, c6, K * NB);
    apply("fp:e=2,m=1,block=16,scale_mult=1.5", x, c4, K * NB);
    for (int s = 0; s < 3; s++) {
        char spec[120];
        snprintf(spec, sizeof spec, "fp:e=2,m=1,block=16,scale=mse,candidates=2,select=%s",
                 sel[s]);
        apply(spec, x, y, K * NB);
        int worse = 0, differs = 0;
        for (size_t b = 0; b < NB; b++) {
            const size_t o = b * K;
            double m = measure(s, x + o, y + o, K), m6 = measure(s, x + o, c6 + o, K),
                   m4 = measure(s, x + o, c4 + o, K);
            worse += m > fmin(m6, m4) * (1 + 1e-12);
            differs += m4 < m6;
        }
        CHECK(worse == 0, "select=%s: %d of %d blocks worse than a candidate alone", sel[s], worse,
              NB);
        CHECK(differs > 20, "select=%s: the 4-candidate won only %d times", sel[s], differs);
    }
}

static void aliases(void)
{
    static const char *const pairs[][2] = {
        {"nvint4", "int:bits=4,grid=symmetric,block=16,scale=absmax,scale_fmt=e4m3,tensor_scale=fp32"},
        {"mxint4", "int:bits=4,grid=symmetric,block=32,scale=floor,scale_fmt=e8m0"},
        {"e1m2", "fp:e=1,m=2"},
        {"ufp4", "fp:e=1,m=2"},
        {"seq2", "lut:values=-0.75;-0.25;0.25;0.75"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        cm_pipeline *a = NULL, *b = NULL;
        cm_diag d;
        CHECK(cm_spec_parse(reg, pairs[i][0], &a, &d) == CM_OK &&
                  cm_spec_parse(reg, pairs[i][1], &b, &d) == CM_OK,
              "%s: %s", pairs[i][0], d.msg);
        if (a && b)
            CHECK(!strcmp(cm_pipeline_canonical(a), cm_pipeline_canonical(b)), "%s is not %s",
                  pairs[i][0], pairs[i][1]);
        cm_pipeline_free(a);
        cm_pipeline_free(b);
    }
}

static void exact_vs_mc(void)
{
    static const char *const specs[] = {"nvfp4:scale_mult=0.93", "nvfp4:tensor_top=256",
                                        "mxfp4:scale_mult=0.84", "fp:e=2,m=1,block=16,scale_fmt=ue5m3",
                                        "nvint4", "mxint4"};
    enum { N = sizeof specs / sizeof *specs };
    cm_pipeline *p[N];
    cm_diag d;
    for (size_t i = 0; i < N; i++)
        if (cm_spec_parse(reg, specs[i], &p[i], &d) != CM_OK) {
            CHECK(0, "%s: %s", specs[i], d.msg);
            return;
        }
    cm_result ex[N], mc[N];
    cm_eval_opts o;
    cm_eval_opts_default(&o);
    o.method = CM_METHOD_EXACT;
    CHECK(cm_eval(p, N, &o, ex, NULL, NULL, &d) == CM_OK, "exact: %s", d.msg);
    o.method = CM_METHOD_MC;
    o.samples = (uint64_t)1 << 22;
    CHECK(cm_eval(p, N, &o, mc, NULL, NULL, &d) == CM_OK, "mc: %s", d.msg);
    for (size_t i = 0; i < N; i++) {
        CHECK(fabs(ex[i].gmse - mc[i].gmse) <= 4 * mc[i].gmse_se, "%s: exact %.9g, mc %.6g +- %.2g",
              specs[i], ex[i].gmse, mc[i].gmse, mc[i].gmse_se);
        CHECK(fabs(ex[i].misalignment - mc[i].misalignment) <= 4 * mc[i].misalignment_se,
              "%s: misalignment exact %.9g, mc %.6g +- %.2g", specs[i], ex[i].misalignment,
              mc[i].misalignment, mc[i].misalignment_se);
        cm_pipeline_free(p[i]);
    }
}

/* correct=eden (Quartet II's MS-EDEN, arXiv 2601.22813, eden.py): with exact block
 * scales every block has <x, R(x)> = <x, x>, so misalignment vanishes to
 * round-off; with E4M3 scales rounded stochastically it vanishes in expectation
 * (4 SE). Quartet II: MS-EDEN has more than 2x lower error than stochastic
 * rounding (which needs the 17/16 margin to stay unbiased: exactly 0 here). */
static void eden(void)
{
    static const char *const specs[] = {"fp:e=2,m=1,block=16,correct=eden",
                                        "nvfp4:tensor_top=256,scale_mult=1.0625,correct=eden",
                                        "nvfp4:tensor_top=256,scale_mult=1.0625,round=stochastic"};
    cm_pipeline *p[3];
    cm_diag d;
    for (size_t i = 0; i < 3; i++)
        if (cm_spec_parse(reg, specs[i], &p[i], &d) != CM_OK) {
            CHECK(0, "%s: %s", specs[i], d.msg);
            return;
        }
    cm_result r[3];
    cm_eval_opts o;
    cm_eval_opts_default(&o);
    o.samples = (uint64_t)1 << 22;
    CHECK(cm_eval(p, 3, &o, r, NULL, NULL, &d) == CM_OK, "eval: %s", d.msg);
    CHECK(r[0].method == CM_METHOD_MC && r[1].method == CM_METHOD_MC, "eden: Monte Carlo");
    CHECK(fabs(r[0].misalignment) <= 1e-12, "eden, exact scales: misalignment %g", r[0].misalignment);
    CHECK(fabs(r[1].misalignment) <= 4 * r[1].misalignment_se,
          "eden, E4M3 scales: misalignment %g +- %g", r[1].misalignment, r[1].misalignment_se);
    CHECK(fabs(r[2].misalignment) <= 1e-12 && r[2].method == CM_METHOD_EXACT,
          "stochastic rounding with the 17/16 margin: misalignment %g", r[2].misalignment);
    CHECK(r[1].gmse < 0.5 * r[2].gmse, "eden %g not below half of stochastic rounding's %g",
          r[1].gmse, r[2].gmse);
    o.method = CM_METHOD_EXACT;
    CHECK(cm_eval(p, 1, &o, r, NULL, NULL, &d) == CM_EUNSUPPORTED && strstr(d.msg, "correct=eden"),
          "eden --method exact: %s", d.msg);
    for (size_t i = 0; i < 3; i++)
        cm_pipeline_free(p[i]);
}

/* scale=search: the absmax scale's code is among those tried, so no block is
 * worse than with scale=absmax; a wider window is never worse in total */
static void search(void)
{
    enum { K = 16, NB = 500 };
    double x[K * NB], ya[K * NB], y2[K * NB], y4[K * NB];
    cm_pcg64 g;
    cm_pcg64_stream(&g, 7, 3);
    cm_gauss_fill(&g, x, K * NB);
    apply("nvfp4", x, ya, K * NB);
    apply("nvfp4:scale=search", x, y2, K * NB);
    apply("nvfp4:scale=search,search_window=4", x, y4, K * NB);
    int worse = 0, better = 0, wider_worse = 0;
    for (size_t b = 0; b < NB; b++) {
        const size_t o = b * K;
        double ea = measure(0, x + o, ya + o, K), e2 = measure(0, x + o, y2 + o, K),
               e4 = measure(0, x + o, y4 + o, K);
        worse += e2 > ea;
        better += e2 < ea;
        wider_worse += e4 > e2;
    }
    CHECK(worse == 0 && wider_worse == 0, "scale=search: %d blocks worse than absmax, %d worse "
          "with the wider window", worse, wider_worse);
    CHECK(better > NB / 4, "scale=search improved only %d of %d blocks", better, NB);
}

/* correct=eden_scaled (Quartet II's kernel: the ratio on x / s_j), two blocks of
 * one correction group with exact scales, worked by hand: block A is
 * {6, 1.1, 0...} (s = 1, codes 6, 1), block B is {0.6, 0.11, 0...} (s = 0.1,
 * codes 6, 1). On x / s both blocks are {6, 1.1}: c_scaled = (36 + 1.21) /
 * (36 + 1.1) = 37.21 / 37.1. On x itself: c = (37.21 + 0.3721) / (37.1 + 0.371),
 * the same ratio here, so a third block breaks the tie: C = {0.6, 0.5, 0...}
 * (s = 0.1, codes 6, 5/0.1 = 5 -> 4 (ties to even, 5 lies between 4 and 6)). */
static void eden_scaled(void)
{
    enum { K = 16 };
    double x[4 * K] = {0}, y[4 * K], z[4 * K];
    x[0] = 6, x[1] = 1.1, x[K] = 0.6, x[K + 1] = 0.11, x[2 * K] = 0.6, x[2 * K + 1] = 0.5;
    x[3 * K] = 6; /* a fourth block fills the 64-value group */
    apply("fp:e=2,m=1,block=16,correct=eden_scaled,eden_group=64", x, y, 4 * K);
    apply("fp:e=2,m=1,block=16,correct=eden,eden_group=64", x, z, 4 * K);
    /* scaled: sum (x/s)^2 = 36 + 1.21 + 36 + 1.21 + 36 + 25 + 36; sum (x/s) q = 36 + 1.1
     * + 36 + 1.1 + 36 + 20 + 36 */
    double cs = (4 * 36 + 2 * 1.21 + 25) / (4 * 36 + 2 * 1.1 + 20);
    double xx = 36 + 1.21 + 0.36 + 0.0121 + 0.36 + 0.25 + 36, xq = 36 + 1.1 + 0.36 + 0.011 + 0.36 + 0.2 + 36;
    double c = xx / xq;
    CHECK(fabs(y[0] - 6 * cs) < 1e-12 && fabs(y[K] - 0.6 * cs) < 1e-12 &&
              fabs(y[2 * K + 1] - 0.4 * cs) < 1e-12,
          "eden_scaled: %.15g %.15g %.15g, expected factor %.15g", y[0], y[K], y[2 * K + 1], cs);
    CHECK(fabs(z[0] - 6 * c) < 1e-12 && fabs(z[2 * K + 1] - 0.4 * c) < 1e-12,
          "eden: %.15g %.15g, expected factor %.15g", z[0], z[2 * K + 1], c);
    CHECK(fabs(cs - c) > 1e-3, "the two ratios should differ here: %g %g", cs, c);
    /* one block per group: one scale, the two ratios are one */
    apply("nvfp4:correct=eden_scaled", x, y, 4 * K);
    apply("nvfp4:correct=eden", x, z, 4 * K);
    CHECK(!memcmp(y, z, sizeof y), "eden and eden_scaled differ with one block per group");
}

/* tests/anchors/quartet2_gaussian.json: Quartet II's notebook, printed digits.
 * Each printed number (MSE, rate, misalignment) is checked unless the row names
 * it a known difference, within half its last printed digit, 4 capmetric SE and
 * 4 SE of the notebook's own sampling (capmetric's Monte-Carlo spread of the same
 * quantity over the notebook's number of values). A known difference must still
 * differ: when capmetric comes to agree, the anchor's note is stale. */
static int decimals(const char *printed)
{
    const char *dot = strchr(printed, '.');
    return dot ? (int)strlen(dot + 1) : 0;
}

typedef struct {
    const char *spec, *row;
    const cJSON *known;
} q2row;

/* one printed number against capmetric's: value v (capmetric SE se, the
 * notebook's SE their), printed p */
static int q2_check(const q2row *w, const char *what, double v, double se, double their,
                    const cJSON *p, double unit)
{
    if (!p)
        return 0;
    if (!cJSON_IsString(p)) {
        CHECK(0, "Quartet II '%s' %s: give the number as printed, as text", w->row, what);
        return 0;
    }
    double tol = 0.5 * pow(10, -decimals(p->valuestring)) * unit + 4 * se + 4 * their;
    double printed = strtod(p->valuestring, NULL) * unit;
    int agrees = fabs(v - printed) <= tol;
    if (cJSON_GetObjectItem(w->known, what))
        CHECK(!agrees, "Quartet II '%s' %s: capmetric %s %.6g now agrees with the printed %.6g "
              "(+- %.2g): drop its known_difference", w->row, what, w->spec, v, printed, tol);
    else
        CHECK(agrees, "Quartet II '%s' %s: capmetric %s %.6g, printed %.6g (+- %.2g)", w->row,
              what, w->spec, v, printed, tol);
    return 1;
}

static void quartet2(void)
{
    cJSON *a = t_load_json("quartet2_gaussian.json");
    const cJSON *row;
    int checked = 0;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(a, "rows"))
    {
        q2row w = {cJSON_GetObjectItem(row, "spec")->valuestring,
                   cJSON_GetObjectItem(row, "row")->valuestring,
                   cJSON_GetObjectItem(row, "known_difference")};
        cm_pipeline *p;
        cm_diag d;
        if (cm_spec_parse(reg, w.spec, &p, &d) != CM_OK) {
            CHECK(0, "%s: %s", w.spec, d.msg);
            continue;
        }
        cm_eval_opts o;
        cm_eval_opts_default(&o);
        o.samples = (uint64_t)1 << 23;
        cm_result r, mc;
        CHECK(cm_eval(&p, 1, &o, &r, NULL, NULL, &d) == CM_OK, "%s: %s", w.spec, d.msg);
        mc = r;
        if (r.method == CM_METHOD_EXACT) { /* the spread per value, for the notebook's SE */
            o.method = CM_METHOD_MC;
            o.samples = (uint64_t)1 << 22;
            CHECK(cm_eval(&p, 1, &o, &mc, NULL, NULL, &d) == CM_OK, "%s: %s", w.spec, d.msg);
        }
        double per = sqrt((double)mc.samples / cJSON_GetObjectItem(row, "values")->valuedouble);
        double their = mc.gmse_se * per, their_m = mc.misalignment_se * per;
        checked += q2_check(&w, "mse", r.gmse, r.gmse_se, their, cJSON_GetObjectItem(row, "mse"),
                            1e-3);
        /* the rate: the same MSE on the log scale */
        checked += q2_check(&w, "bits", r.eff_bits, r.gmse_se / (2 * M_LN2 * r.gmse),
                            their / (2 * M_LN2 * r.gmse), cJSON_GetObjectItem(row, "bits"), 1);
        checked += q2_check(&w, "misalignment", r.misalignment, r.misalignment_se, their_m,
                            cJSON_GetObjectItem(row, "misalignment"), 1);
        cm_pipeline_free(p);
    }
    CHECK(checked == 17, "%d Quartet II numbers compared, expected 17", checked);
    cJSON_Delete(a);
}

/* multigrid: per block no worse than either grid alone (and strictly better
 * somewhere); one grid twice is that grid's block format to the bit; bits count
 * the selector; scale=rms against its definition; bad specs refused */
static void multigrid(void)
{
    enum { K = 16, NB = 400 };
    double x[K * NB], y[K * NB], a[K * NB], b[K * NB];
    cm_pcg64 g;
    cm_pcg64_stream(&g, 7, 0);
    cm_gauss_fill(&g, x, K * NB);
    apply("multigrid:grids=e2m1|nf4,block=16", x, y, K * NB);
    apply("fp:e=2,m=1,block=16", x, a, K * NB);
    apply("lut:name=nf4,block=16", x, b, K * NB);
    int worse = 0, better = 0;
    for (size_t j = 0; j < NB; j++) {
        double m = measure(0, x + j * K, y + j * K, K), ma = measure(0, x + j * K, a + j * K, K),
               mb = measure(0, x + j * K, b + j * K, K);
        worse += m > fmin(ma, mb) * (1 + 1e-12);
        better += m < ma && m < mb * (1 + 1e-12) && ma != mb;
    }
    CHECK(worse == 0, "multigrid: %d of %d blocks worse than a grid alone", worse, NB);
    CHECK(better > 20, "multigrid: e2m1 and nf4 each won (%d blocks changed grid)", better);
    apply("multigrid:grids=e2m1|e2m1", x, y, K * NB);
    int same = 1;
    for (size_t i = 0; i < K * NB; i++)
        same &= y[i] == a[i];
    CHECK(same, "multigrid of one grid twice is its block format");
    cm_pipeline *p;
    cm_diag d;
    static const struct {
        const char *spec;
        double bits;
    } bt[] = {{"multigrid", 4 + 17.0 / 16}, {"multigrid:grids=e2m1|int4|nf4|e2m1,block=32", 4 + 18.0 / 32},
              {"multigrid:selector=free", 5}};
    for (int k = 0; k < 3; k++)
        if (cm_spec_parse(reg, bt[k].spec, &p, &d) == CM_OK) {
            CHECK_NEAR(cm_pipeline_bits(p), bt[k].bits, 1e-12, bt[k].spec);
            cm_pipeline_free(p);
        } else {
            CHECK(0, "%s: %s", bt[k].spec, d.msg);
        }
    static const char *const bad[] = {"multigrid:grids=e2m1", "multigrid:grids=e2m1|foo",
                                      "multigrid:grids=e2m1|0;0", "multigrid:block=1",
                                      "multigrid:grids=1|1|1|1|1|1|1|1|1"};
    for (int k = 0; k < 5; k++) {
        CHECK(cm_spec_parse(reg, bad[k], &p, &d) != CM_OK, "refused: %s", bad[k]);
        if (d.msg[0] == 0)
            CHECK(0, "no message for %s", bad[k]);
    }
    /* scale=rms: s = RMS * rms_clip / 6, values beyond the clip saturate at 6 s */
    double z[16] = {4, 1, -1, 0.5};
    apply("fp:e=2,m=1,block=16,scale=rms,rms_clip=2", z, y, 16);
    double rms = sqrt((16 + 1 + 1 + 0.25) / 16.0), sr = rms * 2 / 6;
    CHECK(fabs(y[0] - 6 * sr) < 1e-15 && fabs(y[1] - 3 * sr) < 1e-15,
          "scale=rms: %.17g %.17g, s %.17g", y[0], y[1], sr);
    CHECK(cm_spec_parse(reg, "nvfp4:rms_clip=2", &p, &d) == CM_EINVAL, "rms_clip without rms");
}

/* scale_fmt=ueEmM: any unsigned scale format (E exponent bits, bias 2^(E-1)-1, M mantissa
 * bits, subnormals, every code finite): hand-worked blocks, bits, exact against Monte Carlo,
 * and what is refused */
static void uem(void)
{
    double z[16] = {600}, y[16];
    /* ue3m2: bias 3, largest 2^(7-3) * 1.75 = 28: a raw scale of 100 saturates */
    apply("fp:e=2,m=1,block=16,scale_fmt=ue3m2", z, y, 16);
    CHECK(y[0] == 6 * 28.0, "ue3m2 saturates at 28: %.17g", y[0]);
    /* ue4m4: raw scale 19.8 / 6 = 3.3 rounds to 3.25 (step 1/8 in [2, 4)) */
    z[0] = 19.8;
    apply("fp:e=2,m=1,block=16,scale_fmt=ue4m4", z, y, 16);
    CHECK(y[0] == 6 * 3.25, "ue4m4: 19.8 gives %.17g, expected 19.5", y[0]);
    cm_pipeline *p;
    cm_diag d;
    if (cm_spec_parse(reg, "e2m1:block=16,scale_fmt=ue3m2", &p, &d) == CM_OK) {
        CHECK_NEAR(cm_pipeline_bits(p), 4 + 5.0 / 16, 1e-15, "ue3m2 bits");
        cm_pipeline_free(p);
    }
    /* exact against Monte Carlo, 4 SE */
    const char *spec = "e2m1:block=16,scale_fmt=ue6m2";
    CHECK(cm_spec_parse(reg, spec, &p, &d) == CM_OK, "%s: %s", spec, d.msg);
    cm_eval_opts o;
    cm_eval_opts_default(&o);
    o.samples = 1u << 22;
    cm_result ex, mc;
    o.method = CM_METHOD_EXACT;
    CHECK(cm_eval(&p, 1, &o, &ex, NULL, NULL, &d) == CM_OK, "ue6m2 exact: %s", d.msg);
    o.method = CM_METHOD_MC;
    CHECK(cm_eval(&p, 1, &o, &mc, NULL, NULL, &d) == CM_OK, "ue6m2 mc: %s", d.msg);
    CHECK(fabs(ex.gmse - mc.gmse) <= 4 * mc.gmse_se, "ue6m2: exact %.8g, mc %.8g +- %.2g",
          ex.gmse, mc.gmse, mc.gmse_se);
    cm_pipeline_free(p);
    static const char *const bad[] = {"e2m1:block=16,scale_fmt=ue9m1",
                                      "e2m1:block=16,scale_fmt=ue4m11",
                                      "e2m1:block=16,scale_fmt=ue04m3",
                                      "e2m1:block=16,scale_fmt=ue0m2", "e2m1:block=16,scale_fmt=fp4"};
    for (int k = 0; k < 5; k++) {
        CHECK(cm_spec_parse(reg, bad[k], &p, &d) == CM_EPARSE && strstr(d.msg, "ueEmM"),
              "refused with what is accepted: %s (%s)", bad[k], d.msg);
    }
}

int main(int argc, char **argv)
{
    t_anchor_dir = argc > 1 ? argv[1] : getenv("CM_ANCHORS");
    cm_diag d;
    if (cm_registry_alloc(&reg, &d))
        return 99;
    hand_worked();
    selection();
    aliases();
    exact_vs_mc();
    eden();
    eden_scaled();
    search();
    quartet2();
    multigrid();
    uem();
    cm_registry_free(reg);
    return t_done("variants");
}
