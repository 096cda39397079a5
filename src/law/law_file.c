/* Laws from files written by `capmetric fit --save` (capmetric/law.h:
 * cm_law_load, cm_law_free). */
#include <capmetric/law.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <capmetric/io.h>

#include "law_int.h"
#include "util_int.h"

/* ---- laws from files ------------------------------------------------------------------- */

void cm_law_free(cm_law *l)
{
    if (!l || !l->heap)
        return;
    for (size_t i = 0; i < l->nrows; i++) {
        free((void *)l->rows[i].label);
        free((void *)l->rows[i].spec);
    }
    free((void *)l->rows);
    free((void *)l->boot);
    free((void *)l->undet);
    free((void *)l->name);
    free((void *)l->source);
    free(l);
}

static int get_num(const cJSON *o, const char *k, double *x)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return -1;
    *x = v->valuedouble;
    return 0;
}

/* the "table" of a decoupled or quartet law file; *bad names a bad field */
static cm_status read_table(const cJSON *root, cm_law *l, const char **bad, cm_diag *d)
{
    const cJSON *tab = cJSON_GetObjectItemCaseSensitive(root, "table");
    int n = cJSON_GetArraySize(tab);
    if (!cJSON_IsArray(tab) || n < 1) {
        *bad = "table (a non-empty array)";
        return CM_OK;
    }
    law_row *rows = calloc((size_t)n, sizeof *rows);
    if (!rows)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    l->rows = rows;
    const cJSON *e;
    cJSON_ArrayForEach(e, tab)
    {
        law_row *r = &rows[l->nrows++];
        const cJSON *lb = cJSON_GetObjectItemCaseSensitive(e, "label");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "spec");
        for (int c = 0; c < NCOL; c++)
            r->eff[c] = NAN;
        double en, ed = NAN;
        if (!cJSON_IsString(lb) || get_num(e, "effN", &en) || !(en > 0) ||
            (cJSON_GetObjectItemCaseSensitive(e, "effD") &&
             (get_num(e, "effD", &ed) || !(ed > 0)))) {
            *bad = "table[] (label, effN > 0, optional effD > 0)";
            return CM_OK;
        }
        r->label = cm_strdup(lb->valuestring);
        r->spec = cJSON_IsString(sp) ? cm_strdup(sp->valuestring) : NULL;
        r->eff[C_WA] = en;
        r->eff[C_WAG_D] = ed;
    }
    return CM_OK;
}

/* optional: "range": {"N": [lo, hi], "D": [lo, hi]}, "undetermined": "...",
 * "bootstrap": [[params...], ...] (a unified law's replicates) */
static void read_extras(const cJSON *root, cm_law *l, const char **bad)
{
    const cJSON *rg = cJSON_GetObjectItemCaseSensitive(root, "range");
    if (rg) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(rg, "N");
        const cJSON *dd = cJSON_GetObjectItemCaseSensitive(rg, "D");
        if (cJSON_GetArraySize(n) != 2 || cJSON_GetArraySize(dd) != 2) {
            *bad = "range (N and D: [low, high])";
            return;
        }
        l->nlo = cJSON_GetNumberValue(cJSON_GetArrayItem(n, 0));
        l->nhi = cJSON_GetNumberValue(cJSON_GetArrayItem(n, 1));
        l->dlo = cJSON_GetNumberValue(cJSON_GetArrayItem(dd, 0));
        l->dhi = cJSON_GetNumberValue(cJSON_GetArrayItem(dd, 1));
        if (!(l->nlo > 0 && l->nhi >= l->nlo && l->dlo > 0 && l->dhi >= l->dlo)) {
            *bad = "range (positive, low <= high)";
            return;
        }
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "undetermined");
    if (cJSON_IsString(u) && u->valuestring[0])
        l->undet = cm_strdup(u->valuestring);
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "bootstrap");
    int nb = cJSON_GetArraySize(bs);
    if (!bs || l->kind != K_UNIFIED)
        return;
    int kb = cJSON_GetArraySize(cJSON_GetArrayItem(bs, 0));
    double *b = nb > 0 && kb == 8 ? calloc((size_t)nb * 8, sizeof *b) : NULL;
    if (!b) {
        *bad = "bootstrap (arrays of 8 numbers: A, alpha, B, beta, E, F, C, L)";
        return;
    }
    const cJSON *e;
    size_t r = 0;
    cJSON_ArrayForEach(e, bs)
    {
        for (int k = 0; k < 8; k++) {
            const cJSON *x = cJSON_GetArrayItem(e, k);
            if (cJSON_GetArraySize(e) != 8 || !cJSON_IsNumber(x) || !isfinite(x->valuedouble)) {
                free(b);
                *bad = "bootstrap (arrays of 8 numbers: A, alpha, B, beta, E, F, C, L)";
                return;
            }
            b[r * 8 + (size_t)k] = x->valuedouble;
        }
        r++;
    }
    l->boot = b, l->nboot = r, l->kb = 8;
}

