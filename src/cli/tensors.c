/* The user's tensors on the command line: `eval --data FILE` (error per
 * format and tensor, and per format over all of them) and the output files
 * of `quantize` (written through a mapped temporary file, renamed when
 * complete: nothing half-written on any failure). */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "npz.h"
#include "tensors.h"

int tensors_open(const char *path, const char *re_text, cm_tensor_file **f, char **sel)
{
    cm_diag d;
    cm_diag_clear(&d);
    *sel = NULL;
    cm_status s = cm_tensor_file_open(path, f, &d);
    if (s) {
        report(s, &d, NULL, NULL);
        return EXIT_USAGE; /* a file that cannot be read is bad input */
    }
    size_t n = cm_tensor_file_count(*f);
    regex_t re;
    if (re_text) {
        int rc = regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[256];
            regerror(rc, &re, msg, sizeof msg);
            fprintf(stderr, "%s: error: --tensor '%s' is not a regular expression: %s\n", prog,
                    re_text, msg);
            return EXIT_USAGE;
        }
    }
    *sel = calloc(n ? n : 1, 1);
    size_t chosen = 0;
    for (size_t i = 0; *sel && i < n; i++) {
        cm_array a;
        int usable = cm_tensor_file_array(*f, i, &a);
        int match = !re_text || !regexec(&re, cm_tensor_file_name(*f, i), 0, NULL, 0);
        (*sel)[i] = (char)(match && usable);
        chosen += match && usable;
    }
    if (re_text)
        regfree(&re);
    if (!*sel) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    if (!chosen) {
        fprintf(stderr, "%s: error: '%s': %s", prog, path,
                re_text ? "no float tensor matches --tensor '" : "no float tensor (F16, BF16, F32, F64) in the file");
        if (re_text)
            fprintf(stderr, "%s'", re_text);
        fprintf(stderr, " (tensors:");
        for (size_t i = 0; i < n && i < 20; i++)
            fprintf(stderr, " %s [%s]", cm_tensor_file_name(*f, i), cm_tensor_file_dtype_text(*f, i));
        fprintf(stderr, "%s)\n", n > 20 ? " ..." : "");
        return EXIT_USAGE;
    }
    return 0;
}

static const char *tensor_label(const cm_tensor_file *f, size_t i, const char *path)
{
    return cm_tensor_file_is_npy(f) ? path : cm_tensor_file_name(f, i);
}

static void shape_text(const cm_array *a, char *b, size_t cap)
{
    size_t n = 0;
    b[0] = 0;
    for (int i = 0; i < a->ndim && n < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "%s%" PRIu64, i ? "x" : "", a->shape[i]);
    if (a->ndim == 0)
        snprintf(b, cap, "scalar");
}

typedef struct row {
    const cm_pipeline *p;
    const char *tensor;
    const cm_array *a; /* NULL for the aggregate */
    cm_array_stats st;
    double seconds;
} row;

static cJSON *row_json(const row *r)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "spec", cm_pipeline_canonical(r->p));
    cJSON_AddStringToObject(e, "input", cm_pipeline_input(r->p));
    cJSON_AddStringToObject(e, "family", cm_pipeline_family(r->p));
    cJSON_AddItemToObject(e, "bits", jnum(cm_pipeline_bits(r->p)));
    cJSON_AddStringToObject(e, "tensor", r->tensor);
    if (r->a) {
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int i = 0; i < r->a->ndim; i++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)r->a->shape[i]));
        cJSON_AddStringToObject(e, "dtype", cm_dtype_name(r->a->dtype));
    } else {
        cJSON_AddNullToObject(e, "shape");
        cJSON_AddNullToObject(e, "dtype");
    }
    cJSON_AddNumberToObject(e, "values", (double)r->st.values);
    cJSON_AddNumberToObject(e, "padded", (double)r->st.padded);
    cJSON_AddItemToObject(e, "mse", jnum(r->st.mse));
    cJSON_AddItemToObject(e, "nmse", jnum(r->st.nmse));
    cJSON_AddItemToObject(e, "eff_bits", jnum(r->st.eff_bits));
    cJSON_AddItemToObject(e, "misalignment", jnum(r->st.misalignment));
    cJSON_AddItemToObject(e, "rms", jnum(r->st.rms));
    cJSON_AddItemToObject(e, "seconds", jnum(r->seconds));
    return e;
}

