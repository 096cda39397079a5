/* The fit engine on synthetic runs with known constants: noiseless recovery in
 * every mode, the robust loss against an outlier, the best start kept,
 * thread-count independence, the bootstrap, identifiability, bad data; and
 * the CSV reader. */
#include <capmetric/capmetric.h>
#include <unistd.h>

#include "../testutil.h"

/* A Chinchilla-like grid of runs: 5 sizes x 4 token ratios, groups 0..ng-1 and
 * a baseline (CM_FIT_BASE) cycling. */
#define NR 256
static double N[NR], D[NR], y[NR], x[NR];
static size_t g[NR], g2[NR];

static double law(double n, double dd, double eff, double A, double al, double B, double be,
                  double E)
{
    return A * pow(n * eff, -al) + B * pow(dd, -be) + E;
}

static size_t make_runs(const double *eff, size_t ng, double outlier)
{
    static const double sizes[] = {3e7, 5e7, 1e8, 2e8, 4e8};
    static const double ratio[] = {25, 50, 100, 200};
    size_t n = 0;
    for (size_t k = 0; k <= ng; k++)
        for (int s = 0; s < 5; s++)
            for (int r = 0; r < 4; r++) {
                N[n] = sizes[s];
                D[n] = sizes[s] * ratio[r];
                g[n] = k == ng ? CM_FIT_BASE : k;
                y[n] = law(N[n], D[n], k == ng ? 1 : eff[k], 400, 0.3, 2000, 0.3, 1.7);
                n++;
            }
    y[7] *= 1 + outlier;
    return n;
}

/* A least-squares fit with the default start grid. */
static cm_status fit_lsq(cm_fit_mode m, const cm_fit_data *d, cm_fit_result *r, cm_diag *dg)
{
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.huber = INFINITY;
    return cm_fit(m, d, &o, r, dg);
}

static void decoupled(void)
{
    const double eff[] = {0.3, 0.75};
    size_t n = make_runs(eff, 2, 0);
    const char *lab[] = {"a", "b"};
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g, .ng = 2, .glabel = lab};
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.huber = INFINITY;
    cm_fit_result r;
    cm_diag dg;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &r, &dg) == CM_OK, "decoupled: %s", dg.msg);
    static const double want[] = {400, 0.3, 2000, 0.3, 1.7, 0.3, 0.75};
    for (int k = 0; k < 7; k++)
        CHECK_NEAR(r.p[k].value / want[k], 1, 1e-6, r.p[k].name);
    CHECK(!strcmp(r.p[5].name, "eff[a]"), "name %s", r.p[5].name);
    for (int k = 0; k < 7; k++)
        CHECK(r.p[k].determined, "%s determined on noiseless data", r.p[k].name);
    CHECK(r.cost < 1e-20, "noiseless cost %g", r.cost);
    CHECK(r.starts == 1125, "QuEST's grid has 1125 starts, got %zu", r.starts);
    CHECK(r.at_best >= 1 && r.converged >= r.at_best - 1, "start counts");
    CHECK_NEAR(cm_fit_predict(&r, &d, 3), y[3], 1e-9 * y[3], "predict");

    /* the best start is kept: no single start does better */
    cm_fit_result one;
    o.max_starts = 7;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &one, &dg) == CM_OK || dg.code == CM_ENUMERIC, "7");
    CHECK(one.starts == 7 || dg.code == CM_ENUMERIC, "max_starts");
    CHECK(isnan(one.cost) || one.cost >= r.cost, "fewer starts cannot beat the grid");
    cm_fit_result_free(&one);

    /* threads do not change the result */
    cm_fit_result t1;
    o.max_starts = 0;
    o.threads = 1;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &t1, &dg) == CM_OK, "1 thread");
    o.threads = 3;
    cm_fit_result t3;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &t3, &dg) == CM_OK, "3 threads");
    for (size_t k = 0; k < t1.np; k++)
        CHECK(t1.theta[k] == t3.theta[k], "thread count changed %s", t1.p[k].name);
    cm_fit_result_free(&t1);
    cm_fit_result_free(&t3);
    cm_fit_result_free(&r);
}

