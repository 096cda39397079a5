/* The JSON interface for bindings (api.h): requests checked key by key,
 * the same writers as the command line. */
#include <capmetric/api.h>
#include <capmetric/capmetric.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "predict_int.h"
#include "runs_int.h"
#include "util_int.h"

/* a document as malloc'ed text (cm_api_free), the format of the command line */
static char *print_json(const cJSON *doc)
{
    char *t = cJSON_Print(doc);
    char *out = t ? cm_strdup(t) : NULL;
    cJSON_free(t);
    return out;
}

void cm_api_free(char *text) { free(text); }

/* the request as an object whose keys are all among `keys` (" a b c ") */
static cm_status parse_request(const char *req, const char *keys, cJSON **out, cm_diag *d)
{
    *out = NULL;
    cJSON *r = req ? cJSON_Parse(req) : cJSON_CreateObject();
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return cm_diag_set(d, CM_EPARSE, "the request is not a JSON object");
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, r)
    {
        char k[80];
        snprintf(k, sizeof k, " %.60s ", e->string);
        if (!strstr(keys, k)) {
            cm_diag_set(d, CM_EINVAL, "unknown key '%s' (accepted:%.*s)", e->string,
                        (int)strlen(keys) - 1, keys);
            cJSON_Delete(r);
            return CM_EINVAL;
        }
    }
    *out = r;
    return CM_OK;
}

/* a built-in registry with the request's plugins */
static cm_status registry_for(const cJSON *r, cm_registry **reg, cm_diag *d)
{
    cm_status s = cm_registry_alloc(reg, d);
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(r, "plugins"), *e;
    if (s || !pl)
        return s;
    if (!cJSON_IsArray(pl))
        s = cm_diag_set(d, CM_EINVAL, "'plugins' must be a list of paths");
    cJSON_ArrayForEach(e, pl)
    {
        if (s)
            break;
        s = cJSON_IsString(e) ? cm_registry_load_plugin(*reg, e->valuestring, d)
                              : cm_diag_set(d, CM_EINVAL, "'plugins' must be a list of paths");
    }
    if (s) {
        cm_registry_free(*reg);
        *reg = NULL;
    }
    return s;
}

static int whole(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == floor(v->valuedouble);
}

/* key's whole number in [lo, hi] into *out when the request has it (null
 * counts as absent where null_ok) */
static cm_status get_whole(const cJSON *r, const char *key, double lo, double hi, int null_ok,
                           const char *accepted, double *out, cm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
    if (!v || (null_ok && cJSON_IsNull(v)))
        return CM_OK;
    if (!whole(v, lo, hi))
        return cm_diag_set(d, CM_ERANGE, "'%s' must be %s", key, accepted);
    *out = v->valuedouble;
    return CM_OK;
}

/* the options every evaluating request may carry; *law_owned for file: laws */
static cm_status eval_options(const cJSON *r, cm_eval_opts *o, cm_law **law_owned, cm_diag *d)
{
    cm_eval_opts_default(o);
    const cJSON *v;
    double samples = (double)o->samples, seed = (double)o->seed, threads = o->threads;
    cm_status s;
    if ((s = get_whole(r, "samples", CM_MC_MIN_SAMPLES, (double)CM_MC_MAX_SAMPLES, 0,
                       "a whole number from 2 to 2^40", &samples, d)) ||
        (s = get_whole(r, "seed", 0, 9007199254740992.0, 0, "a whole number from 0 to 2^53",
                       &seed, d)) ||
        (s = get_whole(r, "threads", 1, 1024, 1, "a whole number from 1 to 1024", &threads, d)))
        return s;
    o->samples = (uint64_t)samples;
    o->seed = (uint64_t)seed;
    o->threads = (unsigned)threads;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "method")) &&
        (!cJSON_IsString(v) || (s = cm_method_parse(v->valuestring, &o->method, d))))
        return cJSON_IsString(v) ? s : cm_diag_set(d, CM_EINVAL, "'method' must be text");
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "law")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v))
            return cm_diag_set(d, CM_EINVAL, "'law' must be a name or file:PATH");
        if (!strncmp(v->valuestring, "file:", 5)) {
            if ((s = cm_law_load(v->valuestring + 5, law_owned, d)))
                return s;
            o->law = *law_owned;
        } else if ((s = cm_law_find(v->valuestring, &o->law, d))) {
            return s;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "dist")) &&
        (!cJSON_IsString(v) || (s = cm_dist_parse(v->valuestring, &o->dist, d))))
        return cJSON_IsString(v) ? s : cm_diag_set(d, CM_EINVAL, "'dist' must be text");
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "sigma"))) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1e-30 && v->valuedouble <= 1e30))
            return cm_diag_set(d, CM_ERANGE, "'sigma' must be a number from 1e-30 to 1e30");
        o->dist.sigma = v->valuedouble;
    }
    return CM_OK;
}

