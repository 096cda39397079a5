/* The capmetric program: private declarations shared by its files. */
#ifndef CM_CLI_H
#define CM_CLI_H

#include <stddef.h>

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

#endif
