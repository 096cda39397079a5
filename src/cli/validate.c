/* capmetric validate: the evidence that GMSE predicts capacity, in one report.
 *
 *  1. the tool's GMSE of the QuEST grids equals QuEST's own;
 *  2. the published QuEST fit, refitted from the shipped runs;
 *  3. the published Quartet fit (base law, effN, effD), refitted;
 *  4. the unified fit (rho from the tool's GMSE) against the decoupled fit,
 *     as the Unified paper's Table 4 does, and the built-in unified-quest law;
 *  5. leave-one-format-out: predict a format's losses from the others;
 *  6. the published capacity tables through the tanh map, RMSE per table.
 * Each section is a table on screen, in report.md and in report.json. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "runs.h"

/* ---- a report: sections of tables, shown three ways -------------------------------- */

typedef struct rep {
    cJSON *root, *secs;
    FILE *md;          /* report.md, written to memory (open_memstream) */
    char *md_text;
    size_t md_len;
    int quiet;
    size_t checks, failed;
    /* the open section */
    cli_table t;
    cJSON *rows;
    const char *const *head;
    size_t ncol;
} rep;

static void sec_begin(rep *r, const char *title, const char *text, const char *const *head,
                      const int *right, size_t ncol)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "title", title);
    cJSON_AddStringToObject(s, "text", text);
    r->rows = cJSON_AddArrayToObject(s, "rows");
    cJSON_AddItemToArray(r->secs, s);
    r->head = head;
    r->ncol = ncol;
    cli_table_init(&r->t, ncol, head, right);
    if (!r->quiet)
        printf("\n== %s ==\n%s\n\n", title, text);
    fprintf(r->md, "\n## %s\n\n%s\n\n|", title, text);
    for (size_t c = 0; c < ncol; c++)
        fprintf(r->md, " %s |", head[c]);
    fprintf(r->md, "\n|");
    for (size_t c = 0; c < ncol; c++)
        fprintf(r->md, "%s|", right[c] ? "---:" : ":---");
    fprintf(r->md, "\n");
}

static void sec_row(rep *r, const char *const *cells)
{
    cli_table_row(&r->t, cells);
    cJSON *o = cJSON_CreateObject();
    fprintf(r->md, "|");
    for (size_t c = 0; c < r->ncol; c++) {
        char *end;
        double x = strtod(cells[c], &end);
        if (cells[c][0] && !*end && isfinite(x))
            cJSON_AddNumberToObject(o, r->head[c], x);
        else
            cJSON_AddStringToObject(o, r->head[c], cells[c]);
        fprintf(r->md, " %s |", cells[c]);
    }
    fprintf(r->md, "\n");
    cJSON_AddItemToArray(r->rows, o);
}

static void sec_end(rep *r, const char *note)
{
    if (!r->quiet)
        cli_table_print(&r->t);
    cli_table_fini(&r->t);
    if (note) {
        if (!r->quiet)
            printf("%s\n", note);
        fprintf(r->md, "\n%s\n", note);
        cJSON *s = cJSON_GetArrayItem(r->secs, cJSON_GetArraySize(r->secs) - 1);
        cJSON_AddStringToObject(s, "note", note);
    }
}

/* A pass/fail row: what, published, ours, difference, tolerance. */
static void check_row(rep *r, const char *what, double want, double got, double tol, int rel)
{
    double diff = rel ? fabs(got - want) / fabs(want) : fabs(got - want);
    int pass = diff <= tol;
    char w[32], g[32], df[32], t[32];
    snprintf(w, sizeof w, "%.7g", want);
    snprintf(g, sizeof g, "%.7g", got);
    snprintf(df, sizeof df, rel ? "%.2g%%" : "%.2g", rel ? 100 * diff : diff);
    snprintf(t, sizeof t, rel ? "%.2g%%" : "%.2g", rel ? 100 * tol : tol);
    const char *cells[] = {what, w, g, df, t, pass ? "pass" : "FAIL"};
    sec_row(r, cells);
    r->checks++;
    r->failed += !pass;
}

static const char *const check_head[] = {"quantity", "published", "capmetric", "difference",
                                         "tolerance", "result"};
static const int check_right[] = {0, 1, 1, 1, 1, 0};

/* ---- helpers ------------------------------------------------------------------------ */