cm_status cm_api_formats(const char *request, char **out, cm_diag *d)
{
    cJSON *r;
    cm_registry *reg = NULL;
    *out = NULL;
    cm_status s = parse_request(request, " plugins ", &r, d);
    if (!s)
        s = registry_for(r, &reg, d);
    if (!s)
        s = cm_report_formats_json(reg, out, d);
    cm_registry_free(reg);
    cJSON_Delete(r);
    return s;
}

cm_status cm_api_laws(char **out, cm_diag *d) { return cm_report_laws_json(out, d); }

/* the request's specs parsed; on failure diag.line is the 1-based index */
static cm_status parse_specs(const cm_registry *reg, const cJSON *list, cm_pipeline ***out,
                             size_t *n, cm_diag *d)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1)
        return cm_diag_set(d, CM_EINVAL, "'specs' must be a list of at least one spec");
    size_t m = (size_t)cJSON_GetArraySize(list);
    cm_pipeline **p = calloc(m, sizeof *p);
    if (!p)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    cm_status s = CM_OK;
    for (size_t i = 0; i < m && !s; i++) {
        const cJSON *e = cJSON_GetArrayItem(list, (int)i);
        s = cJSON_IsString(e) ? cm_spec_parse(reg, e->valuestring, &p[i], d)
                              : cm_diag_set(d, CM_EINVAL, "spec %zu is not text", i + 1);
        if (s)
            d->line = (long)(i + 1);
    }
    if (s) {
        for (size_t i = 0; i < m; i++)
            cm_pipeline_free(p[i]);
        free(p);
        return s;
    }
    *out = p;
    *n = m;
    return CM_OK;
}

/* the request's registry (with its plugins), its specs parsed, and room for
 * their results */
static cm_status specs_of(const cJSON *r, cm_registry **reg, cm_pipeline ***p, size_t *n,
                          cm_result **res, cm_diag *d)
{
    cm_status s = registry_for(r, reg, d);
    if (!s)
        s = parse_specs(*reg, cJSON_GetObjectItemCaseSensitive(r, "specs"), p, n, d);
    if (!s && !(*res = calloc(*n, sizeof **res)))
        s = cm_diag_set(d, CM_ENOMEM, "out of memory");
    return s;
}

/* what an evaluating request holds, released; returns s */
static cm_status release(cm_status s, cJSON *r, cm_registry *reg, cm_pipeline **p, size_t n,
                         cm_result *res, cm_law *law)
{
    free(res);
    for (size_t i = 0; p && i < n; i++)
        cm_pipeline_free(p[i]);
    free(p);
    cm_registry_free(reg);
    cm_law_free(law);
    cJSON_Delete(r);
    return s;
}

cm_status cm_api_eval(const char *request, char **out, cm_diag *d)
{
    cJSON *r = NULL;
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    cm_law *law = NULL;
    size_t n = 0;
    cm_eval_opts o;
    *out = NULL;
    cm_status s = parse_request(request,
                                " specs samples seed method law dist sigma threads plugins ", &r,
                                d);
    if (!s)
        s = eval_options(r, &o, &law, d);
    if (!s)
        s = specs_of(r, &reg, &p, &n, &res, d);
    if (!s) {
        cm_cancel_clear();
        s = cm_eval(p, n, &o, res, NULL, NULL, d);
    }
    if (!s)
        s = cm_report_json(res, n, &o, out, d);
    return release(s, r, reg, p, n, res, law);
}

static cm_status stats_json(const cm_pipeline *p, const cm_array_stats *st, char **out,
                            cm_diag *d)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "spec", cm_pipeline_canonical(p));
    cJSON_AddStringToObject(e, "input", cm_pipeline_input(p));
    cJSON_AddStringToObject(e, "family", cm_pipeline_family(p));
    const double v[] = {cm_pipeline_bits(p), (double)st->values, (double)st->padded, st->mse,
                        st->nmse, st->eff_bits, st->misalignment, st->rms};
    const char *k[] = {"bits", "values", "padded", "mse", "nmse", "eff_bits", "misalignment",
                       "rms"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        cJSON_AddItemToObject(e, k[i], isfinite(v[i]) ? cJSON_CreateNumber(v[i])
                                                      : cJSON_CreateNull());
    char *t = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    *out = t ? cm_strdup(t) : NULL;
    cJSON_free(t);
    return *out ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory");
}

