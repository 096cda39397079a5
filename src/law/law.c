/* Capacity laws (capmetric/law.h). Built-in laws are rows of one const table;
 * laws fitted by `capmetric fit` are loaded from JSON into the same struct.
 * Constants are cited where they are typed (anchors: capacity.json). */
#include <capmetric/law.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <capmetric/io.h>
#include <capmetric/spec.h>

#include "law_boot.h"
#include "law_int.h"
#include "util_int.h"


#define X NAN

/* IST-DASLab/QuEST notebooks/plots.ipynb "Best fitted parameters" (anchors:
 * capacity.json quest_eff, at full printed precision); W&A Hadamard and
 * weight-only columns. */
static const law_row quest_rows[] = {
    {"1", "int:bits=1,grid=midrise,pack=code,round=rne,scale=opt", {0.0205046859, 0.138419575, X, X}},
    {"2", "int:bits=2,grid=midrise,pack=code,round=rne,scale=opt", {0.151870911, 0.413717453, X, X}},
    {"3", "int:bits=3,grid=midrise,pack=code,round=rne,scale=opt", {0.433126203, 0.653058816, X, X}},
    {"4", "int:bits=4,grid=midrise,pack=code,round=rne,scale=opt", {0.691831718, 0.840434222, X, X}},
    {"8", "int:bits=8,grid=midrise,pack=code,round=rne,scale=opt", {1.01619263, X, X, X}},
    {"fp4", "fp:e=2,m=1,special=none,subnormals=1,bias=1,round=rne,overflow=saturate,scale=opt", {0.629639028, X, X, X}},
    {"2.5", "nm:n=2,m=4,mask=entropy+int:bits=4,grid=midrise,pack=code,round=rne,scale=opt", {0.381222089, X, X, X}},
};
static const law_row quest_noh_rows[] = {
    {"1NOH", "int:bits=1,grid=midrise,pack=code,round=rne,scale=opt", {0.0155770373, X, X, X}},
    {"2NOH", "int:bits=2,grid=midrise,pack=code,round=rne,scale=opt", {0.0784119072, X, X, X}},
    {"3NOH", "int:bits=3,grid=midrise,pack=code,round=rne,scale=opt", {0.322107861, X, X, X}},
    {"4NOH", "int:bits=4,grid=midrise,pack=code,round=rne,scale=opt", {0.603270679, X, X, X}},
    {"8NOH", "int:bits=8,grid=midrise,pack=code,round=rne,scale=opt", {0.937628722, X, X, X}},
};
/* IST-DASLab/Quartet notebooks/plots.ipynb at 5b9d74c (shared/data/runs/
 * README.md): forward-only QuEST MXFP4 effN; the full Quartet recipe
 * (forward and backward in MXFP4) effN and effD. */
static const law_row quartet_rows[] = {
    {"quartet",
     "fp:e=2,m=1,special=none,subnormals=1,bias=1,round=rne,overflow=saturate,scale=floor,"
     "block=32,scale_fmt=e8m0,tensor_scale=none", {0.64516, X, 0.65835, 0.82174}},
};

/* Kumar et al., arXiv 2411.04330 Eq. 2-4, App. K Table 2 (capacity.json
 * kumar_precision_law): gamma_w, gamma_a, gamma_kv. */
static const double kumar_k[] = {2.6745, 2.2102, 0.9578};
/* Chen et al., arXiv 2505.14302 (capacity.json chen_qat_law): k, gamma_N,
 * gamma_D, gamma_G for W4A4, W4A16, W16A4. */
static const double chen_k[] = {0.1582, 0.2186, 0.0745, 0.7779, 0.2522, 0.3589, 0.161,
                                0.3533, 0.1004, 0.1816, 0.0331, 0.9812};
/* Sun et al., arXiv 2501.02423 v3 Eq. 1 and Table 2 (capacity.json
 * capybara_fp_law): gamma, delta, nu (n, alpha, d, beta, eps are the base). */
static const double capy_k[] = {11334.5197, 3.1926, 2.9543};

#define NROWS(a) (sizeof a / sizeof a[0])

