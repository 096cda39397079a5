/* The grammar: spec strings -> pipelines (DESIGN §4) with their canonical
 * specs. The parser is the only writer of a pipeline; once cm_spec_parse
 * returns, nothing changes it. */
#include <capmetric/spec.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "param_int.h"
#include "pipeline_int.h"
#include "util_int.h"

/* ---- parsing ---------------------------------------------------------------- */

typedef struct kv {
    const char *k, *v;
    size_t kn, vn;
    long pos;       /* offset of the key in the user's text */
    int from_alias;
} kv;

static const cm_param *param_at(const cm_format *f, size_t i)
{
    size_t ng;
    const cm_param *g = cm_generic_params(&ng);
    return i < f->n_params ? &f->params[i] : &g[i - f->n_params];
}

static size_t param_total(const cm_format *f)
{
    size_t ng;
    (void)cm_generic_params(&ng);
    return f->n_params + ((f->flags & CM_FORMAT_SCALAR) ? ng : 0);
}

static long find_param(const cm_format *f, const char *k, size_t n)
{
    size_t tot = param_total(f);
    for (size_t i = 0; i < tot; i++) {
        const char *key = param_at(f, i)->key;
        if (strlen(key) == n && !memcmp(key, k, n))
            return (long)i;
    }
    return -1;
}

static cm_status err_at(cm_diag *d, long pos, long len, cm_status st)
{
    if (d) {
        d->pos = pos;
        d->len = len;
    }
    return st;
}

/* Split text[b..e) at ',' into kvs; `base` is text's offset in the user input
 * (positions of alias items are the alias name's). */
static cm_status split_kvs(const char *text, size_t b, size_t e, long base, int from_alias,
                           kv *out, size_t *nout, size_t cap, cm_diag *d)
{
    size_t s = b;
    for (size_t i = b; i <= e; i++) {
        if (i < e && text[i] != ',')
            continue;
        long pos = from_alias ? base : base + (long)s;
        if (i == s)
            return err_at(d, pos, 1,
                          cm_diag_set(d, CM_EPARSE, "empty key=value item (stray ',')"));
        const char *eq = memchr(text + s, '=', i - s);
        if (!eq) /* after a value, a number is a list item cut off by ',' */
            return err_at(d, pos, (long)(i - s),
                          cm_diag_set(d, CM_EPARSE, "'%.*s' is not of the form key=value%s",
                                      (int)(i - s), text + s,
                                      *nout && strchr("-+.0123456789", text[s])
                                          ? " (lists separate their items with ';': "
                                            "values=-1;0;1, in quotes on a shell)"
                                          : ""));
        if (eq == text + s)
            return err_at(d, pos, (long)(i - s),
                          cm_diag_set(d, CM_EPARSE, "missing key before '=' in '%.*s'",
                                      (int)(i - s), text + s));
        if (*nout == cap)
            return err_at(d, pos, (long)(i - s),
                          cm_diag_set(d, CM_ERANGE, "too many key=value items"));
        kv *k = &out[(*nout)++];
        k->k = text + s;
        k->kn = (size_t)(eq - (text + s));
        k->v = eq + 1;
        k->vn = (size_t)(text + i - (eq + 1));
        k->pos = pos;
        k->from_alias = from_alias;
        s = i + 1;
    }
    return CM_OK;
}

static void list_keys(const cm_format *f, cm_buf *b)
{
    size_t tot = param_total(f);
    for (size_t i = 0; i < tot; i++)
        cm_buf_printf(b, "%s%s", i ? ", " : "", param_at(f, i)->key);
    if (!tot)
        cm_buf_puts(b, "(none)");
}

/* ---- the host's generic keys of scalar formats (order: CM_G_* in param_int.h) ---- */

static const cm_rule word_rule[] = {CM_RULE_OPT,  CM_RULE_ABSMAX, CM_RULE_FLOOR, CM_RULE_CEIL,
                                    CM_RULE_EVEN, CM_RULE_RCEIL,  CM_RULE_MSE, CM_RULE_SEARCH,
                                    CM_RULE_RMS};

/* Which generic keys the canonical spec shows: scale always; the block keys
 * when there are blocks; tensor_amax and candidates when they matter. */
