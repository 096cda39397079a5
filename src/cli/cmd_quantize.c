/* capmetric quantize SPEC IN OUT: the dequantized values of a tensor file,
 * element by element, to compare with one's framework. */
#include <capmetric/capmetric.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "tensors.h"

int cmd_quantize(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    if (!rc && o.nspecs != 3)
        rc = usage_error("%s", "quantize takes SPEC IN OUT (see 'capmetric quantize --help')");
    if (!rc && !strcmp(o.specs[1], o.specs[2]))
        rc = usage_error("quantize: OUT must differ from IN ('%s')", o.specs[2]);
    if (!rc)
        rc = load_registry(&o, &reg);
    if (!rc)
        rc = parse_specs(reg, o.specs, 1, &p);
    cm_dtype odt = CM_DTYPE_F32;
    if (!rc && o.dtype) {
        cm_diag d;
        cm_dtype_parse(o.dtype, &odt, &d); /* checked by parse_opts */
    }
    if (!rc)
        rc = quantize_file(&o, p[0], o.specs[1], o.specs[2], odt);
    if (p)
        free_specs(p, 1);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}
