/* The capmetric program: SVG plots (svg.c). */
#ifndef CM_CLI_SVG_H
#define CM_CLI_SVG_H

#include <stddef.h>

/* What a plot shows besides its points. */
typedef struct svg_opts {
    const char *title, *xlabel, *ylabel;
    int logy;                 /* y on a log10 axis */
    int logx;                 /* x on a log2 axis (a key swept geometrically) */
    int xbits;                /* x is bits per value: ticks at whole bits */
    const double *cx, *cy;    /* a reference curve (cn points) named cname */
    size_t cn;
    const char *cname;
    int with_dr;              /* Shannon's D(R) = 2^-2R */
    /* colour and marker by a key: color[i] < ncolor named color_name[], under
     * color_key (NULL: one colour, Pareto points red) */
    const int *color;
    size_t ncolor;
    const char *const *color_name;
    const char *color_key;
    const int *marker;
    size_t nmarker;
    const char *const *marker_name;
    const char *marker_key;
    int yfit;                 /* y axis over the data (tenths), not from 0 */
    const char *points_name;  /* legend: one row for the points (no Pareto rows) */
    const int *series;        /* lines: join the points of each series (series[i] <
                                 nseries) in x order, in the colour of their first point */
    size_t nseries;
} svg_opts;

/* An SVG scatter (or line) plot of ys against xs for n points labelled
 * plabel; Pareto points (pareto[i] != 0; may be NULL) drawn larger and
 * labelled next to their point (a leader line when a label had to move
 * away; labels never overlap each other or a point; points at the same place
 * share one label; where a label finds no room its point gets a number, and
 * the numbers are listed under the plot). Every label is a <text class="label"> with data-px,
 * data-py (its point) and data-w (its width): tests check the placement.
 * Returns a malloc'ed document, NULL if out of memory. */
char *svg_plot(const double *xs, const double *ys, const char *const *plabel, size_t n,
               const int *pareto, const svg_opts *o);

/* Width in pixels of s at font size 12 (DejaVu Sans metrics, rounded up). */
double svg_label_width(const char *s);

#endif
