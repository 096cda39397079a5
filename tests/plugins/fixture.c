/* Plugin fixtures: one source, compiled once per -DFIXTURE_* variant. All
 * but FIXTURE_GOOD are broken on purpose; the loader must refuse each with a
 * message naming the file and the reason, and keep nothing of it. */
#include <capmetric/format.h>

#include <math.h>
#include <stdlib.h>

static cm_status parse(const cm_value *v, void **out, cm_diag *d)
{
    (void)v;
    (void)d;
    *out = NULL;
    return CM_OK;
}
static void release(void *p) { (void)p; }
static double bits(const void *p)
{
    (void)p;
#ifdef FIXTURE_BAD_BITS
    return NAN;
#else
    return 2;
#endif
}
static size_t group(const void *p)
{
    (void)p;
    return 1;
}
/* {-1.5, -0.5, 0.5, 1.5}: a 2-bit midrise grid under the host's scale */
__attribute__((unused)) static void quantize(const void *p, void *s, const double *x, double *y,
                                            size_t n)
{
    (void)p;
    (void)s;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
#ifdef FIXTURE_NAN
        y[i] = v > 2 ? NAN : v; /* a broken quantizer: NaN for finite input */
#else
        y[i] = isnan(v) ? v : v < -1 ? -1.5 : v < 0 ? -0.5 : v <= 1 ? 0.5 : 1.5;
#endif
    }
}
static cm_status levels(const void *p, double *out, size_t cap, size_t *count)
{
    (void)p;
    *count = 4;
    if (!out)
        return CM_OK;
    if (cap < 4)
        return CM_ERANGE;
    out[0] = -1.5;
    out[1] = -0.5;
    out[2] = 0.5;
    out[3] = 1.5;
    return CM_OK;
}

#ifndef FIXTURE_NAME
#define FIXTURE_NAME "fixture_ok"
#endif

#ifdef FIXTURE_HUGE_STATE
static size_t state_size(const void *p)
{
    (void)p;
    return SIZE_MAX; /* wrapped the host's rounding to 0 before */
}
#endif

#ifdef FIXTURE_BAD_RANGE
static const cm_param keys[] = {
    {.key = "k", .type = CM_PARAM_INT, .def = "1", .doc = "a key whose range is empty", .min = 4,
     .max = 2},
};
#endif

static const cm_format fmt = {
#ifdef FIXTURE_WRONG_ABI
    .abi = (CM_ABI_MAJOR + 1) << 16,
#else
    .abi = CM_ABI_VERSION,
#endif
#ifdef FIXTURE_SMALL_STRUCT
    .size = 16,
#else
    .size = sizeof(cm_format),
#endif
    .name = FIXTURE_NAME,
    .summary = "test fixture",
    .flags = CM_FORMAT_SCALAR,
    .params_parse = parse,
    .params_free = release,
    .bits_per_value = bits,
    .group = group,
#ifndef FIXTURE_NULL_MEMBER
    .quantize = quantize,
#endif
    .levels = levels,
#ifdef FIXTURE_HUGE_STATE
    .state_size = state_size,
#endif
#ifdef FIXTURE_BAD_RANGE
    .params = keys,
    .n_params = 1,
#endif
};

static const cm_format *const list[] = {&fmt};

#if defined(FIXTURE_ABI_V1)
/* a plugin of ABI 1: the old entry point, which the host must refuse by name */
CM_PLUGIN_EXPORT const cm_format *const *cm_plugin_query(uint32_t host_abi, size_t *count);
CM_PLUGIN_EXPORT const cm_format *const *cm_plugin_query(uint32_t host_abi, size_t *count)
{
    (void)host_abi;
    *count = 1;
    return list;
}
#elif !defined(FIXTURE_NO_QUERY)
CM_PLUGIN_EXPORT const cm_format *const *cm_plugin_init(const cm_host *host, size_t *count)
{
    (void)host;
#ifdef FIXTURE_QUERY_NULL
    (void)count;
    (void)list;
    return NULL;
#else
    *count = 1;
    return list;
#endif
}
#else
/* exports something else instead */
CM_PLUGIN_EXPORT int capmetric_plugin_typo(void);
CM_PLUGIN_EXPORT int capmetric_plugin_typo(void) { return (int)(list[0] != NULL); }
#endif
