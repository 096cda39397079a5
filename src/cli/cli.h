/* The capmetric program: private declarations shared by its files. */
#ifndef CM_CLI_H
#define CM_CLI_H

#include <capmetric/capmetric.h>
#include <stddef.h>
#include <stdint.h>

/* A text table printed with aligned columns. */
typedef struct cli_table {
    size_t ncol, nrow, cap;
    char **cell;          /* nrow x ncol */
    int *right;           /* per column: right-align */
} cli_table;

int cli_table_init(cli_table *t, size_t ncol, const char *const *head, const int *right);
int cli_table_row(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t);
void cli_table_fini(cli_table *t);


#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

extern const char *prog;

typedef struct opts {
    cm_eval_opts ev;
    int json, csv, quiet, help;
    int samples_given;
    const char **specs;
    size_t nspecs;
    const char **plugins;
    size_t nplugins;
    const char *by; /* rank: sort key */
    /* predict and rank --by loss */
    double params, tokens, memory; /* 0 = not given */
    unsigned tensors;              /* CM_TENSOR_*; 0 = not given */
    cm_law *law_owned;             /* --law file:PATH */
    /* grid and merge */
    const char *out_dir;
    int resume, force, use_default, shard_i, shard_n;
} opts;

int exit_code_for(cm_status s);
#if defined(__GNUC__)
__attribute__((format(printf, 1, 0)))
#endif
int usage_error(const char *fmt, const char *arg);
int report(cm_status s, const cm_diag *d, const char *what, const char *text);
int parse_opts(int argc, char **argv, opts *o, int allow_specs);
void opts_fini(opts *o);
int load_registry(const opts *o, cm_registry **reg);
void print_results(const cm_result *r, size_t n);
int parse_specs(const cm_registry *reg, const char *const *specs, size_t n, cm_pipeline ***out);
void free_specs(cm_pipeline **p, size_t n);
int parse_amount(const char *s, double *out);

/* predict.c, fit.c, validate.c */
int cmd_predict(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_laws(int argc, char **argv);
int rank_by_loss(const opts *o, const cm_law *law, const cm_registry *reg, const cm_result *res,
                 size_t n);
void fmt_g(char *b, size_t n, double x, int prec);

/* grid.c */
int cli_mkdirs(const char *path);
int cli_write_atomic(const char *path, const char *text);
int cmd_grid(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