typedef struct vctx {
    const char *dir;
    cm_registry *reg;
    cm_eval_opts ev;
    unsigned threads;
    rep r;
} vctx;

static char *path_in(const vctx *v, const char *file)
{
    size_t n = strlen(v->dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", v->dir, file);
    return p;
}

static int load(vctx *v, const char *file, runcols *c, cm_fit_mode mode, runs *out)
{
    char *p = path_in(v, file);
    if (!p)
        return EXIT_RUNTIME;
    int rc = runs_load(p, c, mode, v->reg, &v->ev, out);
    free(p);
    return rc;
}

static int fit(vctx *v, cm_fit_mode mode, const runs *rr, cm_fit_opts *o, cm_fit_result *f,
               const char *what)
{
    cm_fit_data d;
    runs_data(rr, &d);
    o->threads = v->threads;
    cm_diag dg;
    cm_diag_clear(&dg);
    cm_status s = cm_fit(mode, &d, o, f, &dg);
    if (s)
        return report(s, &dg, what, NULL);
    return 0;
}

static double param(const cm_fit_result *f, const char *name)
{
    for (size_t k = 0; k < f->np; k++)
        if (!strcmp(f->p[k].name, name))
            return f->p[k].value;
    return NAN;
}

/* ---- 1. GMSE of the QuEST grids --------------------------------------------------- */

static int sec_quest_mse(vctx *v)
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
        if ((rc = gmse_of(v->reg, &v->ev, sp, 2, g, NULL, "validate")))
            break;
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

static int sec_quest(vctx *v, cJSON *extra)
{
    runs rr;
    runcols c = {0};
    int rc = load(v, "quest_runs.csv", &c, CM_FIT_DECOUPLED, &rr);
    if (rc)
        return rc;
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    fit_preset("quest", &o); /* the notebook's robust loss */
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

static int sec_quartet(vctx *v, cJSON *extra)
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
        fit_preset("quartet", &o); /* 1e-4 reproduces it; 1e-3 and least squares do not */
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
    }
    for (int k = 0; k < 4; k++) {
        cm_fit_result_free(&f[k]);
        runs_free(&rr[k]);
    }
    return rc;
}

/* ---- 4. unified vs decoupled; 5. leave one format out ------------------------------ */

static const char *const grp_int_fp[] = {"fit_group=wa_hadamard;wa_fp4_hadamard;bf16_baseline"};
static const char *const grp_all[] = {
    "fit_group=wa_hadamard;wa_fp4_hadamard;sparse_2of4pairs_int4;bf16_baseline"};

/* RMSE of log residuals of group g (CM_FIT_BASE: the baseline), or all if g == SIZE_MAX - 1 */
static double group_rmse(const cm_fit_result *f, const runs *rr, size_t g, size_t *cnt)
{
    cm_fit_data d;
    runs_data(rr, &d);
    double s = 0;
    size_t n = 0;
    for (size_t i = 0; i < rr->n; i++) {
        if (g != SIZE_MAX - 1 && rr->g[i] != g)
            continue;
        double e = log(rr->y[i]) - log(cm_fit_predict(f, &d, i));
        s += e * e;
        n++;
    }
    *cnt = n;
    return n ? sqrt(s / (double)n) : NAN;
}

