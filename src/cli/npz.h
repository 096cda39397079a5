/* A NumPy .npz writer (npz.c): uncompressed entries, at most 4 GiB each. */
#ifndef CM_CLI_NPZ_H
#define CM_CLI_NPZ_H

#include <stdint.h>
#include <stdio.h>

#define NPZ_MAX 4096

typedef struct npz_entry {
    char name[1024];
    uint32_t crc, size;
    uint64_t offset;
} npz_entry;

typedef struct npz {
    const char *path;
    char tmp[4200];
    FILE *f;
    uint64_t off;
    size_t n;
    npz_entry e[NPZ_MAX];
} npz;

/* one array: codes (unsigned, width 1/2/4/8 bytes) or values (float64, width 8) */
typedef struct npz_array {
    const uint64_t *codes;
    const double *values;
    unsigned width;
    uint64_t count;
    int ndim, fortran;
    const uint64_t *shape;
} npz_array;

/* 0 or an exit code after saying what failed (the temporary is removed by npz_abort) */
int npz_open(npz *z, const char *path);
int npz_add(npz *z, const char *name, const npz_array *a);
int npz_close(npz *z);
void npz_abort(npz *z);

#endif