/* unified-quartet2: kN, kG, kM (fitted by `capmetric validate`, section Quartet II) */
static const double q2_k[] = {39.43595337590226, 1.321116216030924, 0.1094780243870499};
/* Ouyang et al. 2024 (arXiv 2411.17691) Eq. 8 joint fit: k, alpha (N), beta (D), gamma (P) */
static const double ouyang_k[] = {0.017, 0.2261, 0.5316, 5.4451};

/* the fields after heap: filled for loaded laws; built-in ones read metas[] */
#define NO_META 0, 0, 0, 0, NULL, NULL, 0, 0

static const cm_law laws[] = {
    {"unified-llama-c4",
     "Panferov et al. 2025 (arXiv 2506.01863) Eq. 3, Table 3, Llama/C4 (A, B unpublished)",
     "rho = L tanh(F log4(1/GMSE))^C; " BASE_FORM, "GMSE (any format)", K_MAP, X, 0.13, X, 0.33,
     1.3, 1, 0.41, 1.39, 1.0, NULL, 0, NULL, 0, NO_META},
    {"unified-olmo2",
     "Panferov et al. 2025 (arXiv 2506.01863) Eq. 3, Table 3, OLMo2/ClimbMix (A, B unpublished)",
     "rho = L tanh(F log4(1/GMSE))^C; " BASE_FORM, "GMSE (any format)", K_MAP, X, 0.18, X, 0.26,
     1.4, 1, 0.37, 1.24, 0.84, NULL, 0, NULL, 0, NO_META},
    /* fitted by this tool on the QuEST runs: `capmetric fit data/runs/quest_runs.csv
     * --mode unified --specs data/runs/quest_specs.csv --where
     * "fit_group=wa_hadamard;wa_fp4_hadamard;bf16_baseline"` (58 runs; Huber 1e-3,
     * 1125 starts). E is not determined by these runs (fitted 3.6e-47): 0 here.
     * `capmetric validate` refits it and checks these digits. */
    {"unified-quest",
     "capmetric unified fit on the QuEST C4 runs (W&A Hadamard INT1-8, FP4 E2M1, BF16; 58 runs)",
     "rho = L tanh(F log4(1/GMSE))^C; " BASE_FORM, "GMSE (any format)", K_UNIFIED,
     8.30081164150221, 0.06387240733333913, 77.5304271215062, 0.23650806971965793, 0, 1,
     0.405684280950658, 3.192044665376239, 1.07090566526698, NULL, 0, NULL, 0, NO_META},
    {"quest", "Panferov et al. 2025 QuEST (arXiv 2502.05003), notebook fit of eff(P)",
     "L = A/(N eff)^alpha + B/D^beta + E, eff from the published table",
     "the spec must be a format of the table (int1-4, int8, e2m1, 2:4+int4); tensors w,a or w",
     K_TABLE, 8.134031011055859, 0.062726522, 86.41190623830154, 0.241288351,
     0.0014232897805828435, 1, X, X, X, quest_rows, NROWS(quest_rows), NULL, 0, NO_META},
    {"quest-noh", "QuEST (arXiv 2502.05003) notebook fit, W&A INT without Hadamard",
     "L = A/(N eff)^alpha + B/D^beta + E, eff from the published table",
     "the spec must be int1-4 or int8; tensors w,a", K_TABLE, 8.134031011055859, 0.062726522,
     86.41190623830154, 0.241288351, 0.0014232897805828435, 1, X, X, X, quest_noh_rows,
     NROWS(quest_noh_rows), NULL, 0, NO_META},
    {"kumar", "Kumar et al. 2024 'Scaling Laws for Precision' (arXiv 2411.04330) Eq. 2-4, App. K",
     "L = A N_eff^-alpha + B D^-beta + E, N_eff = N prod_t (1 - exp(-P_t/gamma_t)), t = w, a, kv",
     "bits of an int or fp spec (P of each tensor in --tensors; the others at 16)", K_KUMAR,
     4299.0, 0.4965, 18060.0, 0.4965, 2.7648, 1, X, X, X, NULL, 0, kumar_k, 0, NO_META},
    {"chen-qat", "Chen et al. 2025 'Scaling Law for Quantization-Aware Training' (arXiv 2505.14302)",
     "delta_p = k D^gamma_D (log2 G)^gamma_G / N^gamma_N (A, B, E unpublished)",
     "int4 with block=G (the group size); tensors w,a | w | a", K_CHEN, X, X, X, X, X, 1, X, X,
     X, NULL, 0, chen_k, 0, NO_META},
    {"capybara", "Sun et al. 2025 'Scaling Laws for Floating-Point Quantization Training' "
                 "(arXiv 2501.02423 v3) Eq. 1, Table 2",
     "L = n/N^alpha + d/D^beta + eps + D^beta/N^alpha log2(B)/(gamma (E+.5)^delta (M+.5)^nu)",
     "fp spec: exponent bits E, mantissa bits M, block=B", K_CAPYBARA, 69.2343, 0.2368,
     68973.0621, 0.5162, 1.9061, 1, X, X, X, NULL, 0, capy_k, 0, NO_META},
    {"quartet", "Castro et al. 2025 Quartet (arXiv 2505.14669), notebook fit at 5b9d74c",
     "L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E",
     "mxfp4; tensors w,a (forward only) or w,a,g (Quartet: forward and backward)", K_TABLE,
     127444.7, 0.578520, 465834.3, 0.538877, 1.340846, 0.276416, X, X, X, quartet_rows,
     NROWS(quartet_rows), NULL, 0, NO_META},
    /* fitted by this tool on Quartet II's 574 runs (data/runs/quartet2_runs.csv, formats
     * data/runs/quartet2_specs.csv): `capmetric validate`, section "Quartet II: the unified
     * law's constants", which refits it and checks these digits. */
    {"unified-quartet2",
     "capmetric fit on Quartet II's 574 NVFP4/MXFP4 training runs (arXiv 2601.22813, "
     "IST-DASLab/Quartet-II for_plots/runs.json); not a published law",
     "L = (A/(N effN)^alpha + B/(D effD)^beta)^gamma + E, effN = 1/(1 + kN GMSE) for w,a; "
     "effD = 1/(1 + kG 4 GMSE + kM 4 |misalignment|) for g (4 backward operands)",
     "GMSE and misalignment (any format); tensors w,a (forward), g (backward) or w,a,g", K_METRIC,
     6502.875775006827, 0.35719606888575256, 325838.1916567698, 0.5064813575147683,
     0.745237739272578, 0.306916397242537, X, X, X, NULL, 0, q2_k,
     0, NO_META},
    {"ouyang-qid",
     "Ouyang et al. 2024 'Low-Bit Quantization Favors Undertrained LLMs' (arXiv 2411.17691) "
     "Eq. 8, joint fit on Pythia GPTQ checkpoints",
     "delta_qLoss = k D^beta / (N^alpha P^gamma), P = bits per weight (16-bit base loss not "
     "included)",
     "weight-only post-training quantization: an int or fp spec (P = its bits); tensors w",
     K_OUYANG, X, X, X, X, X, 1, X, X, X, NULL, 0, ouyang_k, 0, NO_META},
};

