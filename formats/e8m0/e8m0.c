/* Family `e8m0`: the OCP MX scale format as an element grid: unsigned powers
 * of two 2^(c - 127) for codes c = 0..254, code 255 = NaN; no zero, no sign,
 * no Inf (OCP MX v1.0 section 5.4; tests/anchors/formats.json e8m0_scale).
 * Rounding to the nearest value (linear distance), ties to the even code;
 * saturation at both ends (zero and negative values go to 2^-127, +-Inf to
 * 2^127 / 2^-127). Mostly useful for its bit-exact codec and as a reference
 * for how far a pure exponent format is from Gaussian data. */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <math.h>
#include <stdlib.h>

#include "../host_int.h"

typedef struct e8m0 {
    cm_grid grid;
} e8m0;

static cm_status e8_parse(const cm_value *v, void **out, cm_diag *d)
{
    (void)v;
    double lv[255];
    for (int c = 0; c < 255; c++)
        lv[c] = ldexp(1.0, c - 127);
    e8m0 *p = malloc(sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    cm_status st = CM_HOST->grid_init(&p->grid, lv, 255, d);
    if (st) {
        free(p);
        return st;
    }
    *out = p;
    return CM_OK;
}

static void e8_free(void *pp)
{
    e8m0 *p = pp;
    if (p) {
        CM_HOST->grid_fini(&p->grid);
        free(p);
    }
}

static double e8_bits(const void *p)
{
    (void)p;
    return 8;
}

static size_t e8_group(const void *p)
{
    (void)p;
    return 1;
}

static void e8_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    (void)state;
    CM_HOST->grid_quantize(&((const e8m0 *)pp)->grid, x, y, n);
}

static cm_status e8_levels(const void *pp, double *out, size_t cap, size_t *count)
{
    return CM_HOST->grid_levels(&((const e8m0 *)pp)->grid, out, cap, count);
}

static cm_status e8_encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    const e8m0 *p = pp;
    for (size_t i = 0; i < n; i++)
        codes[i] = isnan(x[i]) ? 255u : CM_HOST->grid_index(&p->grid, x[i]);
    return CM_OK;
}

static cm_status e8_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    const e8m0 *p = pp;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] > 255)
            return CM_ERANGE;
        x[i] = codes[i] == 255 ? NAN : p->grid.lv[codes[i]];
    }
    return CM_OK;
}

const cm_format cm_format_e8m0 = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "e8m0",
    .summary = "OCP MX E8M0: unsigned powers of two 2^-127..2^127 (the MX scale format)",
    .flags = CM_FORMAT_SCALAR,
    .params_parse = e8_parse,
    .params_free = e8_free,
    .bits_per_value = e8_bits,
    .group = e8_group,
    .quantize = e8_quantize,
    .levels = e8_levels,
    .encode = e8_encode,
    .decode = e8_decode,
};
