/* The fused kernels (kern_int.h) for avx2: this file alone is compiled with its instruction set, and runs only where cm_isa_active() says so. */
#define KSUF(name) name##_avx2
#define W 4
#include "kern_body.h"
