/* Spec strings -> pipelines (DESIGN §4), canonical specs, and applying a
 * pipeline to data. */
#include <capmetric/exact.h>
#include <capmetric/spec.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spec_int.h"
#include "util_int.h"

/* ---- values --------------------------------------------------------------- */

void cm_value_fini(cm_value *v)
{
    free((char *)v->text);
    free((double *)v->list);
    memset(v, 0, sizeof *v);
}

/* Index of word w[0..n) in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *w, size_t n)
{
    if (!choices)
        return -1;
    int idx = 0;
    const char *c = choices;
    for (;;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !memcmp(c, w, n))
            return idx;
        if (!bar)
            return -1;
        c = bar + 1;
        idx++;
    }
}

static void describe_accepted(const cm_param *p, char *out, size_t cap)
{
    switch (p->type) {
    case CM_PARAM_INT:
        snprintf(out, cap, "an integer from %.0f to %.0f", p->min, p->max);
        break;
    case CM_PARAM_REAL:
        if (p->choices)
            snprintf(out, cap, "%s, or a number from %g to %g", p->choices, p->min, p->max);
        else
            snprintf(out, cap, "a number from %g to %g", p->min, p->max);
        break;
    case CM_PARAM_ENUM:
        snprintf(out, cap, "one of %s", p->choices ? p->choices : "");
        break;
    case CM_PARAM_STRING:
        snprintf(out, cap, "a non-empty text");
        break;
    case CM_PARAM_LIST:
        snprintf(out, cap, "%.0f to %.0f finite numbers separated by ';'", p->min, p->max);
        break;
    }
}

cm_status cm_value_parse(const cm_param *p, const char *t, size_t n, cm_value *v, cm_diag *d)
{
    char acc[256], num[64];
    memset(v, 0, sizeof *v);
    describe_accepted(p, acc, sizeof acc);
    if (n == 0)
        return cm_diag_set_key(d, CM_EPARSE, p->key, "key '%s' has an empty value (accepted: %s)",
                               p->key, acc);
    switch (p->type) {
    case CM_PARAM_INT: {
        long long i;
        if (cm_parse_int(t, n, &i))
            return cm_diag_set_key(d, CM_EPARSE, p->key,
                                   "key '%s': '%.*s' is not an integer (accepted: %s)", p->key,
                                   (int)n, t, acc);
        if ((double)i < p->min || (double)i > p->max)
            return cm_diag_set_key(d, CM_ERANGE, p->key,
                                   "key '%s': %lld is out of range (accepted: %s)", p->key, i,
                                   acc);
        v->num = (double)i;
        snprintf(num, sizeof num, "%lld", i);
        v->text = cm_strdup(num);
        break;
    }
    case CM_PARAM_REAL: {
        int w = choice_index(p->choices, t, n);
        if (w >= 0) {
            v->is_word = 1;
            v->num = w;
            v->text = cm_strndup(t, n);
            break;
        }
        double x;
        if (cm_parse_double(t, n, &x))
            return cm_diag_set_key(d, CM_EPARSE, p->key,
                                   "key '%s': '%.*s' is not a finite number (accepted: %s)",
                                   p->key, (int)n, t, acc);
        if (x < p->min || x > p->max)
            return cm_diag_set_key(d, CM_ERANGE, p->key,
                                   "key '%s': %.*s is out of range (accepted: %s)", p->key,
                                   (int)n, t, acc);
        v->num = x;
        cm_fmt_double(num, sizeof num, x);
        v->text = cm_strdup(num);
        break;
    }
    case CM_PARAM_ENUM: {
        int w = choice_index(p->choices, t, n);
        if (w < 0)
            return cm_diag_set_key(d, CM_EPARSE, p->key,
                                   "key '%s': unknown value '%.*s' (accepted: %s)", p->key,
                                   (int)n, t, acc);
        v->is_word = 1;
        v->num = w;
        v->text = cm_strndup(t, n);
        break;
    }
    case CM_PARAM_STRING:
        v->text = cm_strndup(t, n);
        break;
    case CM_PARAM_LIST: {
        size_t cnt = 1;
        for (size_t i = 0; i < n; i++)
            cnt += t[i] == ';';
        double *list = malloc(cnt * sizeof *list);
        cm_buf b;
        cm_buf_init(&b);
        if (!list)
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        size_t k = 0, s = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && t[i] != ';')
                continue;
            if (cm_parse_double(t + s, i - s, &list[k])) {
                free(list);
                cm_buf_free(&b);
                return cm_diag_set_key(d, CM_EPARSE, p->key,
                                       "key '%s': item %zu '%.*s' is not a finite number "
                                       "(accepted: %s)",
                                       p->key, k + 1, (int)(i - s), t + s, acc);
            }
            cm_fmt_double(num, sizeof num, list[k]);
            cm_buf_printf(&b, "%s%s", k ? ";" : "", num);
            k++;
            s = i + 1;
        }
        if ((double)k < p->min || (double)k > p->max) {
            free(list);
            cm_buf_free(&b);
            return cm_diag_set_key(d, CM_ERANGE, p->key,
                                   "key '%s': %zu items given (accepted: %s)", p->key, k, acc);
        }
        v->list = list;
        v->len = k;
        v->text = cm_buf_take(&b);
        break;
    }
    default:
        return cm_diag_set_key(d, CM_EINVAL, p->key, "key '%s' has an unknown type", p->key);
    }
    if (!v->text) {
        cm_value_fini(v);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    v->present = 1;
    return CM_OK;
}

cm_status cm_params_check(const cm_format *f, cm_diag *d)
{
    size_t ng;
    const cm_param *g = cm_registry_generic_params(&ng);
    for (size_t i = 0; i < f->n_params; i++) {
        const cm_param *p = &f->params[i];
        if (!p->key || !*p->key || strspn(p->key, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
                                       strlen(p->key))
            return cm_diag_set(d, CM_EPLUGIN, "format '%s': parameter %zu has an invalid key",
                               f->name, i);
        if (p->type < CM_PARAM_INT || p->type > CM_PARAM_LIST || !p->doc)
            return cm_diag_set(d, CM_EPLUGIN,
                               "format '%s': parameter '%s' has an invalid type or no doc",
                               f->name, p->key);
        if (p->type == CM_PARAM_ENUM && !p->choices)
            return cm_diag_set(d, CM_EPLUGIN, "format '%s': enum parameter '%s' has no choices",
                               f->name, p->key);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(f->params[j].key, p->key))
                return cm_diag_set(d, CM_EPLUGIN, "format '%s': key '%s' declared twice",
                                   f->name, p->key);
        if (f->flags & CM_FORMAT_SCALAR)
            for (size_t j = 0; j < ng; j++)
                if (!strcmp(g[j].key, p->key))
                    return cm_diag_set(d, CM_EPLUGIN,
                                       "format '%s': key '%s' is reserved for the host",
                                       f->name, p->key);
        if (p->def) {
            cm_value v;
            cm_diag tmp;
            cm_diag_clear(&tmp);
            if (cm_value_parse(p, p->def, strlen(p->def), &v, &tmp))
                return cm_diag_set(d, CM_EPLUGIN, "format '%s': default of key '%s' is invalid: %s",
                                   f->name, p->key, tmp.msg);
            cm_value_fini(&v);
        }
    }
    return CM_OK;
}

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
    const cm_param *g = cm_registry_generic_params(&ng);
    return i < f->n_params ? &f->params[i] : &g[i - f->n_params];
}

static size_t param_total(const cm_format *f)
{
    size_t ng;
    (void)cm_registry_generic_params(&ng);
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
        if (!eq)
            return err_at(d, pos, (long)(i - s),
                          cm_diag_set(d, CM_EPARSE, "'%.*s' is not of the form key=value",
                                      (int)(i - s), text + s));
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

/* ---- the host's generic keys of scalar formats -------------------------------
 * index: 0 scale, 1 block, 2 scale_fmt, 3 tensor_scale, 4 tensor_amax, 5 candidates */
