/* capmetric bench: Monte-Carlo samples per second, exact-path time, fit time. */
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
#include "runs_int.h"

/* ---- bench ---------------------------------------------------------------------- */


static const char *const bench_exact_default[] = {
    "int4", "e2m1", "lut:name=nf4", "int:bits=8", "lloydmax:levels=256", "int:bits=16",
    "lloydmax:levels=65536", "fp16", "bf16", "mxfp4", "nvfp4", "mxfp8_e4m3", "mxint8",
    "int4_g128", "nf4"};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_fit(cJSON *root, int json, unsigned threads);

static const char *const bench_mc_default[] = {"int4_g32", "mxfp4", "nvfp4", "lut:name=nf4",
                                                "2:4", "int4", "e2m1"};

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* one timed Monte-Carlo run after a warm-up (tables, page faults, the BLAS
 * threads' start): values per second of wall and of CPU time, per thread */
static cm_status mc_rate(cm_plan *plan, uint64_t S, unsigned T, uint64_t seed, double *wall,
                         double *cpu, cm_diag *d)
{
    cm_mc_opts mo = {.samples = S, .seed = seed, .threads = T}, warm = mo;
    warm.samples = S / 4 > (1u << 22) ? (1u << 22) : S / 4 + 2;
    cm_mc_run *run = NULL;
    cm_status s = cm_mc_run_alloc(&plan, 1, &warm, &run, d);
    cm_mc_run_free(run);
    if (s)
        return s;
    double c0 = cpu_now();
    if ((s = cm_mc_run_alloc(&plan, 1, &mo, &run, d)))
        return s;
    double c = cpu_now() - c0;
    *wall = (double)cm_mc_samples(run) / cm_mc_seconds(run) / T;
    *cpu = (double)cm_mc_samples(run) / c; /* CPU seconds of all threads */
    cm_mc_run_free(run);
    return CM_OK;
}

/* The plain scalar loop of the engine before its vector paths, as the
 * reference for the speed-ups: PCG64 and the scalar ziggurat, the pipeline's
 * generic apply, the squared errors summed one by one; one thread. */
static double reference_rate(const cm_plan *plan, const cm_pipeline *p, uint64_t S,
                             uint64_t seed)
{
    const size_t C = 4096;
    double *x = malloc(2 * C * sizeof *x);
    cm_pipeline_state *st = NULL;
    cm_diag d;
    if (!x || cm_plan_state_alloc(plan, C, &st, &d)) {
        free(x);
        return NAN;
    }
    size_t g = cm_pipeline_group(p), c = C / g * g;
    cm_pcg64 r;
    cm_pcg64_stream(&r, seed, 0);
    double t0 = cli_now(), sum = 0;
    volatile double sink;
    for (uint64_t done = 0; done < S; done += c) {
        cm_gauss_fill(&r, x, c);
        cm_pipeline_apply(p, st, x, x + C, c);
        for (size_t i = 0; i < c; i++)
            sum += (x[i] - x[C + i]) * (x[i] - x[C + i]);
    }
    sink = sum;
    (void)sink;
    double t = cli_now() - t0;
    cm_pipeline_state_free(p, st);
    free(x);
    return (double)S / t;
}

/* Monte-Carlo rate of each spec on each instruction set this machine runs,
 * on 1 and T threads, in wall and CPU time per thread, and its ratio to the
 * plain scalar reference loop. */
static int bench_mc(const char *const *specs, cm_pipeline *const *p, size_t np, uint64_t S,
                    unsigned T, uint64_t seed, int json, cJSON *root)
{
    cm_diag d;
    cm_diag_clear(&d);
    int rc = 0;
    const cm_isa keep = cm_isa_active();
    cJSON_AddStringToObject(root, "tool", "capmetric");
    cJSON_AddStringToObject(root, "version", cm_version());
    cJSON *mcj = cJSON_AddArrayToObject(root, "results");
    cJSON_AddNumberToObject(root, "stream_version", CM_MC_STREAM_VERSION);
    static const char *const head[] = {"spec", "isa", "1 thread wall", "1 thread CPU",
                                       "per thread wall", "per thread CPU", "vs reference"};
    static const int right[] = {0, 0, 1, 1, 1, 1, 1};
    cli_table t;
    cli_table_init(&t, 7, head, right);
    for (size_t i = 0; i < np && !rc; i++) {
        cm_plan *plan = NULL;
        cm_status s = cm_plan_alloc(p[i], &plan, &d);
        if (s) {
            rc = report(s, &d, specs[i], NULL);
            break;
        }
        double ref = reference_rate(plan, p[i], S / 4 > (1u << 24) ? (1u << 24) : S / 4 + 2,
                                    seed);
        for (int k = CM_ISA_COUNT - 1; k >= 0 && !rc; k--) {
            if (!cm_isa_available((cm_isa)k))
                continue;
            cm_isa_set((cm_isa)k, &d);
            double w1, c1, wt, ct;
            if ((s = mc_rate(plan, S, 1, seed, &w1, &c1, &d)) ||
                (s = mc_rate(plan, S, T, seed, &wt, &ct, &d))) {
                rc = report(s, &d, specs[i], NULL);
                break;
            }
            char c[6][32];
            snprintf(c[0], 32, "%.1f M/s", w1 / 1e6);
            snprintf(c[1], 32, "%.1f M/s", c1 / 1e6);
            snprintf(c[2], 32, "%.1f M/s (%u)", wt / 1e6, T);
            snprintf(c[3], 32, "%.1f M/s", ct / 1e6);
            snprintf(c[4], 32, "%.1fx", w1 / ref);
            const char *row[] = {specs[i], cm_isa_name((cm_isa)k), c[0], c[1], c[2], c[3], c[4]};
            cli_table_row(&t, row);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(mcj, e);
            cJSON_AddStringToObject(e, "spec", specs[i]);
            cJSON_AddStringToObject(e, "isa", cm_isa_name((cm_isa)k));
            cJSON_AddNumberToObject(e, "samples", (double)S);
            cJSON_AddNumberToObject(e, "per_thread_1_wall", w1);
            cJSON_AddNumberToObject(e, "per_thread_1_cpu", c1);
            cJSON_AddNumberToObject(e, "threads", T);
            cJSON_AddNumberToObject(e, "per_thread_all_wall", wt);
            cJSON_AddNumberToObject(e, "per_thread_all_cpu", ct);
            cJSON_AddNumberToObject(e, "reference_scalar_loop", ref);
            cJSON_AddNumberToObject(e, "speedup_vs_reference", w1 / ref);
        }
        cm_plan_free(plan);
    }
    cm_isa_set(keep, &d);
    cJSON_AddItemToObject(root, "mc", cJSON_Duplicate(mcj, 1)); /* (the old name, one version) */
    if (!rc && !json) {
        printf("Monte Carlo (generation + quantization + accumulation), values per second per "
               "thread;\n'vs reference': one thread against the plain scalar loop (PCG64, scalar "
               "ziggurat, generic apply):\n");
        cli_table_print(&t);
    }
    cli_table_fini(&t);
    return rc;
}

/* The exact path as eval takes it (optimal scale, then GMSE) on the
 * built-in list, median of 5, then the QuEST fit. */
static int bench_exact(const cm_registry *reg, int json, unsigned threads, cJSON *root)
{
    int rc = 0;
    cm_diag d;
    cm_diag_clear(&d);
    cli_table t;
    static const char *const h2[] = {"spec", "levels", "parse/design (ms)", "exact gmse (ms)",
                                     "gmse"};
    static const int r2[] = {0, 1, 1, 1, 1};
    cli_table_init(&t, 5, h2, r2);
    cJSON *exj = cJSON_AddArrayToObject(root, "exact");
    for (size_t i = 0; i < sizeof bench_exact_default / sizeof *bench_exact_default && !rc;
         i++) {
        const char *sp = bench_exact_default[i];
        double tparse[5], tex[5], mse = NAN;
        size_t k = 0;
        for (int rep = 0; rep < 5 && !rc; rep++) {
            struct timespec a, b, c2;
            cm_pipeline *q = NULL;
            clock_gettime(CLOCK_MONOTONIC, &a);
            cm_status s = cm_spec_parse(reg, sp, &q, &d);
            clock_gettime(CLOCK_MONOTONIC, &b);
            /* the exact path as eval takes it: optimal scale, then GMSE */
            cm_plan *qp = NULL;
            if (!s)
                s = cm_plan_alloc(q, &qp, &d);
            if (!s)
                s = cm_exact_gmse(qp, &mse, &d);
            cm_plan_free(qp);
            if (!s) {
                double *lv = NULL;
                if (cm_exact_pipeline_levels(q, 0, &lv, &k, &d) != CM_OK)
                    k = 0;
                free(lv);
            }
            clock_gettime(CLOCK_MONOTONIC, &c2);
            cm_pipeline_free(q);
            if (s) {
                rc = report(s, &d, sp, NULL);
                break;
            }
            tparse[rep] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) * 1e-6;
            tex[rep] = (double)(c2.tv_sec - b.tv_sec) * 1e3 + (double)(c2.tv_nsec - b.tv_nsec) * 1e-6;
        }
        if (rc)
            break;
        qsort(tparse, 5, sizeof *tparse, by_double);
        qsort(tex, 5, sizeof *tex, by_double);
        char c[4][32];
        snprintf(c[0], 32, "%zu", k);
        snprintf(c[1], 32, "%.2f", tparse[2]);
        snprintf(c[2], 32, "%.2f", tex[2]);
        snprintf(c[3], 32, "%.10g", mse);
        const char *row[] = {sp, c[0], c[1], c[2], c[3]};
        cli_table_row(&t, row);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(exj, e);
        cJSON_AddStringToObject(e, "spec", sp);
        cJSON_AddNumberToObject(e, "levels", (double)k);
        cJSON_AddNumberToObject(e, "design_ms", tparse[2]);
        cJSON_AddNumberToObject(e, "exact_ms", tex[2]);
        cJSON_AddNumberToObject(e, "gmse", mse);
    }
    if (!rc && !json) {
        printf("\nExact path (median of 5 runs):\n");
        cli_table_print(&t);
    }
    cli_table_fini(&t);
    if (!rc)
        rc = bench_fit(root, json, threads);
    return rc;
}

