/* The host-services table handed to every format, built-in or plugin
 * (format.h: cm_host), the way SQLite hands extensions their API table. */
#include <capmetric/format.h>
#include <capmetric/io.h>
#include <capmetric/progress.h>
#include <capmetric/registry.h>

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <stdlib.h>
#include <string.h>

static cm_status host_file_read(const char *path, char **text, size_t *len, cm_diag *d)
{
    *text = NULL;
    if (len)
        *len = 0;
    char *t = cm_file_read(path, len);
    if (!t) {
        int e = errno;
        if (e == EFBIG)
            return cm_diag_set(d, CM_ERANGE,
                               "'%s' is larger than %zu MiB (set CAPMETRIC_MAX_FILE_MB "
                               "for a larger cap)",
                               path, cm_file_max() >> 20);
        if (e == ENOMEM)
            return cm_diag_set(d, CM_ENOMEM, "cannot read '%s': out of memory", path);
        if (e == EISDIR || e == EIO)
            return cm_diag_set(d, CM_EIO, "error reading '%s': %s", path, strerror(e));
        return cm_diag_set(d, CM_EIO, "cannot open '%s': %s", path, strerror(e));
    }
    *text = t;
    return CM_OK;
}

static void host_file_free(char *text) { free(text); }

static double normal_cdf(double x) { return gsl_cdf_ugaussian_P(x); }
static double normal_sf(double x) { return gsl_cdf_ugaussian_Q(x); }
static double normal_quantile(double p) { return gsl_cdf_ugaussian_Pinv(p); }

/* the one table; built-in families use it too (formats/host_int.h) */
const cm_host cm_host_table = {
    .abi = CM_ABI_VERSION,
    .size = sizeof(cm_host),
    .grid_init = cm_grid_init,
    .grid_fini = cm_grid_fini,
    .grid_index = cm_grid_index,
    .grid_quantize = cm_grid_quantize,
    .grid_levels = cm_grid_levels,
    .grid_encode = cm_grid_encode,
    .grid_decode = cm_grid_decode,
    .rng_stream = cm_pcg64_stream,
    .rng_next = cm_pcg64_next,
    .uniform01 = cm_uniform01,
    .gauss_fill = cm_gauss_fill,
    .file_read = host_file_read,
    .file_free = host_file_free,
    .normal_cdf = normal_cdf,
    .normal_sf = normal_sf,
    .normal_quantile = normal_quantile,
    .progress = cm_progress,
};

const cm_host *cm_registry_host(void) { return &cm_host_table; }
