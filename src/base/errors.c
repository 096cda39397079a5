#include <capmetric/errors.h>

const char *cm_strerror(cm_status s)
{
    switch (s) {
    case CM_OK: return "success";
    case CM_EINVAL: return "invalid argument";
    case CM_ENOMEM: return "out of memory";
    case CM_EPARSE: return "malformed input";
    case CM_ENOTFOUND: return "not found";
    case CM_ERANGE: return "value out of range";
    case CM_EIO: return "input/output error";
    case CM_EABI: return "plugin ABI mismatch";
    case CM_EPLUGIN: return "plugin refused";
    case CM_ENUMERIC: return "numerical failure";
    case CM_EUNSUPPORTED: return "not supported";
    case CM_EDUP: return "duplicate";
    case CM_ECANCELED: return "canceled";
    }
    return "unknown status";
}
