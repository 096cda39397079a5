/* Spec parser, canonical specs, aliases, composition, and every refusal of
 * the parser and of the registry (with its message and position). */
#include <capmetric/capmetric.h>

#include <unistd.h>

#include "../testutil.h"

static cm_registry *reg;
static char tmpdir[] = "/tmp/cm_spec_XXXXXX";

static char *canon(const char *spec)
{
    cm_pipeline *p = NULL;
    cm_diag d;
    cm_status s = cm_spec_parse(reg, spec, &p, &d);
    CHECK(s == CM_OK, "'%s' should parse: %s", spec, d.msg);
    if (s)
        return strdup("(error)");
    char *c = strdup(cm_pipeline_canonical(p));
    cm_pipeline_free(p);
    return c;
}

static void same(const char *a, const char *b)
{
    char *x = canon(a), *y = canon(b);
    CHECK(!strcmp(x, y), "'%s' and '%s' should have one canonical spec: '%s' vs '%s'", a, b, x,
          y);
    free(x);
    free(y);
}

static void bad(const char *spec, cm_status want, const char *msg_part, long pos)
{
    cm_pipeline *p = NULL;
    cm_diag d;
    cm_status s = cm_spec_parse(reg, spec, &p, &d);
    CHECK(s == want, "'%s': status %d (%s), expected %d (%s); message: %s", spec, s,
          cm_strerror(s), want, cm_strerror(want), d.msg);
    CHECK(p == NULL, "'%s': no pipeline on failure", spec);
    CHECK(strstr(d.msg, msg_part) != NULL, "'%s': message '%s' should mention '%s'", spec, d.msg,
          msg_part);
    if (pos >= 0)
        CHECK(d.pos == pos, "'%s': error position %ld, expected %ld", spec, d.pos, pos);
    cm_pipeline_free(p);
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

static void good_specs(void)
{
    char *c = canon("int4");
    CHECK(!strcmp(c, "int:bits=4,grid=midrise,pack=code,round=rne,scale=opt"), "canonical of int4: %s", c);
    free(c);
    same("int4", "int:bits=4");
    same("int4", "int:grid=midrise,bits=4,scale=opt");
    same("int", "int4");
    same("e2m1", "fp:e=2,m=1");
    same("fp4", "fp:m=1,e=2,bias=1,special=none");
    same("fp:e=2,m=1,special=ocp", "e2m1"); /* OCP has no special codes for FP4 */
    same("e5m2", "fp:e=5,m=2,special=ieee");
    same("lut:values=1;-1;0", "lut:values=-1;0;1");
    same("lut:values=-1;-0;1", "lut:values=-1;0;1");
    same("lut:values=1e+0;-1e0", "lut:values=-1;1");
    same("lut:name=nf4",
         "lut:values=-1.0;-0.6961928009986877;-0.5250730514526367;-0.39491748809814453;"
         "-0.28444138169288635;-0.18477343022823334;-0.09105003625154495;0.0;"
         "0.07958029955625534;0.16093020141124725;0.24611230194568634;0.33791524171829224;"
         "0.44070982933044434;0.5626170039176941;0.7229568362236023;1.0");
    char *path = write_tmp("t.json", "{\"values\": [0.5, -0.5, 1.5, -1.5]}");
    char spec[700];
    snprintf(spec, sizeof spec, "lut:file=%s", path);
    same(spec, "lut:values=-1.5;-0.5;0.5;1.5");
    path = write_tmp("bare.json", "[1, 0, -1]");
    snprintf(spec, sizeof spec, "lut:file=%s", path);
    same(spec, "lut:values=-1;0;1");
    same("int:scale=0.5", "int:bits=4,scale=5e-1");
    same("int4:bits=5", "int5"); /* keys typed after an alias override the alias's */

    cm_pipeline *p;
    cm_diag d;
    CHECK(cm_spec_parse(reg, "int4+e2m1", &p, &d) == CM_OK, "composition: %s", d.msg);
    CHECK(cm_pipeline_stages(p) == 2, "two stages");
    CHECK(!strcmp(cm_pipeline_family(p), "int+fp"), "family of a composition: %s",
          cm_pipeline_family(p));
    CHECK(strchr(cm_pipeline_canonical(p), '+') != NULL, "canonical composition keeps '+'");
    cm_pipeline_free(p);
    CHECK(cm_spec_parse(reg, "ternary", &p, &d) == CM_OK, "ternary");
    CHECK(fabs(cm_pipeline_bits(p) - log2(3.0)) < 1e-15, "ternary bits %g", cm_pipeline_bits(p));
    cm_pipeline_free(p);
    CHECK(cm_spec_parse(reg, "int:bits=4,grid=symmetric", &p, &d) == CM_OK, "sym");
    CHECK(cm_pipeline_bits(p) == 4.0, "int4 symmetric stores 4 bits (pack=code)");
    cm_pipeline_free(p);
    CHECK(cm_spec_parse(reg, "lloydmax:levels=5,pack=dense", &p, &d) == CM_OK, "lm5");
    CHECK(fabs(cm_pipeline_bits(p) - log2(5.0)) < 1e-15, "lloydmax 5 dense bits");
    cm_pipeline_free(p);
}

/* the "did you mean" of every unknown-name message: cm_suggest picks a slip
 * of the keyboard (a swap, one letter) and nothing far; cm_did_you_mean words it */
static void suggestions(void)
{
    static const char *const names[] = {"auto", "exact", "mc", "laplace", "gauss"};
    char b[64];
    CHECK(!strcmp(cm_suggest("exct", names, 5), "exact"), "exct -> exact");
    CHECK(!strcmp(cm_suggest("lapalce", names, 5), "laplace"), "lapalce -> laplace (a swap)");
    CHECK(!strcmp(cm_suggest("GAUSS", names, 5), "gauss"), "case is not a slip");
    CHECK(cm_suggest("student", names, 5) == NULL, "nothing near 'student'");
    CHECK(!strcmp(cm_did_you_mean("exact", b, sizeof b), "; did you mean 'exact'?"), "%s", b);
    CHECK(!strcmp(cm_did_you_mean(NULL, b, sizeof b), ""), "no suggestion, no hint: '%s'", b);
    CHECK(!strcmp(cm_did_you_mean("exact", b, 8), "; did y"), "truncated to the buffer: '%s'", b);
}

static void bad_specs(void)
{
    char *c;
    bad("", CM_EPARSE, "empty spec", 0);
    bad("foo", CM_ENOTFOUND, "unknown format 'foo'", 0);
    bad("foo", CM_ENOTFOUND, "int, fp, lut, lloydmax", 0);
    bad("int:bitz=4", CM_ENOTFOUND,
        "no key 'bitz'; did you mean 'bits'? (keys: bits, grid, pack, round, scale, block, scale_fmt, tensor_scale", 4);
    bad("int:bits=0", CM_ERANGE, "out of range", 9);
    bad("int:bits=17", CM_ERANGE, "from 1 to 16", 9);
    bad("fp:e=9", CM_ERANGE, "key 'e'", 5);
    bad("fp:m=24", CM_ERANGE, "key 'm'", 5);
    bad("lloydmax:levels=1", CM_ERANGE, "key 'levels'", 16);
    bad("int:bits=", CM_EPARSE, "empty value", 9);
    bad("int:bits=4,,", CM_EPARSE, "stray ','", 11);
    bad("int:bits=4,", CM_EPARSE, "stray ','", 11);
    bad("+int4", CM_EPARSE, "empty stage", 0);
    bad("int4+", CM_EPARSE, "empty stage", 4);
    bad("int4++e2m1", CM_EPARSE, "empty stage", 5);
    bad("int:bits=four", CM_EPARSE, "not an integer", 9);
    bad("int:bits=4.5", CM_EPARSE, "not an integer", 9);
    bad("int:bits=4,bits=5", CM_EDUP, "given twice", 11);
    bad("int:grid=square", CM_EPARSE, "midrise|symmetric|twos", 9);
    bad("int:scale=-1", CM_ERANGE, "out of range", 10);
    bad("int:scale=0", CM_ERANGE, "out of range", 10);
    bad("int:scale=nan", CM_EPARSE, "not a finite number", 10);
    bad("int:scale=inf", CM_EPARSE, "not a finite number", 10);
    bad("int:scale=0x10", CM_EPARSE, "not a finite number", 10);
    bad("int:scale=1e999", CM_EPARSE, "not a finite number", 10);
    bad("int:", CM_EPARSE, "nothing after ':'", 3);
    bad("int:bits", CM_EPARSE, "not of the form key=value", 4);
    bad("int:=4", CM_EPARSE, "missing key", 4);
    bad("int4 ", CM_EPARSE, "space", 4);
    bad(":bits=4", CM_EPARSE, "missing format name", 0);
    bad("int:bits=1,grid=symmetric", CM_ERANGE, "symmetric needs bits >= 2", 4);
    bad("fp:e=0,m=0", CM_ERANGE, "e + m must be at least 1", -1);
    bad("fp:e=0,m=3,subnormals=0", CM_ERANGE, "needs subnormals=1", 11);
    bad("fp:e=1,m=3,special=ieee", CM_ERANGE, "special=ieee needs e >= 2", 11);
    bad("fp:bias=2000", CM_ERANGE, "key 'bias'", 8);
    bad("fp:bias=1.5", CM_ERANGE, "bias must be an integer", 3);
    bad("fp:e=8,m=2,bias=-900", CM_ERANGE, "outside double range", 11);
    /* block scaling */
    bad("int:block=32,scale=0.5", CM_EINVAL, "one fixed scale for the tensor", 13);
    bad("int:block=32,scale=opt", CM_EINVAL, "one global MSE-optimal scale", 13);
    bad("int:scale=absmax", CM_EINVAL, "per-block rule: give block=K", 4);
    bad("int:scale_fmt=e8m0", CM_EINVAL, "scale_fmt applies to block scales", 4);
    bad("int:tensor_scale=fp32", CM_EINVAL, "tensor_scale applies to block scales", 4);
    bad("int:block=-1", CM_ERANGE, "key 'block'", 10);
    bad("int:block=4097", CM_ERANGE, "key 'block'", 10);
    bad("int:block=32,scale_fmt=e9m0", CM_EPARSE, "exact|fp32|bf16|fp16|e8m0|e4m3|ue4m3|e5m2", 23);
    bad("int:block=32,scale=median", CM_EPARSE, "opt|absmax|floor|ceil|even|rceil|mse", 19);
    bad("int:block=16,tensor_scale=fp32", CM_EINVAL, "narrow scale format", 13);
    bad("int:block=16,candidates=3", CM_EINVAL, "candidates applies to scale=mse only", 13);
    bad("int:block=16,scale_fmt=e4m3,tensor_amax=3", CM_EINVAL, "tensor_scale=fp32 only", 28);
    bad("lut:name=nf4,block=64,scale=floor", CM_EINVAL, "OCP MX power-of-two rules", 22);
    bad("lloydmax:levels=16,block=64,scale=even", CM_EINVAL, "OCP MX power-of-two rules", 28);
    bad("mxfp4:scale=opt", CM_EINVAL, "one global MSE-optimal scale", 6);
    same("mxfp4", "fp:e=2,m=1,block=32,scale=floor,scale_fmt=e8m0");
    same("int4_g32", "int:block=32,bits=4,grid=symmetric,scale=absmax");
    same("int:bits=4,grid=symmetric,block=32", "int4_g32"); /* absmax is the block default */
    same("nvfp4", "fp:e=2,m=1,block=16,scale_fmt=e4m3,tensor_scale=fp32,tensor_amax=6");
    c = canon("nf4");
    CHECK(strstr(c, ",scale=absmax,block=64,scale_fmt=exact,tensor_scale=none") != NULL,
          "canonical block keys: %s", c);
    free(c);
    cm_pipeline *bp;
    cm_diag bd;
    cm_spec_parse(reg, "mxfp4", &bp, &bd);
    CHECK(cm_pipeline_bits(bp) == 4.25 && cm_pipeline_group(bp) == 32, "mxfp4: 4.25 bits, group 32");
    cm_pipeline_free(bp);
    cm_spec_parse(reg, "nvfp4", &bp, &bd);
    CHECK(cm_pipeline_bits(bp) == 4.5 && cm_pipeline_group(bp) == 16, "nvfp4: 4.5 bits, group 16");
    cm_pipeline_free(bp);
    cm_spec_parse(reg, "nf4", &bp, &bd);
    CHECK(cm_pipeline_bits(bp) == 4.25, "nf4 (absmax, exact scale counted as 16 bits): 4.25 bits");
    cm_pipeline_free(bp);

    bad("lut", CM_EINVAL, "exactly one of", 0);
    bad("lut:name=nf4,values=1;2", CM_EINVAL, "exactly one of", -1);
    bad("lut:name=nf5", CM_EPARSE, "nf4|af4", 9);
    bad("lut:values=1;nan", CM_EPARSE, "item 2 'nan' is not a finite number", 11);
    bad("lut:values=1;;2", CM_EPARSE, "item 2", 11);
    bad("lut:values=1", CM_ERANGE, "1 items given", 11);
    bad("lut:values=1;1", CM_EINVAL, "appears twice", 4);
    bad("lut:file=/nonexistent/x.json", CM_EIO, "cannot open '/nonexistent/x.json'", 4);
    char spec[700];
    snprintf(spec, sizeof spec, "lut:file=%s", write_tmp("bad.json", "{\"values\": [1, 2,\n  ]"));
    bad(spec, CM_EPARSE, "not valid JSON (line 2", 4);
    snprintf(spec, sizeof spec, "lut:file=%s", write_tmp("shape.json", "{\"levels\": [1, 2]}"));
    bad(spec, CM_EPARSE, "must hold {\"values\"", 4);
    snprintf(spec, sizeof spec, "lut:file=%s", write_tmp("str.json", "[1, \"two\"]"));
    bad(spec, CM_EPARSE, "item 2 is not a finite number", 4);
    snprintf(spec, sizeof spec, "lut:file=%s", write_tmp("one.json", "[1]"));
    bad(spec, CM_ERANGE, "holds 1 values", 4);
    snprintf(spec, sizeof spec, "lut:file=%s", tmpdir);
    bad(spec, CM_EIO, "error reading", 4);
}

/* ---- registry refusals (what the plugin loader relies on) ---------------------- */

static cm_status p_parse(const cm_value *v, void **out, cm_diag *d)
{
    (void)v;
    (void)d;
    *out = NULL;
    return CM_OK;
}
static void p_free(void *p) { (void)p; }
static double p_bits(const void *p)
{
    (void)p;
    return 1;
}
static size_t p_group(const void *p)
{
    (void)p;
    return 1;
}
static void p_quant(const void *p, void *s, const double *x, double *y, size_t n)
{
    (void)p;
    (void)s;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? 1 : -1;
}

static const cm_param ok_params[] = {
    {.key = "k", .type = CM_PARAM_INT, .def = "1", .doc = "a key", .min = 0, .max = 3}};
static const cm_param bad_default[] = {
    {.key = "k", .type = CM_PARAM_INT, .def = "9", .doc = "a key", .min = 0, .max = 3}};
static const cm_param reserved[] = {
    {.key = "scale", .type = CM_PARAM_REAL, .def = "1", .doc = "mine", .min = 0, .max = 3}};
static const cm_alias dup_alias[] = {{"int4", "toy"}};

static cm_format toy(const char *name)
{
    cm_format f = {.abi = CM_ABI_VERSION, .size = sizeof(cm_format), .name = name,
                   .summary = "toy", .params = ok_params, .n_params = 1,
                   .params_parse = p_parse, .params_free = p_free, .bits_per_value = p_bits,
                   .group = p_group, .quantize = p_quant};
    return f;
}

static void registry_refusals(void)
{
    size_t n0 = cm_registry_count(reg), a0 = cm_registry_alias_count(reg);
    struct {
        cm_format f;
        cm_status want;
        const char *msg;
    } cases[11];
    size_t nc = 0;
#define CASE(name, field, value, st, m)                                                     \
    do {                                                                                    \
        cases[nc].f = toy(name);                                                           \
        cases[nc].f.field = value;                                                         \
        cases[nc].want = st;                                                               \
        cases[nc].msg = m;                                                                 \
        nc++;                                                                              \
    } while (0)
    CASE("toy_abi", abi, (CM_ABI_MAJOR + 1) << 16, CM_EABI, "major must match");
    CASE("toy_size", size, 16, CM_EPLUGIN, "smaller than");
    CASE("toy_null", quantize, NULL, CM_EPLUGIN, "'quantize' is NULL");
    CASE("toy_null2", params_parse, NULL, CM_EPLUGIN, "'params_parse' is NULL");
    CASE("toy_x", name, NULL, CM_EPLUGIN, "'name' is NULL");
    CASE("toy_x", name, "Bad-Name", CM_EPLUGIN, "not valid");
    CASE("toy_x", name, "int", CM_EDUP, "already registered");
    CASE("toy_x", name, "int4", CM_EDUP, "already registered");
    CASE("toy_def", params, bad_default, CM_EPLUGIN, "default of key 'k'");
    CASE("toy_res", params, reserved, CM_EPLUGIN, "reserved");
    cases[nc - 1].f.flags = CM_FORMAT_SCALAR;
    CASE("toy_alias", aliases, dup_alias, CM_EDUP, "alias 'int4'");
    cases[nc - 1].f.n_aliases = 1;
#undef CASE
    for (size_t i = 0; i < nc; i++) {
        cm_diag d;
        cm_diag_clear(&d);
        cm_status s = cm_registry_add(reg, &cases[i].f, "test", &d);
        CHECK(s == cases[i].want, "registry case %zu: status %d, expected %d (%s)", i, s,
              cases[i].want, d.msg);
        CHECK(strstr(d.msg, cases[i].msg) != NULL, "registry case %zu: '%s' lacks '%s'", i,
              d.msg, cases[i].msg);
    }
    CHECK(cm_registry_count(reg) == n0 && cm_registry_alias_count(reg) == a0,
          "refusals leave the registry unchanged");
    cm_diag d;
    CHECK(cm_registry_add(reg, NULL, "x", &d) == CM_EPLUGIN, "NULL format refused");
    static cm_format good;
    good = toy("toy_ok");
    CHECK(cm_registry_add(reg, &good, "test", &d) == CM_OK, "a valid format registers: %s", d.msg);
    char *c = canon("toy_ok");
    CHECK(!strcmp(c, "toy_ok:k=1"), "plugin-style format canonical: %s", c);
    free(c);
    bad("toy_ok:k=7", CM_ERANGE, "key 'k'", 9);
    CHECK(cm_registry_load_plugin(reg, "/nonexistent.so", &d) == CM_EPLUGIN &&
              strstr(d.msg, "/nonexistent.so"),
          "missing plugin file: %s", d.msg);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(tmpdir))
        return 99;
    cm_diag d;
    if (cm_registry_alloc(&reg, &d)) {
        fprintf(stderr, "registry: %s\n", d.msg);
        return 99;
    }
    good_specs();
    bad_specs();
    suggestions();
    registry_refusals();
    cm_registry_free(reg);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done("spec");
}
