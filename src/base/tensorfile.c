/* .npy and .safetensors files (tensor.h): mapped, their headers checked
 * against every byte they claim, never trusted.
 *
 * .npy (NumPy's format, version 1.0-3.0): "\x93NUMPY", two version bytes, a
 * little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), then a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * and the data. .safetensors: an 8-byte little-endian header length N, N
 * bytes of JSON {"name": {"dtype": "F32", "shape": [3, 4], "data_offsets":
 * [begin, end]}, "__metadata__": {...}} and the data, offsets relative to
 * its start (https://github.com/huggingface/safetensors, format section). */
#include <capmetric/tensor.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_HEADER_MAX ((uint64_t)100 << 20) /* a safetensors header over 100 MiB is refused */

typedef struct tinfo {
    char *name;
    const unsigned char *raw; /* its bytes in the file */
    char dtype_text[16];
    int usable;
    cm_array a;
    uint64_t begin, end; /* byte range in the data (safetensors) */
} tinfo;

struct cm_tensor_file {
    void *map;        /* mapping to release (NULL when parsed from memory) */
    size_t map_len;
    int npy;
    size_t n;
    tinfo *t;
};

uint64_t cm_array_count(const cm_array *a)
{
    uint64_t c = 1;
    for (int i = 0; i < a->ndim; i++)
        c *= a->shape[i];
    return c;
}

/* product of dims with overflow check against 2^62 elements */
static int shape_count(const uint64_t *shape, int ndim, uint64_t *count)
{
    uint64_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && c > (UINT64_C(1) << 62) / shape[i])
            return -1;
        c *= shape[i];
    }
    *count = c;
    return 0;
}

void cm_tensor_file_close(cm_tensor_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->t[i].name);
    free(f->t);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f);
}

/* ---- .npy ------------------------------------------------------------------------- */

typedef struct lex {
    const char *s, *end;
} lex;

static void skip_ws(lex *l)
{
    while (l->s < l->end && (*l->s == ' ' || *l->s == '\t' || *l->s == '\n' || *l->s == '\r'))
        l->s++;
}

static int eat(lex *l, char c)
{
    skip_ws(l);
    if (l->s < l->end && *l->s == c) {
        l->s++;
        return 1;
    }
    return 0;
}

/* a quoted Python string (no escapes: numpy never writes them here) */
static int quoted(lex *l, char *out, size_t cap)
{
    skip_ws(l);
    if (l->s >= l->end || (*l->s != '\'' && *l->s != '"'))
        return 0;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->end && *l->s != q) {
        if (*l->s == '\\' || n + 1 >= cap)
            return 0;
        out[n++] = *l->s++;
    }
    if (l->s >= l->end)
        return 0;
    l->s++;
    out[n] = 0;
    return 1;
}

