/* capmetric — the Monte-Carlo GMSE engine.
 *
 * Samples are cut into fixed batches; batch i is always drawn from PCG stream
 * i of the seed and results are reduced in batch order, so a seed gives
 * bit-identical results for any number of threads. Every pipeline of one run
 * sees the same samples (common random numbers), so differences between
 * pipelines are estimated with the paired standard error.
 *
 * Thread safety: cm_mc_run_alloc only reads its plans and runs opts->threads
 * worker threads of its own; a finished cm_mc_run is immutable and may be
 * read from any thread. */
#ifndef CAPMETRIC_MC_H
#define CAPMETRIC_MC_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/plan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Monte-Carlo stream's version: the values a seed gives. 1: PCG64 and a
 * scalar ziggurat (capmetric before December 2026); 2: eight xoshiro256++
 * lanes and a vector ziggurat for N(0,1) (the other distributions still draw
 * from PCG64). Results of different versions differ within their SE. */
#define CM_MC_STREAM_VERSION 2

#define CM_MC_MIN_SAMPLES 2u
#define CM_MC_MAX_SAMPLES (UINT64_C(1) << 40)

typedef struct cm_mc_opts {
    uint64_t samples;   /* values per pipeline, >= CM_MC_MIN_SAMPLES */
    uint64_t seed;
    unsigned threads;   /* >= 1 */
} cm_mc_opts;

/* Result of a run: per pipeline the GMSE and its standard error from batch
 * means; per pair the batch sums needed for paired differences. Opaque. */
typedef struct cm_mc_run cm_mc_run;

/*! cm_mc_run_alloc() : run the engine over n planned pipelines (plan.h);
 * the plans are only read and may be shared with other threads.
 * @return CM_OK, CM_EINVAL (bad options), CM_ERANGE (samples out of range,
 *   group too large), CM_ENOMEM. */
CM_API cm_status cm_mc_run_alloc(cm_plan *const *plans, size_t n, const cm_mc_opts *opts,
                          cm_mc_run **out, cm_diag *diag);
/*! cm_mc_run_free() : release a run; NULL is accepted. */
CM_API void cm_mc_run_free(cm_mc_run *run);

/*! cm_mc_gmse() : GMSE estimate of pipeline i and its standard error. */
CM_API void cm_mc_gmse(const cm_mc_run *run, size_t i, double *mean, double *se);

/*! cm_mc_misalignment() : pipeline i's misalignment 1 - E[x R(x)] / E[x^2]
 * (Quartet II's magnitude misalignment, arXiv 2601.22813: 0 for a
 * representation unbiased in magnitude, positive when it shrinks), as the
 * ratio of the batch sums of x (x - R(x)) and x^2, and its standard error
 * (delta method over batches). NaN when values became Inf/NaN. */
CM_API void cm_mc_misalignment(const cm_mc_run *run, size_t i, double *mean, double *se);

/*! cm_mc_diff() : estimate of GMSE(i) - GMSE(j) on the common samples and its
 * paired standard error. */
CM_API void cm_mc_diff(const cm_mc_run *run, size_t i, size_t j, double *diff, double *se);

/*! cm_mc_samples() / cm_mc_batches() : values drawn (the same for every
 * pipeline of the run); batch count.
 * cm_mc_used() : the values pipeline i quantized: whole groups of each chunk
 * of 4096 draws, so that a pipeline's estimate never depends on the other
 * pipelines of the run (all of them when its group divides 4096).
 * cm_mc_batch_used() : the values pipeline i quantized in a full batch. */
CM_API uint64_t cm_mc_samples(const cm_mc_run *run);
CM_API uint64_t cm_mc_batches(const cm_mc_run *run);
CM_API uint64_t cm_mc_used(const cm_mc_run *run, size_t i);
CM_API uint64_t cm_mc_batch_used(const cm_mc_run *run, size_t i);

/*! cm_mc_batch_size() : values per batch (the last batch may hold fewer). */
CM_API uint64_t cm_mc_batch_size(const cm_mc_run *run);

/*! cm_mc_batch_sums() : pipeline i's squared-error sum in every batch, in batch
 * order (cm_mc_batches() values). Two runs with the same seed, samples and
 * batch size saw the same values batch for batch, so their sums can be paired
 * across runs as within one. */
CM_API void cm_mc_batch_sums(const cm_mc_run *run, size_t i, double *out);

/*! cm_mc_seconds() : wall time of the run. */
CM_API double cm_mc_seconds(const cm_mc_run *run);

#ifdef __cplusplus
}
#endif
#endif
