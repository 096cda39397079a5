/* The capmetric program: SVG plots (svg.c). */
#ifndef CM_CLI_SVG_H
#define CM_CLI_SVG_H

#include "grid_report.h"

char *svg_plot(const entry *e, size_t n, const int *pareto, const char *title, const char *ykey,
                      int logy, const double *cx, const double *cy, size_t cn, const char *cname,
                      int with_dr);

#endif