/* What each built-in law was fitted on (N non-embedding parameters, D tokens), and
 * its undetermined constants. 0: not recorded. */
typedef struct law_meta {
    const char *name;
    double nlo, nhi, dlo, dhi;
    const char *undet;
} law_meta;
static const law_meta metas[] = {
    /* data/runs/quest_runs.csv (the 104 runs; the unified fit uses 58 of the same range) */
    {"quest", 30482560, 822151168, 749993984, 79999795200, NULL},
    {"quest-noh", 30482560, 822151168, 749993984, 79999795200, NULL},
    {"unified-quest", 30482560, 822151168, 749993984, 79999795200, "E"},
    /* data/runs/quartet_runs.csv */
    {"quartet", 30482560, 1586076160, 749993984, 158607616000, NULL},
    /* data/runs/quartet2_runs.csv */
    {"unified-quartet2", 30482560, 203188480, 749993984, 79999795200, "A, B, E, kG, kM"},
    /* Kumar et al. Sec. 3: N 30, 60, 110, 220 M (non-embedding), D 1.5-26 B tokens */
    {"kumar", 3e7, 2.2e8, 1.5e9, 2.6e10, NULL},
    /* Pythia suite as the paper states it: 160M-12B parameters, 1B-206B tokens */
    {"ouyang-qid", 1.6e8, 1.2e10, 1e9, 2.06e11, NULL},
};

static const law_meta *meta_of(const cm_law *l)
{
    for (size_t i = 0; !l->heap && i < sizeof metas / sizeof metas[0]; i++)
        if (!strcmp(metas[i].name, l->name))
            return &metas[i];
    return NULL;
}