static int sec_unified(vctx *v, cJSON *extra)
{
    runs ru[2], rd[2];
    memset(ru, 0, sizeof ru);
    memset(rd, 0, sizeof rd);
    cm_fit_result fu[2], fd[2];
    memset(fu, 0, sizeof fu);
    memset(fd, 0, sizeof fd);
    const char *const *ws[2] = {grp_int_fp, grp_all};
    char *specs = path_in(v, "quest_specs.csv");
    int rc = specs ? 0 : EXIT_RUNTIME;
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    for (int k = 0; k < 2 && !rc; k++) {
        runcols c = {0};
        c.specs_file = specs;
        c.where = ws[k];
        c.nwhere = 1;
        if (!(rc = load(v, "quest_runs.csv", &c, CM_FIT_UNIFIED, &ru[k])) &&
            !(rc = load(v, "quest_runs.csv", &c, CM_FIT_DECOUPLED, &rd[k])) &&
            !(rc = fit(v, CM_FIT_UNIFIED, &ru[k], &o, &fu[k], "unified fit")))
            rc = fit(v, CM_FIT_DECOUPLED, &rd[k], &o, &fd[k], "decoupled fit");
    }
    if (rc)
        goto out;
    static const char *const h[] = {"runs", "formats", "decoupled params", "decoupled RMSE",
                                    "unified params", "unified RMSE", "unified / decoupled"};
    static const int rt[] = {0, 0, 1, 1, 1, 1, 1};
    sec_begin(&v->r, "Unified vs decoupled (Unified paper Table 4)",
              "Fit error (RMS of log-loss residuals) on the QuEST W&A Hadamard runs: decoupled = "
              "one free eff per format; unified = eff = L tanh(F log4(1/GMSE))^C with the GMSE "
              "computed by capmetric from each format's spec (data/runs/quest_specs.csv). Huber "
              "delta 1e-3 on log residuals, 1125 starts. The paper's Table 4 (its own runs): "
              "decoupled 0.00042, tanh 0.00047 (ratio 1.12).",
              h, rt, 7);
    for (int k = 0; k < 2; k++) {
        char b[7][48];
        snprintf(b[0], sizeof b[0], "%zu", ru[k].n);
        snprintf(b[1], sizeof b[1], "%s", k ? "INT1-8, FP4, 2:4+INT4, BF16" : "INT1-8, FP4, BF16");
        snprintf(b[2], sizeof b[2], "%zu", fd[k].np);
        snprintf(b[3], sizeof b[3], "%.5f", fd[k].rmse);
        snprintf(b[4], sizeof b[4], "%zu", fu[k].np);
        snprintf(b[5], sizeof b[5], "%.5f", fu[k].rmse);
        snprintf(b[6], sizeof b[6], "%.3f", fu[k].rmse / fd[k].rmse);
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
        sec_row(&v->r, cells);
    }
    sec_end(&v->r, NULL);

    /* per format, from the fit with every format */
    static const char *const h2[] = {"format", "spec", "GMSE", "runs", "decoupled eff",
                                     "unified rho", "unified RMSE", "spec note"};
    static const int rt2[] = {0, 0, 1, 1, 1, 1, 1, 0};
    sec_begin(&v->r, "Unified fit per format",
              "The fit with every format (second row above): the map's rho at each format's "
              "GMSE against the free eff, and the fit error of its runs.",
              h2, rt2, 8);
    const cm_law *lu = NULL;
    for (size_t g = 0; g < ru[1].ng; g++) {
        char b[8][64];
        size_t cnt;
        double rm = group_rmse(&fu[1], &ru[1], g, &cnt);
        char nm[64];
        snprintf(nm, sizeof nm, "eff[%s]", ru[1].glabel[g]);
        double F = fu[1].p[5].value, C = fu[1].p[6].value, L = fu[1].p[7].value;
        double rho = L * pow(tanh(F * cm_eff_bits(ru[1].ggmse[g])), C);
        snprintf(b[0], sizeof b[0], "%s", ru[1].glabel[g]);
        snprintf(b[1], sizeof b[1], "%.63s", ru[1].gspec[g] ? ru[1].gspec[g] : "-");
        snprintf(b[2], sizeof b[2], "%.6g", ru[1].ggmse[g]);
        snprintf(b[3], sizeof b[3], "%zu", cnt);
        snprintf(b[4], sizeof b[4], "%.4f", param(&fd[1], nm));
        snprintf(b[5], sizeof b[5], "%.4f", rho);
        snprintf(b[6], sizeof b[6], "%.5f", rm);
        const char *note = ru[1].gnote[g] ? ru[1].gnote[g] : "";
        snprintf(b[7], sizeof b[7], "%.63s", strstr(note, "approximate") ? "approximate (see "
                                                                           "quest_specs.csv)"
                                                                         : "");
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
        sec_row(&v->r, cells);
    }
    sec_end(&v->r,
            "QuEST's sparse format (2 of 4 value-pairs zeroed in groups of 8, weights only, then "
            "INT4 on weights and activations) is represented by 2:4+int4 applied to one tensor: "
            "its GMSE (0.139) is far from what the trained eff (0.38) implies, and it dominates "
            "the unified fit's error when included. The built-in law unified-quest is the fit "
            "without it.");
    /* the built-in law is this fit */
    cm_diag dg;
    cm_diag_clear(&dg);
    cm_law_find("unified-quest", &lu, &dg);
    sec_begin(&v->r, "Built-in law unified-quest",
              "The constants of the built-in unified-quest law against the refit above (INT1-8, "
              "FP4, BF16). E is not determined (fitted ~0; the law uses 0).",
              check_head, check_right, 6);
    {
        cm_law_input in = {"", 4, 0, 1e9, 2e10, 0, v->reg, NULL};
        static const double gm[] = {0.3633802276324186, 0.11884605038769407, 0.011542884500323213};
        for (int q = 0; q < 3; q++) {
            char what[64];
            snprintf(what, sizeof what, "rho(GMSE %.4g)", gm[q]);
            double F = fu[0].p[5].value, C = fu[0].p[6].value, L = fu[0].p[7].value;
            check_row(&v->r, what, cm_law_rho(lu, gm[q]),
                      L * pow(tanh(F * cm_eff_bits(gm[q])), C), 1e-6, 1);
        }
        cm_law_output lo;
        in.gmse = gm[2];
        cm_law_predict(lu, &in, &lo, &dg);
        cm_fit_data d;
        runs_data(&ru[0], &d);
        double A = fu[0].p[0].value, al = fu[0].p[1].value, B = fu[0].p[2].value,
               be = fu[0].p[3].value, E = fu[0].p[4].value;
        double rho = fu[0].p[7].value * pow(tanh(fu[0].p[5].value * cm_eff_bits(gm[2])),
                                            fu[0].p[6].value);
        check_row(&v->r, "loss(int4, N=1e9, D=2e10)", lo.loss,
                  A * pow(1e9 * rho, -al) + B * pow(2e10, -be) + E, 1e-6, 1);
    }
    sec_end(&v->r, NULL);

    /* leave one format out */
    static const char *const h3[] = {"held out", "runs", "predicted eff", "fitted eff",
                                     "RMSE log-loss", "max |loss error|", "mean error"};
    static const int rt3[] = {0, 1, 1, 1, 1, 1, 1};
    sec_begin(&v->r, "Leave one format out",
              "For each format: the unified law is fitted on all the other formats (and BF16), "
              "then predicts every run of the held-out format from its GMSE alone - ranking a "
              "format before training it. Errors in nats/token; for scale, the decoupled fit's "
              "in-sample RMSE is given above.",
              h3, rt3, 7);
    cJSON *lofo = cJSON_AddArrayToObject(extra, "leave_one_format_out");
    for (size_t g = 0; g < ru[1].ng && !rc; g++) {
        /* training set: runs of ru[1] not in g (and not the sparse format unless held out) */
        runs tr = ru[1];
        size_t n = 0;
        size_t *keep = malloc(ru[1].n * sizeof *keep);
        double *N = malloc(ru[1].n * sizeof *N), *D = malloc(ru[1].n * sizeof *D),
               *y = malloc(ru[1].n * sizeof *y), *x = malloc(ru[1].n * sizeof *x);
        size_t *gg = malloc(ru[1].n * sizeof *gg);
        int is_sparse = ru[1].gnote[g] && strstr(ru[1].gnote[g], "approximate");
        for (size_t i = 0; keep && N && D && y && x && gg && i < ru[1].n; i++) {
            size_t gi = ru[1].g[i];
            if (gi == g)
                continue;
            if (gi != CM_FIT_BASE && ru[1].gnote[gi] && strstr(ru[1].gnote[gi], "approximate"))
                continue;
            keep[n] = i;
            N[n] = ru[1].N[i], D[n] = ru[1].D[i], y[n] = ru[1].y[i], x[n] = ru[1].x[i];
            gg[n] = gi;
            n++;
        }
        tr.n = n;
        tr.N = N, tr.D = D, tr.y = y, tr.x = x, tr.g = gg;
        cm_fit_result fr;
        memset(&fr, 0, sizeof fr);
        if (!keep || !N || !D || !y || !x || !gg)
            rc = EXIT_RUNTIME;
        else
            rc = fit(v, CM_FIT_UNIFIED, &tr, &o, &fr, "leave-one-out fit");
        if (!rc) {
            cm_fit_data d;
            runs_data(&ru[1], &d);
            double s2 = 0, mx = 0, me = 0;
            size_t cnt = 0;
            for (size_t i = 0; i < ru[1].n; i++) {
                if (ru[1].g[i] != g)
                    continue;
                double p = cm_fit_predict(&fr, &d, i);
                double e = log(ru[1].y[i]) - log(p);
                s2 += e * e;
                mx = fmax(mx, fabs(ru[1].y[i] - p));
                me += ru[1].y[i] - p;
                cnt++;
            }
            double rho = fr.p[7].value * pow(tanh(fr.p[5].value * cm_eff_bits(ru[1].ggmse[g])),
                                             fr.p[6].value);
            char nm[64], b[7][48];
            snprintf(nm, sizeof nm, "eff[%s]", ru[1].glabel[g]);
            snprintf(b[0], sizeof b[0], "%s%s", ru[1].glabel[g], is_sparse ? " (approx. spec)" : "");
            snprintf(b[1], sizeof b[1], "%zu", cnt);
            snprintf(b[2], sizeof b[2], "%.4f", rho);
            snprintf(b[3], sizeof b[3], "%.4f", param(&fd[1], nm));
            snprintf(b[4], sizeof b[4], "%.5f", sqrt(s2 / (double)cnt));
            snprintf(b[5], sizeof b[5], "%.4f", mx);
            snprintf(b[6], sizeof b[6], "%+.4f", me / (double)cnt);
            const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
            sec_row(&v->r, cells);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "held_out", ru[1].glabel[g]);
            cJSON_AddNumberToObject(e, "rmse_log", sqrt(s2 / (double)cnt));
            cJSON_AddNumberToObject(e, "max_abs_loss_error", mx);
            cJSON_AddItemToArray(lofo, e);
        }
        cm_fit_result_free(&fr);
        free(keep), free(N), free(D), free(y), free(x), free(gg);
    }
    sec_end(&v->r, "The training sets leave the approximate sparse format out; it is only held "
                   "out. A positive mean error: the runs are worse than predicted.");
    cJSON_AddItemToObject(extra, "unified_fit", fit_json(&fu[1], &o));
    cJSON_AddItemToObject(extra, "unified_fit_int_fp", fit_json(&fu[0], &o));
