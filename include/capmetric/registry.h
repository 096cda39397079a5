/* capmetric — the format registry: built-in families and plugins, by name.
 *
 * Thread safety: adding formats or loading plugins must not race with any
 * other use of the same registry; once filled, a registry is only read
 * (parsing, lookups) and may be shared by any number of threads. */
#ifndef CAPMETRIC_REGISTRY_H
#define CAPMETRIC_REGISTRY_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/format.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_registry cm_registry;

/*! cm_registry_alloc() : a registry holding every built-in family.
 * @return CM_OK, CM_ENOMEM, or the status of a built-in that failed the
 * checks of cm_registry_add (a bug). Free with cm_registry_free. */
CM_API cm_status cm_registry_alloc(cm_registry **out, cm_diag *diag);

/*! cm_registry_free() : release a registry. NULL is accepted. Formats that
 * came from plugins stay valid until the plugins are unloaded. */
CM_API void cm_registry_free(cm_registry *reg);

/*! cm_registry_add() : register `fmt`, whose origin ("built-in" or a file
 * path) is copied. Refuses (and leaves the registry unchanged) a NULL format,
 * an ABI major other than CM_ABI_MAJOR (CM_EABI), a struct smaller than the
 * mandatory members or a NULL mandatory member (CM_EPLUGIN), a bad parameter
 * descriptor (CM_EPLUGIN), and a family or alias name already taken (CM_EDUP).
 * Not thread-safe against concurrent use of the same registry. */
CM_API cm_status cm_registry_add(cm_registry *reg, const cm_format *fmt, const char *origin,
                          cm_diag *diag);

/*! cm_registry_count() / cm_registry_get() : iterate in registration order.
 * `origin` (may be NULL) receives where the format came from. */
CM_API size_t cm_registry_count(const cm_registry *reg);
CM_API const cm_format *cm_registry_get(const cm_registry *reg, size_t i, const char **origin);

/*! cm_registry_find() : the family called name[0..len). On failure returns
 * CM_ENOTFOUND and lists the families and aliases that exist in `diag`. */
CM_API cm_status cm_registry_find(const cm_registry *reg, const char *name, size_t len,
                           const cm_format **out, cm_diag *diag);

/*! cm_registry_alias() : the spec an alias expands to, or NULL. */
CM_API const char *cm_registry_alias(const cm_registry *reg, const char *name, size_t len);

/*! cm_registry_alias_count() / cm_registry_alias_get() : iterate over aliases. */
CM_API size_t cm_registry_alias_count(const cm_registry *reg);
CM_API const cm_alias *cm_registry_alias_get(const cm_registry *reg, size_t i, const cm_format **owner);

/*! cm_registry_load_plugin() : dlopen `path`, call its cm_plugin_init with the
 * host table (cm_registry_host) and register every format it returns (a plugin
 * of ABI 1, exporting cm_plugin_query, is refused with CM_EABI). All-or-nothing: on any refusal nothing of
 * the plugin stays registered or loaded, and `diag` names the file and the
 * reason. The registry keeps the library open until cm_registry_free. */
CM_API cm_status cm_registry_load_plugin(cm_registry *reg, const char *path, cm_diag *diag);

/*! cm_registry_host() : the host-services table every format is handed
 * (built-ins and plugins alike; see cm_host in format.h). Static storage. */
CM_API const cm_host *cm_registry_host(void);

/*! cm_registry_generic_params() : keys the host adds to every family with
 * CM_FORMAT_SCALAR (currently `scale`), appended after the family's own. */
CM_API const cm_param *cm_registry_generic_params(size_t *count);

#ifdef __cplusplus
}
#endif
#endif
