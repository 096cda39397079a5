/* Capacity laws. For now the tanh map of the Unified paper; the registry
 * pattern (a const table, lookup by name that lists what exists) is what
 * the other laws plug into. */
#include <capmetric/law.h>

#include <math.h>
#include <string.h>

#include "util_int.h"

struct cm_law {
    const char *name;
    const char *source;
    double F, C, L;
};

/* Panferov et al., "Unified Scaling Laws for Compressed Representations",
 * arXiv 2506.01863 (NeurIPS 2025 camera-ready), Eq. 3 and Table 3
 * (tests/anchors/capacity.json, unified_tanh_law). */
static const cm_law laws[] = {
    {"unified-llama-c4", "Panferov et al. 2025 (arXiv 2506.01863) Table 3, Llama/C4", 0.41, 1.39,
     1.0},
    {"unified-olmo2", "Panferov et al. 2025 (arXiv 2506.01863) Table 3, OLMo2/ClimbMix", 0.37,
     1.24, 0.84},
};

#define N_LAWS (sizeof laws / sizeof laws[0])

size_t cm_law_count(void) { return N_LAWS; }
const cm_law *cm_law_get(size_t i) { return i < N_LAWS ? &laws[i] : NULL; }
const char *cm_law_name(const cm_law *l) { return l->name; }
const char *cm_law_source(const cm_law *l) { return l->source; }

cm_status cm_law_find(const char *name, const cm_law **out, cm_diag *d)
{
    for (size_t i = 0; i < N_LAWS; i++)
        if (!strcmp(laws[i].name, name)) {
            *out = &laws[i];
            return CM_OK;
        }
    cm_buf b;
    cm_buf_init(&b);
    for (size_t i = 0; i < N_LAWS; i++)
        cm_buf_printf(&b, "%s%s", i ? ", " : "", laws[i].name);
    cm_diag_set(d, CM_ENOTFOUND, "unknown law '%s' (laws: %s)", name, b.s ? b.s : "");
    cm_buf_free(&b);
    return CM_ENOTFOUND;
}

double cm_eff_bits(double gmse)
{
    if (gmse == 0)
        return INFINITY;
    return -log(gmse) / log(4.0);
}

double cm_law_rho(const cm_law *l, double gmse)
{
    if (isnan(gmse) || gmse < 0)
        return NAN;
    if (gmse >= 1.0)
        return 0.0;
    if (gmse == 0.0)
        return l->L;
    return l->L * pow(tanh(l->F * cm_eff_bits(gmse)), l->C);
}