/* One bad run: least squares is pulled, the Huber loss is not. */
static void robust(void)
{
    const double eff[] = {0.5};
    size_t n = make_runs(eff, 1, 0.05); /* 5 % off: a diverged run */
    for (size_t i = 0; i < n; i++) /* plus 0.1 % noise, deterministic */
        y[i] *= 1 + 1e-3 * sin(3.7 * (double)i);
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g, .ng = 1};
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    cm_fit_result h, l;
    cm_diag dg;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &h, &dg) == CM_OK, "huber: %s", dg.msg);
    o.huber = INFINITY;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &l, &dg) == CM_OK, "lsq: %s", dg.msg);
    double eh = fabs(h.p[5].value - 0.5), el = fabs(l.p[5].value - 0.5);
    CHECK(eh < el, "Huber eff error %.3g must be below least squares' %.3g", eh, el);
    CHECK(eh < 0.01, "Huber eff %.4f", h.p[5].value);
    /* bootstrap: reproducible, brackets the estimate */
    o.huber = 1e-3;
    o.bootstrap = 40;
    cm_fit_result b1, b2;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &b1, &dg) == CM_OK, "boot");
    o.threads = 1;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, &o, &b2, &dg) == CM_OK, "boot 1 thread");
    CHECK(b1.boot_done == 40, "replicates %u", b1.boot_done);
    for (size_t k = 0; k < b1.np; k++) {
        CHECK(b1.p[k].lo == b2.p[k].lo && b1.p[k].hi == b2.p[k].hi, "bootstrap reproducible");
        CHECK(b1.p[k].lo <= b1.p[k].value * (1 + 1e-9) + 1e-12 &&
                  b1.p[k].hi >= b1.p[k].value * (1 - 1e-9) - 1e-12,
              "%s: CI [%g, %g] around %g", b1.p[k].name, b1.p[k].lo, b1.p[k].hi, b1.p[k].value);
    }
    cm_fit_result_free(&b1);
    cm_fit_result_free(&b2);
    cm_fit_result_free(&h);
    cm_fit_result_free(&l);
}

/* Unified: eff from GMSE through the tanh map; map mode: (GMSE, rho) pairs. */
static void unified_and_map(void)
{
    const double gm[] = {0.36338, 0.118846, 0.0374397, 0.0115429};
    double F = 0.41, C = 1.39, L = 1.0;
    double eff[4];
    for (int k = 0; k < 4; k++)
        eff[k] = L * pow(tanh(F * cm_eff_bits(gm[k])), C);
    size_t n = make_runs(eff, 4, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = g[i] == CM_FIT_BASE ? NAN : gm[g[i]];
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g, .ng = 4, .x = x};
    cm_fit_result r;
    cm_diag dg;
    CHECK(fit_lsq(CM_FIT_UNIFIED, &d, &r, &dg) == CM_OK, "unified: %s", dg.msg);
    CHECK(r.np == 8, "unified has 8 parameters");
    CHECK_NEAR(r.p[5].value, F, 1e-6, "F");
    CHECK_NEAR(r.p[6].value, C, 1e-5, "C");
    CHECK_NEAR(r.p[7].value, L, 1e-6, "L");
    cm_fit_result_free(&r);

    /* map: rho = m(x) m(x2) */
    double xs[12], x2[12], rho[12];
    size_t gg[12];
    for (int i = 0; i < 12; i++) {
        xs[i] = pow(4, -0.5 * (i + 1));
        x2[i] = i % 3 ? pow(4, -(double)i) : NAN;
        double m1 = L * pow(tanh(F * cm_eff_bits(xs[i])), C);
        double m2 = isnan(x2[i]) ? 1 : L * pow(tanh(F * cm_eff_bits(x2[i])), C);
        rho[i] = m1 * m2;
        gg[i] = CM_FIT_BASE;
    }
    cm_fit_data m = {.n = 12, .y = rho, .x = xs, .x2 = x2, .g = gg};
    CHECK(fit_lsq(CM_FIT_MAP, &m, &r, &dg) == CM_OK, "map: %s", dg.msg);
    CHECK_NEAR(r.p[0].value, F, 1e-7, "map F");
    CHECK_NEAR(r.p[1].value, C, 1e-6, "map C");
    CHECK_NEAR(r.p[2].value, L, 1e-7, "map L");
    cm_fit_result_free(&r);
}

