/* The choice of the Gaussian fill (vrng_int.h) by the active instruction set. */
#include "vrng_int.h"

#include <capmetric/isa.h>

void cm_vgauss_fill(cm_vrng *g, double *out, size_t n)
{
    switch (cm_isa_active()) {
#if defined(CM_HAVE_AVX512)
    case CM_ISA_AVX512: cm_vgauss_fill_avx512(g, out, n); return;
#endif
#if defined(CM_HAVE_AVX2)
    case CM_ISA_AVX2: cm_vgauss_fill_avx2(g, out, n); return;
#endif
    default: cm_vgauss_fill_scalar(g, out, n); return;
    }
}
