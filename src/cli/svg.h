/* The capmetric program: SVG plots (svg.c). */
#ifndef CM_CLI_SVG_H
#define CM_CLI_SVG_H

#include <stddef.h>

/* An SVG scatter plot of ys (log or linear) against xs (bits) for n points
 * labelled plabel, Pareto points (pareto[i] != 0) filled and labelled,
 * optional reference curve (cx, cy) named cname, and with_dr the
 * rate-distortion bound. Returns a malloc'ed document, NULL if out of memory. */
char *svg_plot(const double *xs, const double *ys, const char *const *plabel, size_t n,
               const int *pareto, const char *title, const char *ykey, int logy, const double *cx,
               const double *cy, size_t cn, const char *cname, int with_dr);

#endif
