/* The law registry against the published forms and constants of
 * anchors/capacity.json: each law's prediction recomputed here from the
 * anchor, each refusal, the tensor lists, and law files (good and broken). */
#include <capmetric/capmetric.h>
#include <unistd.h>

#include "../testutil.h"

#define CHECK_REL(x, ref, tol, ...) CHECK(fabs((x) / (ref)-1) <= (tol), __VA_ARGS__)

static cm_registry *reg;
static cJSON *cap;

static double a(const char *path) { return t_num(cap, path); }

static const cm_law *law(const char *name)
{
    const cm_law *l = NULL;
    cm_diag d;
    CHECK(cm_law_find(name, &l, &d) == CM_OK, "law %s: %s", name, d.msg);
    return l;
}

/* Predict `spec` (parsed, GMSE exact) with `name` at N, D. */
static cm_status pr(const char *name, const char *spec, double N, double D, unsigned tensors,
                    cm_law_output *o, cm_diag *d)
{
    cm_pipeline *p = t_spec(reg, spec);
    cm_result r;
    cm_eval_opts eo;
    cm_eval_opts_default(&eo);
    eo.method = CM_METHOD_EXACT;
    cm_pipeline *pp[1] = {p};
    CHECK(cm_eval(pp, 1, &eo, &r, NULL, NULL, d) == CM_OK, "eval %s", spec);
    cm_law_input in = {r.spec, r.bits, r.gmse, N, D, tensors, reg, spec, p, r.misalignment};
    cm_status s = cm_law_predict(law(name), &in, o, d);
    cm_pipeline_free(p);
    return s;
}

static void registry(void)
{
    CHECK(cm_law_count() == 11, "11 built-in laws, got %zu", cm_law_count());
    for (size_t i = 0; i < cm_law_count(); i++) {
        const cm_law *l = cm_law_get(i);
        CHECK(cm_law_name(l)[0] && cm_law_form(l)[0] && cm_law_inputs(l)[0] &&
                  cm_law_source(l)[0],
              "law %zu declares name, form, inputs and source", i);
    }
    const cm_law *l;
    cm_diag d;
    CHECK(cm_law_find("nosuch", &l, &d) == CM_ENOTFOUND && strstr(d.msg, "capybara") &&
              strstr(d.msg, "file:"),
          "unknown law lists the laws: %s", d.msg);
    CHECK(!cm_law_has_map(law("quest")) && cm_law_has_map(law("unified-quest")), "maps");
    CHECK(isnan(cm_law_rho(law("kumar"), 0.01)), "no map, no rho");
}

