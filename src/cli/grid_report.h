/* The capmetric program: a grid's reports (grid_report.c). */
#ifndef CM_CLI_GRID_REPORT_H
#define CM_CLI_GRID_REPORT_H

#include "sweep.h"

typedef struct entry {
    long index;
    cJSON *obj;  /* one result object (the eval JSON keys, plus index and sweep) */
} entry;

/* grid_plots.c: a number / a string of a result object (NaN / "" when absent). */
double num_of(const cJSON *o, const char *k);
const char *str_of(const cJSON *o, const char *k);
/* qsort order of entries by their index in the grid */
int entry_by_index(const void *a, const void *b);
/* grid_plots.c: the plots (at most 3) as file names and SVG texts (malloc'ed;
 * a NULL text: out of memory); how many */
size_t grid_plots(const grid *g, const opts *o, const entry *e, size_t n, const int *pareto,
                  const cm_registry *reg, char **names, char **texts);
/* 0, or exit code 2 after saying that a plot key (--color-by, --marker-by,
 * --x, or the file's "plot") is not a swept key of the grid */
int grid_check_plot_keys(const grid *g, const opts *o);
/* the file name of the plot against key xk (gmse_by_KEY.svg) */
void grid_plot_file(const char *xk, char *fn, size_t n);
/* 1 if some result has `key` as a swept key or a field */
int grid_plot_key_known(const entry *e, size_t n, const char *key);
/* Write the report set of n entries into dir. */
int write_reports(const char *dir, const grid *g, entry *e, size_t n, const cm_registry *reg,
                         const opts *o, double t0, double t1, const char *started);

#endif
