/* capmetric — capacity laws: from a format to rho, N_eff and predicted loss.
 *
 * A second registry with the pattern of the formats': a const table of
 * built-in laws, looked up by name, plus laws loaded from JSON files that
 * `capmetric fit --save` writes. Every law says which inputs it needs
 * (cm_law_inputs) and refuses a format it cannot judge with CM_EUNSUPPORTED
 * and a message that says why and what it accepts.
 *
 * Thread safety: laws are immutable (built-in ones are static, loaded ones
 * after cm_law_load); every function here is reentrant. */
#ifndef CAPMETRIC_LAW_H
#define CAPMETRIC_LAW_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/registry.h>
#include <capmetric/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The law that scores GMSE when none is given (DESIGN §1). */
#define CM_LAW_DEFAULT "unified-llama-c4"

typedef struct cm_law cm_law;

/*! cm_law_find() : a built-in law by name; CM_ENOTFOUND lists the names. */
CM_API cm_status cm_law_find(const char *name, const cm_law **out, cm_diag *diag);
/*! cm_law_count() / cm_law_get() : iterate over the built-in laws (i < count). */
CM_API size_t cm_law_count(void);
CM_API const cm_law *cm_law_get(size_t i);
/*! cm_law_name() / cm_law_source() : its name; the paper (or fit) it comes from. */
CM_API const char *cm_law_name(const cm_law *law);
CM_API const char *cm_law_source(const cm_law *law);
/*! cm_law_form() : the law's formula, one line. */
CM_API const char *cm_law_form(const cm_law *law);
/*! cm_law_inputs() : what the law reads from a format, one line. */
CM_API const char *cm_law_inputs(const cm_law *law);

/*! cm_law_has_map() : 1 if the law maps any GMSE to rho (the tanh map), so
 * that cm_law_rho() is defined for every format. */
CM_API int cm_law_has_map(const cm_law *law);

/*! cm_law_rho() : rho = L tanh(F log4(1/gmse))^C (Unified paper Eq. 3), 0 for
 * gmse >= 1, L for gmse == 0; NaN for NaN or negative input, and NaN for a
 * law without a map. */
CM_API double cm_law_rho(const cm_law *law, double gmse);

/*! cm_eff_bits() : log4(1/gmse), the bits of an ideal quantizer with this
 * error (+inf for 0). */
CM_API double cm_eff_bits(double gmse);

/* Which tensors of a training run the format is applied to. */
#define CM_TENSOR_W 1u  /* weights */
#define CM_TENSOR_A 2u  /* activations */
#define CM_TENSOR_KV 4u /* KV cache */
#define CM_TENSOR_G 8u  /* gradients (backward pass) */

/*! cm_tensors_parse() : "w,a,kv,g" (any non-empty subset) to CM_TENSOR_* bits. */
CM_API cm_status cm_tensors_parse(const char *text, unsigned *out, cm_diag *diag);

typedef struct cm_law_input {
    const char *spec;           /* canonical spec */
    double bits;                /* storage bits per value */
    double gmse;                /* Gaussian MSE (NaN if unknown) */
    double N, D;                /* parameters (non-embedding) and training tokens */
    unsigned tensors;           /* CM_TENSOR_*; 0 means weights and activations */
    const cm_registry *reg;     /* to read hand-written specs of law files */
    const char *label;          /* the spec as typed, for messages (NULL: spec) */
    const cm_pipeline *pipeline; /* the parsed format: laws read its traits (family, keys)
                                    from it; NULL refuses laws that need them */
    double misalignment;        /* 1 - E[x R(x)]/E[x^2] (NaN or 0 if unknown); laws of the
                                   backward pass read it */
} cm_law_input;

typedef struct cm_law_output {
    double rho;       /* N_eff / N relative to the uncompressed model; NaN if the law has none */
    double rho_d;     /* D_eff / D (Quartet's effD); 1 for the other laws */
    double loss;      /* predicted loss (nats/token); NaN if the law gives no absolute loss */
    double loss_base; /* the uncompressed model at the same N, D; NaN likewise */
    double gap;       /* loss - loss_base; the law's own gap term if it has no absolute loss */
} cm_law_output;

/*! cm_law_predict() : judge one format at (N, D).
 * @return CM_OK, CM_EUNSUPPORTED (the law cannot judge this format; diag says
 *   why and what it accepts), CM_EINVAL (N or D not positive). */
CM_API cm_status cm_law_predict(const cm_law *law, const cm_law_input *in, cm_law_output *out,
                         cm_diag *diag);

/*! cm_law_range() : the N and D range of the runs the law was fitted on
 * (non-embedding parameters, tokens); -1 if the law does not record it. */
CM_API int cm_law_range(const cm_law *law, double *nlo, double *nhi, double *dlo, double *dhi);

/*! cm_law_undetermined() : the fitted constants the runs do not determine
 * (comma-separated names), or NULL. */
CM_API const char *cm_law_undetermined(const cm_law *law);

/*! cm_law_interval() : the law's prediction at quantiles (1 - level)/2 and
 * (1 + level)/2 of its bootstrap replicates (refits on resampled runs):
 * loss, gap and rho of each end in *lo and *hi (lo->loss <= hi->loss).
 * CM_EUNSUPPORTED for a law without replicates, or what cm_law_predict says. */
CM_API cm_status cm_law_interval(const cm_law *law, const cm_law_input *in, double level,
                                 cm_law_output *lo, cm_law_output *hi, cm_diag *diag);

/*! cm_law_diff_interval() : the same for loss(in) - loss(ref), replicate by
 * replicate (both formats judged by the same refit). */
CM_API cm_status cm_law_diff_interval(const cm_law *law, const cm_law_input *in,
                                      const cm_law_input *ref, double level, double *lo,
                                      double *hi, cm_diag *diag);

/*! cm_law_load() : a law from a JSON file written by `capmetric fit --save`:
 *   {"capmetric_law": 1, "name": "...", "source": "...", "kind":
 *    "decoupled"|"unified"|"map"|"quartet", "constants": {"A":..,"alpha":..,
 *    "B":..,"beta":..,"E":..[,"gamma":..]}, "families": [{"F":..,"C":..,"L":..}],
 *    "table": [{"label": "...", "spec": "..."|null, "effN": .., "effD": ..}]}
 * "map" laws have no constants; "unified" laws use the first family's map.
 * Free with cm_law_free. CM_EIO, CM_EPARSE (with the key at fault). */
CM_API cm_status cm_law_load(const char *path, cm_law **out, cm_diag *diag);

/*! cm_law_free() : release a loaded law. NULL and built-in laws are accepted. */
CM_API void cm_law_free(cm_law *law);

#ifdef __cplusplus
}
#endif
#endif
