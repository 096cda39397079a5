/* capmetric validate: QuEST and Quartet fits reproduced. */
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
#include "runs_int.h"
#include "validate_int.h"

/* ---- 1. GMSE of the QuEST grids --------------------------------------------------- */

int sec_quest_mse(vctx *v)
{
    char *p = path_in(v, "quest_gaussian_mse.csv");
    cm_csv *t = NULL;
    cm_diag d;
    cm_diag_clear(&d);
    cm_status s = p ? cm_csv_read(p, &t, &d) : CM_ENOMEM;
    free(p);
    if (s)
        return report(s, &d, "validate", NULL);
    long cf = cm_csv_col(t, "format"), cm = cm_csv_col(t, "gaussian_mse");
    long ca = cm_csv_col(t, "opt_scale_sigma"), cn = cm_csv_col(t, "n_levels");
    if (cf < 0 || cm < 0 || ca < 0 || cn < 0) {
        cm_csv_free(t);
        fprintf(stderr, "%s: error: quest_gaussian_mse.csv lacks format, n_levels, "
                        "opt_scale_sigma or gaussian_mse\n", prog);
        return EXIT_USAGE;
    }
    sec_begin(&v->r, "GMSE of the QuEST grids",
              "capmetric's exact GMSE against the Gaussian MSE printed by QuEST's "
              "notebooks/mse_fitting.ipynb (quest_gaussian_mse.csv): first at QuEST's own scale "
              "a (INT b = int:bits=b with step 2a/(2^b-1), FP4 = e2m1 times a, TERNARY = "
              "lut:values=-1;0;1 times a), then capmetric's optimal scale, which must not be "
              "worse.",
              check_head, check_right, 6);
    int rc = 0;
    for (size_t r = 0; r < t->nrow && !rc; r++) {
        const char *f = cm_csv_at(t, r, (size_t)cf);
        double a = strtod(cm_csv_at(t, r, (size_t)ca), NULL);
        double nl = strtod(cm_csv_at(t, r, (size_t)cn), NULL);
        double want = strtod(cm_csv_at(t, r, (size_t)cm), NULL);
        char at[160], opt[64];
        if (!strncmp(f, "INT", 3)) {
            snprintf(at, sizeof at, "int:bits=%s,scale=%.17g", f + 3, 2 * a / (nl - 1));
            snprintf(opt, sizeof opt, "int:bits=%s", f + 3);
        } else if (!strcmp(f, "FP4_E2M1")) {
            snprintf(at, sizeof at, "e2m1:scale=%.17g", a);
            snprintf(opt, sizeof opt, "e2m1");
        } else if (!strcmp(f, "TERNARY")) {
            snprintf(at, sizeof at, "lut:values=-1;0;1,scale=%.17g", a);
            snprintf(opt, sizeof opt, "lut:values=-1;0;1");
        } else {
            continue;
        }
        char *sp[2] = {at, opt};
        double g[2];
        runs_err re;
        if (gmse_of(v->reg, &v->ev, sp, 2, g, NULL, "validate", &re)) {
            rc = runs_report(&re);
            break;
        }
        char what[96];
        snprintf(what, sizeof what, "%s at QuEST's scale", f);
        check_row(&v->r, what, want, g[0], 1e-8, 1);
        char w[32], gg[32], df[32];
        snprintf(w, sizeof w, "%.7g", want);
        snprintf(gg, sizeof gg, "%.7g", g[1]);
        snprintf(df, sizeof df, "%.2g%%", 100 * (g[1] - want) / want);
        int pass = g[1] <= want * (1 + 1e-12);
        snprintf(what, sizeof what, "%s at the optimal scale", f);
        const char *cells[] = {what, w, gg, df, "<= 0", pass ? "pass" : "FAIL"};
        sec_row(&v->r, cells);
        v->r.checks++;
        v->r.failed += !pass;
    }
    sec_end(&v->r, "QuEST's scale search stopped short of the optimum for INT8 (0.15 % higher "
                   "MSE) and by ~1e-10 for INT4; at its own scale every value is reproduced.");
    cm_csv_free(t);
    return rc;
}

/* ---- 2. QuEST ---------------------------------------------------------------------- */

/* IST-DASLab/QuEST notebooks/plots.ipynb, "Best fitted parameters" (full printed
 * precision; capacity.json quest_eff). */
