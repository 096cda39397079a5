/* Element codecs and rounding modes.
 *  - the OCP element formats against tests/anchors/formats.json (ocp_elements):
 *    largest value, smallest normal and subnormal, E2M1's value list, NaN/Inf
 *    codes, E8M0's range; MX INT8's +-127 clamp;
 *  - round=away ties, overflow=inf (OCP non-saturating conversion);
 *  - round=stochastic: unbiased (E[Q(x)] = x within 5 SE), only the two
 *    neighbours, thread-count independent, and its exact GMSE against Monte
 *    Carlo within 4 SE (scalar and block formats). */
#include <capmetric/capmetric.h>

#include "../testutil.h"

static cm_registry *reg;
static cJSON *fmts;

static cm_plan *parse(const char *spec) { return t_parse(reg, spec); }

static double q1(const char *spec, double x) /* unit-scale quantize of one value */
{
    cm_plan *p = parse(spec);
    double y;
    cm_pipeline_format(t_pipe(p), 0)->quantize(cm_pipeline_params(t_pipe(p), 0), NULL, &x, &y, 1);
    t_free(p);
    return y;
}

static double dec(const char *spec, uint64_t code)
{
    cm_plan *p = parse(spec);
    double y = -12345;
    cm_pipeline_format(t_pipe(p), 0)->decode(cm_pipeline_params(t_pipe(p), 0), &code, &y, 1);
    t_free(p);
    return y;
}

static uint64_t enc(const char *spec, double x)
{
    cm_plan *p = parse(spec);
    uint64_t c = 999;
    CHECK(cm_pipeline_format(t_pipe(p), 0)->encode(cm_pipeline_params(t_pipe(p), 0), &x, &c, 1) == CM_OK,
          "%s: encode(%g) failed", spec, x);
    t_free(p);
    return c;
}

static double anchor(const char *path)
{
    const cJSON *n = t_at(fmts, path);
    if (cJSON_IsNumber(n))
        return n->valuedouble;
    /* "2^-6" */
    double e;
    if (sscanf(n->valuestring, "2^%lf", &e) == 1)
        return pow(2, e);
    return strtod(n->valuestring, NULL);
}

static void ocp_elements(void)
{
    struct {
        const char *spec, *key;
        uint64_t maxcode;
        int M;
    } el[] = {{"e4m3", "e4m3fn", 0x7E, 3}, {"e5m2", "e5m2", 0x7B, 2}, {"e3m2", "e3m2", 0x1F, 2},
              {"e2m3", "e2m3", 0x1F, 3},   {"e2m1", "e2m1", 0x7, 1}};
    for (int i = 0; i < 5; i++) {
        char k[96];
        snprintf(k, sizeof k, "ocp_elements.%s.max", el[i].key);
        double mx = anchor(k);
        CHECK(q1(el[i].spec, 1e30) == mx, "%s: saturates to %g", el[i].spec, mx);
        CHECK(dec(el[i].spec, el[i].maxcode) == mx, "%s: code 0x%llx decodes to the max %g",
              el[i].spec, (unsigned long long)el[i].maxcode, mx);
        snprintf(k, sizeof k, "ocp_elements.%s.min_normal", el[i].key);
        double mn = anchor(k);
        /* the first code with exponent field 1 */
        CHECK(dec(el[i].spec, (uint64_t)1 << el[i].M) == mn && q1(el[i].spec, mn) == mn,
              "%s: min normal %g", el[i].spec, mn);
        snprintf(k, sizeof k, "ocp_elements.%s.min_subnormal", el[i].key);
        double ms = i == 4 ? 0.5 : anchor(k);
        CHECK(dec(el[i].spec, 1) == ms, "%s: code 1 is the smallest subnormal %g", el[i].spec, ms);
        CHECK(q1(el[i].spec, 0.49 * ms) == 0 && q1(el[i].spec, 0.51 * ms) == ms,
              "%s: rounding around the smallest subnormal", el[i].spec);
    }
    /* E2M1's eight magnitudes */
    const cJSON *v, *vals = t_at(fmts, "ocp_elements.e2m1.values");
    uint64_t c = 0;
    cJSON_ArrayForEach(v, vals)
    {
        CHECK(dec("e2m1", c) == v->valuedouble, "e2m1 code %llu = %g", (unsigned long long)c,
              v->valuedouble);
        c++;
    }
    /* specials: E4M3 S.1111.111 is NaN and 0x7E is 448; E5M2 is IEEE-like */
    CHECK(isnan(dec("e4m3", 0x7F)) && isnan(dec("e4m3", 0xFF)) && dec("e4m3", 0x78) == 256,
          "e4m3 NaN codes");
    CHECK(isinf(dec("e5m2", 0x7C)) && dec("e5m2", 0x7C) > 0 && isinf(dec("e5m2", 0xFC)) &&
              isnan(dec("e5m2", 0x7D)) && isnan(dec("e5m2", 0x7F)),
          "e5m2 Inf and NaN codes");
    CHECK(enc("e4m3", NAN) == 0x7F && enc("e4m3", -NAN) == 0xFF, "e4m3 encodes NaN as S.1111.111");
    CHECK(enc("e4m3", -0.0) == 0x80 && enc("e4m3", 0.0) == 0, "e4m3 signed zeros");
    /* E8M0: 2^-127 .. 2^127, bias 127, 0xFF NaN (ocp_elements.e8m0_scale) */
    CHECK(dec("e8m0", 0) == ldexp(1, -127) && dec("e8m0", 127) == 1.0 &&
              dec("e8m0", 254) == ldexp(1, 127) && isnan(dec("e8m0", 255)),
          "e8m0 range and NaN");
    CHECK(enc("e8m0", 1.5) == 128 && enc("e8m0", 1.49) == 127 && enc("e8m0", 3.0) == 128,
          "e8m0 ties go to the even code (1.5 -> 2 = code 128; 3 -> 2 or 4: 2 = code 128)");
    CHECK(enc("e8m0", NAN) == 255 && enc("e8m0", 0.0) == 0, "e8m0 NaN and zero");
    /* MX INT8: elements +-127/64, -128 never produced */
    CHECK(q1("mxint8", -1e9) == -127 && q1("mxint8", 1e9) == 127, "mxint8 clamps to +-127 codes");
}

