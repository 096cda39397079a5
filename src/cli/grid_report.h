/* The capmetric program: a grid's reports (grid_report.c). */
#ifndef CM_CLI_GRID_REPORT_H
#define CM_CLI_GRID_REPORT_H

#include "sweep.h"

typedef struct entry {
    long index;
    cJSON *obj;  /* one result object (the eval JSON keys, plus index and sweep) */
} entry;

/* A number / a string of a result object (NaN / "" when absent). */
double num_of(const cJSON *o, const char *k);
const char *str_of(const cJSON *o, const char *k);
/* qsort order of entries by their index in the grid */
int entry_by_index(const void *a, const void *b);
/* Write the report set of n entries into dir. */
int write_reports(const char *dir, const grid *g, entry *e, size_t n, const cm_registry *reg,
                         const opts *o, double t0, double t1, const char *started);

#endif