static int generic_shown(const cm_stage *st, size_t g)
{
    if (g == CM_G_SCALE)
        return 1;
    if (!st->blk.K)
        return 0;
    if (g == CM_G_TAMAX)
        return st->blk.tensor;
    if (g == CM_G_CAND)
        return st->blk.rule == CM_RULE_MSE;
    /* the 2026 keys: shown when they change something (older specs keep their text) */
    if (g == CM_G_TTOP)
        return st->blk.tensor && st->blk.top > 0;
    if (g == CM_G_SMULT)
        return st->blk.mult != 1.0;
    if (g == CM_G_SELECT)
        return st->blk.rule == CM_RULE_MSE && st->blk.select != CM_SEL_MSE;
    if (g == CM_G_CORRECT)
        return st->blk.eden != CM_EDEN_NONE;
    if (g == CM_G_WINDOW)
        return st->blk.rule == CM_RULE_SEARCH;
    if (g == CM_G_EGROUP)
        return st->blk.eden && st->blk.egroup != st->blk.K;
    if (g == CM_G_RCLIP)
        return st->blk.rule == CM_RULE_RMS;
    return 1;
}

static const char *generic_text(const cm_stage *st, size_t g, const cm_value *v)
{
    static const char *const rules[] = {"opt",  "fixed", "absmax", "floor", "ceil",
                                        "even", "rceil", "mse",    "search", "rms"};
    if (g == CM_G_SCALE && st->blk.K)
        return rules[st->blk.rule]; /* block given without scale: absmax */
    if (g == CM_G_BLOCK) { /* the number(s), written one way */
        static _Thread_local char b[48];
        if (st->blk.tile_r)
            snprintf(b, sizeof b, "%zux%zu", st->blk.tile_r, st->blk.tile_c);
        else
            snprintf(b, sizeof b, "%zu", st->blk.K);
        return b;
    }
    if (g == CM_G_SFMT && st->blk.sfmt == CM_SF_E8M0)
        return "e8m0"; /* ue8m0 is its other name */
    return v->text;
}

/* scale_fmt: a named format or ueEmM; 0 when known */
static int parse_sfmt(const char *t, cm_sfmt *out)
{
    static const char *const names[] = {"exact", "fp32", "bf16", "fp16",  "e8m0",
                                        "e4m3",  "ue4m3", "e5m2", "ue8m0", "ue5m3"};
    for (int i = 0; i < 10; i++)
        if (t && !strcmp(t, names[i])) {
            *out = (cm_sfmt)i;
            return 0;
        }
    int E = 0, M = 0, n = 0;
    if (!t || sscanf(t, "ue%2dm%2d%n", &E, &M, &n) != 2 || t[n] || E < 1 || E > 8 || M < 0 ||
        M > 10 || !isdigit((unsigned char)t[2]))
        return -1;
    char canon[16]; /* one spelling per format: ue04m3 is not accepted */
    snprintf(canon, sizeof canon, "ue%dm%d", E, M);
    if (strcmp(canon, t))
        return -1;
    *out = cm_sfmt_uem(E, M);
    return 0;
}

/* block=K or block=RxC (a tile); 0 when well formed */
static int parse_block(const char *t, cm_blockspec *b)
{
    unsigned long r = 0, c = 0;
    int n = 0;
    if (!t || !*t)
        return -1;
    if (strchr(t, 'x')) {
        if (sscanf(t, "%4lux%4lu%n", &r, &c, &n) != 2 || t[n] || !r || !c || r * c > 4096 ||
            !isdigit((unsigned char)t[0]))
            return -1;
        b->tile_r = r;
        b->tile_c = c;
        b->K = r * c;
        return 0;
    }
    if (sscanf(t, "%5lu%n", &r, &n) != 1 || t[n] || r > 4096 || !isdigit((unsigned char)t[0]))
        return -1;
    b->K = r;
    return 0;
}

