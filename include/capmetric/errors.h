/* capmetric — status codes and diagnostics.
 *
 * Every library function returns a cm_status; details (message, position in
 * the input) go into a caller-owned cm_diag. There is no global "last error".
 * This header is self-contained (C11 + libc) so that plugins can use it.
 *
 * Thread safety: a cm_diag belongs to its caller; the functions here keep no
 * state. */
#ifndef CAPMETRIC_ERRORS_H
#define CAPMETRIC_ERRORS_H

#include <capmetric/export.h>

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values: never renumbered, never reused. */
typedef enum cm_status {
    CM_OK = 0,
    CM_EINVAL = 1,       /* invalid argument or value */
    CM_ENOMEM = 2,       /* allocation failed */
    CM_EPARSE = 3,       /* malformed text (spec, JSON, CSV, number) */
    CM_ENOTFOUND = 4,    /* unknown name (family, key, alias, law) */
    CM_ERANGE = 5,       /* value outside the accepted range */
    CM_EIO = 6,          /* file could not be read or written */
    CM_EABI = 7,         /* plugin ABI mismatch */
    CM_EPLUGIN = 8,      /* plugin refused for another reason */
    CM_ENUMERIC = 9,     /* numerical failure (no convergence, GSL error) */
    CM_EUNSUPPORTED = 10,/* valid request the format/method cannot serve */
    CM_EDUP = 11,        /* duplicate name or key */
    CM_ECANCELED = 12    /* stopped by cm_cancel_request() (progress.h) */
} cm_status;

/* Caller-owned diagnostic. `pos` is a byte offset into the text being parsed
 * (-1 when not applicable), `len` the length of the offending token; `line`
 * and `col` are 1-based for files (0 when not applicable). */
typedef struct cm_diag {
    cm_status code;
    long pos;
    long len;
    long line;
    long col;
    char key[64];        /* offending key, if a key is to blame ("" otherwise) */
    char msg[768];
} cm_diag;

/*! cm_strerror() : short English name of a status. Never NULL. */
CM_API const char *cm_strerror(cm_status s);

/*! cm_suggest() : of the n candidates, the one a slip of the keyboard away
 * from `name` (edit distance with swaps, letters compared without case; at
 * most 1 for short names, 2, or a quarter of the length), or NULL: for "did
 * you mean" in messages. */
CM_API const char *cm_suggest(const char *name, const char *const *cands, size_t n);

/*! cm_did_you_mean() : the hint of a message, "; did you mean 'NEAR'?", in
 * buf (n bytes), or "" when near is NULL: one wording for every "unknown
 * name" message. Returns buf. */
CM_API const char *cm_did_you_mean(const char *near, char *buf, size_t n);

/*! cm_diag_clear() : reset a diagnostic to "no error". NULL is accepted. */
static inline void cm_diag_clear(cm_diag *d)
{
    if (!d)
        return;
    d->code = CM_OK;
    d->pos = -1;
    d->len = 0;
    d->line = 0;
    d->col = 0;
    d->key[0] = '\0';
    d->msg[0] = '\0';
}

/*! cm_diag_vset() : the va_list form behind cm_diag_set and cm_diag_set_key;
 * `key` may be NULL. Returns `code`. */
static inline cm_status cm_diag_vset(cm_diag *d, cm_status code, const char *key,
                                     const char *fmt, va_list ap)
{
    if (d) {
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        d->code = code;
        if (key)
            snprintf(d->key, sizeof d->key, "%s", key);
    }
    return code;
}

/*! cm_diag_set() : record status `code` and a printf-style message in `d`
 * (NULL is accepted) and return `code`, so that callers can write
 * `return cm_diag_set(d, CM_ERANGE, "...")`. Inline so that plugins, which
 * see only the public headers, can use it without linking anything. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline cm_status cm_diag_set(cm_diag *d, cm_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_diag_vset(d, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

/*! cm_diag_set_key() : like cm_diag_set(), and names the offending key so the
 * caller can point at it in the input. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline cm_status cm_diag_set_key(cm_diag *d, cm_status code, const char *key,
                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_diag_vset(d, code, key ? key : "", fmt, ap);
    va_end(ap);
    return code;
}

#ifdef __cplusplus
}
#endif
#endif