static void rounding_modes(void)
{
    CHECK(q1("e2m1", 2.5) == 2 && q1("e2m1:round=away", 2.5) == 3, "e2m1 tie 2.5");
    CHECK(q1("e2m1:round=away", -5.0) == -6 && q1("e2m1", -5.0) == -4, "e2m1 tie -5");
    CHECK(q1("e2m1:round=away", 0.25) == 0.5, "e2m1 tie between 0 and 0.5");
    CHECK(q1("int:bits=4,grid=symmetric,round=away", 2.5) == 3 &&
              q1("int:bits=4,grid=symmetric", 2.5) == 2 &&
              q1("int:bits=4,grid=symmetric,round=away", -0.5) == -1,
          "int symmetric ties");
    CHECK(q1("int:bits=4,round=away", 1.0) == 1.5 && q1("int:bits=4,round=away", -1.0) == -1.5 &&
              q1("int:bits=4,round=away", 0.0) == 0.5 && q1("int:bits=4", -1.0) == -1.5 &&
              q1("int:bits=4", 1.0) == 0.5,
          "int midrise ties (rne: the even code, -1 -> code -2; away: the level farther "
          "from zero)");
    /* overflow=inf: OCP non-saturating conversion */
    /* 464 is the tie between 448 (even mantissa) and 480: it stays 448 */
    CHECK(q1("e4m3:overflow=inf", 460) == 448 && q1("e4m3:overflow=inf", 464) == 448 &&
              isnan(q1("e4m3:overflow=inf", 464.5)) && isnan(q1("e4m3:overflow=inf", INFINITY)),
          "e4m3 overflow -> NaN past 448 + half a step");
    CHECK(q1("e5m2:overflow=inf", 61439) == 57344 && isinf(q1("e5m2:overflow=inf", 61440)) &&
              q1("e5m2:overflow=inf", -1e9) == -INFINITY,
          "e5m2 overflow -> Inf (61440 is a tie that rounds to 65536)");
    CHECK(enc("e5m2:overflow=inf", 1e9) == 0x7C && enc("e4m3:overflow=inf", 1e9) == 0x7F,
          "overflow codes");
    cm_plan *p = parse("e4m3:overflow=inf");
    double g;
    cm_diag d;
    CHECK(cm_exact_gmse(p, &g, &d) == CM_OK && isinf(g), "GMSE with overflow=inf is infinite");
    t_free(p);
    cm_pipeline *bad = NULL;
    CHECK(cm_spec_parse(reg, "e2m1:overflow=inf", &bad, &d) == CM_EINVAL &&
              strstr(d.msg, "needs Inf or NaN codes"),
          "overflow=inf without special codes is refused: %s", d.msg);
}