/* Interpret and check the generic values of a scalar stage. */
static cm_status generic_keys(cm_stage *st, const cm_format *f, const void *params,
                              const cm_value *v, const long *given, const kv *kvs, cm_diag *d)
{
    (void)kvs;
    cm_blockspec *b = &st->blk;
    memset(b, 0, sizeof *b);
    if (parse_block(v[CM_G_BLOCK].text, b))
        return cm_diag_set_key(d, CM_ERANGE, "block",
                               "key 'block': '%s' is not a block (accepted: K from 0 to 4096, or "
                               "RxC: a tile of R rows and C columns, each at least 1, R*C at most "
                               "4096)",
                               v[CM_G_BLOCK].text);
    b->rule = v[CM_G_SCALE].is_word ? word_rule[(int)v[CM_G_SCALE].num] : CM_RULE_FIXED;
    if (parse_sfmt(v[CM_G_SFMT].text, &b->sfmt))
        return cm_diag_set_key(d, CM_EPARSE, "scale_fmt",
                               "key 'scale_fmt': unknown value '%s' (accepted: exact|fp32|bf16|"
                               "fp16|e8m0|e4m3|ue4m3|e5m2|ue8m0|ue5m3, or ueEmM: unsigned with E "
                               "exponent bits 1-8 and M mantissa bits 0-10, e.g. ue6m2)",
                               v[CM_G_SFMT].text);
    b->tensor = (int)v[CM_G_TENSOR].num;
    b->tensor_amax = v[CM_G_TAMAX].num;
    b->ncand = (int)v[CM_G_CAND].num;
    if (b->sfmt == CM_SF_UE8M0_ALIAS)
        b->sfmt = CM_SF_E8M0;
    b->top = v[CM_G_TTOP].num;
    b->mult = v[CM_G_SMULT].num;
    b->select = (cm_select)(int)v[CM_G_SELECT].num;
    b->eden = (cm_eden)(int)v[CM_G_CORRECT].num;
    b->window = (int)v[CM_G_WINDOW].num;
    b->egroup = (size_t)v[CM_G_EGROUP].num;
    b->rclip = v[CM_G_RCLIP].num;
    st->scale_opt = b->rule == CM_RULE_OPT;
    st->scale = b->rule == CM_RULE_FIXED ? v[CM_G_SCALE].num : b->rule == CM_RULE_OPT ? NAN : 1.0;
    if (!b->K) {
        if (b->rule != CM_RULE_OPT && b->rule != CM_RULE_FIXED)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=%s is a per-block rule: give block=K too", v[CM_G_SCALE].text);
        const char *needs = given[CM_G_SFMT] >= 0 ? "scale_fmt" : given[CM_G_TENSOR] >= 0 ? "tensor_scale"
                            : given[CM_G_TAMAX] >= 0 ? "tensor_amax" : given[CM_G_CAND] >= 0 ? "candidates"
                            : given[CM_G_TTOP] >= 0 ? "tensor_top" : given[CM_G_SMULT] >= 0 ? "scale_mult"
                            : given[CM_G_SELECT] >= 0 ? "select" : given[CM_G_CORRECT] >= 0 ? "correct"
                            : given[CM_G_WINDOW] >= 0 ? "search_window"
                            : given[CM_G_EGROUP] >= 0 ? "eden_group"
                            : given[CM_G_RCLIP] >= 0 ? "rms_clip"
                                                                                        : NULL;
        if (needs)
            return cm_diag_set_key(d, CM_EINVAL, needs, "%s applies to block scales: give block=K too",
                                   needs);
        return CM_OK;
    }
    if (b->rule == CM_RULE_FIXED)
        return cm_diag_set_key(d, CM_EINVAL, "scale",
                               "scale=%s is one fixed scale for the tensor; with block=%zu give a "
                               "block rule (absmax, floor, ceil, even, rceil, mse, search or rms)",
                               v[CM_G_SCALE].text, b->K);
    if (b->rule == CM_RULE_OPT) {
        if (given[CM_G_SCALE] >= 0)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=opt is one global MSE-optimal scale; with block=%zu give "
                                   "a block rule (absmax, floor, ceil, even, rceil, mse, search or rms)",
                                   b->K);
        b->rule = CM_RULE_ABSMAX;
    }
    if (b->tensor && (b->sfmt == CM_SF_EXACT || b->sfmt == CM_SF_FP32))
        return cm_diag_set_key(d, CM_EINVAL, "tensor_scale",
                               "tensor_scale=fp32 serves a narrow scale format: give scale_fmt="
                               "e4m3, ue4m3, e5m2, bf16 or fp16");
    if (given[CM_G_CAND] >= 0 && b->rule != CM_RULE_MSE)
        return cm_diag_set_key(d, CM_EINVAL, "candidates", "candidates applies to scale=mse only");
    if (given[CM_G_TAMAX] >= 0 && !b->tensor)
        return cm_diag_set_key(d, CM_EINVAL, "tensor_amax",
                               "tensor_amax applies to tensor_scale=fp32 only");
    if (given[CM_G_TTOP] >= 0 && !b->tensor)
        return cm_diag_set_key(d, CM_EINVAL, "tensor_top",
                               "tensor_top applies to tensor_scale=fp32 only");
    if (b->top > cm_sfmt_max(b->sfmt) || (given[CM_G_TTOP] >= 0 && !(b->top > 0)))
        return cm_diag_set_key(d, CM_EINVAL, "tensor_top",
                               "tensor_top=%g is not a positive value of scale_fmt=%s (accepted: "
                               "0 < V <= %g)",
                               b->top, v[CM_G_SFMT].text, cm_sfmt_max(b->sfmt));
    if (given[CM_G_RCLIP] >= 0 && b->rule != CM_RULE_RMS)
        return cm_diag_set_key(d, CM_EINVAL, "rms_clip", "rms_clip applies to scale=rms only");
    if (given[CM_G_EGROUP] >= 0 && !b->eden)
        return cm_diag_set_key(d, CM_EINVAL, "eden_group", "eden_group applies to correct=eden only");
    if (!b->egroup)
        b->egroup = b->K;
    if (b->egroup % b->K)
        return cm_diag_set_key(d, CM_EINVAL, "eden_group",
                               "eden_group=%zu is not a multiple of block=%zu (accepted: whole "
                               "blocks share a correction)",
                               b->egroup, b->K);
    if (given[CM_G_WINDOW] >= 0 && b->rule != CM_RULE_SEARCH)
        return cm_diag_set_key(d, CM_EINVAL, "search_window",
                               "search_window applies to scale=search only");
    if (b->rule == CM_RULE_SEARCH && (b->sfmt == CM_SF_EXACT || b->sfmt == CM_SF_FP32))
        return cm_diag_set_key(d, CM_EINVAL, "scale",
                               "scale=search tries the scale format's codes around the absmax "
                               "scale; scale_fmt=%s has %s codes: give a narrow one (e4m3, ue4m3, "
                               "ue5m3, e5m2, e8m0, bf16 or fp16)",
                               v[CM_G_SFMT].text, b->sfmt == CM_SF_FP32 ? "2^32" : "no");
    if (b->eden && (b->rule == CM_RULE_MSE || b->rule == CM_RULE_SEARCH))
        return cm_diag_set_key(d, CM_EINVAL, "correct",
                               "correct=eden rescales a block's one scale; scale=%s picks among "
                               "several: give one rule (absmax, floor, ...)",
                               b->rule == CM_RULE_MSE ? "mse" : "search");
    if (given[CM_G_SELECT] >= 0 && b->rule != CM_RULE_MSE)
        return cm_diag_set_key(d, CM_EINVAL, "select",
                               "select chooses among the candidate scales of scale=mse only");
    if (!CM_FORMAT_HAS(f, levels))
        return cm_diag_set_key(d, CM_EUNSUPPORTED, "block",
                               "block scaling needs the grid of '%s' (its levels)", f->name);
    size_t k = 0;
    if (f->levels(params, NULL, 0, &k) || k == 0)
        return cm_diag_set_key(d, CM_EUNSUPPORTED, "block",
                               "block scaling needs the grid of '%s', which it cannot list",
                               f->name);
    double *lv = malloc(k * sizeof *lv);
    if (!lv)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    cm_status s = f->levels(params, lv, k, &k);
    if (!s)
        s = cm_block_prepare(b, f, lv, k, d);
    free(lv);
    return s;
}

