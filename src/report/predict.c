/* Predictions of every law for evaluated formats: rho, N_eff, loss, gap,
 * iso-memory; shared by predict, rank --by loss and the JSON interface
 * (report layer, also compiled into the program). */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predict_int.h"

void judge(pred *pr, const cm_law *law, const cm_result *r, const pred_ask *o,
           const cm_pipeline *pipe, size_t i)
{
    memset(pr, 0, sizeof *pr);
    pr->spec = i;
    pr->law = law;
    cm_law_input in = {r->spec, r->bits, r->gmse, o->params, o->tokens, o->tensors,
                       cm_pipeline_registry(pipe), r->input, pipe};
    cm_diag d;
    cm_diag_clear(&d);
    pr->st = cm_law_predict(law, &in, &pr->out, &d);
    if (pr->st) {
        snprintf(pr->why, sizeof pr->why, "%s", d.msg);
        return;
    }
    double mem = o->memory != 0 ? o->memory : 16 * o->params;
    pr->n_iso = mem / r->bits;
    in.N = pr->n_iso;
    cm_law_predict(law, &in, &pr->iso, &d);
}

cJSON *pred_json(const pred *p, const cm_result *r)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "spec", r->spec);
    cJSON_AddStringToObject(e, "input", r->input);
    cJSON_AddStringToObject(e, "law", cm_law_name(p->law));
    cJSON_AddNumberToObject(e, "bits", r->bits);
    cJSON_AddItemToObject(e, "gmse", json_num(r->gmse));
    if (p->st) {
        cJSON_AddStringToObject(e, "refused", p->why);
        return e;
    }
    cJSON_AddNullToObject(e, "refused");
    cJSON_AddItemToObject(e, "rho", json_num(p->out.rho));
    cJSON_AddItemToObject(e, "rho_d", json_num(p->out.rho_d));
    cJSON_AddItemToObject(e, "loss", json_num(p->out.loss));
    cJSON_AddItemToObject(e, "loss_base", json_num(p->out.loss_base));
    cJSON_AddItemToObject(e, "gap", json_num(p->out.gap));
    cJSON_AddItemToObject(e, "iso_params", json_num(p->n_iso));
    cJSON_AddItemToObject(e, "iso_n_eff", json_num(p->n_iso * p->iso.rho));
    cJSON_AddItemToObject(e, "iso_loss", json_num(p->iso.loss));
    return e;
}

/* Laws to use: the one asked for, or every built-in. */
size_t pick_laws(const cm_law *law, const cm_law **ls)
{
    if (law) {
        ls[0] = law;
        return 1;
    }
    for (size_t i = 0; i < cm_law_count(); i++)
        ls[i] = cm_law_get(i);
    return cm_law_count();
}

/* The format with the lowest iso-memory loss under `law`; for a law without
 * an absolute loss, the most effective parameters N_iso rho (*by_loss = 0). */
const pred *iso_best(const pred *pv, size_t np, const cm_law *law, int *by_loss)
{
    const pred *b = NULL;
    double bk = INFINITY;
    for (size_t k = 0; k < np; k++) {
        const pred *p = &pv[k];
        if (p->law != law || p->st)
            continue;
        *by_loss = !isnan(p->iso.loss);
        double key = *by_loss ? p->iso.loss : -p->n_iso * p->iso.rho;
        if (key < bk) {
            b = p;
            bk = key;
        }
    }
    return b;
}

cJSON *predict_doc(const pred_ask *o, const pred *pv, size_t np, const cm_result *res,
                   const cm_law *const *ls, size_t nl)
{
    double mem = o->memory != 0 ? o->memory : 16 * o->params;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON_AddNumberToObject(root, "params", o->params);
    cJSON_AddNumberToObject(root, "tokens", o->tokens);
    cJSON_AddNumberToObject(root, "memory_bits", mem);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (size_t k = 0; k < np; k++) {
        cJSON *e = pred_json(&pv[k], &res[pv[k].spec]);
        if (!pv[k].st)
            cJSON_AddItemToObject(e, "n_eff", json_num(pv[k].out.rho * o->params));
        cJSON_AddItemToArray(arr, e);
    }
    cJSON *best = cJSON_AddObjectToObject(root, "iso_memory_best");
    for (size_t l = 0; l < nl; l++) {
        int by_loss;
        const pred *b = iso_best(pv, np, ls[l], &by_loss);
        if (b)
            cJSON_AddStringToObject(best, cm_law_name(ls[l]), res[b->spec].spec);
    }
    return root;
}

cm_status predict_all(const pred_ask *a, const cm_law *asked, cm_pipeline *const *p,
                      const cm_result *res, size_t n, const cm_law **ls, size_t *nl, pred **out,
                      size_t *np, cm_diag *d)
{
    *nl = pick_laws(asked, ls);
    *np = 0;
    pred *pv = *out = calloc(n * *nl + 1, sizeof *pv);
    if (!pv)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l < *nl; l++) {
            judge(&pv[*np], ls[l], &res[i], a, p[i], i);
            if (pv[*np].st && asked) /* the law asked for cannot judge it */
                return cm_diag_set(d, pv[*np].st, "%s", pv[*np].why);
            (*np)++;
        }
    return CM_OK;
}