cm_status cm_api_array(const char *request, const void *data, int dtype, int ndim,
                       const uint64_t *shape, int fortran, void *out, int out_dtype,
                       char **stats, cm_diag *d)
{
    cJSON *r = NULL;
    cm_registry *reg = NULL;
    cm_pipeline *p = NULL;
    *stats = NULL;
    cm_status s = parse_request(request, " spec seed threads pad dist plugins ", &r, d);
    cm_array a;
    memset(&a, 0, sizeof a);
    if (!s && (ndim < 0 || ndim > CM_TENSOR_MAX_DIMS || dtype < 0 || dtype > CM_DTYPE_F64 ||
               out_dtype < 0 || out_dtype > CM_DTYPE_F64))
        s = cm_diag_set(d, CM_EINVAL, "bad array description (ndim %d, dtype %d)", ndim, dtype);
    cm_array_opts ao;
    cm_array_opts_default(&ao);
    cm_eval_opts eo;
    cm_law *law = NULL;
    if (!s) {
        s = eval_options(r, &eo, &law, d); /* seed, threads, dist: checked as for eval */
        ao.seed = eo.seed;
        ao.threads = eo.threads;
        ao.dist = eo.dist;
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(r, "pad");
        if (!s && pad && !cJSON_IsBool(pad))
            s = cm_diag_set(d, CM_EINVAL, "'pad' must be true or false");
        ao.pad = cJSON_IsTrue(pad);
    }
    const cJSON *sp = r ? cJSON_GetObjectItemCaseSensitive(r, "spec") : NULL;
    if (!s && !cJSON_IsString(sp))
        s = cm_diag_set(d, CM_EINVAL, "'spec' must be text");
    if (!s)
        s = registry_for(r, &reg, d);
    if (!s && (s = cm_spec_parse(reg, sp->valuestring, &p, d)))
        d->line = 1;
    if (!s) {
        a.data = data;
        a.dtype = (cm_dtype)dtype;
        a.ndim = ndim;
        for (int i = 0; i < ndim; i++)
            a.shape[i] = shape[i];
        a.fortran = fortran;
        cm_array_stats st;
        cm_cancel_clear();
        s = out ? cm_array_quantize(p, &a, &ao, out, (cm_dtype)out_dtype, &st, d)
                : cm_array_eval(p, &a, &ao, &st, d);
        if (!s)
            s = stats_json(p, &st, stats, d);
    }
    cm_pipeline_free(p);
    cm_registry_free(reg);
    cm_law_free(law);
    cJSON_Delete(r);
    return s;
}

/* ---- predict ----------------------------------------------------------------- */

static cm_status positive(const cJSON *r, const char *key, int required, double *out, cm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
    if (!v || cJSON_IsNull(v))
        return required ? cm_diag_set(d, CM_EINVAL, "'%s' is required (a positive number)", key)
                        : CM_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return cm_diag_set(d, CM_ERANGE, "'%s' must be a positive number", key);
    *out = v->valuedouble;
    return CM_OK;
}