int cm_law_range(const cm_law *l, double *nlo, double *nhi, double *dlo, double *dhi)
{
    const law_meta *m = meta_of(l);
    double a = m ? m->nlo : l->nlo, b = m ? m->nhi : l->nhi;
    double c = m ? m->dlo : l->dlo, e = m ? m->dhi : l->dhi;
    if (!(a > 0 && b > 0 && c > 0 && e > 0))
        return -1;
    *nlo = a, *nhi = b, *dlo = c, *dhi = e;
    return 0;
}

const char *cm_law_undetermined(const cm_law *l)
{
    const law_meta *m = meta_of(l);
    return m ? m->undet : l->undet;
}

/* the bootstrap replicates of a law: built-in ones from law_boot.c */
static const double *boot_of(const cm_law *l, size_t *n, size_t *kb)
{
    if (l->heap) {
        *n = l->nboot, *kb = l->kb;
        return l->boot;
    }
    return cm_law_boot_builtin(l->name, n, kb);
}

#define N_LAWS (sizeof laws / sizeof laws[0])

size_t cm_law_count(void) { return N_LAWS; }
const cm_law *cm_law_get(size_t i) { return i < N_LAWS ? &laws[i] : NULL; }
const char *cm_law_name(const cm_law *l) { return l->name; }
const char *cm_law_source(const cm_law *l) { return l->source; }
const char *cm_law_form(const cm_law *l) { return l->form; }
const char *cm_law_inputs(const cm_law *l) { return l->inputs; }
int cm_law_has_map(const cm_law *l) { return l->kind == K_MAP || l->kind == K_UNIFIED; }

cm_status cm_law_find(const char *name, const cm_law **out, cm_diag *d)
{
    for (size_t i = 0; i < N_LAWS; i++)
        if (!strcmp(laws[i].name, name)) {
            *out = &laws[i];
            return CM_OK;
        }
    cm_buf b;
    cm_buf_init(&b);
    const char *names[N_LAWS];
    for (size_t i = 0; i < N_LAWS; i++) {
        cm_buf_printf(&b, "%s, ", laws[i].name);
        names[i] = laws[i].name;
    }
    char hint[96];
    cm_diag_set(d, CM_ENOTFOUND, "unknown law '%s'%s (laws: %sfile:PATH.json)", name,
                cm_did_you_mean(cm_suggest(name, names, N_LAWS), hint, sizeof hint),
                b.s ? b.s : "");
    cm_buf_free(&b);
    return CM_ENOTFOUND;
}

double cm_eff_bits(double gmse)
{
    if (gmse == 0)
        return INFINITY;
    return -log(gmse) / log(4.0);
}

double cm_law_rho(const cm_law *l, double gmse)
{
    if (!cm_law_has_map(l) || isnan(gmse) || gmse < 0)
        return NAN;
    if (gmse >= 1.0)
        return 0.0;
    if (gmse == 0.0)
        return l->L;
    return l->L * pow(tanh(l->F * cm_eff_bits(gmse)), l->C);
}

cm_status cm_tensors_parse(const char *text, unsigned *out, cm_diag *d)
{
    unsigned t = 0;
    const char *s = text;
    while (*s) {
        size_t n = strcspn(s, ",");
        unsigned bit = n == 1 && *s == 'w'                 ? CM_TENSOR_W
                       : n == 1 && *s == 'a'               ? CM_TENSOR_A
                       : n == 2 && !strncmp(s, "kv", 2)    ? CM_TENSOR_KV
                       : n == 1 && *s == 'g'               ? CM_TENSOR_G
                                                           : 0;
        if (!bit || (t & bit))
            return cm_diag_set(d, CM_EINVAL,
                               "tensors '%s' not accepted at '%.*s' (accepted: a list of "
                               "distinct w, a, kv, g separated by ',', e.g. w,a)",
                               text, (int)n, s);
        t |= bit;
        s += n;
        if (*s == ',' && *++s == '\0')
            return cm_diag_set(d, CM_EINVAL, "tensors '%s' ends with ','", text);
    }
    if (!t)
        return cm_diag_set(d, CM_EINVAL, "tensors: empty list (accepted: w, a, kv, g, e.g. w,a)");
    *out = t;
    return CM_OK;
}

