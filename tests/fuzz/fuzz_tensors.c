/* Tensor files (.npy, .safetensors): any bytes are read or refused with a
 * message; every tensor read is evaluated and quantized (small ones, with
 * padding) without touching a byte outside the input. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cm_pipeline *p[2];
    cm_diag d;
    if (!p[0] && (cm_spec_parse(fuzz_registry(), "mxfp4", &p[0], &d) ||
                  cm_spec_parse(fuzz_registry(), "int:bits=3,block=3", &p[1], &d)))
        abort();
    /* a copy of exactly `size` bytes: reading past it is a finding */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    cm_tensor_file *f = NULL;
    cm_status s = cm_tensor_file_parse(copy, size, "fuzz", &f, &d);
    if (s != CM_OK) {
        if (f || !d.msg[0])
            abort();
        free(copy);
        return 0;
    }
    for (size_t i = 0; i < cm_tensor_file_count(f); i++) {
        cm_array a;
        uint64_t bytes;
        cm_tensor_file_raw(f, i, &bytes);
        if (!cm_tensor_file_array(f, i, &a) || cm_array_count(&a) > 4096)
            continue;
        cm_array_opts o;
        cm_array_opts_default(&o);
        o.pad = 1;
        o.threads = 1;
        cm_array_stats st;
        float out[4096];
        for (int k = 0; k < 2; k++) {
            s = cm_array_eval(p[k], &a, &o, &st, &d);
            if (s == CM_OK && !(st.values == cm_array_count(&a)))
                abort();
            cm_array_quantize(p[k], &a, &o, out, CM_DTYPE_F32, NULL, &d);
        }
    }
    cm_tensor_file_close(f);
    free(copy);
    return 0;
}
