/* Evaluate pipelines: resolve scales, take the exact path where there is one
 * (and the method allows), run every other pipeline in one Monte-Carlo run
 * with common random numbers, then derive eff_bits, rho and rho_per_bit. */
#include <capmetric/eval.h>
#include <capmetric/exact.h>
#include <capmetric/mc.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_int.h"
#include "util_int.h"

const char *cm_method_name(cm_method m)
{
    switch (m) {
    case CM_METHOD_AUTO: return "auto";
    case CM_METHOD_EXACT: return "exact";
    case CM_METHOD_MC: return "mc";
    }
    return "?";
}

cm_status cm_method_parse(const char *t, cm_method *out, cm_diag *d)
{
    for (int m = CM_METHOD_AUTO; m <= CM_METHOD_MC; m++)
        if (!strcmp(t, cm_method_name((cm_method)m))) {
            *out = (cm_method)m;
            return CM_OK;
        }
    static const char *const names[] = {"auto", "exact", "mc"};
    char hint[96];
    return cm_diag_set(d, CM_EPARSE, "unknown method '%s'%s (accepted: auto, exact, mc)", t,
                       cm_did_you_mean(cm_suggest(t, names, 3), hint, sizeof hint));
}

unsigned cm_default_threads(void) { return cm_cores(); }

const cm_law *cm_eval_law(const cm_eval_opts *o)
{
    const cm_law *law = o ? o->law : NULL;
    if (!law)
        cm_law_find(CM_LAW_DEFAULT, &law, NULL); /* built in: always found */
    return law;
}

void cm_eval_opts_default(cm_eval_opts *o)
{
    o->samples = UINT64_C(1) << 24;
    o->seed = 1;
    o->threads = 0;
    o->method = CM_METHOD_AUTO;
    o->law = NULL;
    cm_dist_default(&o->dist);
}

const char *cm_result_warning(unsigned flag)
{
    if (flag == CM_RESULT_RULE)
        return "this power-of-two block scale rule more than doubles the GMSE of the same format "
               "with scale=absmax: most blocks saturate (floor on a grid whose top is below a "
               "power of two) or a level goes unused (even on a grid of few levels); valid, but "
               "check it is what you meant";
    if (flag == CM_RESULT_INF)
        return "values became Inf or NaN (overflow=inf, and the scale rule lets elements exceed "
               "the largest value): GMSE is infinite and rho 0; overflow=saturate, or a scale rule "
               "that keeps every element in range (absmax, ceil, rceil), avoids it";
    return NULL;
}

/* a stage that turns values beyond its range into Inf/NaN on purpose */
static int declares_overflow(const cm_pipeline *p)
{
    for (size_t s = 0; s < p->n; s++)
        if (cm_stage_rounding(&p->st[s]) & CM_ROUND_OVERFLOW_INF)
            return 1;
    return 0;
}

/* CM_RESULT_RULE: a one-stage block format whose power-of-two rule (floor,
 * ceil, even, rceil) more than doubles the exact GMSE of scale=absmax */
static void check_rule(cm_result *r, const cm_pipeline *p, const cm_eval_opts *o)
{
    const cm_stage *st = &p->st[0];
    if (p->n != 1 || !st->blk.K || !isfinite(r->gmse) ||
        (st->blk.rule != CM_RULE_FLOOR && st->blk.rule != CM_RULE_CEIL &&
         st->blk.rule != CM_RULE_EVEN && st->blk.rule != CM_RULE_RCEIL))
        return;
    static const char *const rule[] = {",scale=floor,", ",scale=ceil,", ",scale=even,",
                                       ",scale=rceil,"};
    char alt[2048];
    const char *c = p->canonical, *at = NULL;
    size_t k = 0;
    for (; k < 4 && !at; k++)
        at = strstr(c, rule[k]);
    if (!at || strlen(c) + 8 >= sizeof alt)
        return;
    snprintf(alt, sizeof alt, "%.*s,scale=absmax,%s", (int)(at - c), c, at + strlen(rule[k - 1]));
    cm_pipeline *q = NULL;
    cm_plan *plan = NULL;
    cm_diag d;
    double g;
    if (!cm_spec_parse(cm_pipeline_registry(p), alt, &q, &d) &&
        !cm_plan_alloc_dist(q, &o->dist, &plan, &d) && !cm_exact_gmse(plan, &g, &d) &&
        r->gmse > 2 * g)
        r->flags |= CM_RESULT_RULE;
    cm_plan_free(plan);
    cm_pipeline_free(q);
}

