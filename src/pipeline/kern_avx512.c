/* The fused kernels (kern_int.h) for avx512: this file alone is compiled with its instruction set, and runs only where cm_isa_active() says so. */
#define KSUF(name) name##_avx512
#define W 8
#include "kern_body.h"
