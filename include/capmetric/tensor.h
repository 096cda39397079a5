/* capmetric — the user's own tensors: .npy and .safetensors files, caller
 * buffers, and formats applied to them.
 *
 * Files are memory-mapped, never read whole; evaluation and quantization run
 * over them in chunks, so memory use does not grow with the file. Blocks (and
 * every group of a format) run along the last dimension, as the peers lay
 * them out (microxcaling, torchao, gfloat): a tensor of shape (..., C) is R
 * rows of C values. A last dimension that is not a multiple of the format's
 * group is refused, or with `pad` filled with zeros to the next multiple
 * (the zeros share the blocks' scales but are not counted in the error, and
 * are not written out).
 *
 * On a tensor, scale=opt takes the MSE-optimal scale for data of the
 * options' distribution (Gaussian by default) with the tensor's RMS as sigma:
 * the per-tensor scale a researcher would calibrate.
 *
 * Thread safety: a cm_tensor_file is immutable once open and may be read
 * from any thread; cm_array_eval/quantize only read their inputs. */
#ifndef CAPMETRIC_TENSOR_H
#define CAPMETRIC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/dist.h>
#include <capmetric/errors.h>
#include <capmetric/export.h>
#include <capmetric/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cm_dtype {
    CM_DTYPE_F16 = 0,  /* IEEE binary16 */
    CM_DTYPE_BF16 = 1, /* bfloat16 */
    CM_DTYPE_F32 = 2,
    CM_DTYPE_F64 = 3
} cm_dtype;

/*! cm_dtype_size() : bytes per value. cm_dtype_name() : "float16",
 * "bfloat16", "float32", "float64". cm_dtype_parse() : those names (and
 * f16, bf16, f32, f64); CM_EPARSE lists them. */
CM_API size_t cm_dtype_size(cm_dtype t);
CM_API const char *cm_dtype_name(cm_dtype t);
CM_API cm_status cm_dtype_parse(const char *text, cm_dtype *out, cm_diag *diag);

#define CM_TENSOR_MAX_DIMS 16

/* An array in memory: little-endian values of dtype, C order (last index
 * fastest) or Fortran order (first index fastest). */
typedef struct cm_array {
    const void *data;
    cm_dtype dtype;
    int ndim;                         /* 0 (a scalar) to CM_TENSOR_MAX_DIMS */
    uint64_t shape[CM_TENSOR_MAX_DIMS];
    int fortran;
} cm_array;

/*! cm_array_count() : the number of values (product of the shape; 1 for ndim 0). */
CM_API uint64_t cm_array_count(const cm_array *a);

/* ---- files ---------------------------------------------------------------------- */

typedef struct cm_tensor_file cm_tensor_file;

/*! cm_tensor_file_open() : map `path` and read its header: ".npy" (one array:
 * float16/32/64, little-endian, C or Fortran order) or ".safetensors"
 * (every tensor; F16, BF16, F32 and F64 ones are usable, others are listed
 * with usable = 0). The kind is taken from the file's first bytes.
 * @return CM_OK; CM_EIO (cannot open or map); CM_EPARSE (not either format,
 *   a corrupt header, data outside the file, overlapping tensors,
 *   big-endian or object arrays: diag names the file, the tensor, what is
 *   wrong); CM_ERANGE (a header over 100 MiB, too many dimensions);
 *   CM_ENOMEM. */
CM_API cm_status cm_tensor_file_open(const char *path, cm_tensor_file **out, cm_diag *diag);

/*! cm_tensor_file_parse() : the same on a file's bytes in memory (the
 * buffer must outlive the result; name is used in messages). */
CM_API cm_status cm_tensor_file_parse(const void *bytes, size_t len, const char *name,
                                      cm_tensor_file **out, cm_diag *diag);

CM_API void cm_tensor_file_close(cm_tensor_file *f);

/*! cm_tensor_file_count() : tensors in the file (1 for .npy). */
CM_API size_t cm_tensor_file_count(const cm_tensor_file *f);

/*! cm_tensor_file_name() : tensor i's name ("" for .npy). */
CM_API const char *cm_tensor_file_name(const cm_tensor_file *f, size_t i);

/*! cm_tensor_file_array() : tensor i as an array over the mapped bytes;
 * 0 if its dtype is not one capmetric reads (then only ndim and shape are
 * set, and data is NULL). */
CM_API int cm_tensor_file_array(const cm_tensor_file *f, size_t i, cm_array *out);

/*! cm_tensor_file_dtype_text() : tensor i's dtype as the file writes it ("F32", "<f4", "I8"). */
CM_API const char *cm_tensor_file_dtype_text(const cm_tensor_file *f, size_t i);

