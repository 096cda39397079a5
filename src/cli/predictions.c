/* Predictions of every law for evaluated formats: rho, N_eff, loss, gap,
 * iso-memory; shared by predict and rank --by loss. */
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
#include "predictions.h"

void judge(pred *pr, const cm_law *law, const cm_result *r, const opts *o,
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
    double mem = o->memory ? o->memory : 16 * o->params;
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
    cJSON_AddItemToObject(e, "gmse", jnum(r->gmse));
    if (p->st) {
        cJSON_AddStringToObject(e, "refused", p->why);
        return e;
    }
    cJSON_AddNullToObject(e, "refused");
    cJSON_AddItemToObject(e, "rho", jnum(p->out.rho));
    cJSON_AddItemToObject(e, "rho_d", jnum(p->out.rho_d));
    cJSON_AddItemToObject(e, "loss", jnum(p->out.loss));
    cJSON_AddItemToObject(e, "loss_base", jnum(p->out.loss_base));
    cJSON_AddItemToObject(e, "gap", jnum(p->out.gap));
    cJSON_AddItemToObject(e, "iso_params", jnum(p->n_iso));
    cJSON_AddItemToObject(e, "iso_n_eff", jnum(p->n_iso * p->iso.rho));
    cJSON_AddItemToObject(e, "iso_loss", jnum(p->iso.loss));
    return e;
}

/* Laws to use: the one asked for, or every built-in. */
size_t pick_laws(const opts *o, const cm_law **ls)
{
    if (o->ev.law) {
        ls[0] = o->ev.law;
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

int print_preds(const opts *o, pred *pv, size_t np, const cm_result *res, size_t n,
                       const cm_law *const *ls, size_t nl)
{
    double mem = o->memory ? o->memory : 16 * o->params;
    if (o->json) {
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
                cJSON_AddItemToObject(e, "n_eff", jnum(pv[k].out.rho * o->params));
            cJSON_AddItemToArray(arr, e);
        }
        cJSON *best = cJSON_AddObjectToObject(root, "iso_memory_best");
        for (size_t l = 0; l < nl; l++) {
            int by_loss;
            const pred *b = iso_best(pv, np, ls[l], &by_loss);
            if (b)
                cJSON_AddStringToObject(best, cm_law_name(ls[l]), res[b->spec].spec);
        }
        char *t = cJSON_Print(root);
        if (t)
            printf("%s\n", t);
        free(t);
        cJSON_Delete(root);
        return 0;
    }
    const char *head[] = {"spec", "law", "bits", "rho", "N_eff", "loss", "gap", "N_iso",
                          "N_iso*rho", "iso loss"};
    const int right[] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    cli_table t;
    if (cli_table_init(&t, 10, head, right))
        return EXIT_RUNTIME;
    size_t nref = 0;
    for (size_t k = 0; k < np; k++) {
        const pred *p = &pv[k];
        const cm_result *r = &res[p->spec];
        char b[10][48];
        snprintf(b[0], sizeof b[0], "%.47s", r->input);
        snprintf(b[1], sizeof b[1], "%s", cm_law_name(p->law));
        fmt_g(b[2], sizeof b[2], r->bits, 4);
        if (p->st) {
            nref++;
            const char *cells[] = {b[0], b[1], b[2], "refused (see below)", "", "", "", "", "", ""};
            cli_table_row(&t, cells);
            continue;
        }
        fmt_g(b[3], sizeof b[3], p->out.rho, 4);
        fmt_g(b[4], sizeof b[4], p->out.rho * o->params, 4);
        fmt_g(b[5], sizeof b[5], p->out.loss, 5);
        fmt_g(b[6], sizeof b[6], p->out.gap, 3);
        fmt_g(b[7], sizeof b[7], p->n_iso, 4);
        fmt_g(b[8], sizeof b[8], p->n_iso * p->iso.rho, 4);
        fmt_g(b[9], sizeof b[9], p->iso.loss, 5);
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]};
        cli_table_row(&t, cells);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    char nb[32], db[32], mb[32];
    fmt_g(nb, sizeof nb, o->params, 4);
    fmt_g(db, sizeof db, o->tokens, 4);
    fmt_g(mb, sizeof mb, mem, 4);
    printf("\nN = %s parameters, D = %s tokens; rho = N_eff/N; gap = loss - uncompressed loss.\n"
           "Iso-memory: N_iso = %s bits / bits per value (16 N: the BF16 model's memory).\n",
           nb, db, mb);
    for (size_t l = 0; l < nl && n > 1; l++) {
        int by_loss;
        const pred *b = iso_best(pv, np, ls[l], &by_loss);
        if (b)
            printf("  %s: at equal memory the best is %s (%s)\n", cm_law_name(ls[l]),
                   res[b->spec].input, by_loss ? "lowest loss" : "most effective parameters");
    }
    if (nref) {
        printf("\nrefused:\n");
        for (size_t k = 0; k < np; k++)
            if (pv[k].st)
                printf("  %s\n", pv[k].why);
    }
    return 0;
}