static void predictions(void)
{
    cm_law_output o;
    cm_diag d;
    const double N = 1e9, D = 2e10;
    /* QuEST: A/(N eff)^alpha + B/D^beta + E, constants rounded to 7 digits in the anchor */
    CHECK(pr("quest", "int4", N, D, 0, &o, &d) == CM_OK, "quest int4: %s", d.msg);
    double want = a("quest_eff.constants.A") * pow(N * a("quest_eff.eff_w_and_a_hadamard.4"),
                                                   -a("quest_eff.constants.alpha")) +
                  a("quest_eff.constants.B") * pow(D, -a("quest_eff.constants.beta")) +
                  a("quest_eff.constants.E");
    CHECK_NEAR(o.loss / want, 1, 2e-6, "quest loss");
    CHECK_NEAR(o.rho, a("quest_eff.eff_w_and_a_hadamard.4"), 1e-6, "quest rho");
    CHECK_NEAR(o.gap, o.loss - o.loss_base, 1e-15, "gap");
    /* the built-in tables hold canonical specs (they are matched without parsing):
     * every row is found from any spelling of its format */
    static const char *const rows[] = {"int1", "int:bits=2", "int3", "int:bits=4,grid=midrise",
                                       "int8", "fp4", "2:4+int4"};
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
        CHECK(pr("quest", rows[k], N, D, 0, &o, &d) == CM_OK, "quest row %s: %s", rows[k], d.msg);
    CHECK(pr("quartet", "mxfp4", N, D, 0, &o, &d) == CM_OK, "quartet row: %s", d.msg);
    /* a law that reads traits refuses a format given without its parsed pipeline */
    cm_law_input bare = {"int:bits=4,grid=midrise,pack=code,round=rne,scale=opt", 4, 0.01, N, D,
                         0, reg, NULL, NULL, NAN};
    CHECK(cm_law_predict(law("kumar"), &bare, &o, &d) == CM_EUNSUPPORTED,
          "kumar needs the parsed format");
    CHECK(pr("quest", "2:4+int4", N, D, 0, &o, &d) == CM_OK, "quest 2:4+int4");
    CHECK_NEAR(o.rho, a("quest_eff.eff_w_and_a_hadamard.2:4+int4"), 1e-6, "quest sparse");
    CHECK(pr("quest", "int:bits=3", N, D, CM_TENSOR_W, &o, &d) == CM_OK, "weight-only");
    CHECK_NEAR(o.rho, a("quest_eff.eff_weight_only.3"), 1e-6, "quest weight-only");
    CHECK(pr("quest-noh", "int2", N, D, 0, &o, &d) == CM_OK, "quest-noh");
    CHECK_NEAR(o.rho, a("quest_eff.eff_w_and_a_no_hadamard.2"), 1e-6, "no Hadamard");
    CHECK(pr("quest", "mxfp4", N, D, 0, &o, &d) == CM_EUNSUPPORTED && strstr(d.msg, "mxfp4"),
          "quest refuses mxfp4: %s", d.msg);
    CHECK(pr("quest", "int8", N, D, CM_TENSOR_W, &o, &d) == CM_EUNSUPPORTED,
          "no weight-only INT8 value");

    /* Kumar: N_eff = N prod (1 - e^(-P/gamma)), w and a at 4 bits, kv at 16 */
    CHECK(pr("kumar", "int4", N, D, 0, &o, &d) == CM_OK, "kumar");
    double gw = a("kumar_precision_law.constants.gamma_w"),
           ga = a("kumar_precision_law.constants.gamma_a"),
           gk = a("kumar_precision_law.constants.gamma_kv");
    double f = (1 - exp(-4 / gw)) * (1 - exp(-4 / ga)) * (1 - exp(-16 / gk));
    want = a("kumar_precision_law.constants.A") * pow(N * f, -a("kumar_precision_law.constants.alpha")) +
           a("kumar_precision_law.constants.B") * pow(D, -a("kumar_precision_law.constants.beta")) +
           a("kumar_precision_law.constants.E");
    CHECK_NEAR(o.loss, want, 1e-12 * want, "kumar loss");
    CHECK(pr("kumar", "e2m1", N, D, CM_TENSOR_W | CM_TENSOR_A | CM_TENSOR_KV, &o, &d) == CM_OK,
          "kumar fp");
    CHECK_NEAR(o.rho,
               (1 - exp(-4 / gw)) * (1 - exp(-4 / ga)) * (1 - exp(-4 / gk)) /
                   ((1 - exp(-16 / gw)) * (1 - exp(-16 / ga)) * (1 - exp(-16 / gk))),
               1e-12, "kumar rho, all three tensors");
    CHECK(pr("kumar", "2:4", N, D, 0, &o, &d) == CM_EUNSUPPORTED, "kumar refuses sparsity");

    /* Chen: delta_p = k D^gD (log2 G)^gG / N^gN */
    CHECK(pr("chen-qat", "int4:block=64", N, D, CM_TENSOR_W, &o, &d) == CM_OK, "chen w4a16");
    want = a("chen_qat_law.delta.w4a16.k") * pow(D, a("chen_qat_law.delta.w4a16.gamma_D")) *
           pow(6, a("chen_qat_law.delta.w4a16.gamma_G")) /
           pow(N, a("chen_qat_law.delta.w4a16.gamma_N"));
    CHECK_NEAR(o.gap, want, 1e-12 * want, "chen gap");
    CHECK(isnan(o.loss), "chen gives no absolute loss");
    CHECK(pr("chen-qat", "int8:block=64", N, D, 0, &o, &d) == CM_EUNSUPPORTED, "chen: 4-bit");
    CHECK(pr("chen-qat", "int4", N, D, 0, &o, &d) == CM_EUNSUPPORTED &&
              strstr(d.msg, "block=G"),
          "chen needs a group: %s", d.msg);
    CHECK(pr("chen-qat", "int4:block=64", N, D, CM_TENSOR_KV, &o, &d) == CM_EUNSUPPORTED,
          "chen: no KV fit");

    /* Capybara: E4M3 block 128 */
    CHECK(pr("capybara", "fp:e=4,m=3,block=128", N, D, 0, &o, &d) == CM_OK, "capybara");
    double nal = a("capybara_fp_law.constants.alpha"), dbe = a("capybara_fp_law.constants.beta");
    want = a("capybara_fp_law.constants.n") / pow(N, nal) +
           a("capybara_fp_law.constants.d") / pow(D, dbe) + a("capybara_fp_law.constants.eps") +
           pow(D, dbe) / pow(N, nal) * 7 /
               (a("capybara_fp_law.constants.gamma") *
                pow(4.5, a("capybara_fp_law.constants.delta")) *
                pow(3.5, a("capybara_fp_law.constants.nu")));
    CHECK_NEAR(o.loss, want, 1e-12 * want, "capybara loss");
    CHECK(pr("capybara", "int4:block=32", N, D, 0, &o, &d) == CM_EUNSUPPORTED &&
              strstr(d.msg, "floating-point"),
          "capybara refuses INT: %s", d.msg);
    CHECK(pr("capybara", "e2m1", N, D, 0, &o, &d) == CM_EUNSUPPORTED && strstr(d.msg, "13.1567"),
          "capybara needs a block: %s", d.msg);

    /* Quartet */
    CHECK(pr("quartet", "mxfp4", 1e8, 1e10, CM_TENSOR_W | CM_TENSOR_A | CM_TENSOR_G, &o, &d) ==
              CM_OK,
          "quartet");
    want = pow(127444.7 * pow(1e8 * 0.65835, -0.578520) + 465834.3 * pow(1e10 * 0.82174, -0.538877),
               0.276416) + 1.340846;
    CHECK_NEAR(o.loss, want, 1e-12 * want, "quartet loss");
    CHECK(pr("quartet", "nvfp4", 1e8, 1e10, 0, &o, &d) == CM_EUNSUPPORTED, "quartet: mxfp4 only");

    /* unified laws: rho from the map; unified-llama-c4 has no A, B */
    CHECK(pr("unified-llama-c4", "int4", N, D, 0, &o, &d) == CM_OK, "llama");
    CHECK_NEAR(o.rho, a("unified_tanh_law.llama_c4.L") *
                          pow(tanh(a("unified_tanh_law.llama_c4.F") * cm_eff_bits(0.011542884431350375)),
                              a("unified_tanh_law.llama_c4.C")),
               1e-9, "llama rho");
    CHECK(isnan(o.loss), "A, B unpublished: no loss");
    CHECK(pr("unified-quest", "int4", 0, D, 0, &o, &d) == CM_EINVAL, "N = 0 refused");
}

