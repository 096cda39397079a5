/* The process-wide progress callback (progress.h): one callback and its
 * context, read and written together under a lock so that a reader never
 * pairs one callback with another's context. Reports are rare (one per
 * Monte-Carlo batch of 65536 values, one per training iteration). */
#include <capmetric/progress.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct hook {
    cm_progress_fn fn;
    void *ctx;
} hook;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hook current;
static atomic_int installed; /* a report without a callback takes no lock */

void cm_progress_set(cm_progress_fn fn, void *ctx)
{
    pthread_mutex_lock(&lock);
    current.fn = fn;
    current.ctx = ctx;
    atomic_store(&installed, fn != NULL);
    pthread_mutex_unlock(&lock);
}

void cm_progress(const char *task, double done, double total)
{
    if (!atomic_load(&installed))
        return;
    pthread_mutex_lock(&lock);
    hook h = current;
    pthread_mutex_unlock(&lock);
    if (h.fn)
        h.fn(h.ctx, task, done, total);
}

static atomic_int cancel_flag;

void cm_cancel_request(void) { atomic_store(&cancel_flag, 1); }
void cm_cancel_clear(void) { atomic_store(&cancel_flag, 0); }
int cm_cancel_requested(void) { return atomic_load(&cancel_flag); }
