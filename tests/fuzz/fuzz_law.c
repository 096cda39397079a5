/* Law files (`fit --save`): any bytes are loaded or refused; a loaded law
 * predicts without crashing. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    cm_law *l = NULL;
    cm_diag d;
    if (cm_law_load(path, &l, &d) == CM_OK) {
        static cm_pipeline *p;
        if (!p && cm_spec_parse(fuzz_registry(), "int4", &p, &d))
            abort();
        cm_law_input in = {cm_pipeline_canonical(p), 4, 0.0115, 1e9, 2e10, 0, fuzz_registry(),
                           "int4", p, 0.001};
        cm_law_output o;
        cm_law_predict(l, &in, &o, &d);
        cm_law_rho(l, 0.5);
        cm_law_free(l);
    } else if (l || !d.msg[0]) {
        abort();
    }
    close(fd);
    return 0;
}
