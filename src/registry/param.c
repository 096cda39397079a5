/* Parameter values: parsing one key's text against its descriptor, and the
 * check a format's descriptor passes on registration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "param_int.h"
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
    if (f->n_params > CM_MAX_PARAMS)
        return cm_diag_set(d, CM_EPLUGIN, "format '%s' declares %zu keys (accepted: at most %d)",
                           f->name, f->n_params, CM_MAX_PARAMS);
    size_t ng;
    const cm_param *g = cm_generic_params(&ng);
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
        if ((p->type == CM_PARAM_INT || p->type == CM_PARAM_REAL || p->type == CM_PARAM_LIST) &&
            !(p->min <= p->max))
            return cm_diag_set(d, CM_EPLUGIN,
                               "format '%s': parameter '%s' has an empty range (min %g > max %g, "
                               "or not a number)",
                               f->name, p->key, p->min, p->max);
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

