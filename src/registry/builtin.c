/* The table of built-in families: one const pointer per family folder. */
#include "builtin_int.h"

extern const cm_format cm_format_int;
extern const cm_format cm_format_fp;
extern const cm_format cm_format_lut;
extern const cm_format cm_format_lloydmax;
extern const cm_format cm_format_e8m0;
extern const cm_format cm_format_sparse;
extern const cm_format cm_format_nm;
extern const cm_format cm_format_outlier;
extern const cm_format cm_format_vq;
extern const cm_format cm_format_rht;
extern const cm_format cm_format_hadamard;
extern const cm_format cm_format_multigrid;

static const cm_format *const builtin[] = {
    &cm_format_int,
    &cm_format_fp,
    &cm_format_lut,
    &cm_format_lloydmax,
    &cm_format_e8m0,
    &cm_format_sparse,
    &cm_format_nm,
    &cm_format_outlier,
    &cm_format_vq,
    &cm_format_rht,
    &cm_format_hadamard,
    &cm_format_multigrid,
};

const cm_format *const *cm_builtin_init(const cm_host *host, size_t *count)
{
    if (CM_ABI_MAJOR_OF(host->abi) != CM_ABI_MAJOR)
        return NULL;
    *count = sizeof builtin / sizeof builtin[0];
    return builtin;
}