static void tensors(void)
{
    unsigned t;
    cm_diag d;
    CHECK(cm_tensors_parse("w,a,kv,g", &t, &d) == CM_OK && t == 15, "all four");
    CHECK(cm_tensors_parse("a", &t, &d) == CM_OK && t == CM_TENSOR_A, "a");
    const char *bad[] = {"", "w,", "w,w", "x", "w,,a", "wa"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(cm_tensors_parse(bad[i], &t, &d) == CM_EINVAL, "tensors '%s' must fail", bad[i]);
}

static void files(void)
{
    char dir[] = "/tmp/cmlawXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p[256];
    snprintf(p, sizeof p, "%s/l.json", dir);
    cm_law *l = NULL;
    cm_diag d;
    FILE *f = fopen(p, "w");
    fputs("{\"capmetric_law\": 1, \"name\": \"mine\", \"kind\": \"unified\", \"constants\": "
          "{\"A\": 8, \"alpha\": 0.06, \"B\": 80, \"beta\": 0.24, \"E\": 0}, \"families\": "
          "[{\"F\": 0.4, \"C\": 3, \"L\": 1}]}",
          f);
    fclose(f);
    CHECK(cm_law_load(p, &l, &d) == CM_OK, "load: %s", d.msg);
    if (l) {
        CHECK(!strcmp(cm_law_name(l), "mine") && cm_law_has_map(l), "loaded law");
        CHECK_NEAR(cm_law_rho(l, 0.01), pow(tanh(0.4 * cm_eff_bits(0.01)), 3), 1e-15, "rho");
        cm_law_input in = {"x", 4, 0.01, 1e9, 1e10, 0, NULL, NULL, NULL, NAN};
        cm_law_output o;
        CHECK(cm_law_predict(l, &in, &o, &d) == CM_OK, "predict");
        double rho = pow(tanh(0.4 * cm_eff_bits(0.01)), 3);
        CHECK_NEAR(o.loss, 8 * pow(1e9 * rho, -0.06) + 80 * pow(1e10, -0.24), 1e-12, "loss");
        cm_law_free(l);
    }
    struct {
        const char *text, *msg;
    } bad[] = {
        {"not json", "not valid JSON (line 1, column 1)"},
        {"{\"capmetric_law\": 2, \"name\": \"x\"}", "capmetric_law"},
        {"{\"capmetric_law\": 1, \"kind\": \"map\"}", "'name"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"cubic\"}", "'kind"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"map\"}", "families"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"decoupled\", \"constants\": "
         "{\"A\": 1, \"alpha\": 1, \"B\": 1, \"beta\": 1, \"E\": 1}}",
         "table"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"decoupled\", \"constants\": "
         "{\"A\": 1, \"alpha\": 1, \"B\": 1, \"beta\": 1, \"E\": 1}, \"table\": [{\"label\": 3}]}",
         "table[]"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"map\", \"families\": "
         "[{\"F\": 0.4, \"C\": -1, \"L\": 1}]}",
         "positive"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"quartet\", \"constants\": "
         "{\"A\": -1, \"alpha\": 1, \"B\": 1, \"beta\": 1, \"E\": 1}, \"table\": []}",
         "A, B, gamma > 0"},
        /* the extras fit --save writes: the runs' range, the replicates */
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"map\", \"families\": "
         "[{\"F\": 0.4, \"C\": 1, \"L\": 1}], \"range\": {\"N\": [5, 1], \"D\": [1, 2]}}",
         "range (positive, low <= high)"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"map\", \"families\": "
         "[{\"F\": 0.4, \"C\": 1, \"L\": 1}], \"range\": {\"N\": [1]}}",
         "range (N and D"},
        {"{\"capmetric_law\": 1, \"name\": \"x\", \"kind\": \"unified\", \"constants\": "
         "{\"A\": 8, \"alpha\": 0.06, \"B\": 80, \"beta\": 0.24, \"E\": 0}, \"families\": "
         "[{\"F\": 0.4, \"C\": 3, \"L\": 1}], \"bootstrap\": [[1, 2, 3]]}",
         "bootstrap (arrays of 8 numbers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = fopen(p, "w");
        fputs(bad[i].text, f);
        fclose(f);
        l = NULL;
        CHECK(cm_law_load(p, &l, &d) == CM_EPARSE && strstr(d.msg, bad[i].msg) && !l,
              "bad law file %zu: %s", i, d.msg);
    }
    remove(p);
    CHECK(cm_law_load(p, &l, &d) == CM_EIO, "missing law file");
    rmdir(dir);
}

/* ouyang-qid against its equation computed here in log form (arXiv 2411.17691 Eq. 8:
 * k 0.017, alpha 0.2261, beta 0.5316, gamma 5.4451); unified-quartet2 against its form;
 * ranges and intervals */
static void laws_2026(void)
{
    cm_law_output o;
    cm_diag d;
    const double N = 7e9, D = 1e13;
    static const int P[] = {2, 3, 4, 8};
    for (int i = 0; i < 4; i++) {
        char spec[32];
        snprintf(spec, sizeof spec, "int:bits=%d", P[i]);
        CHECK(pr("ouyang-qid", spec, N, D, CM_TENSOR_W, &o, &d) == CM_OK, "ouyang %s: %s", spec,
              d.msg);
        double want = exp(log(0.017) + 0.5316 * log(D) - 0.2261 * log(N) - 5.4451 * log(P[i]));
        CHECK_REL(o.gap, want, 1e-12, "ouyang gap at P=%d", P[i]);
        CHECK(isnan(o.loss), "ouyang has no absolute loss");
    }
    CHECK(pr("ouyang-qid", "nf4", N, D, CM_TENSOR_W, &o, &d) == CM_EUNSUPPORTED,
          "ouyang refuses a lookup table");
    /* unified-quartet2: forward (w,a) and backward (g) */
    const cm_law *l = law("unified-quartet2");
    cm_pipeline *p = t_spec(reg, "nvfp4");
    cm_result r;
    cm_eval_opts eo;
    cm_eval_opts_default(&eo);
    cm_pipeline *pp[1] = {p};
    CHECK(cm_eval(pp, 1, &eo, &r, NULL, NULL, &d) == CM_OK, "eval nvfp4");
    /* the constants of `capmetric validate`'s fit (its section "Quartet II") */
    const double A = 6502.875775006827, al = 0.35719606888575256, B = 325838.1916567698,
                 be = 0.5064813575147683, E = 0.745237739272578, ga = 0.306916397242537,
                 kN = 39.43595337590226, kG = 1.321116216030924, kM = 0.1094780243870499;
    double n = 1e8, dd = 4e9;
    cm_law_input in = {r.spec, r.bits, r.gmse, n, dd, 0, reg, "nvfp4", p, r.misalignment};
    CHECK(cm_law_predict(l, &in, &o, &d) == CM_OK, "unified-quartet2 w,a: %s", d.msg);
    double en = 1 / (1 + kN * r.gmse);
    CHECK_REL(o.loss, pow(A * pow(n * en, -al) + B * pow(dd, -be), ga) + E, 1e-12, "q2 forward");
    in.tensors = CM_TENSOR_G;
    CHECK(cm_law_predict(l, &in, &o, &d) == CM_OK, "unified-quartet2 g");
    double ed = 1 / (1 + 4 * (kG * r.gmse + kM * fabs(r.misalignment)));
    CHECK_REL(o.loss, pow(A * pow(n, -al) + B * pow(dd * ed, -be), ga) + E, 1e-12, "q2 backward");
    in.tensors = CM_TENSOR_W;
    CHECK(cm_law_predict(l, &in, &o, &d) == CM_EUNSUPPORTED, "q2 refuses weights alone");
    /* intervals: replicates where a law has them, around its point prediction */
    in.tensors = 0;
    cm_law_output lo, hi;
    CHECK(cm_law_predict(l, &in, &o, &d) == CM_OK, "q2");
    CHECK(cm_law_interval(l, &in, 0.9, &lo, &hi, &d) == CM_OK, "q2 interval: %s", d.msg);
    CHECK(lo.loss <= o.loss && o.loss <= hi.loss && lo.loss < hi.loss, "q2 interval %g..%g around %g",
          lo.loss, hi.loss, o.loss);
    cm_law_output lo50, hi50;
    CHECK(cm_law_interval(l, &in, 0.5, &lo50, &hi50, &d) == CM_OK &&
              lo50.loss >= lo.loss && hi50.loss <= hi.loss,
          "a 50 %% interval inside the 90 %% one");
    CHECK(cm_law_interval(l, &in, 1.5, &lo, &hi, &d) == CM_EINVAL, "level 1.5 refused");
    CHECK(cm_law_interval(law("quest"), &in, 0.9, &lo, &hi, &d) == CM_EUNSUPPORTED,
          "quest has no replicates");
    double dlo, dhi;
    CHECK(cm_law_diff_interval(l, &in, &in, 0.9, &dlo, &dhi, &d) == CM_OK && dlo == 0 && dhi == 0,
          "a format against itself differs by 0 in every replicate");
    cm_pipeline_free(p);
    double nl, nh, dl, dh;
    CHECK(!cm_law_range(law("quest"), &nl, &nh, &dl, &dh) && nl == 30482560 && nh == 822151168,
          "quest's range");
    CHECK(cm_law_range(law("unified-llama-c4"), &nl, &nh, &dl, &dh) == -1,
          "unified-llama-c4 records no range");
    CHECK(cm_law_undetermined(l) != NULL && cm_law_undetermined(law("quest")) == NULL,
          "undetermined constants");
}

int main(int argc, char **argv)
{
    t_anchor_dir = argc > 1 ? argv[1] : getenv("CM_ANCHORS");
    cap = t_load_json("capacity.json");
    cm_diag d;
    if (cm_registry_alloc(&reg, &d)) {
        fprintf(stderr, "registry: %s\n", d.msg);
        return 1;
    }
    registry();
    predictions();
    tensors();
    files();
    laws_2026();
    cm_registry_free(reg);
    cJSON_Delete(cap);
    return t_done("law");
}
