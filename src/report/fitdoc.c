/* The fit's machine output (shared by the command line and the JSON
 * interface): the fit as JSON, the law file of a fit, the published fitting
 * presets and the Huber setting by text. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs_int.h"

cJSON *fit_json(const cm_fit_result *f, const cm_fit_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "mode", cm_fit_mode_name(f->mode));
    cJSON_AddNumberToObject(j, "points", (double)f->n);
    cJSON_AddItemToObject(j, "huber_delta", json_num(o->huber));
    cJSON_AddNumberToObject(j, "residual_scale", o->rscale);
    cJSON_AddNumberToObject(j, "starts", (double)f->starts);
    cJSON_AddNumberToObject(j, "converged", (double)f->converged);
    cJSON_AddNumberToObject(j, "starts_at_best", (double)f->at_best);
    cJSON_AddItemToObject(j, "cost", json_num(f->cost));
    cJSON_AddItemToObject(j, "rmse", json_num(f->rmse));
    cJSON_AddItemToObject(j, "mae", json_num(f->mae));
    cJSON_AddNumberToObject(j, "bootstrap", f->boot_done);
    cJSON_AddNumberToObject(j, "seconds", f->seconds);
    cJSON *vals = cJSON_AddObjectToObject(j, "values"); /* name -> value, for lookups */
    for (size_t k = 0; k < f->np; k++)
        cJSON_AddItemToObject(vals, f->p[k].name, json_num(f->p[k].value));
    cJSON *ps = cJSON_AddArrayToObject(j, "params");
    cJSON *und = cJSON_CreateArray();
    for (size_t k = 0; k < f->np; k++) {
        const cm_fit_param *p = &f->p[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", p->name);
        cJSON_AddItemToObject(e, "value", json_num(p->value));
        cJSON_AddItemToObject(e, "se", json_num(p->se));
        cJSON_AddItemToObject(e, "boot_lo", json_num(p->lo));
        cJSON_AddItemToObject(e, "boot_hi", json_num(p->hi));
        cJSON_AddItemToObject(e, "boot_sd", json_num(p->sd));
        cJSON_AddBoolToObject(e, "determined", p->determined);
        cJSON_AddItemToArray(ps, e);
        if (!p->determined)
            cJSON_AddItemToArray(und, cJSON_CreateString(p->name));
    }
    cJSON_AddItemToObject(j, "not_determined", und);
    if (f->boot && f->nboot) { /* the replicates, for intervals of predictions */
        cJSON *bs = cJSON_AddArrayToObject(j, "bootstrap_samples");
        for (size_t r = 0; r < f->nboot; r++)
            cJSON_AddItemToArray(bs, cJSON_CreateDoubleArray(f->boot + r * f->np, (int)f->np));
    }
    return j;
}

