/* capmetric — reading files: whole text files and CSV tables.
 *
 * Thread safety: the readers keep no state; a cm_csv is immutable once read
 * and may be shared between threads. */
#ifndef CAPMETRIC_IO_H
#define CAPMETRIC_IO_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every whole-file read of capmetric stops at this size (grid files, law
 * files, CSV tables, codebooks, lookup tables): CM_FILE_MAX_MB MiB, or the
 * environment variable CAPMETRIC_MAX_FILE_MB when it is set to a positive
 * integer. */
#define CM_FILE_MAX_MB 256u
/*! cm_file_max() : the cap in bytes now in force. */
CM_API size_t cm_file_max(void);

/*! cm_file_read() : the whole file, NUL-terminated (free with free()); its
 * length in *len if len is non-NULL. NULL on failure with errno set: EFBIG
 * past cm_file_max(), EISDIR for a folder, ENOMEM, or fopen's errno.
 * Thread-safe. */
CM_API char *cm_file_read(const char *path, size_t *len);

/* A CSV table: a header row, then rows of the same width. Fields are
 * separated by ',', may be quoted with '"' ("" inside quotes is one quote);
 * CRLF line ends and a final newline are accepted, blank lines skipped. */
typedef struct cm_csv {
    size_t ncol, nrow;
    char **head;  /* ncol names */
    char **cell;  /* nrow x ncol values */
    long *line;   /* nrow: the 1-based line each row came from */
} cm_csv;

/*! cm_csv_read() : read `path`. CM_EIO (cannot read), CM_EPARSE (empty file,
 * a row of another width, an unterminated quote, a duplicate or empty column
 * name; diag->line says where), CM_ENOMEM. Free with cm_csv_free. */
CM_API cm_status cm_csv_read(const char *path, cm_csv **out, cm_diag *diag);

/*! cm_csv_col() : index of the column called `name`, or -1. */
CM_API long cm_csv_col(const cm_csv *t, const char *name);

/*! cm_csv_at() : the text of row r, column c. */
CM_API const char *cm_csv_at(const cm_csv *t, size_t r, size_t c);

/*! cm_csv_free() : release a table; NULL is accepted. */
CM_API void cm_csv_free(cm_csv *t);

#ifdef __cplusplus
}
#endif
#endif