/* ---- traits of a format (the parsed pipeline, never its text) ---------------------- */

/* 1 when the format is one stage of family `fam` */
static int single_of(const cm_law_input *in, const char *fam)
{
    const cm_pipeline *p = in->pipeline;
    return p && cm_pipeline_stages(p) == 1 && !strcmp(cm_pipeline_format(p, 0)->name, fam);
}

/* the number of key `key` of the (single) stage; NaN if it has none */
static double trait_num(const cm_law_input *in, const char *key)
{
    double x = NAN;
    if (!in->pipeline || cm_pipeline_value(in->pipeline, 0, key, &x, NULL))
        return NAN;
    return x;
}

/* ---- prediction ------------------------------------------------------------------------ */

static double base_loss(const cm_law *l, double neff, double deff)
{
    return pow(l->A * pow(neff, -l->alpha) + l->B * pow(deff, -l->beta), l->gamma) + l->E;
}

static cm_status refuse(const cm_law *l, const cm_law_input *in, cm_diag *d, const char *why)
{
    return cm_diag_set(d, CM_EUNSUPPORTED, "law %s cannot judge '%s': %s (it accepts: %s)",
                       l->name, in->label ? in->label : in->spec, why, l->inputs);
}

static cm_status table_row(const cm_law *l, const cm_law_input *in, const law_row **row,
                           cm_diag *d)
{
    for (size_t i = 0; i < l->nrows; i++) {
        const law_row *r = &l->rows[i];
        if (!r->spec)
            continue;
        if (!strcmp(r->spec, in->spec)) {
            *row = r;
            return CM_OK;
        }
        /* built-in rows are canonical: a mismatch is final. A law file may hold a
         * spec as typed by hand: read it with the registry to compare. */
        if (!l->heap || !in->reg)
            continue;
        cm_pipeline *p = NULL;
        cm_diag dd;
        cm_diag_clear(&dd);
        if (cm_spec_parse(in->reg, r->spec, &p, &dd) == CM_OK) {
            int same = !strcmp(cm_pipeline_canonical(p), in->spec);
            cm_pipeline_free(p);
            if (same) {
                *row = r;
                return CM_OK;
            }
        }
    }
    return refuse(l, in, d, "the format is not in the law's table");
}