static void quartet(void)
{
    /* L = (A/(N eN)^a + B/(D eD)^b)^g + E; groups: fwd scheme 0, bwd scheme 0 */
    const double A = 1.5e5, al = 0.58, B = 4.7e5, be = 0.54, E = 1.34, gm = 0.276;
    size_t n = 0;
    static const double sizes[] = {3e7, 5e7, 1e8, 2e8, 4e8, 8e8};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 6; s++)
            for (int r = 0; r < 5; r++) {
                double eN = k == 1 ? 0.65 : 1, eD = k == 2 ? 0.85 : 1;
                N[n] = sizes[s];
                D[n] = sizes[s] * 25 * (1 << r);
                g[n] = k == 1 ? 0 : CM_FIT_BASE;
                g2[n] = k == 2 ? 0 : CM_FIT_BASE;
                y[n] = pow(A * pow(N[n] * eN, -al) + B * pow(D[n] * eD, -be), gm) + E;
                n++;
            }
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g, .ng = 1, .g2 = g2, .ng2 = 1};
    cm_fit_result r;
    cm_diag dg;
    CHECK(fit_lsq(CM_FIT_QUARTET, &d, &r, &dg) == CM_OK, "quartet: %s", dg.msg);
    const double want[] = {A, al, B, be, E, gm, 0.65, 0.85};
    for (int k = 0; k < 8; k++)
        CHECK_NEAR(r.p[k].value / want[k], 1, 1e-5, r.p[k].name);
    cm_fit_result_free(&r);
    /* base held fixed: only effN, effD */
    const double fixed[6] = {A, al, B, be, E, gm};
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.huber = INFINITY;
    o.fixed = fixed;
    CHECK(cm_fit(CM_FIT_QUARTET, &d, &o, &r, &dg) == CM_OK, "quartet fixed: %s", dg.msg);
    CHECK(r.np == 2, "fixed base: 2 parameters, got %zu", r.np);
    CHECK_NEAR(r.p[0].value, 0.65, 1e-9, "effN");
    CHECK_NEAR(r.p[1].value, 0.85, 1e-9, "effD");
    CHECK_NEAR(cm_fit_predict(&r, &d, 40), y[40], 1e-9 * y[40], "predict with fixed base");
    cm_fit_result_free(&r);
}

/* The metric form: effN = 1/(1 + kN x), effD = 1/(1 + kG x2 + kM x3) recovered from
 * runs made by it; a warm start lands on the same optimum; bootstrap replicates are
 * kept; a negative metric is refused. */
