/* Family `lut`: a lookup table of values at unit scale (rounded to the
 * nearest, ties to the even index, saturating), under the host's global
 * scale. The blockwise absmax NF4/AF4 of bitsandbytes are block formats and
 * come with block scaling; here the tables are used with one global scale.
 *   name=nf4 | af4   : the bitsandbytes constants (tests/anchors/formats.json;
 *                      hard-coded because regenerating NF4 from its recipe does
 *                      not reproduce the last digits, bitsandbytes#1772)
 *   values=v1;v2;... : any table of 2..65536 distinct finite values
 *   file=PATH.json   : {"values": [...]} or a bare array
 * The canonical spec always lists the values, so every spelling of one table
 * compares equal. */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"
#include "../tables/nf4.h"

#define LUT_MAX 65536

/* Yoshida arXiv 2306.06965; bitsandbytes get_4bit_type('af4') */
static const double af4[16] = {
    -1.0, -0.69441008, -0.51243739, -0.3736951, -0.25607552, -0.14982478, -0.04934812, 0.0,
    0.04273164, 0.12934483, 0.21961274, 0.31675666, 0.42563882, 0.55496234, 0.72424863, 1.0};

typedef struct lut_params {
    cm_grid g;
    int pack;
} lut_params;

static const cm_param lut_keys[] = {
    {.key = "name", .type = CM_PARAM_ENUM, .def = NULL,
     .doc = "a published table: nf4 or af4 (bitsandbytes constants)", .choices = "nf4|af4"},
    {.key = "values", .type = CM_PARAM_LIST, .def = NULL,
     .doc = "the table itself, values separated by ';'", .min = 2, .max = LUT_MAX},
    {.key = "file", .type = CM_PARAM_STRING, .def = NULL,
     .doc = "a JSON file: {\"values\": [...]} or [...]"},
    {.key = "pack", .type = CM_PARAM_ENUM, .def = "code",
     .doc = "bits reported: code = ceil(log2 n); dense = log2 n", .choices = "code|dense"},
};

static const cm_alias lut_aliases[] = {
    /* bitsandbytes: absmax blocks of 64 */
    {"nf4", "lut:name=nf4,block=64"},
    {"af4", "lut:name=af4,block=64"},
    {"nf4_global", "lut:name=nf4"},
    {"af4_global", "lut:name=af4"},
    /* ParetoQ's 2-bit SEQ grid (arXiv 2502.02631): zero-free, +-1/4 and +-3/4
     * of the range, at the MSE-optimal scale */
    {"seq2", "lut:values=-0.75;-0.25;0.25;0.75"},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Read a table from a JSON file; *out is malloc'ed. */
static cm_status read_file(const char *path, double **out, size_t *n, cm_diag *d)
{
    char *buf = NULL;
    cm_diag why;
    cm_status rs = CM_HOST->file_read(path, &buf, NULL, &why);
    if (rs) /* the host says what failed; say whose file it is */
        return cm_diag_set_key(d, rs, "file", "lut: %s", why.msg);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        long line = 1, col = 1;
        for (const char *c = buf; end && c < end; c++) {
            if (*c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        CM_HOST->file_free(buf);
        return cm_diag_set_key(d, CM_EPARSE, "file",
                               "lut: '%s' is not valid JSON (line %ld, column %ld)", path, line,
                               col);
    }
    CM_HOST->file_free(buf);
    const cJSON *arr = cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "values");
    cm_status st = CM_OK;
    if (!cJSON_IsArray(arr)) {
        st = cm_diag_set_key(d, CM_EPARSE, "file",
                             "lut: '%s' must hold {\"values\": [numbers]} or [numbers]", path);
    } else {
        size_t k = (size_t)cJSON_GetArraySize(arr);
        if (k < 2 || k > LUT_MAX)
            st = cm_diag_set_key(d, CM_ERANGE, "file",
                                 "lut: '%s' holds %zu values (accepted: 2 to %d)", path, k,
                                 LUT_MAX);
        double *v = st ? NULL : malloc(k * sizeof *v);
        if (!st && !v)
            st = cm_diag_set(d, CM_ENOMEM, "out of memory");
        size_t i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            if (st)
                break;
            if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
                st = cm_diag_set_key(d, CM_EPARSE, "file",
                                     "lut: '%s': item %zu is not a finite number", path, i + 1);
            else
                v[i++] = it->valuedouble;
        }
        if (st) {
            free(v);
        } else {
            *out = v;
            *n = k;
        }
    }
    cJSON_Delete(root);
    return st;
}