cm_status cm_law_predict(const cm_law *l, const cm_law_input *in, cm_law_output *o, cm_diag *d)
{
    o->rho = NAN;
    o->rho_d = 1;
    o->loss = o->loss_base = o->gap = NAN;
    if (!(in->N > 0) || !(in->D > 0) || isinf(in->N) || isinf(in->D))
        return cm_diag_set(d, CM_EINVAL, "N and D must be positive and finite (got N=%g, D=%g)",
                           in->N, in->D);
    unsigned t = in->tensors ? in->tensors : CM_TENSOR_W | CM_TENSOR_A;
    double N = in->N, D = in->D;
    switch (l->kind) {
    case K_MAP:
    case K_UNIFIED:
        if (isnan(in->gmse))
            return refuse(l, in, d, "no GMSE");
        o->rho = cm_law_rho(l, in->gmse);
        if (l->kind == K_UNIFIED) {
            o->loss = base_loss(l, N * o->rho, D);
            o->loss_base = base_loss(l, N, D);
            o->gap = o->loss - o->loss_base;
        }
        return CM_OK;
    case K_TABLE: {
        const law_row *r;
        cm_status s = table_row(l, in, &r, d);
        if (s)
            return s;
        double en, ed = 1;
        if (l->heap) /* a fitted table: the setting of its data */
            en = r->eff[C_WA], ed = isnan(r->eff[C_WAG_D]) ? 1 : r->eff[C_WAG_D];
        else if (t == (CM_TENSOR_W | CM_TENSOR_A))
            en = r->eff[C_WA];
        else if (t == CM_TENSOR_W)
            en = r->eff[C_W];
        else if (t == (CM_TENSOR_W | CM_TENSOR_A | CM_TENSOR_G))
            en = r->eff[C_WAG_N], ed = r->eff[C_WAG_D];
        else
            en = NAN;
        if (isnan(en) || isnan(ed))
            return refuse(l, in, d, "no published value for this format with these tensors");
        o->rho = en;
        o->rho_d = ed;
        o->loss = base_loss(l, N * en, D * ed);
        o->loss_base = base_loss(l, N, D);
        o->gap = o->loss - o->loss_base;
        return CM_OK;
    }
    case K_KUMAR: {
        if (!single_of(in, "int") && !single_of(in, "fp"))
            return refuse(l, in, d, "P is the precision of an integer or floating-point format");
        if (t & CM_TENSOR_G)
            return refuse(l, in, d, "the law has no gradient term");
        static const unsigned tb[3] = {CM_TENSOR_W, CM_TENSOR_A, CM_TENSOR_KV};
        double f = 1, f16 = 1;
        for (int k = 0; k < 3; k++) {
            double P = (t & tb[k]) ? in->bits : 16;
            f *= -expm1(-P / l->k[k]);
            f16 *= -expm1(-16 / l->k[k]);
        }
        o->rho = f / f16;
        o->loss = base_loss(l, N * f, D);
        o->loss_base = base_loss(l, N * f16, D);
        o->gap = o->loss - o->loss_base;
        return CM_OK;
    }
    case K_CHEN: {
        int v = t == (CM_TENSOR_W | CM_TENSOR_A) ? 0 : t == CM_TENSOR_W ? 1 : t == CM_TENSOR_A ? 2 : -1;
        if (v < 0)
            return refuse(l, in, d, "the law has W4A4, W4A16 and W16A4 fits only");
        if (!single_of(in, "int") || trait_num(in, "bits") != 4)
            return refuse(l, in, d, "the law was fitted on 4-bit integer QAT");
        double G = trait_num(in, "block");
        if (!(G >= 2))
            return refuse(l, in, d, "the law needs a group size: give block=G");
        const double *k = l->k + 4 * v;
        o->gap = k[0] * pow(D, k[2]) * pow(log2(G), k[3]) / pow(N, k[1]);
        return CM_OK;
    }
    case K_METRIC: {
        if (isnan(in->gmse))
            return refuse(l, in, d, "no GMSE");
        unsigned fw = CM_TENSOR_W | CM_TENSOR_A;
        if ((t & ~(fw | CM_TENSOR_G)) || ((t & fw) && (t & fw) != fw))
            return refuse(l, in, d, "it was fitted with w and a quantized together (forward) "
                                    "and gradients (g)");
        double mis = isnan(in->misalignment) ? 0 : fabs(in->misalignment);
        o->rho = (t & fw) ? 1 / (1 + l->k[0] * in->gmse) : 1;
        o->rho_d = (t & CM_TENSOR_G) ? 1 / (1 + 4 * (l->k[1] * in->gmse + l->k[2] * mis)) : 1;
        o->loss = base_loss(l, N * o->rho, D * o->rho_d);
        o->loss_base = base_loss(l, N, D);
        o->gap = o->loss - o->loss_base;
        return CM_OK;
    }
    case K_OUYANG: {
        if (!single_of(in, "int") && !single_of(in, "fp"))
            return refuse(l, in, d, "P is the bit width of an integer or floating-point format");
        if (t & ~(CM_TENSOR_W | CM_TENSOR_A))
            return refuse(l, in, d, "the law is for weight quantization after training");
        const double *k = l->k;
        o->gap = k[0] * pow(D, k[2]) / (pow(N, k[1]) * pow(in->bits, k[3]));
        return CM_OK;
    }
    case K_CAPYBARA: {
        if (!single_of(in, "fp"))
            return refuse(l, in, d, "the law is for floating-point formats only");
        double E = trait_num(in, "e"), M = trait_num(in, "m");
        double B = trait_num(in, "block");
        if (!(B >= 2))
            return refuse(l, in, d,
                          "the law needs the block size B of the scale: give block=B "
                          "(the paper's channel-wise scaling is log2 B = 13.1567)");
        o->loss_base = l->A * pow(N, -l->alpha) + l->B * pow(D, -l->beta) + l->E;
        o->gap = pow(D, l->beta) / pow(N, l->alpha) * log2(B) /
                 (l->k[0] * pow(E + 0.5, l->k[1]) * pow(M + 0.5, l->k[2]));
        o->loss = o->loss_base + o->gap;
        return CM_OK;
    }
    }
    return cm_diag_set(d, CM_EINVAL, "law %s: unknown kind", l->name);
}

