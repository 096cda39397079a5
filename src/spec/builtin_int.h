/* Private: the built-in families, offered through the same query signature
 * a plugin exports (cm_plugin_query_fn). */
#ifndef CM_BUILTIN_INT_H
#define CM_BUILTIN_INT_H

#include <capmetric/format.h>

const cm_format *const *cm_builtin_query(uint32_t host_abi, size_t *count);

#endif