#define MAX_KV 64

/* Point the diagnostic at the key it blames (if the user typed it), else at
 * the stage text[b..e). */
static void blame(cm_diag *d, const cm_format *f, const long *given, const kv *kvs, size_t b,
                  size_t e, cm_status s)
{
    if (!d)
        return;
    long pos = (long)b, len = (long)(e - b);
    long pi = d->key[0] ? find_param(f, d->key, strlen(d->key)) : -1;
    if (pi >= 0 && given[pi] >= 0 && !kvs[given[pi]].from_alias) {
        const kv *k = &kvs[given[pi]];
        /* block= or scale_fmt= text that is not one: at the value (as the keys the
         * parameter reader checks); everything else: the key=value */
        int at_value = (s == CM_ERANGE || s == CM_EPARSE) &&
                       (!strcmp(d->key, "block") || !strcmp(d->key, "scale_fmt"));
        pos = (long)k->pos + (at_value ? (long)k->kn + 1 : 0);
        len = (long)(at_value ? k->vn : k->kn + 1 + k->vn);
    }
    err_at(d, pos, len, s);
}

/* Append stage st's canonical text (all keys, defaults filled in, fixed
 * order) to canon and its family name to fam. */
static void canonical_text(const cm_stage *st, const cm_format *f, const void *params,
                           const cm_value *vals, size_t tot, cm_buf *canon, cm_buf *fam)
{
    cm_buf_puts(canon, f->name);
    cm_buf_puts(fam, f->name);
    int first = 1;
    if (CM_FORMAT_HAS(f, params_print)) {
        char tmp[1];
        int need = f->params_print(params, tmp, sizeof tmp);
        if (need > 0) {
            char *pb = malloc((size_t)need + 1);
            if (pb) {
                f->params_print(params, pb, (size_t)need + 1);
                cm_buf_printf(canon, ":%s", pb);
                first = 0;
                free(pb);
            } else {
                canon->oom = 1;
            }
        }
        for (size_t i = f->n_params; i < tot; i++)
            if (vals[i].present && generic_shown(st, i - f->n_params)) {
                cm_buf_printf(canon, "%c%s=%s", first ? ':' : ',', param_at(f, i)->key,
                              generic_text(st, i - f->n_params, &vals[i]));
                first = 0;
            }
    } else {
        for (size_t i = 0; i < tot; i++)
            if (vals[i].present &&
                (i < f->n_params || generic_shown(st, i - f->n_params))) {
                cm_buf_printf(canon, "%c%s=%s", first ? ':' : ',', param_at(f, i)->key,
                              i < f->n_params ? vals[i].text
                                              : generic_text(st, i - f->n_params, &vals[i]));
                first = 0;
            }
    }
}