static void print_rows(const row *rows, size_t n, const opts *o, const char *path)
{
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "tool", "capmetric");
        cJSON_AddStringToObject(root, "version", cm_version());
        cJSON_AddStringToObject(root, "data", path);
        cJSON_AddNumberToObject(root, "seed", (double)o->ev.seed);
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, row_json(&rows[i]));
        char *t = cJSON_Print(root);
        if (t)
            printf("%s\n", t);
        cJSON_free(t);
        cJSON_Delete(root);
        return;
    }
    if (o->csv) {
        printf("spec,input,bits,tensor,shape,dtype,values,padded,mse,nmse,eff_bits,misalignment,rms\n");
        for (size_t i = 0; i < n; i++) {
            const row *r = &rows[i];
            char sh[256] = "";
            if (r->a)
                shape_text(r->a, sh, sizeof sh);
            printf("\"%s\",\"%s\",%.17g,\"%s\",%s,%s,%" PRIu64 ",%" PRIu64 ",%.17g,%.17g,%.17g,%.17g,%.17g\n",
                   cm_pipeline_canonical(r->p), cm_pipeline_input(r->p), cm_pipeline_bits(r->p),
                   r->tensor, sh, r->a ? cm_dtype_name(r->a->dtype) : "", r->st.values,
                   r->st.padded, r->st.mse, r->st.nmse, r->st.eff_bits, r->st.misalignment,
                   r->st.rms);
        }
        return;
    }
    static const char *const head[] = {"spec", "tensor", "shape", "values", "mse", "nmse",
                                       "eff_bits", "misalign", "seconds"};
    static const int right[] = {0, 0, 0, 1, 1, 1, 1, 1, 1};
    cli_table t;
    if (cli_table_init(&t, 9, head, right))
        return;
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        char c[9][96];
        snprintf(c[0], 96, "%s", cm_pipeline_input(r->p));
        snprintf(c[1], 96, "%s", r->tensor);
        if (r->a)
            shape_text(r->a, c[2], 96);
        else
            snprintf(c[2], 96, "-");
        snprintf(c[3], 96, "%" PRIu64, r->st.values);
        snprintf(c[4], 96, "%.4g", r->st.mse);
        snprintf(c[5], 96, "%.6g", r->st.nmse);
        snprintf(c[6], 96, "%.4f", r->st.eff_bits);
        snprintf(c[7], 96, "%.2e", r->st.misalignment);
        snprintf(c[8], 96, "%.3f", r->seconds);
        const char *cells[9];
        for (int k = 0; k < 9; k++)
            cells[k] = c[k];
        cli_table_row(&t, cells);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    if (!o->quiet)
        printf("\ndata %s; mse in the tensor's units, nmse = mse / mean(x^2); tensor * = all "
               "tensors of the file together; scale=opt: the Gaussian optimum at the tensor's "
               "RMS\n",
               path);
}

static void array_opts(const opts *o, cm_array_opts *ao)
{
    cm_array_opts_default(ao);
    ao->seed = o->ev.seed;
    ao->threads = o->ev.threads;
    ao->pad = o->pad;
    ao->dist = o->ev.dist;
}