static void metric(void)
{
    const double A = 900, al = 0.4, B = 3e4, be = 0.45, E = 1.2, gm = 0.5;
    const double kN = 30, kG = 1.5, kM = 6;
    static const double sizes[] = {3e7, 6e7, 1e8, 2e8};
    static const double xf[] = {NAN, 0.009, 0.0124, 0.02};
    static const double xb[][2] = {{NAN, NAN}, {0.02, 0.0001}, {0.05, 0.004}, {0.1, 0.0}};
    double x2[256], x3[256]; /* N, D, y, x: the file's run arrays */
    size_t n = 0;
    for (int f = 0; f < 4; f++)
        for (int b = 0; b < 4; b++)
            for (int s = 0; s < 4; s++)
                for (int r = 0; r < 4; r++) {
                    N[n] = sizes[s];
                    D[n] = sizes[s] * 25 * (1 << (2 * r));
                    x[n] = xf[f], x2[n] = xb[b][0], x3[n] = xb[b][1];
                    double eN = isnan(x[n]) ? 1 : 1 / (1 + kN * x[n]);
                    double eD = isnan(x2[n]) ? 1 : 1 / (1 + kG * x2[n] + kM * x3[n]);
                    y[n] = pow(A * pow(N[n] * eN, -al) + B * pow(D[n] * eD, -be), gm) + E;
                    n++;
                }
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .x = x, .x2 = x2, .x3 = x3};
    cm_fit_result r;
    cm_diag dg;
    CHECK(fit_lsq(CM_FIT_METRIC, &d, &r, &dg) == CM_OK, "metric: %s", dg.msg);
    const double want[] = {A, al, B, be, E, gm, kN, kG, kM};
    CHECK(r.np == 9, "metric: 9 parameters, got %zu", r.np);
    for (int k = 0; k < 9 && k < (int)r.np; k++)
        CHECK_NEAR(r.p[k].value / want[k], 1, 1e-4, r.p[k].name);
    CHECK(!strcmp(r.p[6].name, "kN") && !strcmp(r.p[8].name, "kM"), "metric parameter names");
    CHECK_NEAR(cm_fit_predict(&r, &d, 100), y[100], 1e-9 * y[100], "metric predict");
    /* warm start at the answer, with replicates */
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    o.huber = INFINITY;
    o.start = want;
    o.bootstrap = 8;
    cm_fit_result w;
    CHECK(cm_fit(CM_FIT_METRIC, &d, &o, &w, &dg) == CM_OK, "metric warm: %s", dg.msg);
    CHECK(w.starts == 1, "a warm start is one start");
    CHECK_NEAR(w.p[6].value / kN, 1, 1e-6, "warm kN");
    CHECK(w.boot && w.nboot == 8, "replicates kept: %zu", w.nboot);
    for (size_t q = 0; w.boot && q < w.nboot; q++)
        CHECK_NEAR(w.boot[q * w.np + 6] / kN, 1, 1e-4, "replicate kN (exact data)");
    cm_fit_result_free(&w);
    /* without x3: no kM */
    d.x3 = NULL;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x2[i]))
            y[i] = pow(A * pow(N[i] * (isnan(x[i]) ? 1 : 1 / (1 + kN * x[i])), -al) +
                           B * pow(D[i] / (1 + kG * x2[i]), -be), gm) + E;
    cm_fit_result_free(&r);
    CHECK(fit_lsq(CM_FIT_METRIC, &d, &r, &dg) == CM_OK && r.np == 8, "metric without x3");
    CHECK_NEAR(r.p[7].value / kG, 1, 1e-4, "kG without x3");
    cm_fit_result_free(&r);
    x2[5] = -1;
    CHECK(fit_lsq(CM_FIT_METRIC, &d, &r, &dg) == CM_EINVAL, "a negative metric is refused");
    cm_fit_result_free(&r);
    d.x2 = NULL;
    CHECK(fit_lsq(CM_FIT_METRIC, &d, &r, &dg) == CM_EINVAL, "metric without x2 is refused");
    cm_fit_result_free(&r);
}

/* E not determined: runs that cannot tell E from A, B (E = 0, one D/N). */
static void identifiability(void)
{
    size_t n = 0;
    for (int s = 0; s < 8; s++) {
        N[n] = 3e7 * pow(1.6, s);
        D[n] = 100 * N[n];
        g[n] = CM_FIT_BASE;
        y[n] = 8 * pow(N[n], -0.06) + 80 * pow(D[n], -0.24);
        n++;
    }
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g};
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    cm_fit_result r;
    cm_diag dg;
    cm_fit(CM_FIT_DECOUPLED, &d, &o, &r, &dg);
    int any = 0;
    for (size_t k = 0; k < r.np; k++)
        any += !r.p[k].determined;
    CHECK(any > 0, "degenerate data must leave a parameter undetermined");
    cm_fit_result_free(&r);
}

