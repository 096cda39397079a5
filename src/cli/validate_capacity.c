/* capmetric validate: published capacity tables through the GMSE map. */
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

int sec_capacity(vctx *v, const char *anchors, cJSON *extra)
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
        runs_err re;
        if (gmse_of(v->reg, &v->ev, t->spec, t->n, x, NULL, "validate", &re) ||
            gmse_of(v->reg, &v->ev, t->spec2, t->n, x2, NULL, "validate", &re))
            rc = runs_report(&re);
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