cm_status cm_api_predict(const char *request, char **out, cm_diag *d)
{
    cJSON *r = NULL, *doc = NULL;
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    cm_law *law = NULL;
    pred *pv = NULL;
    size_t n = 0, nl = 0, np = 0;
    cm_eval_opts o;
    pred_ask a = {0, 0, 0, 0, 0, -1};
    const cm_law *ls[64];
    *out = NULL;
    cm_status s = parse_request(request,
                                " specs params tokens memory tensors law samples seed method dist "
                                "sigma threads plugins ci vs ",
                                &r, d);
    if (!s)
        s = eval_options(r, &o, &law, d);
    if (!s)
        s = positive(r, "params", 1, &a.params, d);
    if (!s)
        s = positive(r, "tokens", 1, &a.tokens, d);
    if (!s)
        s = positive(r, "memory", 0, &a.memory, d);
    const cJSON *t = r ? cJSON_GetObjectItemCaseSensitive(r, "tensors") : NULL;
    if (!s && t && !cJSON_IsNull(t))
        s = cJSON_IsString(t) ? cm_tensors_parse(t->valuestring, &a.tensors, d)
                              : cm_diag_set(d, CM_EINVAL, "'tensors' must be text (e.g. \"w,a\")");
    const cJSON *ci = r ? cJSON_GetObjectItemCaseSensitive(r, "ci") : NULL;
    if (!s && ci && !cJSON_IsNull(ci)) {
        if (!cJSON_IsNumber(ci) || !(ci->valuedouble > 0 && ci->valuedouble < 1))
            s = cm_diag_set(d, CM_EINVAL, "'ci' must be a level between 0 and 1 (e.g. 0.9)");
        else
            a.ci = ci->valuedouble;
    }
    cJSON *vs = r ? cJSON_GetObjectItemCaseSensitive(r, "vs") : NULL;
    if (!s && vs && !cJSON_IsNull(vs)) { /* the reference format: evaluated last */
        cJSON *sp = cJSON_GetObjectItemCaseSensitive(r, "specs");
        if (!cJSON_IsString(vs) || !cJSON_IsArray(sp))
            s = cm_diag_set(d, CM_EINVAL, "'vs' must be a spec (text) beside a 'specs' list");
        else
            cJSON_AddItemToArray(sp, cJSON_CreateString(vs->valuestring));
    }
    if (!s)
        s = specs_of(r, &reg, &p, &n, &res, d);
    if (!s && vs && !cJSON_IsNull(vs))
        a.vs = (long)n - 1;
    const cm_law *asked = o.law;
    if (!s) {
        if (o.law && !cm_law_has_map(o.law)) /* as predict does: rho from the law alone */
            o.law = NULL;
        cm_cancel_clear();
        s = cm_eval(p, n, &o, res, NULL, NULL, d);
    }
    if (!s)
        s = predict_all(&a, asked, p, res, n, ls, &nl, &pv, &np, d);
    if (!s && !(doc = predict_doc(&a, pv, np, res, ls, nl)))
        s = cm_diag_set(d, CM_ENOMEM, "out of memory");
    if (!s && !(*out = print_json(doc)))
        s = cm_diag_set(d, CM_ENOMEM, "out of memory");
    cJSON_Delete(doc);
    free(pv);
    return release(s, r, reg, p, n, res, law);
}

/* ---- fit --------------------------------------------------------------------- */

/* the request's column names ({"label": "format", ...}) and "where" filters */
static cm_status fit_columns(const cJSON *r, runcols *c, const char **where, cm_diag *d)
{
    memset(c, 0, sizeof *c);
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r, "columns"), *e;
    if (cols && !cJSON_IsObject(cols))
        return cm_diag_set(d, CM_EINVAL, "'columns' must be an object ({\"label\": \"format\"})");
    static const char *const keys[] = {"label", "label2", "n", "d", "loss", "rho", "gmse",
                                       "spec", "specs", "baseline", "family"};
    const char **slot[] = {&c->label, &c->label2, &c->N, &c->D, &c->loss, &c->rho, &c->gmse,
                           &c->spec, &c->specs_file, &c->baseline, &c->family};
    cJSON_ArrayForEach(e, cols)
    {
        size_t k = 0;
        while (k < sizeof keys / sizeof *keys && strcmp(keys[k], e->string))
            k++;
        if (k == sizeof keys / sizeof *keys)
            return cm_diag_set(d, CM_EINVAL,
                               "unknown column role '%s' (accepted: label label2 n d loss rho "
                               "gmse spec specs baseline family)",
                               e->string);
        if (!cJSON_IsString(e))
            return cm_diag_set(d, CM_EINVAL, "column '%s' must be text", e->string);
        *slot[k] = e->valuestring;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "where");
    if (w && (!cJSON_IsArray(w) || cJSON_GetArraySize(w) > 16))
        return cm_diag_set(d, CM_EINVAL, "'where' must be a list of at most 16 \"COL=V1;V2\"");
    cJSON_ArrayForEach(e, w)
    {
        if (!cJSON_IsString(e) || !strchr(e->valuestring, '='))
            return cm_diag_set(d, CM_EINVAL, "'where' items must be \"COL=V1;V2\" text");
        where[c->nwhere++] = e->valuestring;
    }
    c->where = where;
    return CM_OK;
}