cm_status cm_law_load(const char *path, cm_law **out, cm_diag *d)
{
    *out = NULL;
    char *text = cm_file_read(path, NULL);
    if (!text)
        return cm_diag_set(d, CM_EIO, "cannot read law file '%s': %s", path, strerror(errno));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    long jline = 1, jcol = 1;
    for (const char *c = text; !root && end && c < end; c++)
        *c == '\n' ? (jline++, jcol = 1) : jcol++;
    free(text);
    if (!root)
        return cm_diag_set(d, CM_EPARSE, "law file '%s' is not valid JSON (line %ld, column %ld)",
                           path, jline, jcol);
    cm_law *l = calloc(1, sizeof *l);
    cm_status st = CM_OK;
    const char *bad = NULL;
    if (!l) {
        st = cm_diag_set(d, CM_ENOMEM, "out of memory");
        goto done;
    }
    l->heap = 1;
    l->gamma = 1;
    l->F = l->C = l->L = l->A = l->alpha = l->B = l->beta = l->E = NAN;
    if (!cJSON_IsObject(root)) {
        st = cm_diag_set(d, CM_EPARSE, "law file '%s' is not a JSON object", path);
        goto done;
    }
    double ver;
    if (get_num(root, "capmetric_law", &ver) || ver != 1) {
        bad = "capmetric_law (must be 1)";
        goto done;
    }
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "source");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(nm)) {
        bad = "name (a string)";
        goto done;
    }
    l->name = cm_strdup(nm->valuestring);
    l->source = cm_strdup(cJSON_IsString(src) ? src->valuestring : path);
    if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "decoupled") &&
                                  strcmp(kind->valuestring, "unified") &&
                                  strcmp(kind->valuestring, "map") &&
                                  strcmp(kind->valuestring, "quartet"))) {
        bad = "kind (decoupled, unified, map or quartet)";
        goto done;
    }
    const char *k = kind->valuestring;
    l->kind = !strcmp(k, "map") ? K_MAP : !strcmp(k, "unified") ? K_UNIFIED : K_TABLE;
    l->form = l->kind == K_TABLE ? "L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E"
                                 : "rho = L tanh(F log4(1/GMSE))^C; " BASE_FORM;
    l->inputs = l->kind == K_TABLE ? "a spec of the fitted table" : "GMSE (any format)";
    if (l->kind != K_MAP) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "constants");
        if (get_num(c, "A", &l->A) || get_num(c, "alpha", &l->alpha) || get_num(c, "B", &l->B) ||
            get_num(c, "beta", &l->beta) || get_num(c, "E", &l->E)) {
            bad = "constants (numbers A, alpha, B, beta, E)";
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(c, "gamma") && get_num(c, "gamma", &l->gamma)) {
            bad = "constants.gamma (a number)";
            goto done;
        }
        if (!(l->A > 0) || !(l->B > 0) || !(l->E >= 0) || !(l->gamma > 0)) {
            bad = "constants (A, B, gamma > 0 and E >= 0)";
            goto done;
        }
    }
    if (l->kind != K_TABLE) {
        const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "families"), 0);
        if (get_num(f, "F", &l->F) || get_num(f, "C", &l->C) || get_num(f, "L", &l->L) ||
            !(l->F > 0) || !(l->C > 0) || !(l->L > 0)) {
            bad = "families[0] (positive numbers F, C, L)";
            goto done;
        }
    } else {
        st = read_table(root, l, &bad, d);
    }
    if (!bad && !st)
        read_extras(root, l, &bad);
done:
    cJSON_Delete(root);
    if (bad)
        st = cm_diag_set(d, CM_EPARSE, "law file '%s': missing or bad '%s'", path, bad);
    if (st) {
        cm_law_free(l);
        return st;
    }
    *out = l;
    return CM_OK;
}
