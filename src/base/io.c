/* Whole-file reads and CSV tables (capmetric/io.h). */
#include <capmetric/io.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util_int.h"

size_t cm_file_max(void)
{
    const char *e = getenv("CAPMETRIC_MAX_FILE_MB");
    char *end;
    unsigned long long mb = e && *e ? strtoull(e, &end, 10) : 0;
    if (e && *e && *end == '\0' && mb > 0 && mb <= ((size_t)-1 >> 21))
        return (size_t)mb << 20;
    return (size_t)CM_FILE_MAX_MB << 20;
}

char *cm_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    errno = 0;
    const size_t cap = cm_file_max();
    cm_buf b;
    cm_buf_init(&b);
    char chunk[8192];
    size_t r;
    int big = 0;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + r > cap) { /* /dev/zero, a mistaken path: stop at the cap */
            big = 1;
            break;
        }
        cm_buf_putn(&b, chunk, r);
    }
    int bad = big ? EFBIG : ferror(f) ? (errno ? errno : EIO) : 0; /* e.g. EISDIR for a folder */
    fclose(f);
    if (bad || b.oom) {
        cm_buf_free(&b);
        errno = bad ? bad : ENOMEM;
        return NULL;
    }
    if (len)
        *len = b.len;
    if (!b.s) /* empty file */
        return cm_strdup("");
    return cm_buf_take(&b);
}

void cm_csv_free(cm_csv *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncol; i++)
        free(t->head[i]);
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        free(t->cell[i]);
    free(t->head);
    free(t->cell);
    free(t->line);
    free(t);
}

/* One record starting at *p: fields appended to `out` (growing), count in *n.
 * Returns 0, or -1 for an unterminated quote; -2 out of memory. */
static int record(const char **p, long *line, char ***out, size_t *n, size_t *cap)
{
    const char *s = *p;
    *n = 0;
    for (;;) {
        cm_buf f;
        cm_buf_init(&f);
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) {
                    cm_buf_free(&f);
                    return -1;
                }
                if (*s == '"' && s[1] == '"') {
                    cm_buf_putn(&f, "\"", 1);
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (*s == '\n')
                        (*line)++;
                    cm_buf_putn(&f, s++, 1);
                }
            }
        }
        const char *e = s;
        while (*e && *e != ',' && *e != '\n' && *e != '\r')
            e++;
        cm_buf_putn(&f, s, (size_t)(e - s));
        s = e;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 16;
            char **nb = realloc(*out, nc * sizeof *nb);
            if (!nb) {
                cm_buf_free(&f);
                return -2;
            }
            *out = nb;
            *cap = nc;
        }
        char *v = f.s ? cm_buf_take(&f) : cm_strdup("");
        if (!v || f.oom)
            return -2;
        (*out)[(*n)++] = v;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\r')
            s++;
        if (*s == '\n')
            s++;
        break;
    }
    *p = s;
    return 0;
}

static int blank_line(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return *s == '\n';
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cm_status cm_csv_read(const char *path, cm_csv **out, cm_diag *d)
{
    *out = NULL;
    char *text = cm_file_read(path, NULL);
    if (!text)
        return cm_diag_set(d, CM_EIO, "cannot read '%s': %s", path, strerror(errno));
    cm_csv *t = calloc(1, sizeof *t);
    char **f = NULL;
    size_t nf = 0, capf = 0, caprow = 0;
    cm_status st = CM_OK;
    long line = 1;
    const char *p = text;
    if (!strncmp(p, "\xef\xbb\xbf", 3)) /* a UTF-8 byte-order mark (spreadsheet exports) */
        p += 3;
    if (!t) {
        st = CM_ENOMEM;
        goto done;
    }
    while (*p && blank_line(p)) {
        p = strchr(p, '\n') + 1;
        line++;
    }
    if (!*p) {
        st = cm_diag_set(d, CM_EPARSE, "%s: the file is empty (expected a header row, then one "
                                       "row per run)", path);
        goto done;
    }
    long hline = line;
    int r = record(&p, &line, &f, &nf, &capf);
    if (r) {
        for (size_t i = 0; i < nf; i++)
            free(f[i]);
        st = r == -2 ? CM_ENOMEM
                     : cm_diag_set(d, CM_EPARSE, "%s:%ld: unterminated quote", path, hline);
        goto done;
    }
    line++;
    t->ncol = nf;
    t->head = f;
    f = NULL;
    capf = 0;
    for (size_t i = 0; i < t->ncol; i++)
        if (!t->head[i][0]) {
            st = cm_diag_set(d, CM_EPARSE, "%s:%ld: column %zu of the header has no name", path,
                             hline, i + 1);
            goto done;
        }
    { /* repeated names: sorted, not pairwise (a header of 1e5 columns must not be slow) */
        char **names = malloc((t->ncol ? t->ncol : 1) * sizeof *names);
        if (!names) {
            st = CM_ENOMEM;
            goto done;
        }
        memcpy(names, t->head, t->ncol * sizeof *names);
        qsort(names, t->ncol, sizeof *names, cmp_names);
        for (size_t i = 1; i < t->ncol && !st; i++)
            if (!strcmp(names[i], names[i - 1]))
                st = cm_diag_set(d, CM_EPARSE, "%s:%ld: column name '%s' appears twice", path,
                                 hline, names[i]);
        free(names);
        if (st)
            goto done;
    }
    while (*p) {
        if (blank_line(p)) {
            p = strchr(p, '\n') + 1;
            line++;
            continue;
        }
        long rline = line;
        r = record(&p, &line, &f, &nf, &capf);
        line++;
        if (r) {
            for (size_t i = 0; i < nf; i++)
                free(f[i]);
            st = r == -2 ? CM_ENOMEM
                         : cm_diag_set(d, CM_EPARSE, "%s:%ld: unterminated quote", path, rline);
            goto done;
        }
        if (nf != t->ncol) {
            for (size_t i = 0; i < nf; i++)
                free(f[i]);
            d->line = rline;
            st = cm_diag_set(d, CM_EPARSE, "%s:%ld: %zu fields, the header has %zu", path, rline,
                             nf, t->ncol);
            d->line = rline;
            goto done;
        }
        if (t->nrow == caprow) {
            caprow = caprow ? 2 * caprow : 64;
            char **nc = realloc(t->cell, caprow * t->ncol * sizeof *nc);
            long *nl = realloc(t->line, caprow * sizeof *nl);
            if (nc)
                t->cell = nc;
            if (nl)
                t->line = nl;
            if (!nc || !nl) {
                for (size_t i = 0; i < nf; i++)
                    free(f[i]);
                st = CM_ENOMEM;
                goto done;
            }
        }
        memcpy(t->cell + t->nrow * t->ncol, f, t->ncol * sizeof *f);
        t->line[t->nrow++] = rline;
    }
done:
    free(f);
    free(text);
    if (st) {
        if (st == CM_ENOMEM)
            cm_diag_set(d, CM_ENOMEM, "%s: out of memory", path);
        cm_csv_free(t);
        return st;
    }
    *out = t;
    return CM_OK;
}

long cm_csv_col(const cm_csv *t, const char *name)
{
    for (size_t i = 0; i < t->ncol; i++)
        if (!strcmp(t->head[i], name))
            return (long)i;
    return -1;
}

const char *cm_csv_at(const cm_csv *t, size_t r, size_t c) { return t->cell[r * t->ncol + c]; }
