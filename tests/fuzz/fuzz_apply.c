/* A spec (up to the first newline) applied to the values that follow (raw
 * doubles: NaN, infinities, subnormals, huge): no crash, no undefined
 * behaviour, and the same output twice. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    char *s = fuzz_text(data, (size_t)(nl - data));
    if (fuzz_slow_spec(s)) {
        free(s);
        return 0;
    }
    cm_pipeline *p = NULL;
    cm_plan *plan = NULL;
    cm_pipeline_state *st = NULL;
    cm_diag d;
    if (cm_spec_parse(fuzz_registry(), s, &p, &d) || cm_plan_alloc(p, &plan, &d)) {
        cm_pipeline_free(p);
        free(s);
        return 0;
    }
    size_t nv = (size - (size_t)(nl - data) - 1) / sizeof(double), g = cm_pipeline_group(p);
    size_t n = (nv + g - 1) / g * g;
    if (n == 0 || n > 65536)
        n = g;
    double *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *z = calloc(n, sizeof *z);
    if (!x || !y || !z)
        abort();
    if (nv > n)
        nv = n;
    memcpy(x, nl + 1, nv * sizeof *x);
    if (cm_plan_state_alloc(plan, n, &st, &d) == CM_OK) {
        cm_pipeline_state_seed(p, st, 7);
        cm_pipeline_apply(p, st, x, y, n);
        cm_pipeline_state_seed(p, st, 7);
        cm_pipeline_apply(p, st, x, z, n);
        if (memcmp(y, z, n * sizeof *y))
            abort(); /* deterministic for one seed */
        cm_pipeline_state_free(p, st);
    }
    free(x);
    free(y);
    free(z);
    cm_plan_free(plan);
    cm_pipeline_free(p);
    free(s);
    return 0;
}