int eval_data(const opts *o, cm_pipeline *const *p, size_t np)
{
    cm_tensor_file *f = NULL;
    char *sel = NULL;
    int rc = tensors_open(o->data, o->tensor_re, &f, &sel);
    size_t nt = f ? cm_tensor_file_count(f) : 0, nsel = 0;
    for (size_t i = 0; !rc && i < nt; i++)
        nsel += (size_t)sel[i];
    row *rows = rc ? NULL : calloc(np * (nsel + 1), sizeof *rows);
    cm_array *arr = rc ? NULL : calloc(nt ? nt : 1, sizeof *arr);
    if (!rc && (!rows || !arr)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = EXIT_RUNTIME;
    }
    cm_array_opts ao;
    array_opts(o, &ao);
    size_t nr = 0;
    for (size_t k = 0; !rc && k < np; k++) {
        row agg = {.p = p[k], .tensor = "*"};
        for (size_t i = 0; !rc && i < nt; i++) {
            if (!sel[i])
                continue;
            cm_tensor_file_array(f, i, &arr[i]);
            row *r = &rows[nr++];
            r->p = p[k];
            r->tensor = tensor_label(f, i, o->data);
            r->a = &arr[i];
            cm_diag d;
            cm_diag_clear(&d);
            double t0 = cli_now();
            cm_status s = cm_array_eval(p[k], &arr[i], &ao, &r->st, &d);
            r->seconds = cli_now() - t0;
            if (s) {
                char what[512];
                snprintf(what, sizeof what, "%s, tensor '%s' (%s)", o->data, r->tensor,
                         cm_pipeline_input(p[k]));
                rc = report(s, &d, what, NULL);
                break;
            }
            agg.st.values += r->st.values;
            agg.st.padded += r->st.padded;
            agg.st.sse += r->st.sse;
            agg.st.sxx += r->st.sxx;
            agg.st.sxq += r->st.sxq;
            agg.seconds += r->seconds;
        }
        if (nsel > 1 || cm_tensor_file_is_npy(f) == 0) {
            agg.st.mse = agg.st.sse / (double)agg.st.values;
            agg.st.nmse = agg.st.sse / agg.st.sxx;
            agg.st.eff_bits = cm_eff_bits(agg.st.nmse);
            agg.st.misalignment = 1 - agg.st.sxq / agg.st.sxx;
            agg.st.rms = sqrt(agg.st.sxx / (double)agg.st.values);
            rows[nr++] = agg;
        }
    }
    if (!rc)
        print_rows(rows, nr, o, o->data);
    free(rows);
    free(arr);
    free(sel);
    cm_tensor_file_close(f);
    return rc;
}

/* ---- quantize: output files -------------------------------------------------------- */

/* A file of `size` bytes being made: a temporary beside the target, mapped
 * for writing; out_commit renames it into place, out_abort removes it. */
typedef struct outfile {
    char tmp[4200];
    const char *path;
    int fd;
    unsigned char *map;
    size_t size;
} outfile;

static int out_begin(outfile *w, const char *path, size_t size)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    w->fd = -1;
    snprintf(w->tmp, sizeof w->tmp, "%s.tmpXXXXXX", path);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, path, strerror(errno));
        return EXIT_USAGE;
    }
    w->size = size;
    if (ftruncate(w->fd, (off_t)size) ||
        (w->map = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0)) ==
            MAP_FAILED) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, path, strerror(errno));
        w->map = NULL;
        close(w->fd);
        unlink(w->tmp);
        return EXIT_USAGE;
    }
    return 0;
}

static void out_abort(outfile *w)
{
    if (w->map)
        munmap(w->map, w->size ? w->size : 1);
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    w->map = NULL;
    w->fd = -1;
}

static int out_commit(outfile *w)
{
    int bad = msync(w->map, w->size ? w->size : 1, MS_SYNC) != 0;
    munmap(w->map, w->size ? w->size : 1);
    w->map = NULL;
    bad = bad || fchmod(w->fd, 0644) || fsync(w->fd);
    bad = close(w->fd) || bad;
    w->fd = -1;
    if (bad || rename(w->tmp, w->path)) {
        fprintf(stderr, "%s: error: cannot write '%s': %s\n", prog, w->path, strerror(errno));
        unlink(w->tmp);
        return EXIT_RUNTIME;
    }
    return 0;
}

static int quantize_error(cm_status s, const cm_diag *d, const char *in, const char *tensor)
{
    char what[512];
    snprintf(what, sizeof what, "%s%s%s%s", in, *tensor ? ", tensor '" : "", tensor,
             *tensor ? "'" : "");
    report(s, d, what, NULL);
    return s == CM_ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
}