out:
    for (int k = 0; k < 2; k++) {
        cm_fit_result_free(&fu[k]);
        cm_fit_result_free(&fd[k]);
        runs_free(&ru[k]);
        runs_free(&rd[k]);
    }
    free(specs);
    return rc;
}

/* ---- 6. capacity tables through the map -------------------------------------------- */

/* Specs of one capacity table: cells' GMSE (and a second factor for Fig. 6). */
typedef struct ctab {
    const char *key, *title, *approx;
    size_t n;
    char *spec[64], *spec2[64];
    double rho[64];
} ctab;

static void ctab_free(ctab *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->spec[i]);
        free(t->spec2[i]);
    }
}

static char *fmt_spec(const char *fmt, double a, double b)
{
    char buf[160];
    snprintf(buf, sizeof buf, fmt, a, b);
    return strdup(buf);
}

/* The tables from capacity.json. */
static int capacity_tables(const char *anchors, ctab *tabs, size_t *nt)
{
    char *text = cm_file_read(anchors, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!root)
        return -1;
    *nt = 0;
    /* Fig. 6: w bits (rows) x a bits (cols): rho = m(GMSE_w) m(GMSE_a) */
    cJSON *f6 = cJSON_GetObjectItem(root, "unified_fig6_wbits_x_abits_rho");
    cJSON *f7 = cJSON_GetObjectItem(root, "unified_fig7_bits_x_weight_sparsity_rho");
    cJSON *f9 = cJSON_GetObjectItem(root, "unified_fig9_sparsity_x_maxabs_int_rho");
    cJSON *qe = cJSON_GetObjectItem(root, "quest_eff");
    if (!f6 || !f7 || !f9 || !qe) {
        cJSON_Delete(root);
        return -1;
    }
    ctab *t = &tabs[(*nt)++];
    t->key = "fig6";
    t->title = "Unified Fig. 6: W bits x A bits (INT)";
    t->approx = "rho(W, A) = m(GMSE of int W bits) m(GMSE of int A bits); 16 bits = int:bits=16";
    cJSON *cols = cJSON_GetObjectItem(f6, "cols_abits"), *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(f6, "rows"))
    {
        double wb = atof(row->string);
        for (int j = 0; j < cJSON_GetArraySize(row) && t->n < 64; j++) {
            double ab = cJSON_GetArrayItem(cols, j)->valuedouble;
            t->spec[t->n] = fmt_spec("int:bits=%g", wb, 0);
            t->spec2[t->n] = fmt_spec("int:bits=%g", ab, 0);
            t->rho[t->n++] = cJSON_GetArrayItem(row, j)->valuedouble;
        }
    }
    t = &tabs[(*nt)++];
    t->key = "fig7";
    t->title = "Unified Fig. 7: bits x unstructured weight sparsity";
    t->approx = "sparse:density=1-s+int:bits=b (magnitude pruning, then INT on the kept values)";
    cols = cJSON_GetObjectItem(f7, "cols_sparsity");
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(f7, "rows"))
    {
        double b = atof(row->string);
        for (int j = 0; j < cJSON_GetArraySize(row) && t->n < 64; j++) {
            double s = cJSON_GetArrayItem(cols, j)->valuedouble;
            t->spec[t->n] = s > 0 ? fmt_spec("sparse:density=%g+int:bits=%g", 1 - s, b)
                                  : fmt_spec("int:bits=%g", b, 0);
            t->rho[t->n++] = cJSON_GetArrayItem(row, j)->valuedouble;
        }
    }
    t = &tabs[(*nt)++];
    t->key = "fig9";
    t->title = "Unified Fig. 9: sparsity x max-abs INT";
    t->approx = "approximate: max-abs INT as the symmetric grid (0 and 2^(b-1)-1 levels each "
                "side, e.g. -7..7 for 4 bits) scaled by the maximum of each block of 128 (the "
                "figure states neither the grid nor the block); "
                "sparse:density=1-s+int:bits=b,grid=symmetric,scale=absmax,block=128";
    cols = cJSON_GetObjectItem(f9, "cols_bits");
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(f9, "rows"))
    {
        double s = atof(row->string);
        for (int j = 0; j < cJSON_GetArraySize(row) && t->n < 64; j++) {
            double b = cJSON_GetArrayItem(cols, j)->valuedouble;
            t->spec[t->n] =
                s > 0 ? fmt_spec("sparse:density=%g+int:bits=%g,grid=symmetric,scale=absmax,"
                                 "block=128",
                                 1 - s, b)
                      : fmt_spec("int:bits=%g,grid=symmetric,scale=absmax,block=128", b, 0);
            t->rho[t->n++] = cJSON_GetArrayItem(row, j)->valuedouble;
        }
    }
    t = &tabs[(*nt)++];
    t->key = "quest_eff";
    t->title = "QuEST eff (W&A Hadamard)";
    t->approx = "INT b = int:bits=b, fp4 = e2m1, 2:4+int4 as in quest_specs.csv (approximate)";
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(qe, "eff_w_and_a_hadamard"))
    {
        const char *k = e->string;
        t->spec[t->n] = !strcmp(k, "fp4_e2m1") ? strdup("e2m1")
                        : !strcmp(k, "2:4+int4") ? strdup("2:4+int4")
                                                 : fmt_spec("int:bits=%g", atof(k), 0);
        t->rho[t->n++] = e->valuedouble;
    }
    cJSON_Delete(root);
    return 0;
}

