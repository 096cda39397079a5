/* capmetric — the export macro. The library is built with hidden
 * visibility; CM_API marks the functions of the public API, the only symbols
 * libcapmetric exports. */
#ifndef CAPMETRIC_EXPORT_H
#define CAPMETRIC_EXPORT_H

#if defined(__GNUC__)
#define CM_API __attribute__((visibility("default")))
#else
#define CM_API
#endif

#endif