enum { G_SCALE, G_BLOCK, G_SFMT, G_TENSOR, G_TAMAX, G_CAND };

static const cm_rule word_rule[] = {CM_RULE_OPT,  CM_RULE_ABSMAX, CM_RULE_FLOOR, CM_RULE_CEIL,
                                    CM_RULE_EVEN, CM_RULE_RCEIL,  CM_RULE_MSE};

/* Which generic keys the canonical spec shows: scale always; the block keys
 * when there are blocks; tensor_amax and candidates when they matter. */
static int generic_shown(const cm_stage *st, size_t g)
{
    if (g == G_SCALE)
        return 1;
    if (!st->blk.K)
        return 0;
    if (g == G_TAMAX)
        return st->blk.tensor;
    if (g == G_CAND)
        return st->blk.rule == CM_RULE_MSE;
    return 1;
}

static const char *generic_text(const cm_stage *st, size_t g, const cm_value *v)
{
    static const char *const rules[] = {"opt", "fixed", "absmax", "floor",
                                        "ceil", "even", "rceil", "mse"};
    if (g == G_SCALE && st->blk.K)
        return rules[st->blk.rule]; /* block given without scale: absmax */
    return v->text;
}

/* Interpret and check the generic values of a scalar stage. */
static cm_status generic_keys(cm_stage *st, const cm_format *f, const void *params,
                              const cm_value *v, const long *given, const kv *kvs, cm_diag *d)
{
    (void)kvs;
    cm_blockspec *b = &st->blk;
    memset(b, 0, sizeof *b);
    b->K = (size_t)v[G_BLOCK].num;
    b->rule = v[G_SCALE].is_word ? word_rule[(int)v[G_SCALE].num] : CM_RULE_FIXED;
    b->sfmt = (cm_sfmt)(int)v[G_SFMT].num;
    b->tensor = (int)v[G_TENSOR].num;
    b->tensor_amax = v[G_TAMAX].num;
    b->ncand = (int)v[G_CAND].num;
    st->scale_opt = b->rule == CM_RULE_OPT;
    st->scale = b->rule == CM_RULE_FIXED ? v[G_SCALE].num : b->rule == CM_RULE_OPT ? NAN : 1.0;
    if (!b->K) {
        if (b->rule != CM_RULE_OPT && b->rule != CM_RULE_FIXED)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=%s is a per-block rule: give block=K too", v[G_SCALE].text);
        const char *needs = given[G_SFMT] >= 0 ? "scale_fmt" : given[G_TENSOR] >= 0 ? "tensor_scale"
                            : given[G_TAMAX] >= 0 ? "tensor_amax" : given[G_CAND] >= 0 ? "candidates"
                                                                                        : NULL;
        if (needs)
            return cm_diag_set_key(d, CM_EINVAL, needs, "%s applies to block scales: give block=K too",
                                   needs);
        return CM_OK;
    }
    if (b->rule == CM_RULE_FIXED)
        return cm_diag_set_key(d, CM_EINVAL, "scale",
                               "scale=%s is one fixed scale for the tensor; with block=%zu give a "
                               "block rule (absmax, floor, ceil, even, rceil or mse)",
                               v[G_SCALE].text, b->K);
    if (b->rule == CM_RULE_OPT) {
        if (given[G_SCALE] >= 0)
            return cm_diag_set_key(d, CM_EINVAL, "scale",
                                   "scale=opt is one global MSE-optimal scale; with block=%zu give "
                                   "a block rule (absmax, floor, ceil, even, rceil or mse)",
                                   b->K);
        b->rule = CM_RULE_ABSMAX;
    }
    if (b->tensor && (b->sfmt == CM_SF_EXACT || b->sfmt == CM_SF_FP32))
        return cm_diag_set_key(d, CM_EINVAL, "tensor_scale",
                               "tensor_scale=fp32 serves a narrow scale format: give scale_fmt="
                               "e4m3, ue4m3, e5m2, bf16 or fp16");
    if (given[G_CAND] >= 0 && b->rule != CM_RULE_MSE)
        return cm_diag_set_key(d, CM_EINVAL, "candidates", "candidates applies to scale=mse only");
    if (given[G_TAMAX] >= 0 && !b->tensor)
        return cm_diag_set_key(d, CM_EINVAL, "tensor_amax",
                               "tensor_amax applies to tensor_scale=fp32 only");
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
        pos = kvs[given[pi]].pos;
        len = (long)(kvs[given[pi]].kn + 1 + kvs[given[pi]].vn);
    }
    err_at(d, pos, len, s);
}