/* given[key index] = index in kvs of the item that sets it (user keys may
 * override alias keys, not each other); unknown and repeated keys refused. */
static cm_status match_keys(const cm_format *f, const kv *kvs, size_t nkv, long *given,
                            cm_diag *d)
{
    for (size_t i = 0; i < nkv; i++) {
        long pi = find_param(f, kvs[i].k, kvs[i].kn);
        if (pi < 0) {
            cm_buf kb;
            cm_buf_init(&kb);
            list_keys(f, &kb);
            const char *near = NULL;
            size_t bd = cm_slip_distance(kvs[i].kn), ng;
            const cm_param *g = cm_registry_generic_params(&ng);
            for (size_t k = 0; k < f->n_params + ng; k++) {
                if (k >= f->n_params && !(f->flags & CM_FORMAT_SCALAR))
                    break;
                cm_nearer(kvs[i].k, kvs[i].kn,
                          k < f->n_params ? f->params[k].key : g[k - f->n_params].key, &near,
                          &bd);
            }
            char hint[96];
            cm_did_you_mean(near, hint, sizeof hint);
            cm_diag_set(d, CM_ENOTFOUND, "format '%s' has no key '%.*s'%s (keys: %s)", f->name,
                        (int)kvs[i].kn, kvs[i].k, hint, kb.s ? kb.s : "");
            cm_buf_free(&kb);
            return err_at(d, kvs[i].pos, (long)kvs[i].kn, CM_ENOTFOUND);
        }
        if (given[pi] >= 0 && !(kvs[given[pi]].from_alias && !kvs[i].from_alias))
            return err_at(d, kvs[i].pos, (long)kvs[i].kn,
                          cm_diag_set(d, CM_EDUP, "key '%.*s' given twice", (int)kvs[i].kn,
                                      kvs[i].k));
        given[pi] = (long)i;
    }
    return CM_OK;
}