static int quantize_npy(const cm_pipeline *p, const cm_tensor_file *f, const opts *o,
                        const char *in, const char *out, cm_dtype odt)
{
    cm_array a;
    cm_tensor_file_array(f, 0, &a);
    char head[4096];
    size_t hl = 0;
    cm_diag d;
    cm_diag_clear(&d);
    if (odt == CM_DTYPE_BF16) {
        fprintf(stderr, "%s: error: .npy has no bfloat16 (choose float16, float32 or float64 "
                        "with --dtype, or write .safetensors)\n", prog);
        return EXIT_USAGE;
    }
    cm_status s = cm_npy_header(odt, a.ndim, a.shape, a.fortran, head, sizeof head, &hl, &d);
    if (s)
        return quantize_error(s, &d, in, "");
    outfile w;
    size_t size = hl + (size_t)cm_array_count(&a) * cm_dtype_size(odt);
    int rc = out_begin(&w, out, size);
    if (rc)
        return rc;
    memcpy(w.map, head, hl);
    cm_array_opts ao;
    array_opts(o, &ao);
    s = cm_array_quantize(p, &a, &ao, w.map + hl, odt, NULL, &d);
    if (s) {
        out_abort(&w);
        return quantize_error(s, &d, in, "");
    }
    return out_commit(&w);
}

static const char *st_dtype_text(cm_dtype t)
{
    static const char *const n[] = {"F16", "BF16", "F32", "F64"};
    return n[t];
}

static int quantize_st(const cm_pipeline *p, const cm_tensor_file *f, const char *sel,
                       const opts *o, const char *in, const char *out, cm_dtype odt)
{
    size_t n = cm_tensor_file_count(f);
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", meta);
    cJSON_AddStringToObject(meta, "quantized_by", "capmetric");
    cJSON_AddStringToObject(meta, "spec", cm_pipeline_canonical(p));
    uint64_t off = 0;
    uint64_t *begin = calloc(n ? n : 1, sizeof *begin);
    for (size_t i = 0; begin && i < n; i++) {
        cm_array a;
        cm_tensor_file_array(f, i, &a);
        const char *dt = sel[i] ? st_dtype_text(odt) : cm_tensor_file_dtype_text(f, i);
        uint64_t bytes;
        cm_tensor_file_raw(f, i, &bytes);
        if (sel[i])
            bytes = cm_array_count(&a) * cm_dtype_size(odt);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", dt);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < a.ndim; k++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)a.shape[k]));
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + bytes)));
        cJSON_AddItemToObject(root, cm_tensor_file_name(f, i), e);
        begin[i] = off;
        off += bytes;
    }
    char *hj = begin ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!hj) {
        free(begin);
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    size_t hn = strlen(hj), hpad = (8 - (8 + hn) % 8) % 8;
    outfile w;
    int rc = out_begin(&w, out, 8 + hn + hpad + (size_t)off);
    if (rc) {
        cJSON_free(hj);
        free(begin);
        return rc;
    }
    uint64_t H = hn + hpad;
    for (int k = 0; k < 8; k++)
        w.map[k] = (unsigned char)(H >> (8 * k));
    memcpy(w.map + 8, hj, hn);
    memset(w.map + 8 + hn, ' ', hpad);
    cJSON_free(hj);
    unsigned char *data = w.map + 8 + H;
    cm_array_opts ao;
    array_opts(o, &ao);
    for (size_t i = 0; i < n && !rc; i++) {
        cm_array a;
        int usable = cm_tensor_file_array(f, i, &a);
        if (!sel[i]) { /* kept as it is */
            uint64_t bytes;
            const void *raw = cm_tensor_file_raw(f, i, &bytes);
            memcpy(data + begin[i], raw, (size_t)bytes);
            continue;
        }
        (void)usable;
        cm_diag d;
        cm_diag_clear(&d);
        cm_status s = cm_array_quantize(p, &a, &ao, data + begin[i], odt, NULL, &d);
        if (s)
            rc = quantize_error(s, &d, in, cm_tensor_file_name(f, i));
    }
    free(begin);
    if (rc) {
        out_abort(&w);
        return rc;
    }
    return out_commit(&w);
}

