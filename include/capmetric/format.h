/* capmetric — the format ABI: what a number format (built-in or plugin) is.
 *
 * A format is one `static const cm_format` of function pointers plus names,
 * like GSL's gsl_rng_type or SQLite's sqlite3_vfs. The registry cannot tell a
 * built-in family from a plugin: both go through this struct.
 *
 * Stability rules
 *  - The struct starts with `abi` and `size`; members are only ever appended.
 *    The host reads a member only if `size` says the plugin's struct has it.
 *  - A change of CM_ABI_MAJOR means old plugins are refused; CM_ABI_MINOR grows
 *    when members are appended.
 *  - Members marked "optional" may be NULL; the host checks before calling.
 *
 * The unit-scale convention. A format whose flags contain CM_FORMAT_SCALAR is
 * a scalar grid G applied at unit scale: `quantize` computes Q_G(x), rounding
 * to the nearest grid value and saturating beyond the largest. The host then
 * adds the generic key `scale=opt|VALUE` and evaluates R_s(x) = s*Q_G(x/s),
 * with s the MSE-optimal scale for N(0,1) when `scale=opt` (the default); a
 * format with `levels` gets the exact GMSE path and the optimal scale for
 * free. A format without CM_FORMAT_SCALAR is applied as is.
 *
 * Thread safety. `params` are created once and then only read, from many
 * threads at once. Everything a format writes during `quantize` lives in its
 * per-thread `state`, which the host allocates (state_size bytes, aligned for
 * any type) and passes to state_init once per thread; the hot loop never
 * allocates.
 *
 * Host services. A format calls the host only through the versioned table
 * of functions the host hands it (cm_host below, the way SQLite hands
 * extensions sqlite3_api_routines): a plugin links against nothing and has
 * no undefined cm_* symbol. Built-in families use the same table. The inline
 * helpers of errors.h, grid.h and rng.h (cm_diag_set, cm_fp_round, ...) need
 * no host.
 *
 * Self-contained: this header needs only C11 and the C library. */
#ifndef CAPMETRIC_FORMAT_H
#define CAPMETRIC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <capmetric/errors.h>
#include <capmetric/grid.h>
#include <capmetric/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CM_ABI_MAJOR 2u /* 2: plugins receive a cm_host table (cm_plugin_init) */
#define CM_ABI_MINOR 1u /* 2.1: cm_host.progress, cm_format.inverse (transforms) */
#define CM_ABI_VERSION ((CM_ABI_MAJOR << 16) | CM_ABI_MINOR)
#define CM_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)

/* Kinds of parameter value. The host parses and range-checks every value
 * against the descriptor before the format sees it. */
typedef enum cm_param_type {
    CM_PARAM_INT = 1,    /* integer in [min, max] */
    CM_PARAM_REAL = 2,   /* finite real in [min, max], or one of `choices` */
    CM_PARAM_ENUM = 3,   /* one of `choices` ("a|b|c") */
    CM_PARAM_STRING = 4, /* free text without ',', '+' (a file path, a name) */
    CM_PARAM_LIST = 5    /* ';'-separated finite reals, length in [min, max] */
} cm_param_type;

/* One key of a format's spec (`int:bits=4` has key "bits"). */
typedef struct cm_param {
    const char *key;     /* [a-z0-9_]+ */
    cm_param_type type;
    const char *def;     /* default as spec text; NULL = no default (key unset) */
    const char *doc;     /* one line for `capmetric formats` */
    const char *choices; /* ENUM: accepted words "a|b"; REAL: words accepted besides numbers */
    double min, max;     /* INT/REAL: inclusive range; LIST: length range */
} cm_param;

/* A parsed value, passed to params_parse in the order of the descriptor.
 * Pointers stay valid only during the params_parse call: copy what you keep. */
typedef struct cm_value {
    int present;         /* 1 if given (by the user or an alias) or defaulted */
    int is_word;         /* REAL given as one of `choices`; ENUM always */
    const char *text;    /* canonical text of the value ("" when !present) */
    double num;          /* INT, REAL: the number; ENUM, word: index in choices */
    const double *list;  /* LIST: the numbers */
    size_t len;          /* LIST: how many */
} cm_value;

/* A short name that expands to a spec ("int4" -> "int:bits=4"). */
typedef struct cm_alias {
    const char *name;
    const char *spec;
} cm_alias;

/* What rounding() may return. */
#define CM_ROUND_NEAREST 0u      /* to the nearest grid value (ties: the format's rule) */
#define CM_ROUND_STOCHASTIC 1u   /* to one of the two neighbouring grid values, up with
                                    probability (x - lo)/(hi - lo); saturating outside */
#define CM_ROUND_OVERFLOW_INF 0x100u /* or'ed in: beyond the largest value gives Inf/NaN, so
                                    GMSE on Gaussian data is infinite */
