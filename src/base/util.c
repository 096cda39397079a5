#include "util_int.h"

#include <unistd.h>

#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cm_buf_init(cm_buf *b)
{
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void cm_buf_free(cm_buf *b)
{
    free(b->s);
    cm_buf_init(b);
}

static int buf_reserve(cm_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void cm_buf_putn(cm_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void cm_buf_puts(cm_buf *b, const char *s) { cm_buf_putn(b, s, strlen(s)); }

void cm_buf_printf(cm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *cm_buf_take(cm_buf *b)
{
    if (b->oom) {
        cm_buf_free(b);
        return NULL;
    }
    if (!b->s && buf_reserve(b, 0))
        return NULL;
    char *s = b->s;
    cm_buf_init(b);
    return s;
}

void cm_fmt_double(char *out, size_t cap, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

char *cm_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *cm_strdup(const char *s) { return cm_strndup(s, strlen(s)); }

int cm_parse_double(const char *s, size_t n, double *out)
{
    char tmp[128];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* strtod accepts "nan", "inf" and hex floats; only plain decimals here */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return -1;
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cm_parse_int(const char *s, size_t n, long long *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-", tmp[i]))
            return -1;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static pthread_once_t gsl_once = PTHREAD_ONCE_INIT;
static void gsl_off(void) { gsl_set_error_handler_off(); }
void cm_gsl_quiet(void) { pthread_once(&gsl_once, gsl_off); }

double cm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

unsigned cm_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (unsigned)n : 1u;
}

void cm_run_threads(unsigned T, void *(*fn)(void *), void *arg)
{
    pthread_t *th = T > 1 ? calloc(T - 1, sizeof *th) : NULL;
    unsigned started = 0;
    if (th)
        for (; started < T - 1; started++)
            if (pthread_create(&th[started], NULL, fn, arg))
                break;
    fn(arg);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
}

void cm_first_error_init(cm_first_error *e)
{
    pthread_mutex_init(&e->lock, NULL);
    atomic_init(&e->failed, 0);
    e->status = CM_OK;
    cm_diag_clear(&e->diag);
}

void cm_first_error_set(cm_first_error *e, cm_status st, const cm_diag *d)
{
    pthread_mutex_lock(&e->lock);
    if (!e->status) {
        e->status = st;
        e->diag = *d;
    }
    pthread_mutex_unlock(&e->lock);
    atomic_store(&e->failed, 1);
}

cm_status cm_first_error_fini(cm_first_error *e, cm_diag *d)
{
    pthread_mutex_destroy(&e->lock);
    if (e->status && d)
        *d = e->diag;
    return e->status;
}

size_t cm_edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
    if (an > 63 || bn > 63)
        return 64;
    size_t d[64][64]; /* optimal string alignment */
    for (size_t i = 0; i <= an; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= bn; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= an; i++)
        for (size_t j = 1; j <= bn; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[an][bn];
}

void cm_nearer(const char *name, size_t len, const char *cand, const char **best, size_t *bd)
{
    size_t dd = cm_edit_distance(name, len, cand, strlen(cand));
    if (dd <= *bd && (!*best || dd < *bd)) {
        *best = cand;
        *bd = dd;
    }
}

const char *cm_did_you_mean(const char *near, char *buf, size_t n)
{
    if (n)
        snprintf(buf, n, "%s%.64s%s", near ? "; did you mean '" : "", near ? near : "",
                 near ? "'?" : "");
    return buf;
}

const char *cm_suggest(const char *name, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t len = name ? strlen(name) : 0, bd = cm_slip_distance(len);
    for (size_t i = 0; len && i < n; i++)
        cm_nearer(name, len, cands[i], &best, &bd);
    return best;
}
