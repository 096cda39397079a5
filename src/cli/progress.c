/* The command line's progress line: the library reports (progress.h), this
 * shows it on stderr. On a terminal one line is rewritten in place, at most
 * every half second and only once a task has run for a second (quick runs
 * stay silent); CAPMETRIC_PROGRESS=1 forces plain lines from the start
 * (logs, tests),
 * CAPMETRIC_PROGRESS=0 or --quiet silences it; --progress is CAPMETRIC_PROGRESS=1. */
#include <capmetric/capmetric.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct line {
    pthread_mutex_t lock;
    int tty, shown;
    double delay; /* seconds a task runs before it is shown */
    char task[64];
    double t_start, t_last;
} line;

static line L = {.lock = PTHREAD_MUTEX_INITIALIZER};

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void eta_text(char *b, size_t n, double sec)
{
    if (!(sec >= 0) || sec > 1e7)
        snprintf(b, n, "?");
    else if (sec < 90)
        snprintf(b, n, "%.0f s", sec);
    else if (sec < 5400)
        snprintf(b, n, "%.0f min", sec / 60);
    else
        snprintf(b, n, "%.1f h", sec / 3600);
}

static void show(void *ctx, const char *task, double done, double total)
{
    (void)ctx;
    double now = cli_now();
    pthread_mutex_lock(&L.lock);
    if (strncmp(L.task, task, sizeof L.task - 1) != 0) { /* a new task */
        if (L.shown && L.tty)
            fputs("\r\033[K", stderr);
        snprintf(L.task, sizeof L.task, "%s", task);
        L.t_start = now;
        L.t_last = now;
        L.shown = 0;
    }
    int over = !(done < total);
    if (over) {
        if (L.shown && L.tty)
            fputs("\r\033[K", stderr);
        L.task[0] = 0;
        L.shown = 0;
    } else if (total > 0 && (L.shown ? now - L.t_last >= 0.5 : now - L.t_start >= L.delay)) {
        char eta[32];
        double el = now - L.t_start, frac = done / total;
        eta_text(eta, sizeof eta, frac > 0 ? el * (1 - frac) / frac : -1);
        fprintf(stderr, "%s%s: %s %3.0f%% (%s left)%s", L.tty ? "\r\033[K" : "", prog, task,
                100 * frac, eta, L.tty ? "" : "\n");
        fflush(stderr);
        L.t_last = now;
        L.shown = 1;
    }
    pthread_mutex_unlock(&L.lock);
}

void cli_progress_start(const opts *o)
{
    const char *env = getenv("CAPMETRIC_PROGRESS");
    int forced = (env && !strcmp(env, "1")) || o->progress, off = env && !strcmp(env, "0");
    if (o->quiet || off || (!forced && !isatty(2)))
        return;
    L.tty = !forced;
    L.delay = forced ? 0.0 : 1.0;
    cm_progress_set(show, NULL);
}

void cli_progress_stop(void)
{
    cm_progress_set(NULL, NULL);
    pthread_mutex_lock(&L.lock);
    if (L.shown && L.tty)
        fputs("\r\033[K", stderr);
    L.shown = 0;
    L.task[0] = 0;
    pthread_mutex_unlock(&L.lock);
}