/* The law file of a fit (cm_law_load reads it). */
cJSON *law_json(const cm_fit_result *f, const runs *r, const char *name, const char *source)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "capmetric_law", 1);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "source", source);
    const char *kind = f->mode == CM_FIT_QUARTET ? "quartet" : cm_fit_mode_name(f->mode);
    cJSON_AddStringToObject(j, "kind", kind);
    if (f->mode != CM_FIT_MAP && r->n) { /* the runs' range: predict warns outside it */
        double nl = INFINITY, nh = 0, dl = INFINITY, dh = 0;
        for (size_t i = 0; i < r->n; i++)
            nl = fmin(nl, r->N[i]), nh = fmax(nh, r->N[i]), dl = fmin(dl, r->D[i]),
            dh = fmax(dh, r->D[i]);
        cJSON *rg = cJSON_AddObjectToObject(j, "range");
        double na[2] = {nl, nh}, da[2] = {dl, dh};
        cJSON_AddItemToObject(rg, "N", cJSON_CreateDoubleArray(na, 2));
        cJSON_AddItemToObject(rg, "D", cJSON_CreateDoubleArray(da, 2));
    }
    char und[256] = "";
    for (size_t q = 0; q < f->np; q++)
        if (!f->p[q].determined && strlen(und) + strlen(f->p[q].name) + 3 < sizeof und)
            snprintf(und + strlen(und), sizeof und - strlen(und), "%s%s", *und ? ", " : "",
                     f->p[q].name);
    if (*und)
        cJSON_AddStringToObject(j, "undetermined", und);
    if (f->mode == CM_FIT_UNIFIED && f->np == 8 && f->boot && f->nboot) {
        cJSON *bs = cJSON_AddArrayToObject(j, "bootstrap");
        for (size_t q = 0; q < f->nboot; q++)
            cJSON_AddItemToArray(bs, cJSON_CreateDoubleArray(f->boot + q * 8, 8));
    }
    size_t k = 0;
    if (f->mode != CM_FIT_MAP) {
        cJSON *c = cJSON_AddObjectToObject(j, "constants");
        static const char *const nm[] = {"A", "alpha", "B", "beta", "E", "gamma"};
        size_t nb = f->mode == CM_FIT_QUARTET ? 6 : 5;
        for (size_t q = 0; q < nb; q++) {
            double v = f->base_fixed ? f->base[q] : f->p[k++].value;
            cJSON_AddNumberToObject(c, nm[q], v);
        }
    }
    if (f->mode == CM_FIT_UNIFIED || f->mode == CM_FIT_MAP) {
        cJSON *fa = cJSON_AddArrayToObject(j, "families");
        for (size_t q = 0; k + 3 <= f->np; q++) {
            cJSON *e = cJSON_CreateObject();
            if (r->nfam)
                cJSON_AddStringToObject(e, "family", r->famlabel[q]);
            cJSON_AddNumberToObject(e, "F", f->p[k].value);
            cJSON_AddNumberToObject(e, "C", f->p[k + 1].value);
            cJSON_AddNumberToObject(e, "L", f->p[k + 2].value);
            cJSON_AddItemToArray(fa, e);
            k += 3;
        }
    } else {
        cJSON *tab = cJSON_AddArrayToObject(j, "table");
        for (size_t g = 0; g < r->ng; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->glabel[g]);
            if (r->gspec[g])
                cJSON_AddStringToObject(e, "spec", r->gspec[g]);
            else
                cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
        for (size_t g = 0; f->mode == CM_FIT_QUARTET && g < r->ng2; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "label", r->g2label[g]);
            cJSON_AddNullToObject(e, "spec");
            cJSON_AddNumberToObject(e, "effN", 1);
            cJSON_AddNumberToObject(e, "effD", f->p[k++].value);
            cJSON_AddItemToArray(tab, e);
        }
    }
    return j;
}

/* Published fitting settings by name: the robust loss each paper used. */
cm_status fit_preset(const char *name, cm_fit_opts *o, cm_diag *d)
{
    if (!strcmp(name, "quest")) { /* SciPy least_squares(loss='huber', f_scale=1) on 1e-3 log r */
        o->huber = 1;
        o->rscale = 1e-3;
    } else if (!strcmp(name, "quartet") || !strcmp(name, "unified")) {
        o->huber = 1e-4; /* Quartet's notebook fit; the Unified paper's delta */
        o->rscale = 1;
    } else if (!strcmp(name, "chinchilla")) {
        o->huber = 1e-3; /* Hoffmann et al. 2022 */
        o->rscale = 1;
    } else {
        return cm_diag_set(d, CM_EINVAL,
                           "preset '%s' is not accepted (accepted: quest, quartet, unified, "
                           "chinchilla)",
                           name);
    }
    return CM_OK;
}

cm_status parse_huber(const char *v, cm_fit_opts *o, cm_diag *d)
{
    if (!v)
        return CM_OK;
    if (!strcmp(v, "none") || !strcmp(v, "inf")) {
        o->huber = INFINITY;
        return CM_OK;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x > 0) || !isfinite(x))
        return cm_diag_set(d, CM_EINVAL,
                           "huber '%s' is not accepted (accepted: a positive number, e.g. "
                           "1e-3, or none for least squares)",
                           v);
    o->huber = x;
    return CM_OK;
}


cJSON *fit_doc(const cm_fit_result *f, const cm_fit_opts *o, const runs *r, const char *path,
               const char *name)
{
    char src[512];
    snprintf(src, sizeof src, "capmetric %s fit --mode %s of %s (%zu runs)", cm_version(),
             cm_fit_mode_name(f->mode), path, r->n);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON_AddStringToObject(root, "file", path);
    cJSON_AddNumberToObject(root, "runs", (double)r->n);
    cJSON *fit = fit_json(f, o), *res = cJSON_AddArrayToObject(root, "results");
    cJSON_AddItemToArray(res, fit); /* one fit: every command's list under "results" */
    cJSON_AddItemToObject(root, "fit", cJSON_Duplicate(fit, 1)); /* (an alias, one version) */
    cJSON_AddItemToObject(root, "law", law_json(f, r, name, src));
    return root;
}
