/* capmetric — spec strings and the pipelines they describe.
 *
 * Grammar (DESIGN §4):  SPEC  := STAGE ('+' STAGE)*
 *                       STAGE := NAME [':' KEY '=' VALUE (',' KEY '=' VALUE)*]
 * NAME is a family or an alias; list values use ';'. Stages are applied left
 * to right. Every pipeline has a canonical spec: all keys, defaults filled in,
 * fixed order, so that two spellings of one format compare equal.
 *
 * Thread safety: a pipeline is immutable once cm_spec_parse returns; any
 * number of threads may read and evaluate one pipeline at once. A
 * cm_pipeline_state belongs to one thread at a time. */
#ifndef CAPMETRIC_SPEC_H
#define CAPMETRIC_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/format.h>
#include <capmetric/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_pipeline cm_pipeline;

/* The longest spec text and the most stages cm_spec_parse accepts (every
 * stage costs per-thread scratch: an unbounded spec is a memory attack). */
#define CM_SPEC_MAX_LEN 65536u
#define CM_SPEC_MAX_STAGES 16u

/*! cm_spec_parse() : parse `text` against the formats of `reg`.
 * @return CM_OK and a pipeline in *out (free with cm_pipeline_free), or
 *   CM_EPARSE (malformed), CM_ENOTFOUND (unknown family or key), CM_EDUP
 *   (a key given twice), CM_ERANGE (value out of range; a spec longer than
 *   CM_SPEC_MAX_LEN or of more than CM_SPEC_MAX_STAGES stages) or a status from the
 *   format; diag->pos/len point at the offending text. The registry must
 *   outlive the pipeline. */
CM_API cm_status cm_spec_parse(const cm_registry *reg, const char *text, cm_pipeline **out,
                        cm_diag *diag);

/*! cm_pipeline_free() : release a pipeline. NULL is accepted. */
CM_API void cm_pipeline_free(cm_pipeline *p);

/*! cm_pipeline_canonical() / cm_pipeline_input() : canonical and typed spec. */
CM_API const char *cm_pipeline_canonical(const cm_pipeline *p);
CM_API const char *cm_pipeline_input(const cm_pipeline *p);

/*! cm_pipeline_family() : family names of the stages joined by '+'. */
CM_API const char *cm_pipeline_family(const cm_pipeline *p);

/*! cm_pipeline_stages() / cm_pipeline_format() / cm_pipeline_params() */
CM_API size_t cm_pipeline_stages(const cm_pipeline *p);
CM_API const cm_format *cm_pipeline_format(const cm_pipeline *p, size_t i);
CM_API const void *cm_pipeline_params(const cm_pipeline *p, size_t i);

/*! cm_pipeline_bits() : storage bits per value. A pipeline stores what its
 * last stage stores (sparsity mask costs will be added by sparse stages). */
CM_API double cm_pipeline_bits(const cm_pipeline *p);

/*! cm_pipeline_group() : least common multiple of the stages' groups. */
CM_API size_t cm_pipeline_group(const cm_pipeline *p);

/*! cm_pipeline_tile() : 1 and the tile's rows and columns when a stage has
 * 2-D block scales (block=RxC: one scale per R x C tile of the last two
 * dimensions of a tensor), else 0. */
CM_API int cm_pipeline_tile(const cm_pipeline *p, size_t *rows, size_t *cols);

/*! cm_pipeline_scale() : the scale stage i was given: 1 for a non-scalar or
 * block-scaled stage, the value of `scale=VALUE`, NaN for `scale=opt` (the
 * engine resolves the optimum into a cm_plan, see plan.h: cm_plan_scale). */
CM_API double cm_pipeline_scale(const cm_pipeline *p, size_t i);

/*! cm_pipeline_scale_is_opt() : 1 when stage i asks for the optimal scale. */
CM_API int cm_pipeline_scale_is_opt(const cm_pipeline *p, size_t i);

/*! cm_pipeline_value() : the value of key `key` of stage i as parsed
 * (defaults filled in): its number in *num (NaN for a word such as an enum
 * choice or scale=opt) and its canonical text in *text (owned by the
 * pipeline); either may be NULL. The structured way to read a format's
 * traits (laws do): no re-parsing of canonical text.
 * @return CM_OK, CM_ENOTFOUND (the stage has no such key, or it is unset),
 *   CM_EINVAL (i out of range). */
CM_API cm_status cm_pipeline_value(const cm_pipeline *p, size_t i, const char *key, double *num,
                                   const char **text);

/*! cm_pipeline_registry() : the registry the pipeline was parsed against. */
CM_API const cm_registry *cm_pipeline_registry(const cm_pipeline *p);

/*! cm_pipeline_slice() : a pipeline of stage i alone (its canonical spec is
 * that stage's), sharing p's parsed parameters: no re-parsing. p must
 * outlive the slice; free the slice with cm_pipeline_free.
 * @return CM_OK, CM_EINVAL (i out of range), CM_ENOMEM. */
CM_API cm_status cm_pipeline_slice(const cm_pipeline *p, size_t i, cm_pipeline **out, cm_diag *diag);

/*! cm_pipeline_state_alloc() : per-thread working memory to apply p to data
 * in chunks of at most `chunk` values. `scales` (p's stage count, or NULL
 * for the parsed scales) gives each scalar stage's scale; a `scale=opt`
 * stage needs its resolved value (cm_plan_state_alloc in plan.h passes the
 * plan's). @return CM_OK, CM_EINVAL (an unresolved scale), CM_ENOMEM, or a
 * format's state_init failure. A state is used by one thread at a time.
 *
 * cm_pipeline_apply() : y = pipeline(x) for n values (a multiple of the
 * group). For tests and tools; the Monte-Carlo engine uses the same code. */
typedef struct cm_pipeline_state cm_pipeline_state;
CM_API cm_status cm_pipeline_state_alloc(const cm_pipeline *p, const double *scales, size_t chunk,
                                  cm_pipeline_state **out, cm_diag *diag);
CM_API void cm_pipeline_state_free(const cm_pipeline *p, cm_pipeline_state *st);
CM_API void cm_pipeline_apply(const cm_pipeline *p, cm_pipeline_state *st, const double *x, double *y,
                       size_t n);

/*! cm_pipeline_state_seed() : reseed the randomized stages (stochastic
 * rounding) of a state; the Monte-Carlo engine does it at every batch. */
CM_API void cm_pipeline_state_seed(const cm_pipeline *p, cm_pipeline_state *st, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
