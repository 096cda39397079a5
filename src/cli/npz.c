/* quantize --codes FILE.npz: the integer codes and scales of each quantized
 * tensor as a NumPy .npz (a zip of .npy entries, stored uncompressed; PKWARE
 * APPNOTE 6.3, sections 4.3.7 local header, 4.3.12 central directory, 4.3.16
 * end record). Written to a temporary file beside FILE and renamed when
 * complete. Entries over 4 GiB (which would need zip64) are refused. */
#include <capmetric/capmetric.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "npz.h"

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_add(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put16(unsigned char *b, unsigned v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

int npz_open(npz *z, const char *path)
{
    memset(z, 0, sizeof *z);
    crc_init();
    z->path = path;
    snprintf(z->tmp, sizeof z->tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(z->tmp);
    if (fd < 0 || !(z->f = fdopen(fd, "wb"))) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(z->tmp);
        }
        return EXIT_USAGE;
    }
    return 0;
}

/* values of width w bytes (1, 2, 4 or 8) from codes or doubles, chunk i */
static size_t pack(const npz_array *a, uint64_t from, uint64_t count, unsigned char *buf)
{
    for (uint64_t i = 0; i < count; i++) {
        if (a->codes) {
            uint64_t c = a->codes[from + i];
            for (unsigned k = 0; k < a->width; k++)
                buf[i * a->width + k] = (unsigned char)(c >> (8 * k));
        } else {
            memcpy(buf + i * 8, &a->values[from + i], 8);
        }
    }
    return (size_t)(count * a->width);
}

int npz_add(npz *z, const char *name, const npz_array *a)
{
    char head[4096];
    size_t hl;
    cm_diag d;
    char descr[8];
    snprintf(descr, sizeof descr, a->codes ? "<u%u" : "<f8", a->width);
    if (cm_npy_header_descr(descr, a->ndim, a->shape, a->fortran, head, sizeof head, &hl, &d))
        return report(CM_ERANGE, &d, z->path, NULL);
    uint64_t size = hl + a->count * a->width;
    size_t nl = strlen(name);
    if (size >= 0xFFFFFFFFu || z->n >= NPZ_MAX || nl > 1000) {
        fprintf(stderr, "%s: error: '%s': entry '%s' is too large for a .npz without zip64 "
                        "(4 GiB)\n", prog, z->path, name);
        return EXIT_USAGE;
    }
    unsigned char buf[8 * 4096];
    uint32_t crc = crc_add(0, head, hl); /* pass 1: the checksum */
    for (uint64_t i = 0; i < a->count; i += 4096)
        crc = crc_add(crc, buf, pack(a, i, a->count - i < 4096 ? a->count - i : 4096, buf));
    unsigned char lh[30] = {0};
    put32(lh, 0x04034b50u);
    put16(lh + 4, 20);
    put16(lh + 12, 0x21); /* 1980-01-01 */
    put32(lh + 14, crc);
    put32(lh + 18, (uint32_t)size);
    put32(lh + 22, (uint32_t)size);
    put16(lh + 26, (unsigned)nl);
    npz_entry *e = &z->e[z->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->crc = crc;
    e->size = (uint32_t)size;
    e->offset = z->off;
    int bad = fwrite(lh, 1, 30, z->f) != 30 || fwrite(name, 1, nl, z->f) != nl ||
              fwrite(head, 1, hl, z->f) != hl;
    for (uint64_t i = 0; i < a->count && !bad; i += 4096) { /* pass 2: the data */
        size_t m = pack(a, i, a->count - i < 4096 ? a->count - i : 4096, buf);
        bad = fwrite(buf, 1, m, z->f) != m;
    }
    z->off += 30 + nl + size;
    if (bad || z->off >= 0xFFFFFFFFu) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, z->path,
                bad ? strerror(errno) : "larger than 4 GiB (no zip64)");
        return EXIT_USAGE;
    }
    return 0;
}

int npz_close(npz *z)
{
    uint64_t cd = z->off, cdsize = 0;
    int bad = 0;
    for (size_t i = 0; i < z->n && !bad; i++) {
        const npz_entry *e = &z->e[i];
        size_t nl = strlen(e->name);
        unsigned char ch[46] = {0};
        put32(ch, 0x02014b50u);
        put16(ch + 4, 20);
        put16(ch + 6, 20);
        put16(ch + 14, 0x21);
        put32(ch + 16, e->crc);
        put32(ch + 20, e->size);
        put32(ch + 24, e->size);
        put16(ch + 28, (unsigned)nl);
        put32(ch + 42, (uint32_t)e->offset);
        bad = fwrite(ch, 1, 46, z->f) != 46 || fwrite(e->name, 1, nl, z->f) != nl;
        cdsize += 46 + nl;
    }
    unsigned char end[22] = {0};
    put32(end, 0x06054b50u);
    put16(end + 8, (unsigned)z->n);
    put16(end + 10, (unsigned)z->n);
    put32(end + 12, (uint32_t)cdsize);
    put32(end + 16, (uint32_t)cd);
    bad = bad || fwrite(end, 1, 22, z->f) != 22;
    bad = bad || fflush(z->f) || fsync(fileno(z->f));
    bad = fclose(z->f) || bad;
    z->f = NULL;
    if (bad || rename(z->tmp, z->path)) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, z->path, strerror(errno));
        unlink(z->tmp);
        return EXIT_RUNTIME;
    }
    return 0;
}

void npz_abort(npz *z)
{
    if (z->f) {
        fclose(z->f);
        unlink(z->tmp);
        z->f = NULL;
    }
}
