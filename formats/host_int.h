/* Private: how the built-in families reach the host. They call it only
 * through the same cm_host table plugins are handed (format.h), never a host
 * function by name. */
#ifndef CM_FORMATS_HOST_INT_H
#define CM_FORMATS_HOST_INT_H

#include <capmetric/format.h>

extern const cm_host cm_host_table;
#define CM_HOST (&cm_host_table)

#endif