static void bad_data(void)
{
    const double eff[] = {0.5};
    size_t n = make_runs(eff, 1, 0);
    cm_fit_data d = {.n = n, .N = N, .D = D, .y = y, .g = g, .ng = 1};
    cm_fit_result r;
    cm_diag dg;
    double keep = N[3];
    N[3] = -1;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, NULL, &r, &dg) == CM_EINVAL && strstr(dg.msg, "run 4"),
          "negative N: %s", dg.msg);
    cm_fit_result_free(&r);
    N[3] = keep;
    d.n = 5;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, NULL, &r, &dg) == CM_EINVAL, "5 runs, 6 parameters");
    cm_fit_result_free(&r);
    d.n = n;
    d.ng = 2; /* group 1 has no runs */
    const char *lab[] = {"x", "empty"};
    d.glabel = lab;
    CHECK(cm_fit(CM_FIT_DECOUPLED, &d, NULL, &r, &dg) == CM_EINVAL && strstr(dg.msg, "empty"),
          "group without runs: %s", dg.msg);
    cm_fit_result_free(&r);
    cm_fit_mode m;
    CHECK(cm_fit_mode_parse("unified", &m, &dg) == CM_OK && m == CM_FIT_UNIFIED, "parse mode");
    CHECK(cm_fit_mode_parse("linear", &m, &dg) == CM_EINVAL, "bad mode");
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void csv(void)
{
    char dir[] = "/tmp/cmcsvXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p[256];
    snprintf(p, sizeof p, "%s/a.csv", dir);
    cm_csv *t;
    cm_diag d;
    put_file(p, "a,b,\"c d\"\r\n1,\"x,y\",\"say \"\"hi\"\"\"\r\n\r\n2,,3\n");
    CHECK(cm_csv_read(p, &t, &d) == CM_OK, "read: %s", d.msg);
    if (t) {
        CHECK(t->ncol == 3 && t->nrow == 2, "shape %zux%zu", t->nrow, t->ncol);
        CHECK(!strcmp(cm_csv_at(t, 0, 1), "x,y"), "quoted comma");
        CHECK(!strcmp(cm_csv_at(t, 0, 2), "say \"hi\""), "doubled quote");
        CHECK(!strcmp(cm_csv_at(t, 1, 1), ""), "empty field");
        CHECK(t->line[1] == 4, "line of row 2: %ld", t->line[1]);
        CHECK(cm_csv_col(t, "c d") == 2 && cm_csv_col(t, "z") == -1, "columns");
        cm_csv_free(t);
    }
    struct {
        const char *text, *msg;
    } bad[] = {{"", "empty"},
               {"a,b\n1\n", ":2: 1 fields, the header has 2"},
               {"a,a\n1,2\n", "appears twice"},
               {"a,,b\n1,2,3\n", "no name"},
               {"a,b\n\"1,2\n", "unterminated quote"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_file(p, bad[i].text);
        t = NULL;
        CHECK(cm_csv_read(p, &t, &d) == CM_EPARSE && strstr(d.msg, bad[i].msg) && !t,
              "bad csv %zu: %s", i, d.msg);
    }
    snprintf(p, sizeof p, "%s/none.csv", dir);
    CHECK(cm_csv_read(p, &t, &d) == CM_EIO, "missing file");
    snprintf(p, sizeof p, "%s/a.csv", dir);
    remove(p);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    decoupled();
    robust();
    unified_and_map();
    quartet();
    metric();
    identifiability();
    bad_data();
    csv();
    return t_done("fit");
}
