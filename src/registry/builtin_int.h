/* Private: the built-in families, offered through the same entry signature
 * a plugin exports (cm_plugin_init_fn); they use the same host table
 * (formats/host_int.h). */
#ifndef CM_BUILTIN_INT_H
#define CM_BUILTIN_INT_H

#include <capmetric/format.h>

const cm_format *const *cm_builtin_init(const cm_host *host, size_t *count);

#endif