#define CM_ROUND_TIES_AWAY 0x200u /* or'ed in (informational): nearest rounding sends ties
                                    away from zero instead of to the even code */

/* Flags. */
#define CM_FORMAT_SCALAR 0x1u /* unit-scale scalar grid; host adds `scale`, `block`, ... */
#define CM_FORMAT_POW2 0x2u   /* an OCP MX kind of element grid (FP or integer): the
                                 power-of-two block rules floor, ceil, even apply */
#define CM_FORMAT_TRANSFORM 0x4u /* (2.1) a change of basis with inverse(): not a format
                                 on its own, a stage before others (rotations) */

typedef struct cm_format cm_format;

struct cm_format {
    /* --- header: never moves --- */
    uint32_t abi;              /* CM_ABI_VERSION the format was compiled against */
    uint32_t size;             /* sizeof(cm_format) as compiled */

    /* --- mandatory --- */
    const char *name;          /* family name, [a-z][a-z0-9_]*, unique */
    const char *summary;       /* one line */
    const cm_param *params;    /* descriptor of the keys (may be NULL if n_params == 0) */
    size_t n_params;
    uint32_t flags;            /* CM_FORMAT_* */

    /*! params_parse() : build the format's parameter object from `values`
     * (values[i] belongs to params[i]). On success store an object in
     * *params (may be NULL if the format needs none) and return CM_OK; on
     * failure return a status and say why in `diag` (cm_diag_set_key). */
    cm_status (*params_parse)(const cm_value *values, void **params, cm_diag *diag);
    /*! params_free() : release what params_parse made. Must accept NULL. */
    void (*params_free)(void *params);
    /*! bits_per_value() : storage bits per value, everything included. */
    double (*bits_per_value)(const void *params);
    /*! group() : how many consecutive values the format needs together
     * (1 for scalar grids; block size, N:M group, VQ dimension). */
    size_t (*group)(const void *params);
    /*! quantize() : y[i] = R(x[i]) for i < n; n is a multiple of group().
     * x and y do not overlap. Must not allocate, print or fail. */
    void (*quantize)(const void *params, void *state, const double *x, double *y, size_t n);

    /* --- optional (NULL = not provided) --- */
    /*! levels() : the grid at unit scale, sorted ascending (duplicates such
     * as +-0 allowed). With out == NULL only *count is set. Returns
     * CM_EUNSUPPORTED when the grid is too large to list, CM_ERANGE when
     * cap < count. Enables the exact path and the optimal scale. */
    cm_status (*levels)(const void *params, double *out, size_t cap, size_t *count);
    /*! exact_mse() : closed-form GMSE on N(0,1) input, when the format has one. */
    cm_status (*exact_mse)(const void *params, double *mse);
    /*! encode() / decode() : bit-exact codes at unit scale;
     * decode(encode(x)) must equal quantize(x) bit for bit. */
    cm_status (*encode)(const void *params, const double *x, uint64_t *codes, size_t n);
    cm_status (*decode)(const void *params, const uint64_t *codes, double *x, size_t n);
    /*! state_size() : bytes of per-thread scratch the host must allocate. */
    size_t (*state_size)(const void *params);
    /*! state_init() / state_fini() : prepare and release a thread's state. */
    cm_status (*state_init)(const void *params, void *state);
    void (*state_fini)(const void *params, void *state);
    /* Aliases this format brings (may be NULL). */
    const cm_alias *aliases;
    size_t n_aliases;
    /*! params_print() : canonical key list ("bits=4,grid=midrise") when the
     * host's printing of `values` would not be canonical (e.g. a table read
     * from a file). Writes at most cap bytes including the NUL; returns the
     * length it needed, like snprintf. */
    int (*params_print)(const void *params, char *buf, size_t cap);

    /* --- appended in ABI 1.1 --- */
    /*! rounding() : how quantize() rounds onto the grid of levels(): a
     * CM_ROUND_* value. NULL means CM_ROUND_NEAREST. The exact engine
     * integrates stochastic rounding as well as nearest rounding. */
    unsigned (*rounding)(const void *params);
    /*! state_seed() : give the per-thread state a new random seed. The
     * engine calls it at the start of every batch with a value derived from
     * the run's seed and the batch index, so that randomized formats
     * (stochastic rounding) give the same results for any thread count. */
    void (*state_seed)(const void *params, void *state, uint64_t seed);