/* ---- intervals from bootstrap replicates ----------------------------------------------- */

static int by_loss(const void *a, const void *b)
{
    double x = ((const cm_law_output *)a)->loss, y = ((const cm_law_output *)b)->loss;
    return (x > y) - (x < y);
}

/* the law with the constants of bootstrap replicate r (k: room for 3) */
static int replicate(const cm_law *l, const double *b, size_t kb, size_t r, cm_law *t, double *k)
{
    const double *p = b + r * kb;
    *t = *l;
    t->A = p[0], t->alpha = p[1], t->B = p[2], t->beta = p[3], t->E = p[4];
    if (l->kind == K_METRIC && kb == 9) {
        t->gamma = p[5], k[0] = p[6], k[1] = p[7], k[2] = p[8];
        t->k = k;
        return 0;
    }
    if (l->kind == K_UNIFIED && kb == 8) {
        t->F = p[5], t->C = p[6], t->L = p[7];
        return 0;
    }
    return -1;
}

static cm_status boot_check(const cm_law *l, double level, const double **b, size_t *n,
                            size_t *kb, cm_diag *d)
{
    *b = boot_of(l, n, kb);
    if (!*b || *n < 2 || (l->kind != K_UNIFIED && l->kind != K_METRIC))
        return cm_diag_set(d, CM_EUNSUPPORTED, "law %s has no bootstrap replicates: no interval",
                           l->name);
    if (!(level > 0 && level < 1))
        return cm_diag_set(d, CM_EINVAL, "interval level %g: accepted 0 < level < 1", level);
    return CM_OK;
}

/* Each replicate's prediction at `in` into o (the finite ones, *m of them), sorted by loss;
 * with `ref`, o[].loss is loss(in) - loss(ref) of the same replicate. *lo, *hi: the indices
 * of the interval's ends at `level`. */
static cm_status boot_run(const cm_law *l, const cm_law_input *in, const cm_law_input *ref,
                          double level, cm_law_output **out, size_t *lo, size_t *hi, cm_diag *d)
{
    const double *b;
    size_t n, kb, m = 0;
    cm_status st = boot_check(l, level, &b, &n, &kb, d);
    cm_law_output *o = st ? NULL : calloc(n, sizeof *o);
    if (!st && !o)
        st = cm_diag_set(d, CM_ENOMEM, "out of memory");
    for (size_t r = 0; !st && r < n; r++) {
        cm_law t;
        double k[3];
        cm_law_output ob;
        if (replicate(l, b, kb, r, &t, k))
            st = cm_diag_set(d, CM_EINVAL, "law %s: its replicates have %zu values", l->name, kb);
        else if (!(st = cm_law_predict(&t, in, &o[m], d)) && ref &&
                 !(st = cm_law_predict(&t, ref, &ob, d)))
            o[m].loss -= ob.loss;
        m += !st && isfinite(o[m].loss);
    }
    if (!st && m < 2)
        st = cm_diag_set(d, CM_ENUMERIC, "law %s: no finite replicate prediction", l->name);
    if (st) {
        free(o);
        return st;
    }
    qsort(o, m, sizeof *o, by_loss);
    double q = (1 - level) / 2 * (double)(m - 1);
    *lo = (size_t)floor(q);
    *hi = (size_t)ceil((double)(m - 1) - q);
    *out = o;
    return CM_OK;
}

cm_status cm_law_diff_interval(const cm_law *l, const cm_law_input *in, const cm_law_input *ref,
                               double level, double *lo, double *hi, cm_diag *d)
{
    cm_law_output *o;
    size_t i, j;
    cm_status st = boot_run(l, in, ref, level, &o, &i, &j, d);
    if (!st) {
        *lo = o[i].loss;
        *hi = o[j].loss;
        free(o);
    }
    return st;
}

cm_status cm_law_interval(const cm_law *l, const cm_law_input *in, double level,
                          cm_law_output *lo, cm_law_output *hi, cm_diag *d)
{
    cm_law_output *o;
    size_t i, j;
    cm_status st = boot_run(l, in, NULL, level, &o, &i, &j, d);
    if (!st) {
        *lo = o[i];
        *hi = o[j];
        free(o);
    }
    return st;
}