static void stochastic(void)
{
    /* unbiased and only the neighbours: x = 0.3 between 0 and 0.5 on E2M1 */
    cm_plan *p = parse("e2m1:round=stochastic,scale=1");
    cm_pipeline_state *st;
    cm_diag d;
    cm_plan_state_alloc(p, 4096, &st, &d);
    cm_pipeline_state_seed(t_pipe(p), st, 42);
    enum { N = 1 << 20 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (size_t i = 0; i < N; i++)
        x[i] = 0.3;
    cm_pipeline_apply(t_pipe(p), st, x, y, N);
    double sum = 0;
    int only = 1;
    for (size_t i = 0; i < N; i++) {
        sum += y[i];
        only &= y[i] == 0.0 || y[i] == 0.5;
    }
    double pu = 0.6, se = 0.5 * sqrt(pu * (1 - pu) / N);
    CHECK(only, "stochastic rounding must pick one of the two neighbours");
    CHECK_NEAR(sum / N, 0.3, 5 * se, "E[Q_sr(0.3)]");
    /* reseeding reproduces */
    cm_pipeline_state_seed(t_pipe(p), st, 42);
    cm_pipeline_apply(t_pipe(p), st, x, x, 0);
    double *y2 = malloc(N * sizeof *y2);
    cm_pipeline_apply(t_pipe(p), st, x, y2, N);
    CHECK(memcmp(y, y2, N * sizeof *y) == 0, "the same seed gives the same rounding");
    free(x);
    free(y);
    free(y2);
    cm_pipeline_state_free(t_pipe(p), st);
    t_free(p);

    /* exact vs Monte Carlo; threads 1 and 2 identical */
    const char *specs[] = {"int4:round=stochastic", "e2m1:round=stochastic",
                           "fp:e=4,m=3,round=stochastic", "int:bits=3,grid=symmetric,round=stochastic",
                           "mxfp4:round=stochastic", "nvfp4:round=stochastic",
                           "int:bits=4,grid=symmetric,block=7,round=stochastic",
                           "fp:e=3,m=2,block=64,scale=rceil,scale_fmt=e8m0,round=stochastic"};
    const size_t n = sizeof specs / sizeof *specs;
    cm_pipeline *ps[8];
    for (size_t i = 0; i < n; i++)
        ps[i] = t_spec(reg, specs[i]);
    cm_result ex[8], m1[8], m2[8];
    cm_eval_opts o;
    cm_eval_opts_default(&o);
    o.method = CM_METHOD_EXACT;
    CHECK(cm_eval(ps, n, &o, ex, NULL, NULL, &d) == CM_OK, "exact: %s", d.msg);
    o.method = CM_METHOD_MC;
    o.samples = 1u << 22;
    o.threads = 1;
    CHECK(cm_eval(ps, n, &o, m1, NULL, NULL, &d) == CM_OK, "mc: %s", d.msg);
    o.threads = 2;
    CHECK(cm_eval(ps, n, &o, m2, NULL, NULL, &d) == CM_OK, "mc: %s", d.msg);
    for (size_t i = 0; i < n; i++) {
        CHECK(m1[i].gmse == m2[i].gmse && m1[i].gmse_se == m2[i].gmse_se,
              "%s: threads 1 and 2 differ with stochastic rounding", specs[i]);
        CHECK(fabs(m1[i].gmse - ex[i].gmse) <= 4 * m1[i].gmse_se,
              "%s: exact %.8g vs mc %.8g +- %.2g", specs[i], ex[i].gmse, m1[i].gmse,
              m1[i].gmse_se);
        cm_pipeline_free(ps[i]);
    }
}

int main(int argc, char **argv)
{
    t_anchor_dir = argc > 1 ? argv[1] : getenv("CM_ANCHORS");
    fmts = t_load_json("formats.json");
    cm_diag d;
    if (cm_registry_alloc(&reg, &d))
        return 99;
    ocp_elements();
    rounding_modes();
    stochastic();
    cm_registry_free(reg);
    cJSON_Delete(fmts);
    return t_done("codec");
}