static int word(lex *l, const char *w)
{
    skip_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->s) >= n && !strncmp(l->s, w, n)) {
        l->s += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () for a scalar */
static int shape_tuple(lex *l, cm_array *a)
{
    if (!eat(l, '('))
        return 0;
    a->ndim = 0;
    for (;;) {
        if (eat(l, ')'))
            return 1;
        skip_ws(l);
        uint64_t v = 0;
        int digits = 0;
        while (l->s < l->end && *l->s >= '0' && *l->s <= '9') {
            if (v > (UINT64_C(1) << 62) / 10)
                return 0;
            v = v * 10 + (uint64_t)(*l->s++ - '0');
            digits++;
        }
        if (!digits || a->ndim >= CM_TENSOR_MAX_DIMS)
            return 0;
        a->shape[a->ndim++] = v;
        if (!eat(l, ',')) {
            if (!eat(l, ')'))
                return 0;
            return 1;
        }
    }
}

static int npy_dtype(const char *descr, cm_dtype *t)
{
    if (descr[0] != '<' && descr[0] != '=' && descr[0] != '|')
        return -1;
    if (!strcmp(descr + 1, "f2"))
        *t = CM_DTYPE_F16;
    else if (!strcmp(descr + 1, "f4"))
        *t = CM_DTYPE_F32;
    else if (!strcmp(descr + 1, "f8"))
        *t = CM_DTYPE_F64;
    else
        return -1;
    return 0;
}

static cm_status parse_npy(const unsigned char *b, size_t len, const char *name,
                           cm_tensor_file *f, cm_diag *d)
{
    if (len < 10)
        return cm_diag_set(d, CM_EPARSE, "'%s': truncated .npy header (%zu bytes)", name, len);
    int major = b[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return cm_diag_set(d, CM_EPARSE, "'%s': truncated .npy header", name);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    } else {
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': .npy version %d.%d is not one capmetric reads (1.0 to 3.0)",
                           name, b[6], b[7]);
    }
    if (hlen > len - off)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': the .npy header claims %zu bytes, the file holds %zu after "
                           "its first %zu",
                           name, hlen, len - off, off);
    lex l = {(const char *)b + off, (const char *)b + off + hlen};
    char descr[32] = "", key[32];
    int have_descr = 0, have_order = 0, have_shape = 0;
    cm_array a;
    memset(&a, 0, sizeof a);
    if (!eat(&l, '{'))
        return cm_diag_set(d, CM_EPARSE, "'%s': the .npy header is not a dict", name);
    while (!eat(&l, '}')) {
        if (!quoted(&l, key, sizeof key) || !eat(&l, ':'))
            return cm_diag_set(d, CM_EPARSE, "'%s': malformed .npy header near byte %zu", name,
                               (size_t)(l.s - (const char *)b));
        if (!strcmp(key, "descr")) {
            if (!quoted(&l, descr, sizeof descr))
                return cm_diag_set(d, CM_EPARSE,
                                   "'%s': 'descr' is not a simple type (structured arrays are "
                                   "not read; accepted: float16, float32, float64)",
                                   name);
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (word(&l, "True"))
                a.fortran = 1;
            else if (!word(&l, "False"))
                return cm_diag_set(d, CM_EPARSE, "'%s': 'fortran_order' is not True or False",
                                   name);
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            if (!shape_tuple(&l, &a))
                return cm_diag_set(d, CM_EPARSE,
                                   "'%s': 'shape' is not a tuple of at most %d whole numbers",
                                   name, CM_TENSOR_MAX_DIMS);
            have_shape = 1;
        } else {
            return cm_diag_set(d, CM_EPARSE, "'%s': unknown key '%s' in the .npy header", name,
                               key);
        }
        if (!eat(&l, ',')) {
            if (!eat(&l, '}'))
                return cm_diag_set(d, CM_EPARSE, "'%s': malformed .npy header", name);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return cm_diag_set(d, CM_EPARSE, "'%s': the .npy header lacks '%s'", name,
                           !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    if (descr[0] == '>' && npy_dtype((char[]){'<', descr[1], descr[2], descr[3], 0}, &a.dtype) == 0)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': big-endian data ('%s') is not read; save it little-endian "
                           "(numpy: a.astype('<f4'))",
                           name, descr);
    if (npy_dtype(descr, &a.dtype))
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': dtype '%s' is not one capmetric reads (accepted: float16 "
                           "'<f2', float32 '<f4', float64 '<f8')",
                           name, descr);
    uint64_t count;
    if (shape_count(a.shape, a.ndim, &count))
        return cm_diag_set(d, CM_ERANGE, "'%s': the shape holds more than 2^62 values", name);
    size_t data_off = off + hlen;
    uint64_t need = count * cm_dtype_size(a.dtype);
    if (need != (uint64_t)(len - data_off))
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': the shape needs %llu bytes of data, the file holds %llu "
                           "(truncated or corrupt)",
                           name, (unsigned long long)need, (unsigned long long)(len - data_off));
    a.data = b + data_off;
    f->npy = 1;
    f->n = 1;
    f->t = calloc(1, sizeof *f->t);
    if (!f->t || !(f->t[0].name = calloc(1, 1)))
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    snprintf(f->t[0].dtype_text, sizeof f->t[0].dtype_text, "%s", descr);
    f->t[0].usable = 1;
    f->t[0].a = a;
    f->t[0].raw = b + data_off;
    f->t[0].end = need;
    return CM_OK;
}

/* ---- .safetensors ------------------------------------------------------------------ */