/* Keep the stage's present values (structured traits for the pipeline's readers). */
static cm_status keep_values(cm_stage *st, const cm_format *f, const cm_value *vals, size_t tot,
                             cm_diag *d)
{
    st->vals = calloc(tot ? tot : 1, sizeof *st->vals);
    if (!st->vals)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    for (size_t i = 0; i < tot; i++) {
        if (!vals[i].present)
            continue;
        cm_stage_val *v = &st->vals[st->nvals];
        v->key = param_at(f, i)->key;
        v->text = cm_strdup(vals[i].text);
        v->num = vals[i].num;
        v->is_word = vals[i].is_word;
        if (!v->text)
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        st->nvals++;
    }
    return CM_OK;
}

/* The longest alias text[b..e) starts with (its spec; *hn its length), or NULL. */
static const char *find_alias(const cm_registry *reg, const char *text, size_t b, size_t e,
                              size_t *hn_out)
{
    size_t hn = 0;
    const char *aspec = NULL;
    /* exact names first; then without case (MXFP4, INT4 as people write them) */
    for (int pass = 0; pass < 2 && !aspec; pass++)
        for (size_t i = 0; i < cm_registry_alias_count(reg); i++) {
            const char *an = cm_registry_alias_get(reg, i, NULL)->name;
            size_t l = strlen(an);
            int same = l <= e - b && (pass ? !strncasecmp(text + b, an, l)
                                           : !memcmp(text + b, an, l));
            /* an alias that holds a ':' (vq:kmeans) may go on with ',key=value' */
            if (l > hn && same &&
                (b + l == e || text[b + l] == ':' || (strchr(an, ':') && text[b + l] == ','))) {
                hn = l;
                aspec = cm_registry_alias_get(reg, i, NULL)->spec;
            }
        }
    *hn_out = hn;
    return aspec;
}

/* What a format reports is checked like any input: bits per value, the
 * fraction a selection passes. */
static cm_status check_reported(const cm_format *f, const void *params, cm_diag *d)
{
    double bits = f->bits_per_value(params);
    int sel = CM_FORMAT_HAS(f, select) || CM_FORMAT_HAS(f, inverse);
    double pf = sel && CM_FORMAT_HAS(f, pass_fraction) ? f->pass_fraction(params) : 1.0;
    /* a selecting format's own bits (its mask) may be 0; a format storing values needs some */
    if (!((sel ? bits >= 0 : bits > 0) && bits <= 1024))
        return cm_diag_set(d, CM_EPLUGIN,
                           "format '%s': bits_per_value() gave %g (accepted: a number in "
                           "%s0, 1024])",
                           f->name, bits, sel ? "[" : "(");
    if (!(pf >= 0 && pf <= 1))
        return cm_diag_set(d, CM_EPLUGIN, "format '%s': pass_fraction() gave %g (accepted: 0 to 1)",
                           f->name, pf);
    if (((f->flags & CM_FORMAT_TRANSFORM) != 0) != CM_FORMAT_HAS(f, inverse))
        return cm_diag_set(d, CM_EPLUGIN,
                           "format '%s': a transform (flag CM_FORMAT_TRANSFORM) comes with "
                           "inverse(), and inverse() with the flag",
                           f->name);
    return CM_OK;
}

