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
#include "predict_int.h"

int print_preds(const pred_ask *o, int json, pred *pv, size_t np, const cm_result *res, size_t n,
                       const cm_law *const *ls, size_t nl)
{
    double mem = o->memory != 0 ? o->memory : 16 * o->params;
    if (json) {
        cJSON *root = predict_doc(o, pv, np, res, ls, nl);
        char *t = cJSON_Print(root);
        if (t)
            printf("%s\n", t);
        free(t);
        cJSON_Delete(root);
        return 0;
    }
    char cih[32], vsh[80];
    snprintf(cih, sizeof cih, "loss %g%% interval", 100 * (o->ci > 0 ? o->ci : 0.9));
    snprintf(vsh, sizeof vsh, "loss - %.40s", o->vs >= 0 ? res[o->vs].input : "");
    const char *head[] = {"spec", "law", "bits", "rho", "N_eff", "loss", cih, "gap", "N_iso",
                          "N_iso*rho", "iso loss", vsh, "iso diff"};
    const int right[] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t ncol = o->vs >= 0 ? 13 : 11;
    cli_table t;
    if (cli_table_init(&t, ncol, head, right))
        return EXIT_RUNTIME;
    size_t nwarn = 0;
    size_t nref = 0;
    for (size_t k = 0; k < np; k++) {
        const pred *p = &pv[k];
        const cm_result *r = &res[p->spec];
        char b[13][64];
        snprintf(b[0], sizeof b[0], "%.47s", r->input);
        snprintf(b[1], sizeof b[1], "%s", cm_law_name(p->law));
        fmt_g(b[2], sizeof b[2], r->bits, 4);
        if (p->st) {
            nref++;
            const char *cells[] = {b[0], b[1], b[2], "refused (see below)", "", "", "", "", "", "",
                                   "", "", ""};
            cli_table_row(&t, cells);
            continue;
        }
        fmt_g(b[3], sizeof b[3], p->out.rho, 4);
        fmt_g(b[4], sizeof b[4], p->out.rho * o->params, 4);
        fmt_g(b[5], sizeof b[5], p->out.loss, 5);
        if (p->has_ci)
            snprintf(b[6], sizeof b[6], "%.4f..%.4f", p->lo.loss, p->hi.loss);
        else
            snprintf(b[6], sizeof b[6], "-");
        fmt_g(b[7], sizeof b[7], p->out.gap, 3);
        fmt_g(b[8], sizeof b[8], p->n_iso, 4);
        fmt_g(b[9], sizeof b[9], p->n_iso * p->iso.rho, 4);
        fmt_g(b[10], sizeof b[10], p->iso.loss, 5);
        if (isnan(p->dloss))
            snprintf(b[11], sizeof b[11], "-");
        else if (isnan(p->dlo))
            snprintf(b[11], sizeof b[11], "%+.4f", p->dloss);
        else
            snprintf(b[11], sizeof b[11], "%+.4f (%+.4f..%+.4f)", p->dloss, p->dlo, p->dhi);
        if (isnan(p->diso))
            snprintf(b[12], sizeof b[12], "-");
        else
            snprintf(b[12], sizeof b[12], "%+.4f", p->diso);
        nwarn += p->warn[0] != 0;
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
                               b[11], b[12]};
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
    if (o->vs >= 0) {
        char *vt = vs_verdict(pv, np, res, o);
        if (vt)
            printf("\n%s\n", vt);
        free(vt);
    }
    if (nwarn) {
        printf("\nwarnings:\n");
        for (size_t k = 0; k < np; k++)
            if (!pv[k].st && pv[k].warn[0])
                printf("  %s / %s: %s\n", res[pv[k].spec].input, cm_law_name(pv[k].law),
                       pv[k].warn);
    }
    if (nref) {
        printf("\nrefused:\n");
        for (size_t k = 0; k < np; k++)
            if (pv[k].st)
                printf("  %s\n", pv[k].why);
    }
    return 0;
}