static int st_dtype(const char *s, size_t *size, cm_dtype *t)
{
    static const struct {
        const char *name;
        size_t size;
        int dt; /* -1: not read */
    } tab[] = {{"F16", 2, CM_DTYPE_F16}, {"BF16", 2, CM_DTYPE_BF16}, {"F32", 4, CM_DTYPE_F32},
               {"F64", 8, CM_DTYPE_F64}, {"BOOL", 1, -1}, {"U8", 1, -1}, {"I8", 1, -1},
               {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1}, {"I16", 2, -1}, {"U16", 2, -1},
               {"I32", 4, -1}, {"U32", 4, -1}, {"I64", 8, -1}, {"U64", 8, -1}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (!strcmp(s, tab[i].name)) {
            *size = tab[i].size;
            if (tab[i].dt >= 0)
                *t = (cm_dtype)tab[i].dt;
            return tab[i].dt >= 0;
        }
    return -1;
}

static int cmp_begin(const void *p, const void *q)
{
    const tinfo *a = p, *b = q;
    return (a->begin > b->begin) - (a->begin < b->begin);
}

static int whole(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static cm_status st_tensor(const cJSON *e, uint64_t dlen, const char *name, tinfo *t, cm_diag *d)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
        cJSON_GetArraySize(of) != 2)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s', tensor '%s': needs \"dtype\", \"shape\" and \"data_offsets\" "
                           "[begin, end]",
                           name, e->string);
    if (!(t->name = strdup(e->string)))
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    snprintf(t->dtype_text, sizeof t->dtype_text, "%s", dt->valuestring);
    size_t isz = 0;
    int r = st_dtype(dt->valuestring, &isz, &t->a.dtype);
    if (r < 0)
        return cm_diag_set(d, CM_EPARSE, "'%s', tensor '%s': unknown dtype '%.20s'", name,
                           e->string, dt->valuestring);
    t->usable = r;
    int nd = cJSON_GetArraySize(sh);
    if (nd > CM_TENSOR_MAX_DIMS)
        return cm_diag_set(d, CM_ERANGE, "'%s', tensor '%s': more than %d dimensions", name,
                           e->string, CM_TENSOR_MAX_DIMS);
    t->a.ndim = nd;
    for (int i = 0; i < nd; i++)
        if (!whole(cJSON_GetArrayItem(sh, i), &t->a.shape[i]))
            return cm_diag_set(d, CM_EPARSE,
                               "'%s', tensor '%s': shape entry %d is not a whole number", name,
                               e->string, i);
    uint64_t count;
    if (shape_count(t->a.shape, nd, &count))
        return cm_diag_set(d, CM_ERANGE, "'%s', tensor '%s': the shape holds more than 2^62 values",
                           name, e->string);
    if (!whole(cJSON_GetArrayItem(of, 0), &t->begin) || !whole(cJSON_GetArrayItem(of, 1), &t->end) ||
        t->begin > t->end || t->end > dlen)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s', tensor '%s': data_offsets lie outside the %llu bytes of data",
                           name, e->string, (unsigned long long)dlen);
    if (t->end - t->begin != count * isz)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s', tensor '%s': shape and dtype need %llu bytes, data_offsets "
                           "give %llu",
                           name, e->string, (unsigned long long)(count * isz),
                           (unsigned long long)(t->end - t->begin));
    return CM_OK;
}

static cm_status parse_st(const unsigned char *b, size_t len, const char *name, cm_tensor_file *f,
                          cm_diag *d)
{
    if (len < 8)
        return cm_diag_set(d, CM_EPARSE, "'%s': neither .npy nor .safetensors (too short)", name);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = hn << 8 | b[i];
    if (len < 9 || b[8] != '{')
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': neither .npy (\\x93NUMPY) nor .safetensors (a JSON header)",
                           name);
    if (hn > ST_HEADER_MAX)
        return cm_diag_set(d, CM_ERANGE,
                           "'%s': a safetensors header of %llu bytes (capmetric reads headers "
                           "of up to 100 MiB)",
                           name, (unsigned long long)hn);
    if (hn > len - 8)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': the safetensors header claims %llu bytes, the file holds %zu",
                           name, (unsigned long long)hn, len - 8);
    if (hn < 2)
        return cm_diag_set(d, CM_EPARSE,
                           "'%s': neither .npy (\\x93NUMPY) nor .safetensors (a JSON header)",
                           name);
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)hn);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cm_diag_set(d, CM_EPARSE, "'%s': the safetensors header is not a JSON object",
                           name);
    }
    const uint64_t dlen = len - 8 - hn;
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) n += strcmp(e->string, "__metadata__") != 0;
    f->t = calloc(n ? n : 1, sizeof *f->t);
    cm_status st = f->t ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(e, root)
    {
        if (st)
            break;
        if (!strcmp(e->string, "__metadata__"))
            continue;
        st = st_tensor(e, dlen, name, &f->t[f->n], d);
        f->n++;
    }
    cJSON_Delete(root);
    if (st)
        return st;
    /* no two tensors share bytes */
    tinfo *s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    memcpy(s, f->t, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_begin);
    for (size_t i = 1; i < n; i++)
        if (s[i].begin < s[i - 1].end && s[i].end > s[i].begin) {
            st = cm_diag_set(d, CM_EPARSE, "'%s': tensors '%s' and '%s' overlap in the data",
                             name, s[i - 1].name, s[i].name);
            break;
        }
    free(s);
    for (size_t i = 0; i < n && !st; i++) {
        f->t[i].raw = b + 8 + hn + f->t[i].begin;
        f->t[i].a.data = f->t[i].usable ? f->t[i].raw : NULL;
    }
    return st;
}

