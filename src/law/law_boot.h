/* Private (law layer): the bootstrap replicates of the built-in fitted laws
 * (law_boot.c, written by tools/law_boot.py from `capmetric validate`'s
 * report.json). */
#ifndef CM_LAW_BOOT_H
#define CM_LAW_BOOT_H

#include <stddef.h>

/* nboot x kb natural parameters of law `name` in its fit's order, or NULL */
const double *cm_law_boot_builtin(const char *name, size_t *nboot, size_t *kb);

#endif
