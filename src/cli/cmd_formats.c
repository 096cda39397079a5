/* capmetric formats: the families, their keys and defaults, aliases. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

/* ---- formats ---------------------------------------------------------------- */

static const char *type_name(cm_param_type t)
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
    cJSON_AddStringToObject(o, "type", type_name(p->type));
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

int cmd_formats(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 0);
    cm_registry *reg = NULL;
    if (rc || (rc = load_registry(&o, &reg))) {
        opts_fini(&o);
        return rc;
    }
    size_t ng;
    const cm_param *g = cm_registry_generic_params(&ng);
    if (o.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *fams = cJSON_AddArrayToObject(root, "families");
        for (size_t i = 0; i < cm_registry_count(reg); i++) {
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
        cJSON *al = cJSON_AddArrayToObject(root, "aliases");
        for (size_t i = 0; i < cm_registry_alias_count(reg); i++) {
            const cm_format *owner;
            const cm_alias *a = cm_registry_alias_get(reg, i, &owner);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(al, e);
            cJSON_AddStringToObject(e, "name", a->name);
            cJSON_AddStringToObject(e, "spec", a->spec);
            cJSON_AddStringToObject(e, "family", owner->name);
        }
        char *s = cJSON_Print(root);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(root);
        rc = s ? 0 : EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < cm_registry_count(reg); i++) {
            const char *origin;
            const cm_format *f = cm_registry_get(reg, i, &origin);
            if (strcmp(origin, "built-in"))
                printf("%s — %s  [from %s]\n", f->name, f->summary, origin);
            else
                printf("%s — %s\n", f->name, f->summary);
            size_t tot = f->n_params + ((f->flags & CM_FORMAT_SCALAR) ? ng : 0);
            for (size_t k = 0; k < tot; k++) {
                const cm_param *p = k < f->n_params ? &f->params[k] : &g[k - f->n_params];
                char range[96] = "";
                if (p->type == CM_PARAM_INT || p->type == CM_PARAM_LIST)
                    snprintf(range, sizeof range, " %.0f..%.0f%s", p->min, p->max,
                             p->type == CM_PARAM_LIST ? " items" : "");
                else if (p->type == CM_PARAM_ENUM)
                    snprintf(range, sizeof range, " %s", p->choices);
                else if (p->type == CM_PARAM_REAL)
                    snprintf(range, sizeof range, " %s%s%g..%g", p->choices ? p->choices : "",
                             p->choices ? "|" : "", p->min, p->max);
                printf("    %-11s %-6s%-28s default %-8s %s\n", p->key, type_name(p->type), range,
                       p->def ? p->def : "-", p->doc);
            }
            int any = 0;
            for (size_t a = 0; a < cm_registry_alias_count(reg); a++) {
                const cm_format *owner;
                const cm_alias *al = cm_registry_alias_get(reg, a, &owner);
                if (owner != f)
                    continue;
                printf("%s%s = %s", any ? ", " : "    aliases: ", al->name, al->spec);
                any = 1;
            }
            printf("%s\n", any ? "\n" : "");
        }
    }
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}