static cm_status parse_stage(const cm_registry *reg, const char *text, size_t b, size_t e,
                             cm_stage *st, cm_buf *canon, cm_buf *fam, cm_diag *d)
{
    /* 1. the head: an alias (possibly containing ':') or a family */
    size_t hn = 0;
    const char *aspec = find_alias(reg, text, b, e, &hn);
    if (!aspec) {
        const char *c = memchr(text + b, ':', e - b);
        hn = c ? (size_t)(c - (text + b)) : e - b;
        if (hn == 0)
            return err_at(d, (long)b, 1, cm_diag_set(d, CM_EPARSE, "missing format name"));
    }
    const cm_format *f = NULL;
    kv kvs[MAX_KV];
    size_t nkv = 0;
    cm_status s;
    if (aspec) {
        const char *c = strchr(aspec, ':');
        size_t fl = c ? (size_t)(c - aspec) : strlen(aspec);
        if ((s = cm_registry_find(reg, aspec, fl, &f, d)))
            return err_at(d, (long)b, (long)hn, s);
        if (c && (s = split_kvs(aspec, fl + 1, strlen(aspec), (long)b, 1, kvs, &nkv, MAX_KV, d)))
            return s;
    } else if ((s = cm_registry_find(reg, text + b, hn, &f, d))) {
        return err_at(d, (long)b, (long)hn, s);
    }
    if (b + hn < e) { /* text[b + hn] == ':' */
        if (b + hn + 1 == e)
            return err_at(d, (long)(b + hn), 1,
                          cm_diag_set(d, CM_EPARSE, "nothing after ':' (expected key=value)"));
        if ((s = split_kvs(text, b + hn + 1, e, 0, 0, kvs, &nkv, MAX_KV, d)))
            return s;
    }

    /* 2. match keys: user keys may override alias keys, not each other */
    size_t tot = param_total(f);
    long given[MAX_KV];
    for (size_t i = 0; i < tot && i < MAX_KV; i++)
        given[i] = -1;
    if (tot > MAX_KV)
        return cm_diag_set(d, CM_EPLUGIN, "format '%s' declares too many keys", f->name);
    if ((s = match_keys(f, kvs, nkv, given, d)))
        return s;

    /* 3. values, defaults filled in */
    cm_value vals[MAX_KV];
    memset(vals, 0, sizeof vals);
    s = CM_OK;
    for (size_t i = 0; i < tot && !s; i++) {
        const cm_param *p = param_at(f, i);
        if (given[i] >= 0) {
            const kv *k = &kvs[given[i]];
            s = cm_value_parse(p, k->v, k->vn, &vals[i], d);
            if (s)
                err_at(d, k->from_alias ? k->pos : k->pos + (long)k->kn + 1,
                       k->from_alias ? (long)hn : (long)k->vn, s);
        } else if (p->def) {
            s = cm_value_parse(p, p->def, strlen(p->def), &vals[i], d);
            if (s)
                err_at(d, (long)b, (long)hn, s);
        }
    }
    void *params = NULL;
    if (!s) {
        if (d)
            d->key[0] = '\0';
        s = f->params_parse(vals, &params, d);
        if (s)
            blame(d, f, given, kvs, b, e, s);
    }
    if (!s) {
        st->fmt = f;
        st->params = params;
        st->scalar = (f->flags & CM_FORMAT_SCALAR) != 0;
        st->scale = 1.0;
        if (st->scalar) {
            if (d)
                d->key[0] = '\0';
            s = generic_keys(st, f, params, vals + f->n_params, given + f->n_params, kvs, d);
            if (s)
                blame(d, f, given, kvs, b, e, s);
            else /* block's text read: its number for the readers of values (laws) */
                vals[f->n_params + CM_G_BLOCK].num = (double)st->blk.K;
        }
        if (!s && (s = check_reported(f, params, d)))
            err_at(d, (long)b, (long)(e - b), s);
        st->group = s ? 1 : f->group(params);
        if (st->blk.K)
            st->group = cm_lcm(st->group, st->blk.eden ? st->blk.egroup : st->blk.K);
        if (!s && st->group == 0) {
            s = cm_diag_set(d, CM_EPLUGIN, "format '%s' reports a group size of 0", f->name);
            err_at(d, (long)b, (long)(e - b), s);
        }
        st->sel = CM_FORMAT_HAS(f, select);
        st->rot = CM_FORMAT_HAS(f, inverse);
        /* canonical text */
        size_t canon_start = canon->len;
        canonical_text(st, f, params, vals, tot, canon, fam);
        if (!s && !canon->oom) {
            st->canon = cm_strndup(canon->s + canon_start, canon->len - canon_start);
            if (!st->canon)
                s = cm_diag_set(d, CM_ENOMEM, "out of memory");
        }
        if (!s)
            s = keep_values(st, f, vals, tot, d);
        if (s) { /* a failed stage is not counted: release all of it here */
            f->params_free(params);
            st->params = NULL;
            free(st->canon);
            st->canon = NULL;
            for (size_t i = 0; st->vals && i < st->nvals; i++)
                free(st->vals[i].text);
            free(st->vals);
            st->vals = NULL;
            st->nvals = 0;
        }
    }
    for (size_t i = 0; i < tot; i++)
        cm_value_fini(&vals[i]);
    return s;
}

