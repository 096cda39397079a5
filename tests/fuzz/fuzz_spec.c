/* The spec parser and its canonical round trip: any text either parses or is
 * refused with a status and a position inside the text; a parsed spec's
 * canonical text parses again to the same canonical text. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (fuzz_slow_spec(s)) {
        free(s);
        return 0;
    }
    cm_registry *reg = fuzz_registry();
    cm_pipeline *p = NULL;
    cm_diag d;
    cm_status st = cm_spec_parse(reg, s, &p, &d);
    if (st) {
        if (p || d.pos < -1 || d.pos > (long)strlen(s) || !d.msg[0])
            abort(); /* a refusal names its reason and points inside the text */
    } else {
        const char *c1 = cm_pipeline_canonical(p);
        cm_pipeline *q = NULL;
        if (cm_spec_parse(reg, c1, &q, &d) || strcmp(cm_pipeline_canonical(q), c1))
            abort(); /* canonical specs are fixed points of the parser */
        if (!(cm_pipeline_bits(p) >= 0) || cm_pipeline_group(p) < 1)
            abort();
        cm_pipeline_free(q);
    }
    cm_pipeline_free(p);
    free(s);
    return 0;
}
