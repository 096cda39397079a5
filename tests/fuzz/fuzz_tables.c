/* Table files of formats: a lookup table (lut:file=) and a codebook
 * (vq:file=) read from the same bytes; each is accepted or refused. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], spec[128];
    int fd = fuzz_file(data, size, path, sizeof path);
    const char *forms[] = {"lut:file=%s", "vq:file=%s,scale=1"};
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof spec, forms[k], path);
        cm_pipeline *p = NULL;
        cm_diag d;
        if (cm_spec_parse(fuzz_registry(), spec, &p, &d) == CM_OK) {
            cm_pipeline_state *st = NULL;
            cm_plan *plan = NULL;
            size_t g = cm_pipeline_group(p);
            double x[64] = {0.5, -1, 3, 1e300, -0.0}, y[64];
            if (g <= 64 && !cm_plan_alloc(p, &plan, &d) &&
                !cm_plan_state_alloc(plan, g, &st, &d)) {
                cm_pipeline_apply(p, st, x, y, g);
                cm_pipeline_state_free(p, st);
            }
            cm_plan_free(plan);
        } else if (p || !d.msg[0]) {
            abort();
        }
        cm_pipeline_free(p);
    }
    close(fd);
    return 0;
}
