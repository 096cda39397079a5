/* Family `multigrid`: per block, the best of G grids (Egiazarian, Schultheis,
 * Panferov et al., "Grid Games: The Power of Multiple Grids for Quantizing
 * Large Language Models", arXiv 2605.12327): each block of `block` values gets
 * an absmax scale for each grid (its largest value maps onto the grid's
 * largest magnitude), is rounded to the nearest point of each grid, and keeps
 * the grid with the least squared error (ties: the first). The choice costs
 * log2(G) bits per block, counted; the paper hides them in spare bits of the
 * scale, which the format does not model (say `selector=free` to count 0).
 *   grids=A|B|...   each grid: e2m1 (the FP4 values +-{0,.5,1,1.5,2,3,4,6}), nf4,
 *                   int4 (-7..7), or its values separated by ';'
 *   block=K         values per block (default 16)
 * Scales are exact (counted as 16 bits, as capmetric counts exact scales).
 * Element bits: ceil(log2) of the largest grid's size. Monte Carlo only. */
#include <capmetric/format.h>
#include <capmetric/grid.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host_int.h"
#include "../tables/nf4.h"

#define MG_MAX 8     /* grids */
#define MG_LEVELS 256 /* values per grid */

typedef struct mg {
    size_t ng, K;
    cm_grid g[MG_MAX];
    double gmax[MG_MAX]; /* largest |value| of each grid */
    size_t size_max;
    int free_sel;
} mg;

static const cm_param mg_keys[] = {
    {.key = "grids", .type = CM_PARAM_STRING, .def = "e2m1|nf4",
     .doc = "the grids, separated by '|': e2m1, nf4, int4, or values separated by ';'"},
    {.key = "block", .type = CM_PARAM_INT, .def = "16", .doc = "values per block", .min = 2,
     .max = 4096},
    {.key = "selector", .type = CM_PARAM_ENUM, .def = "counted",
     .doc = "the grid choice: counted (log2 G bits per block) or free (hidden in the scale)",
     .choices = "counted|free"},
};

static const double e2m1[15] = {-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void mg_free(void *pp)
{
    mg *p = pp;
    if (!p)
        return;
    for (size_t i = 0; i < p->ng; i++)
        CM_HOST->grid_fini(&p->g[i]);
    free(p);
}

/* one grid from its text (t, n chars) into v; its size, 0 if malformed */
static size_t grid_text(const char *t, size_t n, double *v)
{
    if (n == 4 && !strncmp(t, "e2m1", 4)) {
        memcpy(v, e2m1, sizeof e2m1);
        return 15;
    }
    if (n == 3 && !strncmp(t, "nf4", 3)) {
        memcpy(v, cm_nf4, sizeof cm_nf4);
        return 16;
    }
    if (n == 4 && !strncmp(t, "int4", 4)) {
        for (int i = 0; i < 15; i++)
            v[i] = i - 7;
        return 15;
    }
    size_t k = 0;
    const char *p = t, *end = t + n;
    while (p < end && k < MG_LEVELS) {
        char buf[64], *e;
        size_t m = strcspn(p, ";");
        if (m > (size_t)(end - p))
            m = (size_t)(end - p);
        if (!m || m >= sizeof buf)
            return 0;
        memcpy(buf, p, m);
        buf[m] = '\0';
        v[k] = strtod(buf, &e);
        if (*e || !isfinite(v[k]))
            return 0;
        k++;
        p += m + (p + m < end);
    }
    return p < end ? 0 : k;
}

static cm_status mg_parse(const cm_value *v, void **out, cm_diag *d)
{
    mg *p = calloc(1, sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    p->K = (size_t)v[1].num;
    p->free_sel = (int)v[2].num == 1;
    const char *t = v[0].text ? v[0].text : "";
    double vals[MG_LEVELS];
    cm_status st = CM_OK;
    while (!st) {
        size_t n = strcspn(t, "|");
        size_t k = grid_text(t, n, vals);
        if (p->ng == MG_MAX)
            st = cm_diag_set_key(d, CM_ERANGE, "grids", "multigrid: at most %d grids", MG_MAX);
        else if (k < 2)
            st = cm_diag_set_key(d, CM_EINVAL, "grids",
                                 "multigrid: grid %zu ('%.*s') is not e2m1, nf4, int4 or 2 to %d "
                                 "numbers separated by ';'",
                                 p->ng + 1, (int)n, t, MG_LEVELS);
        if (st)
            break;
        qsort(vals, k, sizeof *vals, cmp_double);
        double m = fmax(fabs(vals[0]), fabs(vals[k - 1]));
        if (!(m > 0)) {
            st = cm_diag_set_key(d, CM_EINVAL, "grids", "multigrid: grid %zu is all zeros",
                                 p->ng + 1);
            break;
        }
        if ((st = CM_HOST->grid_init(&p->g[p->ng], vals, k, d)))
            break;
        p->gmax[p->ng++] = m;
        if (k > p->size_max)
            p->size_max = k;
        if (!t[n])
            break;
        t += n + 1;
    }
    if (!st && p->ng < 2)
        st = cm_diag_set_key(d, CM_EINVAL, "grids",
                             "multigrid: give at least two grids separated by '|' (e.g. "
                             "grids=e2m1|nf4)");
    if (st) {
        mg_free(p);
        return st;
    }
    *out = p;
    return CM_OK;
}

static double mg_bits(const void *pp)
{
    const mg *p = pp;
    double sel = p->free_sel ? 0 : log2((double)p->ng);
    return ceil(log2((double)p->size_max)) + (16 + sel) / (double)p->K;
}

static size_t mg_group(const void *pp) { return ((const mg *)pp)->K; }

static void mg_quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    const mg *p = pp;
    (void)state;
    double u[4096], q[4096];
    for (size_t b = 0; b < n; b += p->K) {
        const double *xb = x + b;
        double *yb = y + b, amax = 0;
        int nan = 0;
        for (size_t i = 0; i < p->K; i++) {
            double a = fabs(xb[i]);
            nan |= isnan(a);
            if (a < INFINITY && a > amax)
                amax = a;
        }
        if (!(amax > 0)) { /* zeros stay zeros, NaN stays NaN */
            for (size_t i = 0; i < p->K; i++)
                yb[i] = isnan(xb[i]) ? xb[i] : 0.0;
            continue;
        }
        double best = INFINITY;
        for (size_t g = 0; g < p->ng; g++) {
            double s = amax / p->gmax[g];
            for (size_t i = 0; i < p->K; i++)
                u[i] = xb[i] / s;
            CM_HOST->grid_quantize(&p->g[g], u, q, p->K);
            double err = 0;
            for (size_t i = 0; i < p->K; i++) {
                double e = xb[i] - s * q[i];
                err += e == e ? e * e : 0;
            }
            if (err < best) {
                best = err;
                for (size_t i = 0; i < p->K; i++)
                    yb[i] = s * q[i];
            }
        }
        for (size_t i = 0; nan && i < p->K; i++)
            if (isnan(xb[i]))
                yb[i] = xb[i];
    }
}

const cm_format cm_format_multigrid = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "multigrid",
    .summary = "per block, the best of several 4-bit grids (Grid Games, arXiv 2605.12327)",
    .params = mg_keys,
    .n_params = sizeof mg_keys / sizeof mg_keys[0],
    .params_parse = mg_parse,
    .params_free = mg_free,
    .bits_per_value = mg_bits,
    .group = mg_group,
    .quantize = mg_quantize,
};
