/* capmetric rank: eval sorted by a key (or by predicted loss), with the
 * Pareto frontier and paired differences. */
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
#include "predict_int.h"

/* ---- rank ------------------------------------------------------------------------ */

typedef struct ranked {
    size_t i;       /* index into the results */
    double key;
} ranked;

static int by_key_desc(const void *a, const void *b)
{
    double x = ((const ranked *)a)->key, y = ((const ranked *)b)->key;
    return (x < y) - (x > y);
}

static int rank_by_loss(const opts *o, const cm_law *law, cm_pipeline *const *p, const cm_result *res,
                 size_t n);

/* A ranking: results in rank order rk, the Pareto flags, and each row's
 * GMSE difference to the next with its standard error. */
typedef struct rankview {
    const cm_result *res;
    const ranked *rk;
    size_t n;
    const int *pareto;
    const double *dn, *dse;
    const char *by;
} rankview;

static void rank_json(const opts *o, const rankview *v)
{
    const size_t n = v->n;
    cm_diag d;
    cm_diag_clear(&d);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON_AddNumberToObject(root, "seed", (double)o->ev.seed);
    cJSON_AddNumberToObject(root, "samples", (double)o->ev.samples);
    cJSON_AddStringToObject(root, "law", cm_law_name(cm_eval_law(&o->ev)));
    cJSON_AddStringToObject(root, "by", v->by);
    char *base = NULL;
    cm_result *sorted = calloc(n, sizeof *sorted);
    for (size_t r = 0; sorted && r < n; r++)
        sorted[r] = v->res[v->rk[r].i];
    if (sorted && cm_report_json(sorted, n, &o->ev, &base, &d) == CM_OK) {
        cJSON *b = cJSON_Parse(base);
        cJSON *arr = b ? cJSON_DetachItemFromObject(b, "results") : NULL;
        static const char *const same[] = {"stream_version", "method", "dist", "sigma"};
        for (size_t k = 0; b && k < sizeof same / sizeof *same; k++) /* eval's document's */
            cJSON_AddItemToObject(root, same[k], cJSON_DetachItemFromObject(b, same[k]));
        cJSON *e;
        size_t r = 0;
        cJSON_ArrayForEach(e, arr)
        {
            cJSON_AddNumberToObject(e, "rank", (double)(r + 1));
            cJSON_AddBoolToObject(e, "pareto", v->pareto[v->rk[r].i]);
            if (r + 1 < n) {
                cJSON_AddNumberToObject(e, "diff_next", v->dn[r]);
                cJSON_AddNumberToObject(e, "diff_next_se", v->dse[r]);
            } else {
                cJSON_AddNullToObject(e, "diff_next");
                cJSON_AddNullToObject(e, "diff_next_se");
            }
            r++;
        }
        if (arr)
            cJSON_AddItemToObject(root, "results", arr);
        cJSON_Delete(b);
    }
    free(base);
    free(sorted);
    char *txt = cJSON_Print(root);
    if (txt)
        printf("%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(root);
}

static void rank_table(const opts *o, const rankview *v)
{
    const size_t n = v->n;
    static const char *const head[] = {"#", "spec", "bits", "method", "gmse", "se", "rho",
                                       "rho/bit", "pareto", "gmse - next", "se", "z"};
    static const int right[] = {1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1};
    cli_table t;
    cli_table_init(&t, 12, head, right);
    for (size_t r = 0; r < n; r++) {
        const cm_result *x = &v->res[v->rk[r].i];
        char c[10][40];
        snprintf(c[0], 40, "%zu", r + 1);
        fmt_g(c[1], 40, x->bits, 5);
        fmt_g(c[2], 40, x->gmse, x->method == CM_METHOD_EXACT ? 10 : 6);
        fmt_g(c[3], 40, x->gmse_se, 2);
        snprintf(c[4], 40, "%.4f", x->rho);
        snprintf(c[5], 40, "%.4f", x->rho_per_bit);
        c[6][0] = c[7][0] = c[8][0] = '\0';
        if (r + 1 < n) {
            snprintf(c[6], 40, "%.3g", v->dn[r]);
            snprintf(c[7], 40, "%.2g", v->dse[r]);
            if (v->dse[r] > 0)
                snprintf(c[8], 40, "%.1f", v->dn[r] / v->dse[r]);
            else
                snprintf(c[8], 40, "exact");
        }
        const char *row[] = {c[0], x->input, c[1], cm_method_name(x->method), c[2],
                             x->method == CM_METHOD_EXACT ? "0" : c[3], c[4], c[5],
                             v->pareto[v->rk[r].i] ? "*" : "", c[6], c[7], c[8]};
        cli_table_row(&t, row);
    }
    cli_table_print(&t);
    cli_table_fini(&t);
    int comp = 0;
    for (size_t r = 0; r < n; r++)
        comp |= !isnan(v->res[r].rho_product);
    if (comp) {
        printf("\ncompositions: rho(A+B) beside rho(A) * rho(B) (each stage alone):\n");
        for (size_t r = 0; r < n; r++)
            if (!isnan(v->res[v->rk[r].i].rho_product))
                printf("  %-40s rho %.4f   product %.4f\n", v->res[v->rk[r].i].input,
                       v->res[v->rk[r].i].rho, v->res[v->rk[r].i].rho_product);
    }
    if (!o->quiet)
        printf("\nsorted by %s; pareto = no other format has both fewer bits and lower GMSE;"
               "\ngmse - next: difference to the next row with its standard error (paired on "
               "common samples when both are Monte Carlo) and z = difference / se%s\n",
               v->by, data_note(&o->ev.dist));
}

int cmd_rank(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    cm_result *res = NULL;
    size_t *mci = NULL;
    ranked *rk = NULL;
    cm_mc_run *run = NULL;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    if (o.nspecs < 1) {
        rc = usage_error("%s", "rank needs at least one SPEC");
        goto out;
    }
    if ((rc = parse_specs(reg, o.specs, o.nspecs, &p)))
        goto out;
    size_t n = o.nspecs;
    const cm_law *loss_law = NULL;
    if (o.by && !strcmp(o.by, "loss")) {
        cm_diag ld;
        cm_diag_clear(&ld);
        if (o.params == 0 || o.tokens == 0) {
            rc = usage_error("%s", "rank --by loss needs --params N and --tokens D");
            goto out;
        }
        loss_law = o.ev.law;
        if (!loss_law && cm_law_find("unified-quest", &loss_law, &ld)) {
            rc = report(CM_ENOTFOUND, &ld, "rank", NULL);
            goto out;
        }
        if (!cm_law_has_map(o.ev.law ? o.ev.law : loss_law))
            o.ev.law = NULL; /* the GMSE pass scores rho with the default map */
    } else if (o.params != 0 || o.tokens != 0 || o.memory != 0 || o.tensors) {
        rc = usage_error("%s", "--params, --tokens, --memory and --tensors go with 'rank --by "
                               "loss' (or 'predict')");
        goto out;
    }
    res = calloc(n, sizeof *res);
    mci = calloc(n, sizeof *mci);
    rk = calloc(n, sizeof *rk);
    if (!res || !mci || !rk) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = cm_eval(p, n, &o.ev, res, &run, mci, &d);
    if (s) {
        rc = report(s, &d, "rank", NULL);
        goto out;
    }
    print_warnings(res, n);
    if (loss_law) {
        rc = rank_by_loss(&o, loss_law, p, res, n);
        goto out;
    }
    const char *by = o.by ? o.by : "rho_per_bit";
    for (size_t i = 0; i < n; i++) {
        rk[i].i = i;
        /* misalignment: the smallest |misalignment| first, unknown ones last */
        rk[i].key = !strcmp(by, "gmse") ? -res[i].gmse
                    : !strcmp(by, "rho") ? res[i].rho
                    : !strcmp(by, "bits") ? -res[i].bits
                    : !strcmp(by, "misalignment")
                        ? (isnan(res[i].misalignment) ? -INFINITY : -fabs(res[i].misalignment))
                        : res[i].rho_per_bit;
    }
    qsort(rk, n, sizeof *rk, by_key_desc);
    /* Pareto frontier in (bits, gmse): nothing else has both no more bits and
     * no more error, one of them strictly less */
    int *pareto = calloc(n, sizeof *pareto);
    double *dn = calloc(n, sizeof *dn), *dse = calloc(n, sizeof *dse);
    if (!pareto || !dn || !dse) {
        free(pareto);
        free(dn);
        free(dse);
        rc = EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pareto[i] = 1;
        for (size_t j = 0; j < n && pareto[i]; j++)
            if (j != i && res[j].bits <= res[i].bits && res[j].gmse <= res[i].gmse &&
                (res[j].bits < res[i].bits || res[j].gmse < res[i].gmse))
                pareto[i] = 0;
    }
    /* GMSE difference to the next in the ranking, with its standard error:
     * paired on the common samples when both are Monte Carlo */
    for (size_t r = 0; r + 1 < n; r++) {
        size_t a = rk[r].i, b = rk[r + 1].i;
        dn[r] = res[a].gmse - res[b].gmse;
        if (mci[a] != SIZE_MAX && mci[b] != SIZE_MAX)
            cm_mc_diff(run, mci[a], mci[b], &dn[r], &dse[r]);
        else
            dse[r] = hypot(res[a].gmse_se, res[b].gmse_se);
    }
    rankview view = {res, rk, n, pareto, dn, dse, by};
    if (o.json)
        rank_json(&o, &view);
    else
        rank_table(&o, &view);
    free(pareto);
    free(dn);
    free(dse);
out:
    cm_mc_run_free(run);
    free(rk);
    free(mci);
    free(res);
    free_specs(p, o.nspecs);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

typedef struct lrank {
    size_t i;
    double key;
} lrank;

static int by_key(const void *a, const void *b)
{
    double x = ((const lrank *)a)->key, y = ((const lrank *)b)->key;
    return (x > y) - (x < y);
}

static int rank_by_loss(const opts *o, const cm_law *law, cm_pipeline *const *p, const cm_result *res,
                 size_t n)
{
    pred *pv = calloc(n, sizeof *pv);
    lrank *rk = calloc(n, sizeof *rk);
    int rc = 0;
    if (!pv || !rk) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    const pred_ask ask = {o->params, o->tokens, o->memory, o->tensors, 0, -1};
    for (size_t i = 0; i < n; i++) {
        judge(&pv[i], law, &res[i], &ask, p[i], i);
        if (pv[i].st) {
            fprintf(stderr, "%s: error: %s\n", prog, pv[i].why);
            rc = exit_code_for(pv[i].st);
            goto out;
        }
        if (isnan(pv[i].out.loss)) {
            fprintf(stderr,
                    "%s: error: law %s gives no absolute loss (%s); rank --by loss needs a law "
                    "with one: unified-quest, quest, kumar, capybara, quartet or a fitted law\n",
                    prog, cm_law_name(law), cm_law_source(law));
            rc = EXIT_USAGE;
            goto out;
        }
        rk[i].i = i;
        rk[i].key = pv[i].out.loss;
    }
    qsort(rk, n, sizeof *rk, by_key);
    pred *sorted = calloc(n, sizeof *sorted);
    if (!sorted) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    for (size_t r = 0; r < n; r++)
        sorted[r] = pv[rk[r].i];
    const cm_law *ls[1] = {law};
    rc = print_preds(&ask, o->json, sorted, n, res, n, ls, 1);
    free(sorted);
out:
    free(pv);
    free(rk);
    return rc;
}
