/* What the fuzz targets share: one registry, inputs as files (a memfd the
 * readers open by path), and the entry point both libFuzzer and the replay
 * driver call. Fuzz targets may abort(): that is how a finding is reported. */
#ifndef CM_FUZZ_COMMON_H
#define CM_FUZZ_COMMON_H

#include <capmetric/capmetric.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline cm_registry *fuzz_registry(void)
{
    static cm_registry *reg;
    if (!reg) {
        cm_diag d;
        /* trained codebooks go to a scratch cache, never the user's */
        setenv("CAPMETRIC_CACHE_DIR", "/tmp/capmetric-fuzz-cache", 0);
        if (cm_registry_alloc(&reg, &d))
            abort();
    }
    return reg;
}

/* data[0..size) as a NUL-terminated string (malloc'ed) */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* data as a file: a path /proc/self/fd/N valid until close(*fd) */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("capmetric-fuzz", 0);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* Specs whose parse is slow by design (k-means training, huge designed
 * grids): not what a fuzzer should spend its time on. */
static inline int fuzz_slow_spec(const char *s)
{
    return strstr(s, "kmeans") || strstr(s, "lloydmax") || strstr(s, "lattice") ||
           strlen(s) > 4096;
}

#endif