static const struct {
    const char *name;
    double v, tol;
} quest_pub[] = {
    {"alpha", 0.062726522, 5e-3},     {"beta", 0.241288351, 5e-3},
    {"eff[1]", 0.0205046859, 1e-3},   {"eff[2]", 0.151870911, 1e-3},
    {"eff[3]", 0.433126203, 1e-3},    {"eff[4]", 0.691831718, 1e-3},
    {"eff[8]", 1.01619263, 1e-3},     {"eff[fp4]", 0.629639028, 1e-3},
    {"eff[2.5]", 0.381222089, 1e-3},  {"eff[1NOH]", 0.0155770373, 1e-3},
    {"eff[2NOH]", 0.0784119072, 1e-3}, {"eff[3NOH]", 0.322107861, 1e-3},
    {"eff[4NOH]", 0.603270679, 1e-3}, {"eff[8NOH]", 0.937628722, 1e-3},
    {"eff[1WO]", 0.138419575, 1e-3},  {"eff[2WO]", 0.413717453, 1e-3},
    {"eff[3WO]", 0.653058816, 1e-3},  {"eff[4WO]", 0.840434222, 1e-3},
};

static const double quest_A = 8.134031011055859, quest_B = 86.41190623830154,
                    quest_E = 0.0014232897805828435, quest_cost = 7.38431448432692e-10;

int sec_quest(vctx *v, cJSON *extra)
{
    runs rr;
    runcols c = {0};
    int rc = load(v, "quest_runs.csv", &c, CM_FIT_DECOUPLED, &rr);
    if (rc)
        return rc;
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    cli_fit_preset("quest", &o); /* the notebook's robust loss */
    cm_fit_result f;
    memset(&f, 0, sizeof f);
    if ((rc = fit(v, CM_FIT_DECOUPLED, &rr, &o, &f, "QuEST fit")))
        goto out;
    /* the notebook's cost, evaluated by our objective at its parameters */
    double pub_cost = 0;
    for (size_t i = 0; i < rr.n; i++) {
        double eff = 1;
        if (rr.g[i] != CM_FIT_BASE) {
            char nm[64];
            snprintf(nm, sizeof nm, "eff[%s]", rr.glabel[rr.g[i]]);
            for (size_t k = 0; k < sizeof quest_pub / sizeof *quest_pub; k++)
                if (!strcmp(quest_pub[k].name, nm))
                    eff = quest_pub[k].v;
        }
        double pr = quest_A * pow(rr.N[i] * eff, -quest_pub[0].v) +
                    quest_B * pow(rr.D[i], -quest_pub[1].v) + quest_E;
        double res = 1e-3 * (log(rr.y[i]) - log(pr));
        pub_cost += 0.5 * res * res;
    }
    char text[1024];
    snprintf(text, sizeof text,
             "Decoupled fit L = A/(N eff)^alpha + B/D^beta + E of all %zu runs of "
             "quest_runs.csv with the notebook's settings (Huber f_scale 1 on 1e-3 log "
             "residuals, the same 1125-start grid), keeping the best start. %zu of %zu starts "
             "converged, %zu reached the best cost; %.2f s.",
             rr.n, f.converged, f.starts, f.at_best, f.seconds);
    sec_begin(&v->r, "QuEST fit reproduced", text, check_head, check_right, 6);
    for (size_t k = 0; k < sizeof quest_pub / sizeof *quest_pub; k++)
        check_row(&v->r, quest_pub[k].name, quest_pub[k].v, param(&f, quest_pub[k].name),
                  quest_pub[k].tol, 1);
    check_row(&v->r, "A", quest_A, param(&f, "A"), 5e-3, 1);
    check_row(&v->r, "B", quest_B, param(&f, "B"), 5e-2, 1);
    check_row(&v->r, "cost at the published parameters", quest_cost, pub_cost, 1e-6, 1);
    {
        char w[32], g[32], df[40];
        snprintf(w, sizeof w, "%.7g", quest_cost);
        snprintf(g, sizeof g, "%.7g", f.cost);
        snprintf(df, sizeof df, "%.3g%%", 100 * (f.cost - quest_cost) / quest_cost);
        int pass = f.cost <= quest_cost * (1 + 1e-9);
        const char *cells[] = {"cost at the optimum (must not exceed the published)", w, g, df,
                               "<= 0", pass ? "pass" : "FAIL"};
        sec_row(&v->r, cells);
        v->r.checks++;
        v->r.failed += !pass;
    }
    {
        size_t ke = 4;
        char w[32], g[32], se[48];
        snprintf(w, sizeof w, "%.7g", quest_E);
        snprintf(g, sizeof g, "%.3g", f.p[ke].value);
        snprintf(se, sizeof se, "SE %s", isfinite(f.p[ke].se) ? "finite" : "infinite");
        const char *cells[] = {"E", w, g, se, "-",
                               f.p[ke].determined ? "determined" : "NOT DETERMINED"};
        sec_row(&v->r, cells);
    }
    char note[900];
    snprintf(note, sizeof note,
             "E is not determined by these runs: the cost is flat in E towards 0 (curvature "
             "SE %s), so the published E = 0.00142 is one point of a flat valley, found by the "
             "notebook's loop that keeps the last start rather than the best. The true optimum "
             "has E -> 0 and a %.3g%% lower cost; alpha, beta and every eff move by less than "
             "the tolerances (0.1 %% eff, 0.5 %% alpha and beta).",
             isfinite(f.p[4].se) ? "finite" : "infinite", 100 * (quest_cost - f.cost) / quest_cost);
    sec_end(&v->r, note);
    cJSON_AddItemToObject(extra, "quest_fit", fit_json(&f, &o));
out:
    cm_fit_result_free(&f);
    runs_free(&rr);
    return rc;
}

