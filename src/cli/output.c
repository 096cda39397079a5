/* What the program writes: exit codes, error messages, the results table,
 * numbers in JSON, and files written all or nothing. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#include <sys/file.h>

const char *prog = "capmetric";

int exit_code_for(cm_status s)
{
    switch (s) {
    case CM_OK: return 0;
    case CM_ENOMEM:
    case CM_ENUMERIC: return EXIT_RUNTIME;
    default: return EXIT_USAGE;
    }
}

int usage_error(const char *fmt, const char *arg)
{
    cli_progress_stop();
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see '%s help')\n", prog);
    return EXIT_USAGE;
}

/* Print a diagnostic; with `text` show the text and a caret under diag->pos. */
int report(cm_status s, const cm_diag *d, const char *what, const char *text)
{
    cli_progress_stop(); /* (a progress line on the terminal is cleared first) */
    fprintf(stderr, "%s: error: %s%s%s\n", prog, what ? what : "", what ? ": " : "",
            d->msg[0] ? d->msg : cm_strerror(s));
    size_t n = text ? strlen(text) : 0;
    if (text && d->pos >= 0 && (size_t)d->pos <= n) {
        /* a long text is shown as a window of 60 characters either side of the spot */
        size_t pos = (size_t)d->pos, from = pos > 60 ? pos - 60 : 0;
        size_t mark = d->len > 120 ? 120 : d->len > 0 ? (size_t)d->len : 0;
        size_t to = n - pos > mark + 60 ? pos + mark + 60 : n;
        const char *pre = from ? "..." : "", *post = to < n ? "..." : "";
        fprintf(stderr, "    %s%.*s%s\n    %*s^", pre, (int)(to - from), text + from, post,
                (int)(pos - from + strlen(pre)), "");
        for (long i = 1; i < d->len && i < 120; i++)
            fputc('~', stderr);
        fputc('\n', stderr);
    }
    return exit_code_for(s);
}

void fmt_g(char *b, size_t n, double x, int prec)
{
    if (isnan(x))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.*g", prec, x);
}

void print_results(const cm_result *r, size_t n)
{
    static const char *const head[] = {"spec", "bits", "method", "gmse", "se", "misalign",
                                       "scale", "eff_bits", "rho", "rho/bit", "D(R) gap dB",
                                       "seconds"};
    static const int right[] = {0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int comp = 0;
    for (size_t i = 0; i < n; i++)
        comp |= !isnan(r[i].rho_product);
    cli_table t;
    if (cli_table_init(&t, 12, head, right))
        return;
    for (size_t i = 0; i < n; i++) {
        char c[10][40];
        fmt_g(c[0], 40, r[i].bits, 5);
        fmt_g(c[1], 40, r[i].gmse, r[i].method == CM_METHOD_EXACT ? 10 : 6);
        fmt_g(c[2], 40, r[i].gmse_se, 2);
        fmt_g(c[3], 40, r[i].scale, 7);
        snprintf(c[4], 40, "%.4f", r[i].eff_bits);
        snprintf(c[5], 40, "%.4f", r[i].rho);
        snprintf(c[6], 40, "%.4f", r[i].rho_per_bit);
        snprintf(c[7], 40, "%.3f", r[i].seconds);
        snprintf(c[8], 40, "%.2f", r[i].gap_db);
        fmt_g(c[9], 40, r[i].misalignment, 4);
        const char *row[] = {r[i].input, c[0], cm_method_name(r[i].method), c[1],
                             r[i].method == CM_METHOD_EXACT ? "0" : c[2], c[9], c[3], c[4], c[5],
                             c[6], c[8], c[7]};
        cli_table_row(&t, row);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    if (comp) {
        printf("\ncompositions: rho(A+B) beside rho(A) * rho(B) (each stage alone):\n");
        for (size_t i = 0; i < n; i++)
            if (!isnan(r[i].rho_product))
                printf("  %-40s rho %.4f   product %.4f\n", r[i].input, r[i].rho,
                       r[i].rho_product);
    }
}

const char *data_note(const cm_dist *dist)
{
    static char b[128];
    if (cm_dist_is_default(dist))
        return "";
    char dn[40];
    snprintf(b, sizeof b, "\ndata: %s, sigma %.6g (gmse = MSE / sigma^2)",
             cm_dist_name(dist, dn, sizeof dn), cm_dist_sigma(dist));
    return b;
}

void print_warnings(const cm_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned f = 1; f; f <<= 1)
            if ((r[i].flags & f) && cm_result_warning(f))
                fprintf(stderr, "%s: warning: %s: %s\n", prog, r[i].input, cm_result_warning(f));
}

/* ---- fit output -------------------------------------------------------------------- */

int json_whole(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == floor(v->valuedouble);
}

cJSON *jnum(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

/* Write `text` to `path`, all or nothing; say so on failure (exit code 2). */
int write_atomic(const char *path, const char *text)
{
    if (!cli_write_atomic(path, text))
        return 0;
    fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, path, strerror(errno));
    return EXIT_USAGE;
}

/* ---- files ---------------------------------------------------------------------------------- */

int cli_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(buf, 0755) && errno != EEXIST)
                return -1;
            *s = '/';
        }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return -1;
    struct stat sb;
    if (stat(buf, &sb) || !S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Write text to `path` through a temporary name in the same folder (synced, then
 * renamed): all or nothing. -1 with errno on failure. */
int cli_write_atomic(const char *path, const char *text)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int cli_lock_dir(const char *dir, int *fd_out)
{
    *fd_out = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: error: cannot open the output directory '%s': %s\n", prog, dir,
                strerror(errno));
        return EXIT_USAGE;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            fprintf(stderr, "%s: error: another capmetric is writing into '%s' (it holds the "
                            "folder's lock): wait for it, or choose another -o\n",
                    prog, dir);
            return EXIT_USAGE;
        }
        fprintf(stderr, "%s: error: cannot lock '%s': %s\n", prog, dir, strerror(e));
        return EXIT_USAGE;
    }
    /* under the lock nobody else writes here: temporaries left by a killed run go */
    DIR *dd = opendir(dir);
    struct dirent *de;
    while (dd && (de = readdir(dd))) {
        const char *n = de->d_name, *t = strstr(n, ".tmp");
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, n);
        if (!strncmp(n, ".report-", 8)) { /* a report set that was never moved in */
            DIR *sd = opendir(p);
            struct dirent *se;
            while (sd && (se = readdir(sd))) {
                char q[4700];
                if (se->d_name[0] == '.')
                    continue;
                snprintf(q, sizeof q, "%s/%s", p, se->d_name);
                remove(q);
            }
            if (sd)
                closedir(sd);
            rmdir(p);
        } else if (t && t[4] && strspn(t + 4, "0123456789") == strlen(t + 4)) {
            remove(p); /* NAME.tmpPID of cli_write_atomic */
        }
    }
    if (dd)
        closedir(dd);
    *fd_out = fd;
    return 0;
}