static void derive(cm_result *r, const cm_law *law)
{
    if (isinf(r->gmse))
        r->flags |= CM_RESULT_INF;
    r->eff_bits = cm_eff_bits(r->gmse);
    r->rho = cm_law_rho(law, r->gmse);
    r->rho_per_bit = r->rho * 16.0 / r->bits;
    /* Shannon: a unit-variance Gaussian at R bits per value has D(R) = 2^(-2R) */
    r->shannon_gmse = exp2(-2.0 * r->bits);
    r->gap_db = 10.0 * log10(r->gmse / r->shannon_gmse);
    r->gap_bits = r->bits - r->eff_bits;
}

/* rho of each stage alone, multiplied: the Unified paper's composition claim
 * rho(A then B) ~ rho(A) rho(B) can then be checked on any pair */
static cm_status rho_products(cm_pipeline *const *p, size_t n, const cm_eval_opts *o,
                              cm_result *res, cm_diag *d)
{
    /* (a rotation alone is no format: its rho is 1 in the product) */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; p[i]->n > 1 && j < p[i]->n; j++)
            total += !p[i]->st[j].rot;
    if (!total)
        return CM_OK;
    cm_pipeline **sub = calloc(total, sizeof *sub);
    cm_result *sr = calloc(total, sizeof *sr);
    cm_status st = sub && sr ? CM_OK : cm_diag_set(d, CM_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n && !st; i++)
        for (size_t j = 0; p[i]->n > 1 && j < p[i]->n && !st; j++)
            if (!p[i]->st[j].rot)
                st = cm_pipeline_slice(p[i], j, &sub[k++], d);
    if (!st)
        st = cm_eval(sub, total, o, sr, NULL, NULL, d);
    k = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (p[i]->n < 2)
            continue;
        double prod = 1;
        for (size_t j = 0; j < p[i]->n; j++)
            if (!p[i]->st[j].rot)
                prod *= sr[k++].rho;
        res[i].rho_product = prod;
    }
    for (size_t i = 0; sub && i < total; i++)
        cm_pipeline_free(sub[i]);
    free(sub);
    free(sr);
    return st;
}

