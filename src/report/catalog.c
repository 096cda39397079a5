/* The catalogues as JSON (report.h): the registered families with their
 * keys and aliases (`capmetric formats --json`), the capacity laws
 * (`capmetric laws --json`). One writer for the program and the bindings. */
#include <capmetric/capmetric.h>

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "util_int.h"

const char *cm_param_type_name(cm_param_type t)
{
    switch (t) {
    case CM_PARAM_INT: return "int";
    case CM_PARAM_REAL: return "real";
    case CM_PARAM_ENUM: return "enum";
    case CM_PARAM_STRING: return "string";
    case CM_PARAM_LIST: return "list";
    }
    return "?";
}

static cJSON *param_json(const cm_param *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", p->key);
    cJSON_AddStringToObject(o, "type", cm_param_type_name(p->type));
    if (p->def)
        cJSON_AddStringToObject(o, "default", p->def);
    else
        cJSON_AddNullToObject(o, "default");
    cJSON_AddStringToObject(o, "doc", p->doc);
    if (p->choices)
        cJSON_AddStringToObject(o, "choices", p->choices);
    if (p->type == CM_PARAM_INT || p->type == CM_PARAM_REAL || p->type == CM_PARAM_LIST) {
        cJSON_AddNumberToObject(o, "min", p->min);
        cJSON_AddNumberToObject(o, "max", p->max);
    }
    return o;
}

/* cJSON's text as a malloc'ed copy (callers free() it whatever cJSON's hooks) */
static cm_status take(cJSON *root, char **out, cm_diag *d)
{
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    *out = s ? cm_strdup(s) : NULL;
    cJSON_free(s);
    return *out ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory while writing JSON");
}

cm_status cm_report_formats_json(const cm_registry *reg, char **out, cm_diag *d)
{
    size_t ng;
    const cm_param *g = cm_registry_generic_params(&ng);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    /* every command's list under "results"; "families" kept (an alias for one version) */
    cJSON *fams = cJSON_AddArrayToObject(root, "results");
    for (size_t i = 0; fams && i < cm_registry_count(reg); i++) {
        const char *origin;
        const cm_format *f = cm_registry_get(reg, i, &origin);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(fams, e);
        cJSON_AddStringToObject(e, "name", f->name);
        cJSON_AddStringToObject(e, "summary", f->summary);
        cJSON_AddStringToObject(e, "origin", origin);
        cJSON_AddBoolToObject(e, "scalar", (f->flags & CM_FORMAT_SCALAR) != 0);
        cJSON_AddBoolToObject(e, "exact", f->levels != NULL || f->exact_mse != NULL);
        cJSON_AddBoolToObject(e, "codec", f->encode != NULL && f->decode != NULL);
        cJSON *ps = cJSON_AddArrayToObject(e, "params");
        for (size_t k = 0; k < f->n_params; k++)
            cJSON_AddItemToArray(ps, param_json(&f->params[k]));
        if (f->flags & CM_FORMAT_SCALAR)
            for (size_t k = 0; k < ng; k++)
                cJSON_AddItemToArray(ps, param_json(&g[k]));
    }
    cJSON_AddItemToObject(root, "families", cJSON_Duplicate(fams, 1));
    cJSON *al = cJSON_AddArrayToObject(root, "aliases");
    for (size_t i = 0; al && i < cm_registry_alias_count(reg); i++) {
        const cm_format *owner;
        const cm_alias *a = cm_registry_alias_get(reg, i, &owner);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(al, e);
        cJSON_AddStringToObject(e, "name", a->name);
        cJSON_AddStringToObject(e, "spec", a->spec);
        cJSON_AddStringToObject(e, "family", owner->name);
    }
    return take(root, out, d);
}

cm_status cm_report_laws_json(char **out, cm_diag *d)
{
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    for (size_t i = 0; arr && i < cm_law_count(); i++) {
        const cm_law *l = cm_law_get(i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", cm_law_name(l));
        cJSON_AddStringToObject(e, "form", cm_law_form(l));
        cJSON_AddStringToObject(e, "inputs", cm_law_inputs(l));
        cJSON_AddStringToObject(e, "source", cm_law_source(l));
        cJSON_AddBoolToObject(e, "gmse_map", cm_law_has_map(l));
        double nl, nh, dl, dh; /* the runs it was fitted on (null: not recorded) */
        if (cm_law_range(l, &nl, &nh, &dl, &dh)) {
            cJSON_AddNullToObject(e, "range");
        } else {
            cJSON *rg = cJSON_AddObjectToObject(e, "range");
            double na[2] = {nl, nh}, da[2] = {dl, dh};
            cJSON_AddItemToObject(rg, "N", cJSON_CreateDoubleArray(na, 2));
            cJSON_AddItemToObject(rg, "D", cJSON_CreateDoubleArray(da, 2));
        }
        cJSON_AddItemToArray(arr, e);
    }
    return take(root, out, d);
}