/* Is text[i] == '+' a stage separator? Not when it is a sign ("=+1", ";+1")
 * or an exponent sign ("1e+5"). */
static int is_separator(const char *t, size_t i)
{
    if (t[i] != '+')
        return 0;
    if (i == 0)
        return 1;
    char p = t[i - 1];
    if (p == '=' || p == ';')
        return 0;
    if ((p == 'e' || p == 'E') && i >= 2 &&
        ((t[i - 2] >= '0' && t[i - 2] <= '9') || t[i - 2] == '.'))
        return 0;
    return 1;
}

cm_status cm_spec_parse(const cm_registry *reg, const char *text, cm_pipeline **out,
                        cm_diag *d)
{
    *out = NULL;
    cm_diag_clear(d);
    if (!text || !*text)
        return err_at(d, 0, 0, cm_diag_set(d, CM_EPARSE, "empty spec"));
    size_t len = strnlen(text, CM_SPEC_MAX_LEN + 1);
    if (len > CM_SPEC_MAX_LEN)
        return err_at(d, 0, 1,
                      cm_diag_set(d, CM_ERANGE, "spec longer than %u characters (a spec is a "
                                                "format, not a table: use lut:file=PATH)",
                                  CM_SPEC_MAX_LEN));
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f)
            return err_at(d, (long)i, 1,
                          cm_diag_set(d, CM_EPARSE,
                                      "spec contains a space or non-printable character"));
    size_t nst = 1;
    for (size_t i = 0; i < len; i++)
        nst += (size_t)is_separator(text, i);
    if (nst > CM_SPEC_MAX_STAGES)
        return err_at(d, 0, (long)len,
                      cm_diag_set(d, CM_ERANGE, "%zu stages (accepted: at most %u stages joined "
                                                "by '+')",
                                  nst, CM_SPEC_MAX_STAGES));
    cm_pipeline *p = calloc(1, sizeof *p);
    if (!p || !(p->st = calloc(nst, sizeof *p->st)) || !(p->input = cm_strdup(text))) {
        cm_pipeline_free(p);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    p->reg = reg;
    cm_buf canon, fam;
    cm_buf_init(&canon);
    cm_buf_init(&fam);
    size_t s = 0;
    cm_status st = CM_OK;
    for (size_t i = 0; i <= len && !st; i++) {
        if (i < len && !is_separator(text, i))
            continue;
        if (i == s) {
            st = err_at(d, (long)(i < len ? i : len - 1), 1,
                        cm_diag_set(d, CM_EPARSE, "empty stage (a '+' with nothing %s it)",
                                    i == 0 ? "before" : "after"));
            break;
        }
        if (p->n) {
            cm_buf_puts(&canon, "+");
            cm_buf_puts(&fam, "+");
        }
        st = parse_stage(reg, text, s, i, &p->st[p->n], &canon, &fam, d);
        if (!st)
            p->n++;
        s = i + 1;
    }
    if (!st) {
        p->canonical = cm_buf_take(&canon);
        p->family = cm_buf_take(&fam);
        if (!p->canonical || !p->family)
            st = cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    cm_buf_free(&canon);
    cm_buf_free(&fam);
    if (!st && p->st[p->n - 1].rot)
        st = err_at(d, 0, (long)len,
                    cm_diag_set(d, CM_EINVAL,
                                "a rotation is not a format on its own: it needs a stage after "
                                "it, e.g. %s+mxfp4",
                                p->st[p->n - 1].canon));
    if (!st) {
        p->group = 1;
        for (size_t i = 0; i < p->n; i++) {
            size_t g = p->st[i].group;
            p->group = cm_lcm(p->group, g);
            if (p->group > 4096) {
                st = cm_diag_set(d, CM_ERANGE, "the stages' combined group size exceeds 4096");
                break;
            }
        }
    }
    if (st) {
        cm_pipeline_free(p);
        return st;
    }
    *out = p;
    return CM_OK;
}