cm_status cm_eval(cm_pipeline *const *p, size_t n, const cm_eval_opts *o, cm_result *res,
                  cm_mc_run **run_out, size_t *mc_index, cm_diag *d)
{
    const cm_law *law = cm_eval_law(o);
    if (!cm_law_has_map(law))
        return cm_diag_set(d, CM_EUNSUPPORTED,
                           "law %s does not map GMSE to rho, so it cannot score every format "
                           "(laws with a map: unified-llama-c4, unified-olmo2, unified-quest, or "
                           "a fitted unified/map law); use 'capmetric predict --law %s'",
                           cm_law_name(law), cm_law_name(law));
    if (run_out)
        *run_out = NULL;
    cm_plan **mc = malloc((n ? n : 1) * sizeof *mc);
    cm_plan **plans = calloc(n ? n : 1, sizeof *plans);
    size_t *who = malloc((n ? n : 1) * sizeof *who);
    if (!mc || !who || !plans) {
        free(mc);
        free(plans);
        free(who);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    size_t nmc = 0;
    cm_status st = CM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        cm_result *r = &res[i];
        memset(r, 0, sizeof *r);
        r->spec = p[i]->canonical;
        r->input = p[i]->input;
        r->family = p[i]->family;
        r->bits = cm_pipeline_bits(p[i]);
        r->scale = NAN;
        r->rho_product = NAN;
        r->gmse_err = NAN;
        r->misalignment = r->misalignment_se = r->misalignment_err = NAN;
        cm_dist_name(&o->dist, r->dist, sizeof r->dist);
        r->sigma = cm_dist_sigma(&o->dist);
        if (mc_index)
            mc_index[i] = SIZE_MAX;
        double t0 = cm_now();
        st = cm_plan_alloc_dist(p[i], &o->dist, &plans[i], d);
        if (st)
            break;
        for (size_t s = 0; s < p[i]->n; s++)
            if (p[i]->st[s].scalar) {
                /* block formats have one scale per block: none to report */
                r->scale = p[i]->st[s].blk.K ? NAN : plans[i]->scale[s];
                break;
            }
        cm_status ex = CM_EUNSUPPORTED;
        if (o->method != CM_METHOD_MC) {
            cm_diag tmp;
            cm_diag_clear(&tmp);
            ex = cm_exact_gmse_err(plans[i], &r->gmse, &r->gmse_err, &tmp);
            if (ex && ex != CM_EUNSUPPORTED) {
                if (d)
                    *d = tmp;
                st = ex;
                break;
            }
            if (ex == CM_EUNSUPPORTED && o->method == CM_METHOD_EXACT) {
                if (d)
                    *d = tmp;
                st = CM_EUNSUPPORTED;
                break;
            }
        }
        r->seconds = cm_now() - t0;
        if (ex == CM_OK) {
            r->method = CM_METHOD_EXACT;
            r->gmse_se = 0.0;
            cm_diag md;
            cm_diag_clear(&md);
            /* (a format's own closed form has no misalignment: it stays NaN; a
             * failed integral is an error, as for GMSE, never a silent NaN) */
            cm_status ms = cm_exact_misalignment_err(plans[i], &r->misalignment,
                                                     &r->misalignment_err, &md);
            if (ms == CM_OK)
                r->misalignment_se = 0.0;
            else if (ms != CM_EUNSUPPORTED) {
                if (d)
                    *d = md;
                st = ms;
                break;
            }
            derive(r, law);
            check_rule(r, p[i], o);
        } else {
            r->method = CM_METHOD_MC;
            who[nmc] = i;
            mc[nmc++] = plans[i];
        }
    }
    if (!st && nmc) {
        cm_mc_opts mo = {.samples = o->samples, .seed = o->seed,
                         .threads = o->threads ? o->threads : cm_default_threads()};
        cm_mc_run *run = NULL;
        st = cm_mc_run_alloc(mc, nmc, &mo, &run, d);
        if (!st) {
            double secs = cm_mc_seconds(run) / (double)nmc;
            for (size_t k = 0; k < nmc && !st; k++) {
                cm_result *r = &res[who[k]];
                cm_mc_gmse(run, k, &r->gmse, &r->gmse_se);
                cm_mc_misalignment(run, k, &r->misalignment, &r->misalignment_se);
                r->misalignment_err = NAN;
                if (isinf(r->gmse) && !declares_overflow(p[who[k]])) {
                    st = cm_diag_set(d, CM_EPLUGIN,
                                     "'%s': the format returned Inf or NaN for finite input; a "
                                     "format that does so on purpose says so in rounding() "
                                     "(CM_ROUND_OVERFLOW_INF)",
                                     r->input);
                    break;
                }
                r->samples = cm_mc_used(run, k);
                r->seconds += secs; /* the shared run's time, split evenly */
                derive(r, law);
                check_rule(r, p[who[k]], o);
                if (mc_index)
                    mc_index[who[k]] = k;
            }
            if (run_out && !st)
                *run_out = run;
            else
                cm_mc_run_free(run);
        }
    }
    for (size_t i = 0; i < n; i++)
        cm_plan_free(plans[i]);
    free(plans);
    if (!st)
        st = rho_products(p, n, o, res, d);
    free(mc);
    free(who);
    return st;
}