/* --codes: each chosen tensor's codes and scales into the (temporary) .npz */
static int write_codes(npz *z, const cm_pipeline *p, const cm_tensor_file *f, const char *sel,
                       const opts *o, const char *in)
{
    int rc = 0;
    cm_array_opts ao;
    array_opts(o, &ao);
    for (size_t i = 0; i < cm_tensor_file_count(f) && !rc; i++) {
        cm_array a;
        if (!sel[i] || !cm_tensor_file_array(f, i, &a))
            continue;
        uint64_t n = cm_array_count(&a), ns = 0;
        cm_diag d;
        cm_diag_clear(&d);
        cm_status s = cm_array_encode(p, &a, &ao, NULL, NULL, &ns, &d);
        uint64_t *codes = s ? NULL : malloc((n ? n : 1) * sizeof *codes);
        double *scales = s ? NULL : malloc((ns ? ns : 1) * sizeof *scales);
        if (!s && (!codes || !scales))
            s = cm_diag_set(&d, CM_ENOMEM, "out of memory for the codes");
        if (!s)
            s = cm_array_encode(p, &a, &ao, codes, scales, &ns, &d);
        if (s) {
            rc = quantize_error(s, &d, in, cm_tensor_file_name(f, i));
        } else {
            uint64_t mx = 0;
            for (uint64_t k = 0; k < n; k++)
                mx = codes[k] > mx ? codes[k] : mx;
            unsigned w = mx < 256 ? 1 : mx < 65536 ? 2 : mx < (UINT64_C(1) << 32) ? 4 : 8;
            const char *tn = cm_tensor_file_name(f, i);
            char name[1024];
            snprintf(name, sizeof name, "%s%scodes.npy", tn, *tn ? "." : "");
            npz_array ca = {.codes = codes, .width = w, .count = n, .ndim = a.ndim,
                            .fortran = a.fortran, .shape = a.shape};
            rc = npz_add(z, name, &ca);
            /* scales: (rows, blocks per row), or one number; 2-D tiles: (rows / R,
             * columns / C), the tiles as they lie */
            uint64_t C = a.ndim ? a.shape[a.ndim - 1] : 1, R = C ? n / C : 0;
            uint64_t sh[2] = {R, R ? ns / R : 0};
            size_t tr, tc;
            if (cm_pipeline_tile(p, &tr, &tc)) {
                sh[0] = R / tr;
                sh[1] = C / tc;
            }
            npz_array sa = {.values = scales, .width = 8, .count = ns,
                            .ndim = ns == 1 && cm_pipeline_group(p) == 1 ? 0 : 2, .shape = sh};
            snprintf(name, sizeof name, "%s%sscales.npy", tn, *tn ? "." : "");
            if (!rc)
                rc = npz_add(z, name, &sa);
        }
        free(codes);
        free(scales);
    }
    return rc;
}

int quantize_file(const opts *o, const cm_pipeline *p, const char *in, const char *out,
                  cm_dtype odt)
{
    cm_tensor_file *f = NULL;
    char *sel = NULL;
    npz *z = NULL;
    int rc = tensors_open(in, o->tensor_re, &f, &sel);
    if (!rc && o->codes) { /* the codes first: a format without a codec writes nothing */
        z = malloc(sizeof *z);
        rc = !z ? EXIT_RUNTIME : npz_open(z, o->codes);
        if (!rc && (rc = write_codes(z, p, f, sel, o, in)))
            npz_abort(z);
    }
    if (!rc)
        rc = cm_tensor_file_is_npy(f) ? quantize_npy(p, f, o, in, out, odt)
                                      : quantize_st(p, f, sel, o, in, out, odt);
    if (z && !rc)
        rc = npz_close(z);
    else if (z)
        npz_abort(z);
    free(z);
    free(sel);
    cm_tensor_file_close(f);
    return rc;
}
