/* Private helpers shared by the library modules. */
#ifndef CM_UTIL_INT_H
#define CM_UTIL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>

/* A growable string. On allocation failure `oom` is set and further appends
 * are ignored, so callers check once at the end. */
typedef struct cm_buf {
    char *s;
    size_t len, cap;
    int oom;
} cm_buf;

void cm_buf_init(cm_buf *b);
void cm_buf_free(cm_buf *b);
void cm_buf_putn(cm_buf *b, const char *s, size_t n);
void cm_buf_puts(cm_buf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void cm_buf_printf(cm_buf *b, const char *fmt, ...);
/* Hand over the string (the buffer is left empty); NULL if out of memory. */
char *cm_buf_take(cm_buf *b);

/* Shortest "%.*g" text that reads back as exactly x (at most 17 digits). */
void cm_fmt_double(char *out, size_t cap, double x);

char *cm_strdup(const char *s);
char *cm_strndup(const char *s, size_t n);

/* Parse all of s[0..n) as a finite double / an integer; 0 on success. */
int cm_parse_double(const char *s, size_t n, double *out);
int cm_parse_int(const char *s, size_t n, long long *out);

/* Edit distance (insertions, deletions, substitutions and swaps of two
 * neighbours, each 1) of a[0..an) and b[0..bn), letters compared without
 * case (strings of up to 63 characters; longer ones count as far apart). */
size_t cm_edit_distance(const char *a, size_t an, const char *b, size_t bn);

/* Keep cand in *best if it is nearer name[0..len) than *best at *bd (start
 * with *best = NULL, *bd = cm_slip_distance(len)): the suggestion of a
 * "did you mean". */
void cm_nearer(const char *name, size_t len, const char *cand, const char **best, size_t *bd);

/* The largest distance that still looks like a slip for a name of n
 * characters: 1 up to 4 characters, then 2, then n / 4. */
static inline size_t cm_slip_distance(size_t n) { return n <= 4 ? 1 : n < 12 ? 2 : n / 4; }

/* Least common multiple of two group sizes (both >= 1). */
static inline size_t cm_lcm(size_t a, size_t b)
{
    size_t x = a, y = b;
    while (y) {
        size_t t = x % y;
        x = y;
        y = t;
    }
    return a / x * b;
}

/* Turn GSL's aborting error handler off (once, process-wide). */
void cm_gsl_quiet(void);

/* The number of online cores (at least 1). */
unsigned cm_cores(void);

/* Monotonic wall clock in seconds. */
double cm_now(void);

/* Run fn(arg) on T threads at once, the caller's among them (T - 1 are
 * started; if starting one fails, fewer run: work must be shared by a
 * counter, not by thread number). Returns when all have finished. */
void cm_run_threads(unsigned T, void *(*fn)(void *), void *arg);

/* The first failure of several worker threads: `failed` tells the others to
 * stop, status and diag say what happened first. */
#include <pthread.h>
#include <stdatomic.h>
typedef struct cm_first_error {
    pthread_mutex_t lock;
    atomic_int failed;
    cm_status status;
    cm_diag diag;
} cm_first_error;

void cm_first_error_init(cm_first_error *e);
void cm_first_error_set(cm_first_error *e, cm_status st, const cm_diag *d);
/* release; hand the first failure (if any) to d and return its status */
cm_status cm_first_error_fini(cm_first_error *e, cm_diag *d);

#endif
