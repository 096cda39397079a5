/* Grid files: the expressions of `where` (+ - * / ( ), numbers and key
 * names) and its conditions (comparisons joined by and / or). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

/* ---- constraints: + - * / ( ), numbers and key names ------------------------------ */

/* nesting deeper than this is refused (a hostile file must not exhaust the stack) */
#define EXPR_MAX_DEPTH 100

static int expr(const char **s, const vars *v, double *out, int depth);

void sweep_skip_ws(const char **s)
{
    while (**s == ' ')
        (*s)++;
}

static int factor(const char **s, const vars *v, double *out, int depth)
{
    if (depth > EXPR_MAX_DEPTH)
        return -1;
    sweep_skip_ws(s);
    if (**s == '(') {
        (*s)++;
        if (expr(s, v, out, depth + 1))
            return -1;
        sweep_skip_ws(s);
        if (**s != ')')
            return -1;
        (*s)++;
        return 0;
    }
    if (**s == '-') {
        (*s)++;
        if (factor(s, v, out, depth + 1))
            return -1;
        *out = -*out;
        return 0;
    }
    if ((**s >= '0' && **s <= '9') || **s == '.') {
        char *end;
        *out = strtod(*s, &end);
        *s = end;
        return 0;
    }
    size_t len = 0;
    while (((*s)[len] >= 'a' && (*s)[len] <= 'z') || (*s)[len] == '_' ||
           ((*s)[len] >= '0' && (*s)[len] <= '9'))
        len++;
    for (size_t i = 0; len && i < v->n; i++)
        if (strlen(v->name[i]) == len && !memcmp(v->name[i], *s, len)) {
            *out = v->val[i];
            *s += len;
            return 0;
        }
    return -1;
}

static int term(const char **s, const vars *v, double *out, int depth)
{
    if (factor(s, v, out, depth))
        return -1;
    for (;;) {
        sweep_skip_ws(s);
        char op = **s;
        if (op != '*' && op != '/')
            return 0;
        (*s)++;
        double r;
        if (factor(s, v, &r, depth))
            return -1;
        *out = op == '*' ? *out * r : *out / r;
    }
}

static int expr(const char **s, const vars *v, double *out, int depth)
{
    if (term(s, v, out, depth))
        return -1;
    for (;;) {
        sweep_skip_ws(s);
        char op = **s;
        if (op != '+' && op != '-')
            return 0;
        (*s)++;
        double r;
        if (term(s, v, &r, depth))
            return -1;
        *out = op == '+' ? *out + r : *out - r;
    }
}

/* ---- conditions: expr OP expr joined by and / or ("and" binds first) ---------------- */

static int word(const char **s, const char *w)
{
    size_t n = strlen(w);
    sweep_skip_ws(s);
    if (strncmp(*s, w, n) || isalnum((unsigned char)(*s)[n]) || (*s)[n] == '_')
        return 0;
    *s += n;
    return 1;
}

/* one comparison; equality within 1e-9, as the number form of where */
static int compare(const char **s, const vars *v, int *out, int depth)
{
    double l, r;
    if (expr(s, v, &l, depth))
        return -1;
    sweep_skip_ws(s);
    static const char *const ops[] = {"<=", ">=", "==", "!=", "<", ">"};
    int k = 0;
    while (k < 6 && strncmp(*s, ops[k], strlen(ops[k])))
        k++;
    if (k == 6)
        return -1;
    *s += strlen(ops[k]);
    if (expr(s, v, &r, depth) || isnan(l) || isnan(r))
        return -1;
    int eq = fabs(l - r) < 1e-9;
    int res[] = {l < r || eq, l > r || eq, eq, !eq, l < r && !eq, l > r && !eq};
    *out = res[k];
    return 0;
}

/* sub (OP sub)*: OP the word "and" or "or" */
typedef int (*cond_fn)(const char **s, const vars *v, int *out, int depth);

static int joined(const char **s, const vars *v, int *out, int depth, const char *op, cond_fn sub)
{
    if (sub(s, v, out, depth))
        return -1;
    while (word(s, op)) {
        int r;
        if (sub(s, v, &r, depth))
            return -1;
        *out = op[0] == 'o' ? *out || r : *out && r;
    }
    return 0;
}

static int cond_and(const char **s, const vars *v, int *out, int depth)
{
    return joined(s, v, out, depth, "and", compare);
}

static int condition(const char **s, const vars *v, int *out, int depth)
{
    return joined(s, v, out, depth, "or", cond_and);
}

int sweep_expr(const char **s, const vars *v, double *out) { return expr(s, v, out, 0); }

int sweep_condition(const char **s, const vars *v, int *out) { return condition(s, v, out, 0); }
