/* capmetric — progress of long computations (Monte Carlo, codebook training,
 * reading large files).
 *
 * The library never prints: it hands progress to one process-wide callback,
 * which the caller (the command line tool, a notebook) may show. Without a
 * callback nothing is reported.
 *
 * Thread safety: the callback is called from the library's worker threads,
 * possibly from several at once; it must be thread-safe and return quickly.
 * Set it before starting work (cm_progress_set is atomic, but a computation
 * already running may still call the previous callback). */
#ifndef CAPMETRIC_PROGRESS_H
#define CAPMETRIC_PROGRESS_H

#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `task` names the work ("monte carlo", "k-means 4096x2"; static storage or
 * valid during the call); `done` of `total` units are finished (done ==
 * total: the task is over). Units are the task's own (batches, iterations,
 * bytes). */
typedef void (*cm_progress_fn)(void *ctx, const char *task, double done, double total);

/*! cm_progress_set() : install fn (NULL: none) with its context. */
CM_API void cm_progress_set(cm_progress_fn fn, void *ctx);

/*! cm_progress() : report progress to the installed callback, if any (the
 * engine's modules and formats call this; so may a caller's own loops). */
CM_API void cm_progress(const char *task, double done, double total);

/*! cm_cancel_request() : ask every running Monte-Carlo run and array pass
 * to stop; they return CM_ECANCELED at their next batch. Async-signal-safe
 * (an atomic store): a SIGINT handler may call it. cm_cancel_clear() : forget
 * the request (before starting new work). cm_cancel_requested() : 1 if asked. */
CM_API void cm_cancel_request(void);
CM_API void cm_cancel_clear(void);
CM_API int cm_cancel_requested(void);

#ifdef __cplusplus
}
#endif

#endif