static cm_status lut_parse(const cm_value *v, void **out, cm_diag *d)
{
    int given = v[0].present + v[1].present + v[2].present;
    if (given != 1)
        return cm_diag_set_key(d, CM_EINVAL, given ? "values" : "",
                               "lut: give exactly one of name=nf4|af4, values=v1;v2;... or "
                               "file=PATH.json (%d given)",
                               given);
    double *vals = NULL;
    size_t k = 0;
    if (v[0].present) {
        const double *t = v[0].num == 0 ? cm_nf4 : af4;
        k = 16;
        vals = malloc(k * sizeof *vals);
        if (vals)
            memcpy(vals, t, k * sizeof *vals);
    } else if (v[1].present) {
        k = v[1].len;
        vals = malloc(k * sizeof *vals);
        if (vals)
            memcpy(vals, v[1].list, k * sizeof *vals);
    } else {
        cm_status st = read_file(v[2].text, &vals, &k, d);
        if (st)
            return st;
    }
    if (!vals)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    qsort(vals, k, sizeof *vals, cmp_double);
    for (size_t i = 0; i < k; i++)
        if (vals[i] == 0.0)
            vals[i] = 0.0; /* -0 and +0 are one value */
    for (size_t i = 1; i < k; i++)
        if (vals[i] == vals[i - 1]) {
            double dup = vals[i];
            free(vals);
            return cm_diag_set_key(d, CM_EINVAL, v[2].present ? "file" : "values",
                                   "lut: value %.17g appears twice", dup);
        }
    lut_params *p = malloc(sizeof *p);
    if (!p) {
        free(vals);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    cm_status st = CM_HOST->grid_init(&p->g, vals, k, d);
    free(vals);
    if (st) {
        free(p);
        return st;
    }
    p->pack = (int)v[3].num;
    *out = p;
    return CM_OK;
}

static void lut_free(void *pp)
{
    lut_params *p = pp;
    if (!p)
        return;
    CM_HOST->grid_fini(&p->g);
    free(p);
}

static double lut_bits(const void *pp)
{
    const lut_params *p = pp;
    double b = log2((double)p->g.k);
    return p->pack ? b : ceil(b);
}

static size_t lut_group(const void *p)
{
    (void)p;
    return 1;
}

static void lut_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const lut_params *p = pp;
    (void)state;
    CM_HOST->grid_quantize(&p->g, x, y, n);
}

static cm_status lut_levels(const void *pp, double *out, size_t cap, size_t *count)
{
    return CM_HOST->grid_levels(&((const lut_params *)pp)->g, out, cap, count);
}

static cm_status lut_encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    return CM_HOST->grid_encode(&((const lut_params *)pp)->g, x, codes, n);
}

static cm_status lut_decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    return CM_HOST->grid_decode(&((const lut_params *)pp)->g, codes, x, n);
}

static int lut_print(const void *pp, char *buf, size_t cap)
{
    const lut_params *p = pp;
    size_t len = 0;
    char tmp[40];
    for (size_t i = 0; i <= p->g.k; i++) {
        if (i < p->g.k) {
            double x = p->g.lv[i];
            int prec = 1;
            for (; prec <= 17; prec++) {
                snprintf(tmp, sizeof tmp, "%.*g", prec, x);
                if (strtod(tmp, NULL) == x)
                    break;
            }
        }
        int w = i == p->g.k ? snprintf(buf ? buf + (len < cap ? len : cap) : NULL,
                                       len < cap ? cap - len : 0, ",pack=%s",
                                       p->pack ? "dense" : "code")
                            : snprintf(buf ? buf + (len < cap ? len : cap) : NULL,
                                       len < cap ? cap - len : 0, "%s%s", i ? ";" : "values=",
                                       tmp);
        if (w < 0)
            return -1;
        len += (size_t)w;
    }
    return (int)len;
}

const cm_format cm_format_lut = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "lut",
    .summary = "lookup table of values (NF4, AF4, or your own) under one global scale",
    .params = lut_keys,
    .n_params = sizeof lut_keys / sizeof lut_keys[0],
    .flags = CM_FORMAT_SCALAR,
    .params_parse = lut_parse,
    .params_free = lut_free,
    .bits_per_value = lut_bits,
    .group = lut_group,
    .quantize = lut_quantize,
    .levels = lut_levels,
    .encode = lut_encode,
    .decode = lut_decode,
    .aliases = lut_aliases,
    .n_aliases = sizeof lut_aliases / sizeof lut_aliases[0],
    .params_print = lut_print,
};