static int sec_capacity(vctx *v, const char *anchors, cJSON *extra)
{
    ctab tabs[4];
    memset(tabs, 0, sizeof tabs);
    size_t nt = 0;
    if (capacity_tables(anchors, tabs, &nt)) {
        fprintf(stderr, "%s: error: cannot read the capacity tables from '%s'\n", prog, anchors);
        return EXIT_USAGE;
    }
    static const char *const h[] = {"table", "cells", "F", "C", "L", "RMSE refit",
                                    "RMSE llama-c4 map", "cell specs"};
    static const int rt[] = {0, 1, 1, 1, 1, 1, 1, 0};
    sec_begin(&v->r, "Published capacity tables through the map",
              "Each table's rho values against rho = L tanh(F log4(1/GMSE))^C at capmetric's "
              "GMSE of the cell's format: with (F, C, L) refitted per table (least squares) and "
              "with the published Llama/C4 constants (F 0.41, C 1.39, L 1.0). Table values are "
              "read off figures (two decimals).",
              h, rt, 8);
    const cm_law *llama = NULL;
    cm_diag dg;
    cm_diag_clear(&dg);
    cm_law_find("unified-llama-c4", &llama, &dg);
    int rc = 0;
    cJSON *arr = cJSON_AddArrayToObject(extra, "capacity_tables");
    for (size_t k = 0; k < nt && !rc; k++) {
        ctab *t = &tabs[k];
        double x[64], x2[64];
        rc = gmse_of(v->reg, &v->ev, t->spec, t->n, x, NULL, "validate");
        if (!rc)
            rc = gmse_of(v->reg, &v->ev, t->spec2, t->n, x2, NULL, "validate");
        if (rc)
            break;
        size_t g[64];
        for (size_t i = 0; i < t->n; i++)
            g[i] = CM_FIT_BASE;
        cm_fit_data d = {0};
        d.n = t->n;
        d.y = t->rho;
        d.x = x;
        d.x2 = x2;
        d.g = g;
        cm_fit_opts o;
        cm_fit_opts_default(&o);
        o.huber = INFINITY;
        o.threads = v->threads;
        cm_fit_result f;
        memset(&f, 0, sizeof f);
        cm_status s = cm_fit(CM_FIT_MAP, &d, &o, &f, &dg);
        if (s) {
            rc = report(s, &dg, t->title, NULL);
            cm_fit_result_free(&f);
            break;
        }
        double s2 = 0;
        for (size_t i = 0; i < t->n; i++) {
            double p = cm_law_rho(llama, x[i]) * (isnan(x2[i]) ? 1 : cm_law_rho(llama, x2[i]));
            s2 += (t->rho[i] - p) * (t->rho[i] - p);
        }
        char b[8][48];
        snprintf(b[0], sizeof b[0], "%s", t->key);
        snprintf(b[1], sizeof b[1], "%zu", t->n);
        snprintf(b[2], sizeof b[2], "%.3f", f.p[0].value);
        snprintf(b[3], sizeof b[3], "%.3f", f.p[1].value);
        snprintf(b[4], sizeof b[4], "%.3f", f.p[2].value);
        snprintf(b[5], sizeof b[5], "%.4f", f.rmse);
        snprintf(b[6], sizeof b[6], "%.4f", sqrt(s2 / (double)t->n));
        snprintf(b[7], sizeof b[7], "%s", strstr(t->approx, "approximate") ? "approximate" : "");
        const char *cells[] = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
        sec_row(&v->r, cells);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "table", t->key);
        cJSON_AddStringToObject(e, "title", t->title);
        cJSON_AddStringToObject(e, "cells", t->approx);
        cJSON *cs = cJSON_AddArrayToObject(e, "points");
        for (size_t i = 0; i < t->n; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "spec", t->spec[i]);
            if (t->spec2[i])
                cJSON_AddStringToObject(c, "spec2", t->spec2[i]);
            cJSON_AddNumberToObject(c, "gmse", x[i]);
            cJSON_AddNumberToObject(c, "rho_published", t->rho[i]);
            cJSON_AddNumberToObject(c, "rho_refit", cm_fit_predict(&f, &d, i));
            cJSON_AddItemToArray(cs, c);
        }
        cJSON_AddItemToObject(e, "fit", fit_json(&f, &o));
        cJSON_AddItemToArray(arr, e);
        cm_fit_result_free(&f);
    }
    char note[1200];
    snprintf(note, sizeof note, "Cells: fig6 %s; fig7 %s; fig9 %s; quest_eff %s.", tabs[0].approx,
             tabs[1].approx, tabs[2].approx, tabs[3].approx);
    sec_end(&v->r, note);
    for (size_t k = 0; k < nt; k++)
        ctab_free(&tabs[k]);
    return rc;
}