/* ---- 3. Quartet -------------------------------------------------------------------- */

/* IST-DASLab/Quartet notebooks/plots.ipynb at 5b9d74c (shared/data/runs/README.md). */
static const double quartet_base[6] = {127444.7, 0.578520, 465834.3, 0.538877, 1.340846,
                                       0.276416};

int sec_quartet(vctx *v, cJSON *extra)
{
    runs rr[4];
    memset(rr, 0, sizeof rr);
    cm_fit_result f[4];
    memset(f, 0, sizeof f);
    static const char *const w_base[] = {"group=main_grid", "forward=BF16", "backward=BF16"};
    static const char *const w_fwd[] = {"group=main_grid", "forward=QuEST", "backward=BF16"};
    static const char *const w_bwd[] = {"group=main_grid", "forward=BF16",
                                        "backward=AlbertTsengQuantizer"};
    static const char *const w_q[] = {"group=main_grid", "forward=QuEST",
                                      "backward=AlbertTsengQuantizer"};
    const char *const *ws[4] = {w_base, w_fwd, w_bwd, w_q};
    int rc = 0;
    cm_fit_opts o;
    for (int k = 0; k < 4 && !rc; k++) {
        runcols c = {0};
        c.label = "forward";
        c.label2 = "backward";
        c.where = ws[k];
        c.nwhere = 3;
        if ((rc = load(v, "quartet_runs.csv", &c, CM_FIT_QUARTET, &rr[k])))
            break;
        cm_fit_opts_default(&o);
        cli_fit_preset("quartet", &o); /* 1e-4 reproduces it; 1e-3 and least squares do not */
        if (k)
            o.fixed = quartet_base;
        rc = fit(v, CM_FIT_QUARTET, &rr[k], &o, &f[k], "Quartet fit");
    }
    if (!rc) {
        char text[700];
        snprintf(text, sizeof text,
                 "L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E on quartet_runs.csv "
                 "(main_grid, notebook 5b9d74c): the base law on the %zu BF16 runs (Huber delta "
                 "1e-4 on log residuals, %zu starts), then effN / effD per scheme with the "
                 "published base held fixed.",
                 rr[0].n, f[0].starts);
        sec_begin(&v->r, "Quartet fit reproduced", text, check_head, check_right, 6);
        static const char *const nm[] = {"A", "alpha", "B", "beta", "E", "gamma"};
        for (int k = 0; k < 6; k++)
            check_row(&v->r, nm[k], quartet_base[k], f[0].p[k].value, 1e-4, 1);
        check_row(&v->r, "effN QuEST forward", 0.64516, param(&f[1], "effN[QuEST]"), 1e-4, 1);
        check_row(&v->r, "effD SR backward", 0.89347,
                  param(&f[2], "effD[AlbertTsengQuantizer]"), 1e-4, 1);
        check_row(&v->r, "Quartet effN", 0.65835, param(&f[3], "effN[QuEST]"), 1e-4, 1);
        check_row(&v->r, "Quartet effD", 0.82174, param(&f[3], "effD[AlbertTsengQuantizer]"),
                  1e-4, 1);
        sec_end(&v->r, "Tolerance 0.01 %: the published values are printed to 5-7 digits.");
        cJSON_AddItemToObject(extra, "quartet_base_fit", fit_json(&f[0], &o));
        size_t n = 0;
        for (int k = 0; k < 4; k++)
            n += rr[k].n;
        double *ob = malloc((n ? n : 1) * sizeof *ob), *pr = malloc((n ? n : 1) * sizeof *pr);
        size_t m = 0;
        for (int k = 0; k < 4 && ob && pr; k++) {
            cm_fit_data d;
            runs_data(&rr[k], &d);
            for (size_t i = 0; i < rr[k].n; i++, m++)
                ob[m] = rr[k].y[i], pr[m] = cm_fit_predict(&f[k], &d, i);
        }
        if (!ob || !pr ||
            pred_plot(&v->r, "quartet_pred_vs_obs.svg",
                      "Quartet (main grid): the published law's fit, BF16 base then effN/effD",
                      "fitted loss (nats/token)", ob, pr, m))
            rc = EXIT_RUNTIME;
        free(ob), free(pr);
    }
    for (int k = 0; k < 4; k++) {
        cm_fit_result_free(&f[k]);
        runs_free(&rr[k]);
    }
    return rc;
}