/* the fit's settings: preset, huber, residual_scale, bootstrap, starts, fixed */
static cm_status fit_settings(const cJSON *r, cm_fit_mode mode, cm_fit_opts *fo, double *fixed,
                              cm_diag *d)
{
    const cJSON *v;
    cm_status s;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "preset")) &&
        (s = cJSON_IsString(v) ? fit_preset(v->valuestring, fo, d)
                               : cm_diag_set(d, CM_EINVAL, "'preset' must be text")))
        return s;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "huber")) && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v)) {
            if ((s = parse_huber(v->valuestring, fo, d)))
                return s;
        } else if (cJSON_IsNumber(v) && v->valuedouble > 0 && isfinite(v->valuedouble)) {
            fo->huber = v->valuedouble;
        } else {
            return cm_diag_set(d, CM_ERANGE, "'huber' must be a positive number or \"none\"");
        }
    }
    if ((s = positive(r, "residual_scale", 0, &fo->rscale, d)))
        return s;
    double boot = fo->bootstrap, starts = (double)fo->max_starts;
    if ((s = get_whole(r, "bootstrap", 0, 100000, 0, "0 to 100000 replicates", &boot, d)) ||
        (s = get_whole(r, "starts", 1, 1e9, 0, "a positive whole number", &starts, d)))
        return s;
    fo->bootstrap = (unsigned)boot;
    fo->max_starts = (size_t)starts;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "fixed")) && !cJSON_IsNull(v)) {
        int ok = mode == CM_FIT_QUARTET && cJSON_IsArray(v) && cJSON_GetArraySize(v) == 6;
        for (int k = 0; ok && k < 6; k++) {
            const cJSON *x = cJSON_GetArrayItem(v, k);
            ok = cJSON_IsNumber(x) && isfinite(x->valuedouble);
            fixed[k] = ok ? x->valuedouble : 0;
        }
        if (!ok || !(fixed[0] > 0) || !(fixed[2] > 0) || !(fixed[4] > 0) || !(fixed[5] > 0))
            return cm_diag_set(d, CM_EINVAL,
                               "'fixed' is for mode quartet only: [A, alpha, B, beta, E, gamma] "
                               "with A, B, E, gamma > 0");
        fo->fixed = fixed;
    }
    return CM_OK;
}

cm_status cm_api_fit(const char *request, char **out, cm_diag *d)
{
    cJSON *r = NULL, *doc = NULL;
    cm_registry *reg = NULL;
    cm_law *law = NULL;
    runs rr;
    memset(&rr, 0, sizeof rr);
    cm_fit_result fr;
    memset(&fr, 0, sizeof fr);
    cm_eval_opts o;
    cm_fit_opts fo;
    cm_fit_opts_default(&fo);
    cm_fit_mode mode = CM_FIT_DECOUPLED;
    double fixed[6];
    runcols c;
    const char *where[16];
    *out = NULL;
    cm_status s = parse_request(request,
                                " runs mode columns where preset huber residual_scale bootstrap "
                                "starts fixed name samples seed method dist sigma threads plugins ",
                                &r, d);
    const cJSON *path = r ? cJSON_GetObjectItemCaseSensitive(r, "runs") : NULL;
    const cJSON *mv = r ? cJSON_GetObjectItemCaseSensitive(r, "mode") : NULL;
    const cJSON *nm = r ? cJSON_GetObjectItemCaseSensitive(r, "name") : NULL;
    if (!s && !cJSON_IsString(path))
        s = cm_diag_set(d, CM_EINVAL, "'runs' is required: the path of a CSV of training runs");
    if (!s && mv && (!cJSON_IsString(mv) || (s = cm_fit_mode_parse(mv->valuestring, &mode, d))))
        s = s ? s : cm_diag_set(d, CM_EINVAL, "'mode' must be text");
    if (!s && nm && !cJSON_IsString(nm))
        s = cm_diag_set(d, CM_EINVAL, "'name' must be text");
    if (!s)
        s = eval_options(r, &o, &law, d);
    if (!s) {
        fo.threads = o.threads;
        fo.seed = o.seed;
        s = fit_settings(r, mode, &fo, fixed, d);
    }
    if (!s)
        s = fit_columns(r, &c, where, d);
    if (!s)
        s = registry_for(r, &reg, d);
    runs_err re;
    if (!s && (s = runs_load(path->valuestring, &c, mode, reg, &o, &rr, &re)))
        *d = re.d;
    if (!s) {
        cm_fit_data fd;
        runs_data(&rr, &fd);
        cm_cancel_clear();
        s = cm_fit(mode, &fd, &fo, &fr, d);
    }
    if (!s && !(doc = fit_doc(&fr, &fo, &rr, path->valuestring, nm ? nm->valuestring : "fitted")))
        s = cm_diag_set(d, CM_ENOMEM, "out of memory");
    if (!s && !(*out = print_json(doc)))
        s = cm_diag_set(d, CM_ENOMEM, "out of memory");
    cJSON_Delete(doc);
    cm_fit_result_free(&fr);
    runs_free(&rr);
    cm_registry_free(reg);
    cm_law_free(law);
    cJSON_Delete(r);
    return s;
}
