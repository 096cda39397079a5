/* Minimal test harness shared by the test programs: CHECK macros that count
 * failures, and access to the anchors (tests/anchors, JSON) through cJSON. */
#ifndef CM_TESTUTIL_H
#define CM_TESTUTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_fail, t_pass;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            t_pass++;                                                       \
        } else {                                                            \
            t_fail++;                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define CHECK_NEAR(x, ref, tol, what)                                                  \
    CHECK(fabs((double)(x) - (double)(ref)) <= (tol),                                  \
          "%s: got %.12g, expected %.12g +- %.3g (off by %.3g)", what, (double)(x),     \
          (double)(ref), (double)(tol), fabs((double)(x) - (double)(ref)))

static inline int t_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* Anchor directory: argv[1] or $CM_ANCHORS. */
static const char *t_anchor_dir;

static inline cJSON *t_load_json(const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", t_anchor_dir ? t_anchor_dir : ".", file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open anchor file %s\n", path);
        exit(99);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(99);
    }
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) {
        fprintf(stderr, "anchor file %s is not valid JSON\n", path);
        exit(99);
    }
    return j;
}

/* Node at a dotted path ("lloyd_max.mse.4"); exits if absent. */
static inline const cJSON *t_at(const cJSON *root, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *n = root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        n = cJSON_GetObjectItemCaseSensitive(n, k);
        if (!n) {
            fprintf(stderr, "anchor '%s' not found\n", path);
            exit(99);
        }
    }
    return n;
}

static inline double t_num(const cJSON *root, const char *path)
{
    const cJSON *n = t_at(root, path);
    if (cJSON_IsString(n))
        return strtod(n->valuestring, NULL);
    if (!cJSON_IsNumber(n)) {
        fprintf(stderr, "anchor '%s' is not a number\n", path);
        exit(99);
    }
    return n->valuedouble;
}

/* Half a unit in the last printed digit of an anchor value: the tolerance
 * that "equal to the stated digits" means. */
static inline double t_digits_tol(double ref)
{
    char b[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(b, sizeof b, "%.*g", p, ref);
        if (strtod(b, NULL) == ref)
            break;
    }
    double e = floor(log10(fabs(ref)));
    return 0.5 * pow(10.0, e - p + 1) * (1 + 1e-9);
}

#ifdef CAPMETRIC_CAPMETRIC_H
/* Parse `spec` in `reg` and plan it (the engine's resolved scales), or end
 * the test program (exit 99, a hard error for meson): a spec the test itself
 * wrote must be valid. The plan owns nothing: free with t_free, which
 * releases the plan and its pipeline. */
static inline cm_plan *t_parse(cm_registry *reg, const char *spec)
{
    cm_pipeline *p = NULL;
    cm_plan *plan = NULL;
    cm_diag d;
    if (cm_spec_parse(reg, spec, &p, &d) || cm_plan_alloc(p, &plan, &d)) {
        fprintf(stderr, "cannot use '%s': %s\n", spec, d.msg);
        cm_pipeline_free(p);
        exit(99);
    }
    return plan;
}

/* Parse `spec` (no plan: for cm_eval, which plans itself), or exit 99. */
static inline cm_pipeline *t_spec(cm_registry *reg, const char *spec)
{
    cm_pipeline *p = NULL;
    cm_diag d;
    if (cm_spec_parse(reg, spec, &p, &d)) {
        fprintf(stderr, "cannot use '%s': %s\n", spec, d.msg);
        exit(99);
    }
    return p;
}

/* the pipeline of a test's plan */
static inline cm_pipeline *t_pipe(const cm_plan *plan) { return (cm_pipeline *)cm_plan_pipeline(plan); }

static inline void t_free(cm_plan *plan)
{
    if (!plan)
        return;
    cm_pipeline *p = t_pipe(plan);
    cm_plan_free(plan);
    cm_pipeline_free(p);
}
#endif

#endif