/*! cm_tensor_file_raw() : tensor i's bytes in the file, whatever its dtype;
 * their number in *bytes. */
CM_API const void *cm_tensor_file_raw(const cm_tensor_file *f, size_t i, uint64_t *bytes);

/*! cm_tensor_file_is_npy() : 1 for .npy, 0 for .safetensors. */
CM_API int cm_tensor_file_is_npy(const cm_tensor_file *f);

/* ---- formats on arrays ------------------------------------------------------------- */

typedef struct cm_array_opts {
    uint64_t seed;    /* randomized rounding: the same seed gives the same values */
    unsigned threads; /* 0 = all cores; results do not depend on it */
    int pad;          /* pad rows with zeros to a multiple of the format's group */
    cm_dist dist;     /* the distribution scale=opt assumes (sigma: the tensor's RMS) */
} cm_array_opts;

CM_API void cm_array_opts_default(cm_array_opts *o);

typedef struct cm_array_stats {
    uint64_t values;  /* values measured (padding excluded) */
    uint64_t padded;  /* zeros added by padding */
    double sse;       /* Σ (x - q)^2 */
    double sxx;       /* Σ x^2 */
    double sxq;       /* Σ x q */
    double mse;       /* sse / values: in the tensor's units */
    double nmse;      /* sse / sxx: relative to the mean square */
    double eff_bits;  /* from nmse (as from GMSE) */
    double misalignment; /* 1 - sxq / sxx (Quartet II's magnitude misalignment) */
    double rms;       /* sqrt(sxx / values): the sigma scale=opt used */
} cm_array_stats;

/*! cm_array_eval() : apply p to every value of x (blocks along the last
 * dimension) and measure the error.
 * @return CM_OK; CM_EINVAL (the last dimension is not a multiple of the
 *   group and pad is off; a NaN or infinite value: diag says which index);
 *   CM_ENOMEM; the planner's failures (plan.h). */
CM_API cm_status cm_array_eval(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                               cm_array_stats *stats, cm_diag *diag);

/*! cm_array_quantize() : the same, writing the dequantized values into out
 * (cm_array_count(x) values of out_dtype, in x's layout and order); stats may
 * be NULL. Values beyond out_dtype's range become infinities (float16). */
CM_API cm_status cm_array_quantize(const cm_pipeline *p, const cm_array *x,
                                   const cm_array_opts *o, void *out, cm_dtype out_dtype,
                                   cm_array_stats *stats, cm_diag *diag);

/*! cm_array_encode() : the integer codes and scales behind cm_array_quantize
 * (one stage of a format with a codec, format.h encode/decode, and nearest
 * rounding): codes[i] (cm_array_count(x) of them, in x's layout) are the
 * format's codes of x / s, and decode(code) * s is the quantized value. With
 * blocks, scales[b] is block b's scale, blocks numbered along the padded
 * rows ((R, ceil(C / K)) for R rows of C values); without, scales[0] is the
 * one scale. *nscales receives their number (scales may be NULL to ask).
 * @return CM_OK; CM_EUNSUPPORTED (several stages, no codec, stochastic
 *   rounding, scale=mse); the errors of cm_array_eval. */
CM_API cm_status cm_array_encode(const cm_pipeline *p, const cm_array *x, const cm_array_opts *o,
                                 uint64_t *codes, double *scales, uint64_t *nscales,
                                 cm_diag *diag);

/* ---- writing --------------------------------------------------------------------- */

/*! cm_npy_header() : the header of a .npy (version 1.0, padded to 64 bytes)
 * for an array of dtype, shape and order; its length in *len. Static buffer
 * of at least 64 bytes from the caller: cap. CM_ERANGE if it does not fit. */
CM_API cm_status cm_npy_header(cm_dtype t, int ndim, const uint64_t *shape, int fortran, char *buf,
                               size_t cap, size_t *len, cm_diag *diag);

/*! cm_npy_header_descr() : the same for any NumPy type string ("<u2", "<i8"). */
CM_API cm_status cm_npy_header_descr(const char *descr, int ndim, const uint64_t *shape,
                                     int fortran, char *buf, size_t cap, size_t *len,
                                     cm_diag *diag);

/*! cm_dtype_store() : write n doubles as dtype values (round to nearest
 * even) to out. cm_dtype_load() : read n values of dtype into doubles. */
CM_API void cm_dtype_store(cm_dtype t, const double *x, void *out, size_t n);
CM_API void cm_dtype_load(cm_dtype t, const void *in, double *x, size_t n);

#ifdef __cplusplus
}
#endif

#endif
