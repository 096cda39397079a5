/* capmetric — a JSON interface for bindings (the Python package): a request
 * as JSON text in, the command line's JSON document out, so that a binding
 * gives the same numbers to the last digit as `capmetric eval --json`.
 *
 * Every call builds its own registry (built-in families, plus plugins named
 * in the request) and frees it: calls are independent and may run on several
 * threads at once. Results are malloc'ed text: release with cm_api_free.
 * On failure the diag says why; for a bad spec diag.line is the spec's
 * 1-based index in the request and diag.pos/len the offending characters. */
#ifndef CAPMETRIC_API_H
#define CAPMETRIC_API_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/*! cm_api_formats() / cm_api_laws() : `formats --json`, `laws --json`.
 * The request (may be NULL) may name plugins: {"plugins": ["x.so"]}. */
CM_API cm_status cm_api_formats(const char *request, char **out, cm_diag *diag);
CM_API cm_status cm_api_laws(char **out, cm_diag *diag);

/*! cm_api_eval() : `eval --json`. Request: {"specs": ["int4", ...] (required),
 * "samples": N, "seed": S, "method": "auto|exact|mc", "law": NAME or
 * "file:PATH", "dist": "laplace", "sigma": X, "threads": T, "plugins": [...]}.
 * Unknown keys are refused. */
CM_API cm_status cm_api_eval(const char *request, char **out, cm_diag *diag);

/*! cm_api_array() : one spec on a caller's array (tensor.h): the stats as
 * JSON, and with out non-NULL the quantized values (out_dtype, the array's
 * layout). Request: {"spec": "mxfp4" (required), "seed": S, "threads": T,
 * "pad": false, "dist": "gauss", "plugins": [...]}. dtype, out_dtype:
 * cm_dtype values. */
CM_API cm_status cm_api_array(const char *request, const void *data, int dtype, int ndim,
                              const uint64_t *shape, int fortran, void *out, int out_dtype,
                              char **stats, cm_diag *diag);

/*! cm_api_predict() : `predict --json`. Request: {"specs": [...] (required),
 * "params": N, "tokens": D (required), "memory": BITS, "tensors": "w,a",
 * "law": NAME or "file:PATH" (default: every built-in law), and the options
 * of cm_api_eval}. */
CM_API cm_status cm_api_predict(const char *request, char **out, cm_diag *diag);

/*! cm_api_fit() : `fit --json` with the fitted law file under "law".
 * Request: {"runs": "runs.csv" (required), "mode": "decoupled|unified|map|
 * quartet", "columns": {"label": COL, "label2", "n", "d", "loss", "rho",
 * "gmse", "spec", "specs": MAP.csv, "baseline": "L1;L2", "family"},
 * "where": ["COL=V1;V2", ...], "preset": "quest|quartet|unified|chinchilla",
 * "huber": X or "none", "residual_scale": S, "bootstrap": K, "starts": K,
 * "fixed": [A, alpha, B, beta, E, gamma], "name": LAW NAME, and the options
 * of cm_api_eval (seed, threads for the bootstrap; samples, method, dist for
 * the GMSE of specs)}. */
CM_API cm_status cm_api_fit(const char *request, char **out, cm_diag *diag);

/*! cm_api_free() : release a result of this interface. */
CM_API void cm_api_free(char *text);

#ifdef __cplusplus
}
#endif

#endif
