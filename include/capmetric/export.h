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

/* CM_HOT_LOOP: a function compiled twice, for AVX2 and for baseline x86-64,
 * the one to run chosen when the library loads (function multiversioning;
 * never -march=native). Both do the same IEEE operations (no FMA contraction
 * in ISO C mode), so every machine gets the same numbers. Plugins may use it
 * on their own loops. */
#if defined(CM_HOT_LOOP)
/* (defined by the build: -DCM_HOT_LOOP= gives one baseline version, e.g. to
 * compare the two) */
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
/* (GCC only: clang's sanitizer and fuzzer builds crash in the ifunc resolvers,
 * which run before their runtimes start) */
#define CM_HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define CM_HOT_LOOP
#endif

#endif
