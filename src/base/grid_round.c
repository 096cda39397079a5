#include <capmetric/grid.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

cm_status cm_grid_init(cm_grid *g, const double *lv, size_t k, cm_diag *d)
{
    g->lv = g->t = NULL;
    g->k = g->P = 0;
    if (k == 0)
        return cm_diag_set(d, CM_EINVAL, "empty grid");
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(lv[i]))
            return cm_diag_set(d, CM_EINVAL, "grid value %zu is not finite", i + 1);
        if (i && !(lv[i] > lv[i - 1]))
            return cm_diag_set(d, CM_EINVAL, "grid values %zu and %zu are not increasing", i,
                               i + 1);
    }
    size_t P = 1;
    while (P < k)
        P *= 2;
    g->lv = malloc(k * sizeof *g->lv);
    g->t = malloc(P * sizeof *g->t);
    if (!g->lv || !g->t) {
        cm_grid_fini(g);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++)
        g->lv[i] = lv[i];
    for (size_t i = 0; i < P; i++)
        g->t[i] = i + 1 < k ? 0.5 * (lv[i] + lv[i + 1]) : INFINITY;
    g->k = k;
    g->P = P;
    return CM_OK;
}

void cm_grid_fini(cm_grid *g)
{
    free(g->lv);
    free(g->t);
    g->lv = g->t = NULL;
    g->k = g->P = 0;
}

size_t cm_grid_index(const cm_grid *g, double v)
{
    /* count of thresholds strictly below v, by a branch-free binary search
     * over the +inf-padded power-of-two table */
    size_t pos = 0;
    for (size_t step = g->P / 2; step; step /= 2)
        pos += (v > g->t[pos + step - 1]) ? step : 0;
    if (pos > g->k - 1)
        pos = g->k - 1;
    /* exactly on a midpoint: the even index wins */
    if (pos + 1 < g->k && v == g->t[pos] && (pos & 1))
        pos++;
    return pos;
}

void cm_grid_quantize(const cm_grid *g, const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = isnan(x[i]) ? x[i] : g->lv[cm_grid_index(g, x[i])];
}

cm_status cm_grid_levels(const cm_grid *g, double *out, size_t cap, size_t *count)
{
    *count = g->k;
    if (!out)
        return CM_OK;
    if (cap < g->k)
        return CM_ERANGE;
    memcpy(out, g->lv, g->k * sizeof *out);
    return CM_OK;
}

cm_status cm_grid_encode(const cm_grid *g, const double *x, uint64_t *codes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return CM_EUNSUPPORTED;
        codes[i] = cm_grid_index(g, x[i]);
    }
    return CM_OK;
}

cm_status cm_grid_decode(const cm_grid *g, const uint64_t *codes, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >= g->k)
            return CM_ERANGE;
        x[i] = g->lv[codes[i]];
    }
    return CM_OK;
}