static cm_status parse_stage(const cm_registry *reg, const char *text, size_t b, size_t e,
                             cm_stage *st, cm_buf *canon, cm_buf *fam, cm_diag *d)
{
    /* 1. the head: an alias (possibly containing ':') or a family */
    size_t hn = 0;
    const char *aspec = NULL;
    for (size_t i = 0; i < cm_registry_alias_count(reg); i++) {
        const char *an = cm_registry_alias_get(reg, i, NULL)->name;
        size_t l = strlen(an);
        /* an alias that holds a ':' (vq:kmeans) may go on with ',key=value' */
        if (l > hn && l <= e - b && !memcmp(text + b, an, l) &&
            (b + l == e || text[b + l] == ':' || (strchr(an, ':') && text[b + l] == ','))) {
            hn = l;
            aspec = cm_registry_alias_get(reg, i, NULL)->spec;
        }
    }
    if (!aspec) {
        const char *c = memchr(text + b, ':', e - b);
        hn = c ? (size_t)(c - (text + b)) : e - b;
        if (hn == 0)
            return err_at(d, (long)b, 1, cm_diag_set(d, CM_EPARSE, "missing format name"));
    }
    const cm_format *f = NULL;
    kv kvs[MAX_KV];
    size_t nkv = 0, nalias = 0;
    cm_status s;
    if (aspec) {
        const char *c = strchr(aspec, ':');
        size_t fl = c ? (size_t)(c - aspec) : strlen(aspec);
        if ((s = cm_registry_find(reg, aspec, fl, &f, d)))
            return err_at(d, (long)b, (long)hn, s);
        if (c && (s = split_kvs(aspec, fl + 1, strlen(aspec), (long)b, 1, kvs, &nkv, MAX_KV, d)))
            return s;
        nalias = nkv;
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
    for (size_t i = 0; i < nkv; i++) {
        long pi = find_param(f, kvs[i].k, kvs[i].kn);
        if (pi < 0) {
            cm_buf kb;
            cm_buf_init(&kb);
            list_keys(f, &kb);
            cm_diag_set(d, CM_ENOTFOUND, "format '%s' has no key '%.*s' (keys: %s)", f->name,
                        (int)kvs[i].kn, kvs[i].k, kb.s ? kb.s : "");
            cm_buf_free(&kb);
            return err_at(d, kvs[i].pos, (long)kvs[i].kn, CM_ENOTFOUND);
        }
        if (given[pi] >= 0 && !(kvs[given[pi]].from_alias && !kvs[i].from_alias))
            return err_at(d, kvs[i].pos, (long)kvs[i].kn,
                          cm_diag_set(d, CM_EDUP, "key '%.*s' given twice", (int)kvs[i].kn,
                                      kvs[i].k));
        given[pi] = (long)i;
    }
    (void)nalias;

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
        st->opt_mse = NAN;
        if (st->scalar) {
            if (d)
                d->key[0] = '\0';
            s = generic_keys(st, f, params, vals + f->n_params, given + f->n_params, kvs, d);
            if (s)
                blame(d, f, given, kvs, b, e, s);
        }
        st->group = s ? 1 : f->group(params);
        if (st->blk.K)
            st->group = cm_lcm(st->group, st->blk.K);
        if (!s && st->group == 0) {
            s = cm_diag_set(d, CM_EPLUGIN, "format '%s' reports a group size of 0", f->name);
            err_at(d, (long)b, (long)(e - b), s);
        }
        st->sel = CM_FORMAT_HAS(f, select);
        /* canonical text */
        size_t canon_start = canon->len;
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
        if (!s && !canon->oom) {
            st->canon = cm_strndup(canon->s + canon_start, canon->len - canon_start);
            if (!st->canon)
                s = cm_diag_set(d, CM_ENOMEM, "out of memory");
        }
        if (s) {
            f->params_free(params);
            st->params = NULL;
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

void cm_pipeline_free(cm_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->st[i].fmt)
            p->st[i].fmt->params_free(p->st[i].params);
        free(p->st[i].canon);
    }
    free(p->st);
    free(p->canonical);
    free(p->input);
    free(p->family);
    free(p);
}

cm_status cm_spec_parse(const cm_registry *reg, const char *text, cm_pipeline **out,
                        cm_diag *d)
{
    *out = NULL;
    cm_diag_clear(d);
    if (!text || !*text)
        return err_at(d, 0, 0, cm_diag_set(d, CM_EPARSE, "empty spec"));
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f)
            return err_at(d, (long)i, 1,
                          cm_diag_set(d, CM_EPARSE,
                                      "spec contains a space or non-printable character"));
    size_t nst = 1;
    for (size_t i = 0; i < len; i++)
        nst += (size_t)is_separator(text, i);
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

/* ---- accessors ---------------------------------------------------------------- */

const char *cm_pipeline_canonical(const cm_pipeline *p) { return p->canonical; }
const char *cm_pipeline_input(const cm_pipeline *p) { return p->input; }
const char *cm_pipeline_family(const cm_pipeline *p) { return p->family; }
size_t cm_pipeline_stages(const cm_pipeline *p) { return p->n; }
const cm_format *cm_pipeline_format(const cm_pipeline *p, size_t i) { return p->st[i].fmt; }
const void *cm_pipeline_params(const cm_pipeline *p, size_t i) { return p->st[i].params; }
size_t cm_pipeline_group(const cm_pipeline *p) { return p->group; }
double cm_pipeline_scale(const cm_pipeline *p, size_t i) { return p->st[i].scale; }
int cm_pipeline_scale_is_opt(const cm_pipeline *p, size_t i) { return p->st[i].scale_opt; }

/* Bits from stage i on: a selecting stage costs its own bits (mask, stored
 * outliers) plus the passing fraction times what stores the passing values
 * (the next stages, or 16 bits when nothing follows); otherwise the values
 * are stored by the last stage. */
static double bits_from(const cm_pipeline *p, size_t i)
{
    const cm_stage *st = &p->st[i];
    double own = st->fmt->bits_per_value(st->params);
    if (st->sel) {
        double pf = CM_FORMAT_HAS(st->fmt, pass_fraction) ? st->fmt->pass_fraction(st->params) : 1;
        return own + pf * (i + 1 < p->n ? bits_from(p, i + 1) : 16.0);
    }
    if (i + 1 < p->n)
        return bits_from(p, i + 1);
    if (st->blk.K)
        own += cm_sfmt_bits(st->blk.sfmt) / (double)st->blk.K;
    return own;
}

double cm_pipeline_bits(const cm_pipeline *p) { return bits_from(p, 0); }

cm_status cm_pipeline_resolve(cm_pipeline *p, cm_diag *d)
{
    for (size_t i = 0; i < p->n; i++) {
        cm_stage *st = &p->st[i];
        if (!st->scalar || !st->scale_opt || !isnan(st->scale))
            continue;
        double *lv = NULL;
        size_t k = 0;
        cm_status s = cm_exact_pipeline_levels(p, i, &lv, &k, d);
        if (s == CM_EUNSUPPORTED)
            return cm_diag_set(d, s,
                               "'%s': scale=opt needs the format's grid, which '%s' cannot "
                               "list (the exact path lists grids of up to 2^21 values, e.g. fp "
                               "with e + m <= 20); give scale=VALUE to evaluate it by Monte Carlo",
                               p->input, st->fmt->name);
        if (s)
            return s;
        if (i > 0 && p->st[i - 1].sel)
            s = cm_exact_opt_scale_after(p, i, lv, k, cm_stage_rounding(st), &st->scale,
                                         &st->opt_mse, d);
        else
            s = cm_exact_opt_scale_ex(lv, k, cm_stage_rounding(st), &st->scale, &st->opt_mse, d);
        free(lv);
        if (s)
            return s;
    }
    return CM_OK;
}

/* ---- applying --------------------------------------------------------------------- */

cm_status cm_pipeline_state_alloc(const cm_pipeline *p, size_t chunk, cm_pipeline_state **out,
                                  cm_diag *d)
{
    *out = NULL;
    cm_pipeline_state *s = calloc(1, sizeof *s);
    if (!s)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    s->chunk = chunk - chunk % p->group;
    if (s->chunk == 0)
        s->chunk = p->group;
    s->t0 = malloc(5 * s->chunk * sizeof(double));
    s->t1 = s->t0 ? s->t0 + s->chunk : NULL;
    s->stage = malloc(3 * p->n * s->chunk * sizeof(double));
    s->pass = malloc(p->n * s->chunk);
    s->fstate = calloc(p->n, sizeof *s->fstate);
    if (!s->t0 || !s->stage || !s->pass || !s->fstate) {
        cm_pipeline_state_free(p, s);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->n; i++) {
        const cm_format *f = p->st[i].fmt;
        if (!CM_FORMAT_HAS(f, state_size))
            continue;
        size_t sz = f->state_size(p->st[i].params);
        if (!sz)
            continue;
        s->fstate[i] = aligned_alloc(64, (sz + 63) / 64 * 64);
        if (!s->fstate[i]) {
            cm_pipeline_state_free(p, s);
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        }
        memset(s->fstate[i], 0, sz);
        if (CM_FORMAT_HAS(f, state_init)) {
            cm_status st = f->state_init(p->st[i].params, s->fstate[i]);
            if (st) {
                free(s->fstate[i]);
                s->fstate[i] = NULL;
                cm_pipeline_state_free(p, s);
                return cm_diag_set(d, st, "format '%s': state_init failed (%s)", f->name,
                                   cm_strerror(st));
            }
        }
    }
    *out = s;
    return CM_OK;
}

void cm_pipeline_state_free(const cm_pipeline *p, cm_pipeline_state *s)
{
    if (!s)
        return;
    if (s->fstate)
        for (size_t i = 0; i < p->n; i++)
            if (s->fstate[i]) {
                const cm_format *f = p->st[i].fmt;
                if (CM_FORMAT_HAS(f, state_fini))
                    f->state_fini(p->st[i].params, s->fstate[i]);
                free(s->fstate[i]);
            }
    free(s->fstate);
    free(s->t0);
    free(s->stage);
    free(s->pass);
    free(s);
}

void cm_pipeline_state_seed(const cm_pipeline *p, cm_pipeline_state *s, uint64_t seed)
{
    for (size_t i = 0; i < p->n; i++) {
        const cm_format *f = p->st[i].fmt;
        if (s->fstate[i] && CM_FORMAT_HAS(f, state_seed))
            f->state_seed(p->st[i].params, s->fstate[i],
                          seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
    }
}

unsigned cm_stage_rounding(const cm_stage *st)
{
    return CM_FORMAT_HAS(st->fmt, rounding) ? st->fmt->rounding(st->params) : CM_ROUND_NEAREST;
}

/* one stage on its own: block-scaled, scaled, or as is */
static void apply_stage(const cm_pipeline *p, cm_pipeline_state *s, size_t i, const double *in,
                        double *out, size_t m)
{
    const cm_stage *st = &p->st[i];
    double *u = s->t1 + s->chunk; /* scaled input */
    double *sc = u + s->chunk, *tmp = sc + s->chunk; /* block scales, scratch */
    if (st->blk.K) {
        cm_block_apply(&st->blk, st->fmt, st->params, s->fstate[i], in, out, m, u, sc, tmp);
    } else if (st->scalar && st->scale != 1.0) {
        const double scale = st->scale, inv = 1.0 / st->scale;
        for (size_t j = 0; j < m; j++)
            u[j] = in[j] * inv;
        st->fmt->quantize(st->params, s->fstate[i], u, out, m);
        for (size_t j = 0; j < m; j++)
            out[j] *= scale;
    } else {
        st->fmt->quantize(st->params, s->fstate[i], in, out, m);
    }
}

/* stages i.. of the pipeline; a selecting stage sends only its passing
 * values on (the others enter the next stage as 0 and keep the value the
 * selecting stage gave them) */
static void apply_from(const cm_pipeline *p, cm_pipeline_state *s, size_t i, const double *in,
                       double *out, size_t m)
{
    if (i + 1 == p->n) {
        apply_stage(p, s, i, in, out, m);
        return;
    }
    const cm_stage *st = &p->st[i];
    double *mid = s->stage + 3 * i * s->chunk, *u = mid + s->chunk, *tmp = u + s->chunk;
    if (st->sel) {
        unsigned char *pass = s->pass + i * s->chunk;
        st->fmt->select(st->params, s->fstate[i], in, mid, pass, m);
        for (size_t j = 0; j < m; j++)
            u[j] = pass[j] ? mid[j] : 0.0;
        apply_from(p, s, i + 1, u, tmp, m);
        for (size_t j = 0; j < m; j++)
            out[j] = pass[j] ? tmp[j] : mid[j];
    } else {
        apply_stage(p, s, i, in, mid, m);
        apply_from(p, s, i + 1, mid, out, m);
    }
}

void cm_pipeline_apply(const cm_pipeline *p, cm_pipeline_state *s, const double *x, double *y,
                       size_t n)
{
    for (size_t off = 0; off < n; off += s->chunk) {
        size_t m = n - off < s->chunk ? n - off : s->chunk;
        apply_from(p, s, 0, x + off, y + off, m);
    }
}
