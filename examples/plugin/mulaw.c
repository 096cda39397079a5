/* An example capmetric plugin: the mu-law companding grid.
 *
 * 2^B levels y_i = sign(u) ((1 + mu)^|u| - 1) / mu at the midrise points
 * u_i = (i + 1/2) / 2^(B-1) - 1 of [-1, 1] (ITU-T G.711 uses mu = 255): fine
 * steps near zero, coarse ones in the tails. Values are rounded to the
 * nearest level (the exact engine integrates that rule), under the host's
 * global scale, so `levels` gives the exact GMSE and the optimal scale.
 *
 * The plugin calls the host only through the table it is handed in
 * cm_plugin_init (grid rounding here), so it links against nothing: built
 * with the installed headers alone it has no undefined cm_* symbol.
 *
 * Build (after `meson install` of capmetric):
 *   cc -shared -fPIC -fvisibility=hidden -O2 -o mulaw.so mulaw.c $(pkg-config --cflags capmetric) -lm
 * Use:
 *   capmetric eval --plugin ./mulaw.so mulaw:bits=4 "mulaw:bits=8,mu=100"
 */
#include <capmetric/format.h>

#include <math.h>
#include <stdlib.h>

/* the host's services, kept by cm_plugin_init */
static const cm_host *host;

typedef struct mulaw {
    cm_grid grid;  /* the levels at unit scale, with the host's rounding helper */
    int bits;
} mulaw;

/* Keys: the host parses and range-checks them and fills in defaults. */
static const cm_param keys[] = {
    {.key = "bits", .type = CM_PARAM_INT, .def = "4", .doc = "bits per code B", .min = 2,
     .max = 16},
    {.key = "mu", .type = CM_PARAM_REAL, .def = "255", .doc = "compression parameter mu > 0",
     .min = 1e-6, .max = 1e6},
};

static cm_status parse(const cm_value *v, void **out, cm_diag *d)
{
    int bits = (int)v[0].num;
    double mu = v[1].num;
    size_t k = (size_t)1 << bits;
    double *lv = malloc(k * sizeof *lv);
    mulaw *p = malloc(sizeof *p);
    if (!lv || !p) {
        free(lv);
        free(p);
        return cm_diag_set(d, CM_ENOMEM, "mulaw: out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        double u = ((double)i + 0.5) / (double)(k / 2) - 1.0;
        lv[i] = copysign(expm1(fabs(u) * log1p(mu)) / mu, u);
    }
    cm_status st = host->grid_init(&p->grid, lv, k, d);
    free(lv);
    if (st) {
        free(p);
        return st;
    }
    p->bits = bits;
    *out = p;
    return CM_OK;
}

static void release(void *pp)
{
    mulaw *p = pp;
    if (p) {
        host->grid_fini(&p->grid);
        free(p);
    }
}

static double bits(const void *pp) { return ((const mulaw *)pp)->bits; }

static size_t group(const void *pp)
{
    (void)pp;
    return 1;
}

static void quantize(const void *pp, void *state, const double *x, double *y, size_t n)
{
    (void)state;
    host->grid_quantize(&((const mulaw *)pp)->grid, x, y, n);
}

static cm_status levels(const void *pp, double *out, size_t cap, size_t *count)
{
    return host->grid_levels(&((const mulaw *)pp)->grid, out, cap, count);
}

static cm_status encode(const void *pp, const double *x, uint64_t *codes, size_t n)
{
    return host->grid_encode(&((const mulaw *)pp)->grid, x, codes, n);
}

static cm_status decode(const void *pp, const uint64_t *codes, double *x, size_t n)
{
    return host->grid_decode(&((const mulaw *)pp)->grid, codes, x, n);
}

static const cm_alias aliases[] = {{"mulaw8", "mulaw:bits=8"}};

static const cm_format mulaw_format = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_format),
    .name = "mulaw",
    .summary = "mu-law companding grid (example plugin)",
    .params = keys,
    .n_params = sizeof keys / sizeof keys[0],
    .flags = CM_FORMAT_SCALAR, /* the host adds scale=opt|VALUE */
    .params_parse = parse,
    .params_free = release,
    .bits_per_value = bits,
    .group = group,
    .quantize = quantize,
    .levels = levels,
    .encode = encode,
    .decode = decode,
    .aliases = aliases,
    .n_aliases = 1,
};

static const cm_format *const formats[] = {&mulaw_format};

/* The one exported symbol: keep the host table, hand over the formats. */
CM_PLUGIN_EXPORT const cm_format *const *cm_plugin_init(const cm_host *h, size_t *count)
{
    if (CM_ABI_MAJOR_OF(h->abi) != CM_ABI_MAJOR)
        return NULL;
    host = h;
    *count = 1;
    return formats;
}
