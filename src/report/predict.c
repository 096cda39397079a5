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

static void warnings(pred *pr, const cm_law *law, const pred_ask *o);

/* what a law reads of result r (pipeline pipe) at the options' N, D */
static cm_law_input law_in(const cm_result *r, const pred_ask *o, const cm_pipeline *pipe)
{
    cm_law_input in = {r->spec, r->bits, r->gmse, o->params, o->tokens, o->tensors,
                       cm_pipeline_registry(pipe), r->input, pipe, r->misalignment};
    return in;
}

void judge(pred *pr, const cm_law *law, const cm_result *r, const pred_ask *o,
           const cm_pipeline *pipe, size_t i)
{
    memset(pr, 0, sizeof *pr);
    pr->spec = i;
    pr->law = law;
    pr->dloss = pr->dlo = pr->dhi = pr->diso = NAN;
    cm_law_input in = law_in(r, o, pipe);
    cm_diag d;
    cm_diag_clear(&d);
    pr->st = cm_law_predict(law, &in, &pr->out, &d);
    if (pr->st) {
        snprintf(pr->why, sizeof pr->why, "%s", d.msg);
        return;
    }
    pr->has_ci = !cm_law_interval(law, &in, o->ci > 0 ? o->ci : 0.9, &pr->lo, &pr->hi, &d);
    warnings(pr, law, o);
    double mem = o->memory != 0 ? o->memory : 16 * o->params;
    pr->n_iso = mem / r->bits;
    in.N = pr->n_iso;
    cm_law_predict(law, &in, &pr->iso, &d);
}

void judge_vs(pred *pr, const pred *ref, const cm_result *r, const cm_result *rr,
              const pred_ask *o, const cm_pipeline *pipe, const cm_pipeline *rpipe)
{
    if (pr->st || ref->st)
        return;
    pr->dloss = pr->out.loss - ref->out.loss;
    pr->diso = pr->iso.loss - ref->iso.loss;
    cm_law_input a = law_in(r, o, pipe), b = law_in(rr, o, rpipe);
    cm_diag d;
    cm_diag_clear(&d);
    if (cm_law_diff_interval(pr->law, &a, &b, o->ci > 0 ? o->ci : 0.9, &pr->dlo, &pr->dhi, &d))
        pr->dlo = pr->dhi = NAN;
}

char *vs_verdict(const pred *pv, size_t np, const cm_result *res, const pred_ask *o)
{
    char *t = NULL;
    size_t tl = 0;
    FILE *f = open_memstream(&t, &tl);
    if (!f)
        return NULL;
    const char *ref = res[o->vs].input;
    for (int iso = 0; iso < 2; iso++) {
        fprintf(f, "%s", iso ? "; at equal memory:" : "against " );
        if (!iso)
            fprintf(f, "%s at equal N:", ref);
        size_t said = 0;
        for (size_t k = 0; k < np; k++) { /* each format other than the reference */
            const pred *p = &pv[k];
            if ((long)p->spec == o->vs || (k && pv[k - 1].spec == p->spec))
                continue;
            char better[512] = "", worse[512] = "";
            for (size_t j = k; j < np && pv[j].spec == p->spec; j++) {
                double dl = iso ? pv[j].diso : pv[j].dloss;
                char *b = dl < 0 ? better : dl > 0 ? worse : NULL;
                if (b && strlen(b) + 64 < sizeof better)
                    snprintf(b + strlen(b), sizeof better - strlen(b), "%s%s", *b ? ", " : "",
                             cm_law_name(pv[j].law));
            }
            if (!*better && !*worse)
                continue;
            fprintf(f, "%s %s", said++ ? ";" : "", res[p->spec].input);
            if (*better)
                fprintf(f, " better under %s", better);
            if (*worse)
                fprintf(f, "%s worse under %s", *better ? "," : "", worse);
        }
        if (!said)
            fprintf(f, " no law judges both");
    }
    fprintf(f, ".");
    fclose(f);
    return t;
}

/* what a reader should know of this prediction: outside the runs, ignored
 * options, undetermined constants */