/* ---- the command --------------------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

int cmd_validate(int argc, char **argv)
{
    optdef defs[] = {{"--data", 1, 0, 0, {0}}, {"-o", 1, 0, 0, {0}}, {"--anchors", 1, 0, 0, {0}}};
    size_t nd = sizeof defs / sizeof *defs;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    opts o;
    memset(&o, 0, sizeof o);
    vctx v;
    memset(&v, 0, sizeof v);
    char *anchors = NULL;
    int rc = rest ? pull_opts(argc, argv, defs, nd, rest, &nrest) : EXIT_RUNTIME;
    if (rc || (rc = parse_opts(nrest, rest, &o, 0)) || (rc = load_registry(&o, &v.reg)))
        goto out;
    if (o.help) {
        printf("usage: capmetric validate [--data DIR] [-o DIR] [--samples N] [--threads T] "
               "[--json] [--quiet]\n");
        goto out;
    }
    v.dir = opt_get(defs, nd, "--data");
    if (!v.dir)
        v.dir = runs_dir();
    if (!is_dir(v.dir)) {
        fprintf(stderr, "%s: error: no run data in '%s' (give --data DIR: the folder with "
                        "quest_runs.csv, quartet_runs.csv, quest_specs.csv)\n", prog, v.dir);
        rc = EXIT_USAGE;
        goto out;
    }
    const char *a = opt_get(defs, nd, "--anchors");
    if (a)
        anchors = strdup(a);
    else {
        anchors = path_in(&v, "../capacity.json");
    }
    const char *outdir = opt_get(defs, nd, "-o");
    if (!outdir)
        outdir = "results/validation";
    if (cli_mkdirs(outdir) || access(outdir, W_OK)) {
        fprintf(stderr, "%s: error: cannot create or write the report folder '%s': %s\n", prog,
                outdir, strerror(errno));
        rc = EXIT_USAGE;
        goto out;
    }
    v.ev = o.ev;
    if (!o.samples_given)
        v.ev.samples = 1u << 22; /* Monte-Carlo cells: SE ~1e-4 relative, far below the
                                    tables' two decimals */
    v.threads = o.ev.threads;
    v.r.root = cJSON_CreateObject();
    v.r.md = open_memstream(&v.r.md_text, &v.r.md_len);
    if (!v.r.md) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    v.r.quiet = o.quiet || o.json;
    cJSON_AddStringToObject(v.r.root, "tool", "capmetric");
    cJSON_AddStringToObject(v.r.root, "version", cm_version());
    cJSON_AddStringToObject(v.r.root, "data", v.dir);
    v.r.secs = cJSON_AddArrayToObject(v.r.root, "sections");
    cJSON *extra = cJSON_AddObjectToObject(v.r.root, "fits");
    fprintf(v.r.md, "# capmetric validate\n\ncapmetric %s; data %s.\n", cm_version(), v.dir);
    if (!v.r.quiet)
        printf("capmetric %s validate: data %s\n", cm_version(), v.dir);
    if ((rc = sec_quest_mse(&v)) || (rc = sec_quest(&v, extra)) ||
        (rc = sec_quartet(&v, extra)) || (rc = sec_unified(&v, extra)) ||
        (rc = sec_capacity(&v, anchors, extra)))
        goto out;
    cJSON_AddNumberToObject(v.r.root, "checks", (double)v.r.checks);
    cJSON_AddNumberToObject(v.r.root, "failed", (double)v.r.failed);
    fprintf(v.r.md, "\n**%zu checks, %zu failed.**\n", v.r.checks, v.r.failed);
    char *js = cJSON_Print(v.r.root);
    if (fflush(v.r.md) || !js || !v.r.md_text) {
        free(js);
        rc = EXIT_RUNTIME;
        goto out;
    }
    char pj[4200], pm[4200];
    snprintf(pj, sizeof pj, "%s/report.json", outdir);
    snprintf(pm, sizeof pm, "%s/report.md", outdir);
    rc = write_atomic(pj, js);
    if (!rc && (rc = write_atomic(pm, v.r.md_text)))
        remove(pj);
    if (!rc && o.json)
        printf("%s\n", js);
    free(js);
    if (rc)
        goto out;
    if (!v.r.quiet)
        printf("\n%zu checks, %zu failed; report in %s/report.md and report.json\n", v.r.checks,
               v.r.failed, outdir);
    if (v.r.failed)
        rc = EXIT_RUNTIME;
out:
    cJSON_Delete(v.r.root);
    if (v.r.md)
        fclose(v.r.md);
    free(v.r.md_text);
    free(anchors);
    cm_registry_free(v.reg);
    opts_fini(&o);
    free(rest);
    return rc;
}
