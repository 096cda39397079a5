/* The fused kernels (kern_int.h) for scalar (baseline x86-64, and every other CPU). */
#define KSUF(name) name##_scalar
#define W 2
#include "kern_body.h"
