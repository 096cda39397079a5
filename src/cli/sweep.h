/* The capmetric program: grid files and their points (sweep.c). */
#ifndef CM_CLI_SWEEP_H
#define CM_CLI_SWEEP_H

#include "cli.h"

#define DEFAULT_MAX_POINTS 10000

typedef struct point {
    char *spec;      /* as generated */
    char *canon;     /* canonical */
    const char *sweep;
    cm_pipeline *p;  /* parsed once, evaluated by one worker */
    cm_status st;    /* parse status */
    cm_diag d;
    cJSON *keys;     /* the swept keys' values ({"bits": 4, ...}; NULL for a list of specs) */
} point;

typedef struct grid {
    char name[128];
    cm_eval_opts ev;
    size_t max_points;
    point *pt;
    size_t n, cap;
    cJSON *root;     /* the parsed file (sweep names point into it) */
    size_t *order;   /* the points, longest expected work first (scheduling only) */
    uint64_t hash;   /* of the canonical point list: merge checks it */
    point *bad;      /* --skip-invalid: the points that did not parse (st, d say why) */
    const char *color_by, *marker_by, *x_key; /* the file's "plot" object */
    size_t nbad;
} grid;

/* sweep_expr.c: where's expressions over the keys' values, and conditions */
typedef struct vars {
    const char **name;
    double *val;
    size_t n;
} vars;
void sweep_skip_ws(const char **s);
/* an expression (+ - * / ( ), numbers, key names; nested at most 100 deep):
 * 0 and *out, or -1 */
int sweep_expr(const char **s, const vars *v, double *out);
/* comparisons (< <= > >= == !=; equality within 1e-9) joined by and / or:
 * 0 and *out, or -1 */
int sweep_condition(const char **s, const vars *v, int *out);

/* the built-in default grid (capmetric grid --default) */
extern const char *const default_grid;

/* Load and expand grid file `file` (its text) with the command's options. */
int grid_load(const char *file, const char *text, const opts *o, grid *g);
void grid_free(grid *g);
/* A point's expected work from its spec: 3 vector quantizers, 2 block formats and
 * compositions, 1 the rest (scheduling and the ETA's classes). */
int grid_cost_class(const char *spec);
/* Order the points longest first (by a cost estimate from the spec). */
void make_order(grid *g);
/* Parse every point's spec on `threads` threads; canonical specs, duplicates removed;
 * a spec that does not parse stops the run, or with `skip` moves to g->bad. */
int grid_canonicalize(const char *file, const cm_registry *reg, grid *g, unsigned threads,
                      int skip);

#endif
