/* capmetric — which instruction set the hot loops run on.
 *
 * The Monte-Carlo generator and the fused kernels exist in a portable
 * version and, on x86-64, in AVX2 and AVX-512 versions, chosen at run time
 * (the build never uses -march=native). Every version gives the same bits
 * for the same seed: the choice changes the speed only. The environment
 * variable CAPMETRIC_ISA=scalar|avx2|avx512 forces one (for tests, and where
 * a user needs it); cm_isa_set() does the same from code. Process-wide;
 * thread-safe; set it before starting work. */
#ifndef CAPMETRIC_ISA_H
#define CAPMETRIC_ISA_H

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cm_isa { CM_ISA_SCALAR = 0, CM_ISA_AVX2 = 1, CM_ISA_AVX512 = 2 } cm_isa;
#define CM_ISA_COUNT 3

/*! cm_isa_active() : the version in use: CAPMETRIC_ISA's if it is valid and
 * this machine runs it, else the widest this machine runs. */
CM_API cm_isa cm_isa_active(void);
/*! cm_isa_available() : 1 if this build has it and this CPU and OS run it. */
CM_API int cm_isa_available(cm_isa isa);
/*! cm_isa_set() : use `isa` from now on; CM_EUNSUPPORTED if not available. */
CM_API cm_status cm_isa_set(cm_isa isa, cm_diag *diag);
/*! cm_isa_name() / cm_isa_parse() : "scalar", "avx2", "avx512". */
CM_API const char *cm_isa_name(cm_isa isa);
CM_API cm_status cm_isa_parse(const char *text, cm_isa *out, cm_diag *diag);
/*! cm_isa_env_check() : CM_OK if CAPMETRIC_ISA is unset, or names a version
 * this machine runs; else why not (the program refuses to start). */
CM_API cm_status cm_isa_env_check(cm_diag *diag);

/*! cm_fused_enabled() / cm_fused_set() : whether the Monte-Carlo engine
 * uses its fused kernels (one pass: block scale, rounding, squared error) for
 * the pipelines that have one. They give the same bits as the generic path;
 * CAPMETRIC_FUSED=0 (or cm_fused_set(0)) turns them off, to compare. */
CM_API int cm_fused_enabled(void);
CM_API void cm_fused_set(int on);

#ifdef __cplusplus
}
#endif
#endif
