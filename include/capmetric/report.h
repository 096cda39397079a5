/* capmetric — results as JSON (DESIGN §4) and CSV. */
#ifndef CAPMETRIC_REPORT_H
#define CAPMETRIC_REPORT_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/eval.h>

#ifdef __cplusplus
extern "C" {
#endif

/*! cm_report_json() : the JSON document of DESIGN §4 for n results, as a
 * malloc'ed string (free with free()). JSON has no NaN or infinity: a
 * non-finite number is written as null (the policy of every capmetric JSON
 * output). @return CM_OK, CM_ENOMEM. Thread-safe. */
CM_API cm_status cm_report_json(const cm_result *res, size_t n, const cm_eval_opts *opts, char **out,
                         cm_diag *diag);

/*! cm_report_csv() : header + one row per result, same keys as the JSON;
 * non-finite numbers as nan, inf, -inf. @return CM_OK, CM_ENOMEM. */
CM_API cm_status cm_report_csv(const cm_result *res, size_t n, char **out, cm_diag *diag);

/*! cm_version() : the library version string. */
CM_API const char *cm_version(void);

/*! cm_report_formats_json() : the registry's families (keys, defaults,
 * ranges, docs) and aliases as JSON (`capmetric formats --json`); free() it. */
CM_API cm_status cm_report_formats_json(const cm_registry *reg, char **out, cm_diag *diag);

/*! cm_report_laws_json() : the built-in capacity laws as JSON (`capmetric
 * laws --json`); free() it. */
CM_API cm_status cm_report_laws_json(char **out, cm_diag *diag);

/*! cm_param_type_name() : "int", "real", "enum", "string", "list". */
CM_API const char *cm_param_type_name(cm_param_type t);

#ifdef __cplusplus
}
#endif
#endif
