#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_table_init(cli_table *t, size_t ncol, const char *const *head, const int *right)
{
    memset(t, 0, sizeof *t);
    t->ncol = ncol;
    t->right = malloc(ncol * sizeof *t->right);
    if (!t->right)
        return -1;
    memcpy(t->right, right, ncol * sizeof *right);
    return cli_table_row(t, head);
}

int cli_table_row(cli_table *t, const char *const *cells)
{
    if (t->nrow == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cell, cap * t->ncol * sizeof *c);
        if (!c)
            return -1;
        t->cell = c;
        t->cap = cap;
    }
    for (size_t j = 0; j < t->ncol; j++) {
        const char *s = cells[j] ? cells[j] : "";
        char *d = malloc(strlen(s) + 1);
        if (!d) {
            for (size_t k = 0; k < j; k++)
                free(t->cell[t->nrow * t->ncol + k]);
            return -1;
        }
        strcpy(d, s);
        t->cell[t->nrow * t->ncol + j] = d;
    }
    t->nrow++;
    return 0;
}

void cli_table_print(const cli_table *t)
{
    size_t *w = calloc(t->ncol, sizeof *w);
    if (!w)
        return;
    for (size_t i = 0; i < t->nrow; i++)
        for (size_t j = 0; j < t->ncol; j++) {
            size_t l = strlen(t->cell[i * t->ncol + j]);
            if (l > w[j])
                w[j] = l;
        }
    for (size_t i = 0; i < t->nrow; i++) {
        for (size_t j = 0; j < t->ncol; j++) {
            const char *s = t->cell[i * t->ncol + j];
            int pad = (int)w[j];
            if (j + 1 == t->ncol && !t->right[j])
                printf("%s", s);
            else
                printf(t->right[j] ? "%*s" : "%-*s", pad, s);
            if (j + 1 < t->ncol)
                printf("  ");
        }
        printf("\n");
    }
    free(w);
}

void cli_table_fini(cli_table *t)
{
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        free(t->cell[i]);
    free(t->cell);
    free(t->right);
    memset(t, 0, sizeof *t);
}