cm_status cm_tensor_file_parse(const void *bytes, size_t len, const char *name,
                               cm_tensor_file **out, cm_diag *d)
{
    *out = NULL;
    cm_tensor_file *f = calloc(1, sizeof *f);
    if (!f)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    const unsigned char *b = bytes;
    cm_status st = len >= 6 && !memcmp(b, "\x93NUMPY", 6) ? parse_npy(b, len, name, f, d)
                                                           : parse_st(b, len, name, f, d);
    if (st) {
        cm_tensor_file_close(f);
        return st;
    }
    *out = f;
    return CM_OK;
}

cm_status cm_tensor_file_open(const char *path, cm_tensor_file **out, cm_diag *d)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cm_diag_set(d, CM_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cm_diag_set(d, CM_EIO, "'%s' is not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return cm_diag_set(d, CM_EPARSE, "'%s' is empty", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cm_diag_set(d, CM_EIO, "cannot map '%s': %s", path, strerror(errno));
    madvise(map, len, MADV_SEQUENTIAL);
    cm_status st = cm_tensor_file_parse(map, len, path, out, d);
    if (st) {
        munmap(map, len);
        return st;
    }
    (*out)->map = map;
    (*out)->map_len = len;
    return CM_OK;
}

size_t cm_tensor_file_count(const cm_tensor_file *f) { return f->n; }
const char *cm_tensor_file_name(const cm_tensor_file *f, size_t i) { return f->t[i].name; }
int cm_tensor_file_is_npy(const cm_tensor_file *f) { return f->npy; }

const char *cm_tensor_file_dtype_text(const cm_tensor_file *f, size_t i)
{
    return f->t[i].dtype_text;
}

const void *cm_tensor_file_raw(const cm_tensor_file *f, size_t i, uint64_t *bytes)
{
    *bytes = f->t[i].end - f->t[i].begin;
    return f->t[i].raw;
}

int cm_tensor_file_array(const cm_tensor_file *f, size_t i, cm_array *out)
{
    *out = f->t[i].a;
    return f->t[i].usable;
}

/* ---- writing --------------------------------------------------------------------- */

cm_status cm_npy_header(cm_dtype t, int ndim, const uint64_t *shape, int fortran, char *buf,
                        size_t cap, size_t *len, cm_diag *d)
{
    static const char *const descr[] = {"<f2", NULL, "<f4", "<f8"};
    if ((unsigned)t > CM_DTYPE_F64 || !descr[t])
        return cm_diag_set(d, CM_EINVAL, ".npy has no %s type (use float16, float32 or float64)",
                           cm_dtype_name(t));
    return cm_npy_header_descr(descr[t], ndim, shape, fortran, buf, cap, len, d);
}

cm_status cm_npy_header_descr(const char *descr, int ndim, const uint64_t *shape, int fortran,
                              char *buf, size_t cap, size_t *len, cm_diag *d)
{
    char dict[1024];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (",
                     descr, fortran ? "True" : "False");
    for (int i = 0; i < ndim && n > 0 && (size_t)n < sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%llu%s", (unsigned long long)shape[i],
                      ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    if (n > 0 && (size_t)n < sizeof dict)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n <= 0 || (size_t)n >= sizeof dict)
        return cm_diag_set(d, CM_ERANGE, "the .npy header does not fit");
    /* magic + version + length + dict + spaces + newline, a multiple of 64 */
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535)
        return cm_diag_set(d, CM_ERANGE, "the .npy header does not fit");
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    *len = total;
    return CM_OK;
}