static void warnings(pred *pr, const cm_law *law, const pred_ask *o)
{
    char *w = pr->warn;
    size_t cap = sizeof pr->warn;
    w[0] = '\0';
#define ADD(...) snprintf(w + strlen(w), cap - strlen(w), __VA_ARGS__)
    double nl, nh, dl, dh;
    if (cm_law_range(law, &nl, &nh, &dl, &dh)) {
        ADD("the law does not record the range of its runs");
    } else {
        if (o->params > nh)
            ADD("%sN = %.3g is %.3gx the largest N of its runs (%.3g)", *w ? "; " : "",
                o->params, o->params / nh, nh);
        if (o->params < nl)
            ADD("%sN = %.3g is below its runs' smallest N (%.3g)", *w ? "; " : "", o->params, nl);
        if (o->tokens > dh)
            ADD("%sD = %.3g is %.3gx the most tokens of its runs (%.3g)", *w ? "; " : "",
                o->tokens, o->tokens / dh, dh);
        if (o->tokens < dl)
            ADD("%sD = %.3g is below its runs' fewest tokens (%.3g)", *w ? "; " : "", o->tokens,
                dl);
    }
    if (o->tensors && o->tensors != (CM_TENSOR_W | CM_TENSOR_A) && cm_law_has_map(law))
        ADD("%sthe law ignores --tensors (it maps GMSE alone)", *w ? "; " : "");
    if ((!o->tensors || (o->tensors & CM_TENSOR_A)) && !strcmp(cm_law_name(law), "ouyang-qid"))
        ADD("%sthe law models weight quantization only: activations are ignored",
            *w ? "; " : "");
    const char *u = cm_law_undetermined(law);
    if (u)
        ADD("%sconstants its runs do not determine: %s", *w ? "; " : "", u);
#undef ADD
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
    cJSON_AddItemToObject(e, "loss_lo", json_num(p->has_ci ? p->lo.loss : NAN));
    cJSON_AddItemToObject(e, "loss_hi", json_num(p->has_ci ? p->hi.loss : NAN));
    cJSON_AddItemToObject(e, "rho_lo", json_num(p->has_ci ? fmin(p->lo.rho, p->hi.rho) : NAN));
    cJSON_AddItemToObject(e, "rho_hi", json_num(p->has_ci ? fmax(p->lo.rho, p->hi.rho) : NAN));
    cJSON *w = cJSON_AddArrayToObject(e, "warnings");
    for (const char *s = p->warn; *s;) { /* "; "-separated */
        const char *end = strstr(s, "; ");
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char buf[640];
        snprintf(buf, sizeof buf, "%.*s", (int)n, s);
        cJSON_AddItemToArray(w, cJSON_CreateString(buf));
        s += n + (end ? 2 : 0);
    }
    if (!isnan(p->dloss)) {
        cJSON_AddItemToObject(e, "loss_diff", json_num(p->dloss));
        cJSON_AddItemToObject(e, "loss_diff_lo", json_num(p->dlo));
        cJSON_AddItemToObject(e, "loss_diff_hi", json_num(p->dhi));
        cJSON_AddItemToObject(e, "iso_loss_diff", json_num(p->diso));
    }
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
    /* "predictions": the old name of results, kept for one version */
    cJSON_AddItemToObject(root, "predictions", cJSON_Duplicate(arr, 1));
    cJSON_AddNumberToObject(root, "interval", o->ci > 0 ? o->ci : 0.9);
    if (o->vs >= 0) {
        cJSON_AddStringToObject(root, "vs", res[o->vs].spec);
        char *vt = vs_verdict(pv, np, res, o);
        cJSON_AddStringToObject(root, "vs_verdict", vt ? vt : "");
        free(vt);
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
    if (a->vs >= 0) /* every format against the reference, law by law */
        for (size_t k = 0; k < *np; k++) {
            const pred *ref = &pv[(size_t)a->vs * *nl + k % *nl];
            judge_vs(&pv[k], ref, &res[pv[k].spec], &res[a->vs], a, p[pv[k].spec], p[a->vs]);
        }
    return CM_OK;
}