/* Arrays (eval --data, quantize): values per second reading a float32 array
 * in memory (a file in the page cache is the same), quantizing and
 * accumulating; and quantizing into a float32 output. Median of 3. */
static const char *const bench_data_default[] = {"int4_g32", "mxfp4", "nvfp4", "int4"};

static int bench_data(const cm_registry *reg, unsigned T, int json, cJSON *root)
{
    const size_t n = (size_t)1 << 24;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *g = malloc(4096 * sizeof *g);
    int rc = 0;
    if (!x || !y || !g) {
        free(x);
        free(y);
        free(g);
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    cm_pcg64 r;
    cm_pcg64_stream(&r, 1, 0);
    for (size_t i = 0; i < n; i += 4096) {
        cm_gauss_fill(&r, g, 4096);
        for (size_t k = 0; k < 4096; k++)
            x[i + k] = (float)(0.02 * g[k]);
    }
    cm_array a = {.data = x, .dtype = CM_DTYPE_F32, .ndim = 2, .shape = {n / 4096, 4096}};
    cJSON *dj = cJSON_AddArrayToObject(root, "data");
    static const char *const head[] = {"spec", "values", "eval 1 thread (M/s)",
                                       "quantize 1 thread (M/s)", "threads", "eval all (M/s)"};
    static const int right[] = {0, 1, 1, 1, 1, 1};
    cli_table t;
    cli_table_init(&t, 6, head, right);
    for (size_t i = 0; i < sizeof bench_data_default / sizeof *bench_data_default && !rc; i++) {
        cm_pipeline *p = NULL;
        cm_diag d;
        if (cm_spec_parse(reg, bench_data_default[i], &p, &d)) {
            rc = report(CM_EPARSE, &d, bench_data_default[i], NULL);
            break;
        }
        double rate[3];
        for (int mode = 0; mode < 3 && !rc; mode++) { /* eval 1, quantize 1, eval T */
            cm_array_opts o;
            cm_array_opts_default(&o);
            o.threads = mode == 2 ? T : 1;
            double tm[3];
            for (int k = 0; k < 3 && !rc; k++) {
                cm_array_stats st;
                double t0 = cli_now();
                cm_status s = mode == 1 ? cm_array_quantize(p, &a, &o, y, CM_DTYPE_F32, &st, &d)
                                        : cm_array_eval(p, &a, &o, &st, &d);
                tm[k] = cli_now() - t0;
                if (s)
                    rc = report(s, &d, bench_data_default[i], NULL);
            }
            qsort(tm, 3, sizeof *tm, by_double);
            rate[mode] = (double)n / tm[1] / 1e6;
        }
        cm_pipeline_free(p);
        if (rc)
            break;
        char c[5][32];
        snprintf(c[0], 32, "%zu", n);
        snprintf(c[1], 32, "%.0f", rate[0]);
        snprintf(c[2], 32, "%.0f", rate[1]);
        snprintf(c[3], 32, "%u", T);
        snprintf(c[4], 32, "%.0f", rate[2]);
        const char *row[] = {bench_data_default[i], c[0], c[1], c[2], c[3], c[4]};
        cli_table_row(&t, row);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(dj, e);
        cJSON_AddStringToObject(e, "spec", bench_data_default[i]);
        cJSON_AddNumberToObject(e, "values", (double)n);
        cJSON_AddNumberToObject(e, "eval_mvalues_per_s_1_thread", rate[0]);
        cJSON_AddNumberToObject(e, "quantize_mvalues_per_s_1_thread", rate[1]);
        cJSON_AddNumberToObject(e, "threads", T);
        cJSON_AddNumberToObject(e, "eval_mvalues_per_s_all", rate[2]);
    }
    if (!rc && !json) {
        printf("\nArrays (float32 in memory, as eval --data and quantize read them):\n");
        cli_table_print(&t);
    }
    cli_table_fini(&t);
    free(x);
    free(y);
    free(g);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    cm_pipeline **p = NULL;
    size_t np = 0;
    if (rc || (rc = load_registry(&o, &reg)))
        goto out;
    const char *const *specs = o.nspecs ? o.specs : bench_mc_default;
    np = o.nspecs ? o.nspecs : sizeof bench_mc_default / sizeof bench_mc_default[0];
    if ((rc = parse_specs(reg, specs, np, &p)))
        goto out;
    uint64_t S = o.samples_given ? o.ev.samples : (UINT64_C(1) << 26);
    unsigned T = o.ev.threads ? o.ev.threads : cm_default_threads();
    cJSON *root = cJSON_CreateObject();
    rc = bench_mc(specs, p, np, S, T, o.ev.seed, o.json, root);
    if (!rc && !o.nspecs)
        rc = bench_exact(reg, o.json, o.ev.threads, root);
    if (!rc && !o.nspecs)
        rc = bench_data(reg, T, o.json, root);
    if (!rc && o.json) {
        char *s = cJSON_Print(root);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
    }
    cJSON_Delete(root);
out:
    free_specs(p, np);
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}

/* `capmetric bench`: the 1125-start QuEST fit (all 104 runs, the notebook's
 * settings), on one thread and on all; skipped when the run data are absent. */
static int bench_fit(cJSON *root, int json, unsigned threads)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/quest_runs.csv", runs_dir());
    if (access(path, R_OK)) {
        if (!json)
            printf("\nLaw fit: skipped (no data/runs/quest_runs.csv here)\n");
        return 0;
    }
    runs rr;
    runcols c = {0};
    cm_eval_opts ev;
    cm_eval_opts_default(&ev);
    runs_err re;
    if (runs_load(path, &c, CM_FIT_DECOUPLED, NULL, &ev, &rr, &re))
        return runs_report(&re);
    int rc = 0;
    cm_fit_data d;
    runs_data(&rr, &d);
    cm_fit_opts o;
    cm_fit_opts_default(&o);
    cli_fit_preset("quest", &o);
    unsigned T = threads ? threads : cm_default_threads();
    double sec[2] = {NAN, NAN};
    size_t starts = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        cm_fit_result f;
        cm_diag dg;
        cm_diag_clear(&dg);
        o.threads = k ? T : 1;
        cm_status s = cm_fit(CM_FIT_DECOUPLED, &d, &o, &f, &dg);
        if (s)
            rc = report(s, &dg, path, NULL);
        sec[k] = f.seconds;
        starts = f.starts;
        cm_fit_result_free(&f);
    }
    runs_free(&rr);
    if (rc)
        return rc;
    if (json) {
        cJSON *e = cJSON_AddObjectToObject(root, "fit");
        cJSON_AddStringToObject(e, "what", "QuEST decoupled fit, 104 runs, 21 parameters");
        cJSON_AddNumberToObject(e, "starts", (double)starts);
        cJSON_AddNumberToObject(e, "seconds_1_thread", sec[0]);
        cJSON_AddNumberToObject(e, "threads", T);
        cJSON_AddNumberToObject(e, "seconds_all_threads", sec[1]);
    } else {
        printf("\nLaw fit (QuEST decoupled, 104 runs, 21 parameters, %zu starts): %.2f s on 1 "
               "thread, %.2f s on %u\n", starts, sec[0], sec[1], T);
    }
    return 0;
}
