/* Private: helpers of the pruning families (formats/prune/prune.c). */
#ifndef CM_PRUNE_INT_H
#define CM_PRUNE_INT_H

#include <stddef.h>

double prune_square(const void *p, double a);
void prune_keep_top(const double *x, double *y, unsigned char *pass, size_t K, size_t k,
                     double *scratch);
void prune_select_alone(void (*sel)(const void *, void *, const double *, double *,
                                     unsigned char *, size_t),
                         size_t group, const void *pp, void *state, const double *x, double *y,
                         size_t n);

#endif
