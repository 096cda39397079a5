/* Run-time choice of the hot loops' instruction set (capmetric/isa.h). */
#include <capmetric/isa.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[CM_ISA_COUNT] = {"scalar", "avx2", "avx512"};

const char *cm_isa_name(cm_isa isa)
{
    return (unsigned)isa < CM_ISA_COUNT ? names[isa] : "?";
}

cm_status cm_isa_parse(const char *text, cm_isa *out, cm_diag *d)
{
    for (int i = 0; i < CM_ISA_COUNT; i++)
        if (text && !strcmp(text, names[i])) {
            *out = (cm_isa)i;
            return CM_OK;
        }
    return cm_diag_set(d, CM_EINVAL, "instruction set '%s' is not accepted (accepted: scalar, "
                                     "avx2, avx512)",
                       text ? text : "");
}

int cm_isa_available(cm_isa isa)
{
    switch (isa) {
    case CM_ISA_SCALAR: return 1;
#if defined(CM_HAVE_AVX2)
    case CM_ISA_AVX2: return __builtin_cpu_supports("avx2");
#endif
#if defined(CM_HAVE_AVX512)
    case CM_ISA_AVX512: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

static atomic_int active = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    __builtin_cpu_init();
    const char *e = getenv("CAPMETRIC_ISA");
    cm_isa want = CM_ISA_SCALAR;
    cm_diag d;
    if (e && *e && !cm_isa_parse(e, &want, &d) && cm_isa_available(want)) {
        atomic_store(&active, (int)want);
        return;
    }
    int best = CM_ISA_SCALAR;
    for (int i = CM_ISA_COUNT - 1; i > 0 && best == CM_ISA_SCALAR; i--)
        if (cm_isa_available((cm_isa)i))
            best = i;
    atomic_store(&active, best);
}

cm_isa cm_isa_active(void)
{
    pthread_once(&once, choose);
    return (cm_isa)atomic_load_explicit(&active, memory_order_relaxed);
}

cm_status cm_isa_set(cm_isa isa, cm_diag *d)
{
    pthread_once(&once, choose);
    if ((unsigned)isa >= CM_ISA_COUNT || !cm_isa_available(isa))
        return cm_diag_set(d, CM_EUNSUPPORTED, "instruction set %s: not available here "
                                               "(this build and CPU run:%s%s%s)",
                           cm_isa_name(isa), " scalar",
                           cm_isa_available(CM_ISA_AVX2) ? " avx2" : "",
                           cm_isa_available(CM_ISA_AVX512) ? " avx512" : "");
    atomic_store(&active, (int)isa);
    return CM_OK;
}

cm_status cm_isa_env_check(cm_diag *d)
{
    const char *e = getenv("CAPMETRIC_ISA");
    cm_isa want = CM_ISA_SCALAR;
    if (!e || !*e)
        return CM_OK;
    cm_status s = cm_isa_parse(e, &want, d);
    if (s)
        return cm_diag_set(d, s, "CAPMETRIC_ISA='%s' is not accepted (accepted: scalar, avx2, "
                                 "avx512)",
                           e);
    if (!cm_isa_available(want))
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "CAPMETRIC_ISA=%s: this machine or build cannot run it (it runs:%s%s%s)",
                           e, " scalar", cm_isa_available(CM_ISA_AVX2) ? " avx2" : "",
                           cm_isa_available(CM_ISA_AVX512) ? " avx512" : "");
    return CM_OK;
}
