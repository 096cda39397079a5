/* JSON and CSV writers for results (DESIGN §4). All JSON goes through cJSON.
 * JSON has no NaN or infinity: every command writes null for a non-finite
 * number (the one policy, README "Machine output"); CSV writes nan, inf, -inf. */
#include <capmetric/report.h>
#include <capmetric/mc.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util_int.h"

#ifndef CM_VERSION
#define CM_VERSION "0.0.0"
#endif

const char *cm_version(void) { return CM_VERSION; }

static cJSON *num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static int add(cJSON *o, const char *k, cJSON *v)
{
    if (!v)
        return -1;
    return cJSON_AddItemToObject(o, k, v) ? 0 : (cJSON_Delete(v), -1);
}

cm_status cm_report_json(const cm_result *res, size_t n, const cm_eval_opts *o, char **out,
                         cm_diag *d)
{
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    int bad = !root;
    bad = bad || add(root, "tool", cJSON_CreateString("capmetric"));
    bad = bad || add(root, "version", cJSON_CreateString(CM_VERSION));
    bad = bad || add(root, "seed", cJSON_CreateNumber((double)o->seed));
    bad = bad || add(root, "samples", cJSON_CreateNumber((double)o->samples));
    bad = bad || add(root, "stream_version", cJSON_CreateNumber(CM_MC_STREAM_VERSION));
    bad = bad || add(root, "law", cJSON_CreateString(cm_law_name(cm_eval_law(o))));
    bad = bad || add(root, "method", cJSON_CreateString(cm_method_name(o->method)));
    char dn[40];
    bad = bad || add(root, "dist", cJSON_CreateString(cm_dist_name(&o->dist, dn, sizeof dn)));
    bad = bad || add(root, "sigma", num(cm_dist_sigma(&o->dist)));
    cJSON *rs = bad ? NULL : cJSON_AddArrayToObject(root, "results");
    bad = bad || !rs;
    for (size_t i = 0; i < n && !bad; i++) {
        const cm_result *r = &res[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(rs, e)) {
            cJSON_Delete(e);
            bad = 1;
            break;
        }
        bad = bad || add(e, "spec", cJSON_CreateString(r->spec));
        bad = bad || add(e, "input", cJSON_CreateString(r->input));
        bad = bad || add(e, "family", cJSON_CreateString(r->family));
        bad = bad || add(e, "bits", num(r->bits));
        bad = bad || add(e, "method", cJSON_CreateString(cm_method_name(r->method)));
        bad = bad || add(e, "gmse", num(r->gmse));
        bad = bad || add(e, "gmse_se", num(r->gmse_se));
        bad = bad || add(e, "gmse_err", num(r->gmse_err));
        bad = bad || add(e, "misalignment", num(r->misalignment));
        bad = bad || add(e, "misalignment_se", num(r->misalignment_se));
        bad = bad || add(e, "misalignment_err", num(r->misalignment_err));
        bad = bad || add(e, "scale", num(r->scale));
        bad = bad || add(e, "eff_bits", num(r->eff_bits));
        bad = bad || add(e, "rho", num(r->rho));
        bad = bad || add(e, "rho_per_bit", num(r->rho_per_bit));
        bad = bad || add(e, "shannon_gmse", num(r->shannon_gmse));
        bad = bad || add(e, "gap_db", num(r->gap_db));
        bad = bad || add(e, "gap_bits", num(r->gap_bits));
        bad = bad || add(e, "rho_product", num(r->rho_product));
        bad = bad || add(e, "seconds", num(r->seconds));
        bad = bad || add(e, "samples", cJSON_CreateNumber((double)r->samples));
        bad = bad || add(e, "dist", cJSON_CreateString(r->dist));
        bad = bad || add(e, "sigma", num(r->sigma));
        cJSON *w = cJSON_CreateArray();
        bad = bad || add(e, "warnings", w);
        for (unsigned f = 1; !bad && f; f <<= 1)
            if ((r->flags & f) && cm_result_warning(f))
                bad = !cJSON_AddItemToArray(w, cJSON_CreateString(cm_result_warning(f)));
    }
    char *s = bad ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return cm_diag_set(d, CM_ENOMEM, "out of memory while writing JSON");
    /* hand over a malloc'ed copy so callers free() it regardless of cJSON's hooks */
    *out = cm_strdup(s);
    cJSON_free(s);
    return *out ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory");
}

static void csv_num(cm_buf *b, double x)
{
    char t[64];
    if (isnan(x))
        cm_buf_puts(b, "nan");
    else if (isinf(x))
        cm_buf_puts(b, x > 0 ? "inf" : "-inf");
    else {
        cm_fmt_double(t, sizeof t, x);
        cm_buf_puts(b, t);
    }
}

/* Specs contain ',' and ';': quote every text field (RFC 4180). */
static void csv_text(cm_buf *b, const char *s)
{
    cm_buf_puts(b, "\"");
    for (; *s; s++)
        cm_buf_puts(b, *s == '"' ? "\"\"" : (char[2]){*s, 0});
    cm_buf_puts(b, "\"");
}

cm_status cm_report_csv(const cm_result *res, size_t n, char **out, cm_diag *d)
{
    cm_buf b;
    cm_buf_init(&b);
    cm_buf_puts(&b, "spec,input,family,bits,method,gmse,gmse_se,scale,eff_bits,rho,rho_per_bit,"
                    "seconds,samples,shannon_gmse,gap_db,gap_bits,rho_product,gmse_err,dist,"
                    "sigma,misalignment,misalignment_se\n");
    for (size_t i = 0; i < n; i++) {
        const cm_result *r = &res[i];
        const double v[] = {r->gmse, r->gmse_se, r->scale, r->eff_bits, r->rho, r->rho_per_bit,
                            r->seconds};
        csv_text(&b, r->spec);
        cm_buf_puts(&b, ",");
        csv_text(&b, r->input);
        cm_buf_puts(&b, ",");
        csv_text(&b, r->family);
        cm_buf_puts(&b, ",");
        csv_num(&b, r->bits);
        cm_buf_printf(&b, ",%s", cm_method_name(r->method));
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
            cm_buf_puts(&b, ",");
            csv_num(&b, v[k]);
        }
        cm_buf_printf(&b, ",%llu", (unsigned long long)r->samples);
        const double w[] = {r->shannon_gmse, r->gap_db, r->gap_bits, r->rho_product, r->gmse_err};
        for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
            cm_buf_puts(&b, ",");
            csv_num(&b, w[k]);
        }
        cm_buf_puts(&b, ",");
        csv_text(&b, r->dist);
        cm_buf_puts(&b, ",");
        csv_num(&b, r->sigma);
        cm_buf_puts(&b, ",");
        csv_num(&b, r->misalignment);
        cm_buf_puts(&b, ",");
        csv_num(&b, r->misalignment_se);
        cm_buf_puts(&b, "\n");
    }
    *out = cm_buf_take(&b);
    return *out ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory");
}
