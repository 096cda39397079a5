/* The capmetric program: private declarations shared by its files. */
#ifndef CM_CLI_H
#define CM_CLI_H

#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>
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
/* the command being run (for messages and the option check) */
extern const char *cli_cmd;

typedef struct opts {
    cm_eval_opts ev;
    int json, csv, quiet, help;
    int samples_given, seed_given, dist_given, sigma_given;
    const char **specs;
    size_t nspecs;
    const char **plugins;
    size_t nplugins;
    const char *by; /* rank: sort key */
    /* predict and rank --by loss */
    double params, tokens, memory; /* 0 = not given */
    unsigned tensors;              /* CM_TENSOR_*; 0 = not given */
    cm_law *law_owned;             /* --law file:PATH */
    double ci;                     /* predict --ci: interval level (0 = 0.9) */
    const char *vs;                /* predict --vs SPEC: the reference format */
    /* grid and merge */
    const char *out_dir;
    int resume, force, use_default, shard_i, shard_n;
    int skip_invalid;              /* grid: run the valid points, list the others */
    int progress;                  /* --progress: progress lines even off a terminal */
    const char *color_by, *marker_by, *x_key; /* grid, merge: plots by a swept key */
    /* the user's tensors: eval --data, quantize */
    const char *data, *tensor_re, *dtype, *codes;
    int pad;
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
/* the table's footnote on the data ("" for N(0,1)): a static string */
const char *data_note(const cm_dist *dist);
/* each result's warnings (CM_RESULT_* flags) on stderr */
void print_warnings(const cm_result *r, size_t n);
int parse_specs(const cm_registry *reg, const char *const *specs, size_t n, cm_pipeline ***out);
void free_specs(cm_pipeline **p, size_t n);
int parse_amount(const char *s, double *out);

void fmt_g(char *b, size_t n, double x, int prec);

/* output.c: files. cli_mkdirs: mkdir -p; cli_write_atomic: through a
 * temporary name in the same folder, synced, renamed (-1 with errno);
 * write_atomic: the same, saying what failed (exit code 2). */
int cli_mkdirs(const char *path);
int cli_write_atomic(const char *path, const char *text);
int write_atomic(const char *path, const char *text);
/* Take the advisory lock of an output folder (held until fd is closed or the
 * program ends) and remove the temporaries a killed run left in it. 0, or an
 * exit code after saying that another capmetric holds it. */
int cli_lock_dir(const char *dir, int *fd);
/* 1 if v is a whole number in [lo, hi] (checked before any cast to an integer) */
int json_whole(const cJSON *v, double lo, double hi);
/* a JSON number, or null when not finite (the one non-finite policy) */
cJSON *jnum(double x);

/* progress.c: show the library's progress on stderr (a terminal, or
 * CAPMETRIC_PROGRESS=1) until stop */
void cli_progress_start(const opts *o);
void cli_progress_stop(void);
/* help.c: COMMAND --help printed (1) for the commands without usage of their own */
int cli_command_help(const char *cmd, int argc, char **argv);

/* monotonic seconds */
double cli_now(void);

/* A command's own options, pulled out of argv before the common ones. */
#define OPT_MAXVAL 16
typedef struct optdef {
    const char *name;
    int has_val, repeat;
    size_t n;
    const char *val[OPT_MAXVAL];
} optdef;

int pull_opts(int argc, char **argv, optdef *defs, size_t nd, char **rest, int *nrest);
const char *opt_get(const optdef *defs, size_t nd, const char *name);

#endif