    /* --- appended in ABI 1.2: formats that select values (sparsity, outliers) --- */
    /*! select() : split x into values that continue to the next stage of a
     * composition (pass[i] = 1, y[i] = x[i]) and values this format settles
     * itself (pass[i] = 0, y[i] = their final value: 0 for pruned values, the
     * stored value for outliers). With select, quantize() must give the
     * format's result when it stands alone (passing values kept exactly). */
    void (*select)(const void *params, void *state, const double *x, double *y,
                   unsigned char *pass, size_t n);
    /*! pass_fraction() : the expected fraction of N(0,1) values that pass. */
    double (*pass_fraction)(const void *params);
    /*! pass_prob() : for the exact path, the probability that a value of
     * magnitude a passes (N(0,1) input); NULL if there is no closed form. */
    double (*pass_prob)(const void *params, double a);
    /*! pass_threshold() : when passing is exactly |x| > t (*above = 1) or
     * |x| < t (*above = 0), return t; else NaN. Lets the exact path integrate
     * cells in closed form instead of by quadrature. */
    double (*pass_threshold)(const void *params, int *above);
    /*! reject_mse() : squared error of a settled value of magnitude a
     * (a^2 for pruning, 0 for an outlier kept exactly). */
    double (*reject_mse)(const void *params, double a);

    /* --- appended in ABI 2.1: transforms (flag CM_FORMAT_TRANSFORM) --- */
    /*! inverse() : a transform's quantize() maps each group to another basis,
     * the stages after it run there, and inverse() maps their result back
     * (error is measured in the data's basis). n is a multiple of group(). */
    void (*inverse)(const void *params, void *state, const double *x, double *y, size_t n);
};



/* The services the host offers formats. The struct starts with `abi` and
 * `size` and only grows at the end: check `size` (CM_HOST_HAS) before using
 * a member appended after the ABI you were built for. Every member of ABI
 * 2.0 is non-NULL. All are thread-safe. */
typedef struct cm_host {
    uint32_t abi;   /* CM_ABI_VERSION of the host */
    uint32_t size;  /* sizeof(cm_host) in the host */
    /* nearest-value rounding onto a sorted grid (grid.h) */
    cm_status (*grid_init)(cm_grid *g, const double *levels, size_t k, cm_diag *diag);
    void (*grid_fini)(cm_grid *g);
    size_t (*grid_index)(const cm_grid *g, double v);
    void (*grid_quantize)(const cm_grid *g, const double *x, double *y, size_t n);
    cm_status (*grid_levels)(const cm_grid *g, double *out, size_t cap, size_t *count);
    cm_status (*grid_encode)(const cm_grid *g, const double *x, uint64_t *codes, size_t n);
    cm_status (*grid_decode)(const cm_grid *g, const uint64_t *codes, double *x, size_t n);
    /* random streams (rng.h): the engine's generator and Gaussian sampler */
    void (*rng_stream)(cm_pcg64 *g, uint64_t seed, uint64_t stream);
    uint64_t (*rng_next)(cm_pcg64 *g);
    double (*uniform01)(cm_pcg64 *g);
    void (*gauss_fill)(cm_pcg64 *g, double *out, size_t n);
    /* a whole file, NUL-terminated, within the host's size cap; release it
     * with file_free. CM_EIO (cannot read: diag says why), CM_ERANGE (too
     * large), CM_ENOMEM. */
    cm_status (*file_read)(const char *path, char **text, size_t *len, cm_diag *diag);
    void (*file_free)(char *text);
    /* the standard normal distribution: P(X <= x), P(X > x), its inverse */
    double (*normal_cdf)(double x);
    double (*normal_sf)(double x);
    double (*normal_quantile)(double p);
    /* (2.1) progress of long work, e.g. codebook training (progress.h:
     * cm_progress); may be called from any thread */
    void (*progress)(const char *task, double done, double total);
} cm_host;

/* Is member m of the host table there (a host of an older minor ABI)? */
#define CM_HOST_HAS(host, m) \
    ((host)->size >= offsetof(cm_host, m) + sizeof((host)->m) && (host)->m)

/* The one symbol a plugin exports. It keeps `host` (valid as long as the
 * plugin is loaded) for its formats' calls, returns its formats (static
 * storage, valid until the plugin is unloaded) and stores their number in
 * *count; or returns NULL if it cannot serve a host of ABI host->abi
 * (compare CM_ABI_MAJOR_OF(host->abi) with CM_ABI_MAJOR). Build plugins with
 * -fvisibility=hidden and mark this one function CM_PLUGIN_EXPORT. */
#if defined(__GNUC__)
#define CM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CM_PLUGIN_EXPORT
#endif
CM_PLUGIN_EXPORT const cm_format *const *cm_plugin_init(const cm_host *host, size_t *count);

typedef const cm_format *const *(*cm_plugin_init_fn)(const cm_host *host, size_t *count);
#define CM_PLUGIN_INIT_SYMBOL "cm_plugin_init"
/* the entry point of ABI 1 plugins, which the host recognizes to refuse them */
#define CM_PLUGIN_QUERY_SYMBOL_V1 "cm_plugin_query"

/* Offset past a member: the smallest `size` a format must declare to have it. */
#define CM_FORMAT_HAS(fmt, member) \
    ((fmt)->size >= offsetof(cm_format, member) + sizeof((fmt)->member) && (fmt)->member)

#ifdef __cplusplus
}
#endif
#endif
