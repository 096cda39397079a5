/* The format registry (pattern of GSL's rng types and SQLite's VFS list):
 * built-ins and plugins go through the same cm_registry_add checks. */
#include <capmetric/registry.h>

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "builtin_int.h"
#include "param_int.h"
#include "util_int.h"

typedef struct entry {
    const cm_format *fmt;
    char *origin;
} entry;

typedef struct alias_entry {
    const cm_alias *alias;
    const cm_format *owner;
} alias_entry;

struct cm_registry {
    entry *e;
    size_t n, cap;
    alias_entry *a;
    size_t na, acap;
    void **dl;
    size_t ndl, dlcap;
};

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s || strlen(s) > 48)
        return 0;
    for (const char *c = s; *c; c++) {
        if (islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_')
            continue;
        if (allow_colon && *c == ':' && c != s && c[1])
            continue;
        return 0;
    }
    return 1;
}

static int name_taken(const cm_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].fmt->name, name))
            return 1;
    for (size_t i = 0; i < r->na; i++)
        if (!strcmp(r->a[i].alias->name, name))
            return 1;
    return 0;
}

static cm_status check_format(const cm_registry *r, const cm_format *f, cm_diag *d)
{
    if (!f)
        return cm_diag_set(d, CM_EPLUGIN, "format pointer is NULL");
    if (CM_ABI_MAJOR_OF(f->abi) != CM_ABI_MAJOR)
        return cm_diag_set(d, CM_EABI, "format ABI %u.%u, host ABI %u.%u (major must match)",
                           CM_ABI_MAJOR_OF(f->abi), f->abi & 0xffffu, CM_ABI_MAJOR, CM_ABI_MINOR);
    size_t need = offsetof(cm_format, quantize) + sizeof f->quantize;
    if (f->size < need)
        return cm_diag_set(d, CM_EPLUGIN,
                           "format struct is %u bytes, smaller than the %zu bytes of the "
                           "mandatory members",
                           f->size, need);
    const char *fname = f->name ? f->name : "(unnamed)";
    const char *missing = !f->name ? "name"
                          : !f->summary ? "summary"
                          : !f->params_parse ? "params_parse"
                          : !f->params_free ? "params_free"
                          : !f->bits_per_value ? "bits_per_value"
                          : !f->group ? "group"
                          : !f->quantize ? "quantize"
                          : (f->n_params && !f->params) ? "params"
                                                        : NULL;
    if (missing)
        return cm_diag_set(d, CM_EPLUGIN, "format '%s': mandatory member '%s' is NULL", fname,
                           missing);
    if (!valid_name(f->name, 0))
        return cm_diag_set(d, CM_EPLUGIN,
                           "format name '%s' is not valid (accepted: [a-z0-9_], at most 48 "
                           "characters)",
                           f->name);
    if (name_taken(r, f->name))
        return cm_diag_set(d, CM_EDUP, "format name '%s' is already registered", f->name);
    cm_status st = cm_params_check(f, d);
    if (st)
        return st;
    if (CM_FORMAT_HAS(f, aliases)) {
        if (f->n_aliases > CM_MAX_ALIASES)
            return cm_diag_set(d, CM_EPLUGIN, "format '%s' brings %zu aliases (accepted: at most %d)",
                               f->name, f->n_aliases, CM_MAX_ALIASES);
        for (size_t i = 0; i < f->n_aliases; i++) {
            const cm_alias *a = &f->aliases[i];
            if (!valid_name(a->name, 1) || !a->spec || strchr(a->spec, '+'))
                return cm_diag_set(d, CM_EPLUGIN, "format '%s': alias %zu is not valid",
                                   f->name, i);
            if (name_taken(r, a->name) || !strcmp(a->name, f->name))
                return cm_diag_set(d, CM_EDUP, "format '%s': alias '%s' is already registered",
                                   f->name, a->name);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(f->aliases[j].name, a->name))
                    return cm_diag_set(d, CM_EDUP, "format '%s': alias '%s' given twice",
                                       f->name, a->name);
        }
    }
    return CM_OK;
}

cm_status cm_registry_add(cm_registry *r, const cm_format *f, const char *origin, cm_diag *d)
{
    if (!r)
        return cm_diag_set(d, CM_EINVAL, "registry is NULL");
    cm_status st = check_format(r, f, d);
    if (st)
        return st;
    size_t na = CM_FORMAT_HAS(f, aliases) ? f->n_aliases : 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        entry *e = realloc(r->e, cap * sizeof *e);
        if (!e)
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        r->e = e;
        r->cap = cap;
    }
    if (r->na + na > r->acap) {
        size_t cap = r->acap ? 2 * r->acap : 32;
        while (cap < r->na + na)
            cap *= 2;
        alias_entry *a = realloc(r->a, cap * sizeof *a);
        if (!a)
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        r->a = a;
        r->acap = cap;
    }
    char *o = cm_strdup(origin ? origin : "built-in");
    if (!o)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    r->e[r->n].fmt = f;
    r->e[r->n].origin = o;
    r->n++;
    for (size_t i = 0; i < na; i++) {
        r->a[r->na].alias = &f->aliases[i];
        r->a[r->na].owner = f;
        r->na++;
    }
    return CM_OK;
}

cm_status cm_registry_alloc(cm_registry **out, cm_diag *d)
{
    *out = NULL;
    cm_registry *r = calloc(1, sizeof *r);
    if (!r)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    /* GSL reports, never aborts (DESIGN §3): before any format's parse */
    cm_gsl_quiet();
    size_t n = 0;
    const cm_format *const *list = cm_builtin_init(cm_registry_host(), &n);
    for (size_t i = 0; list && i < n; i++) {
        cm_status st = cm_registry_add(r, list[i], "built-in", d);
        if (st) {
            cm_registry_free(r);
            return st;
        }
    }
    *out = r;
    return CM_OK;
}

void cm_registry_free(cm_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].origin);
    free(r->e);
    free(r->a);
    for (size_t i = 0; i < r->ndl; i++)
        dlclose(r->dl[i]);
    free(r->dl);
    free(r);
}

size_t cm_registry_count(const cm_registry *r) { return r->n; }

const cm_format *cm_registry_get(const cm_registry *r, size_t i, const char **origin)
{
    if (i >= r->n)
        return NULL;
    if (origin)
        *origin = r->e[i].origin;
    return r->e[i].fmt;
}

size_t cm_registry_alias_count(const cm_registry *r) { return r->na; }

const cm_alias *cm_registry_alias_get(const cm_registry *r, size_t i, const cm_format **owner)
{
    if (i >= r->na)
        return NULL;
    if (owner)
        *owner = r->a[i].owner;
    return r->a[i].alias;
}

const char *cm_registry_alias(const cm_registry *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->na; i++) {
        const char *an = r->a[i].alias->name;
        if (strlen(an) == len && !memcmp(an, name, len))
            return r->a[i].alias->spec;
    }
    /* MXFP4, INT4, E8M0: names are lowercase, people write them in capitals */
    for (size_t i = 0; i < r->na; i++) {
        const char *an = r->a[i].alias->name;
        if (strlen(an) == len && !strncasecmp(an, name, len))
            return r->a[i].alias->spec;
    }
    return NULL;
}

/* the registered name (family or alias) nearest to name, if near enough to be a slip */
static const char *nearest_name(const cm_registry *r, const char *name, size_t len)
{
    const char *best = NULL;
    size_t bd = cm_slip_distance(len);
    for (size_t i = 0; i < r->n + r->na; i++) {
        cm_nearer(name, len, i < r->n ? r->e[i].fmt->name : r->a[i - r->n].alias->name,
                  &best, &bd);
    }
    return best;
}

cm_status cm_registry_find(const cm_registry *r, const char *name, size_t len,
                           const cm_format **out, cm_diag *d)
{
    for (int pass = 0; pass < 2; pass++) /* exact, then without case */
        for (size_t i = 0; i < r->n; i++) {
            const char *fn = r->e[i].fmt->name;
            if (strlen(fn) == len &&
                (pass ? !strncasecmp(fn, name, len) : !memcmp(fn, name, len))) {
                *out = r->e[i].fmt;
                return CM_OK;
            }
        }
    cm_buf b;
    cm_buf_init(&b);
    for (size_t i = 0; i < r->n; i++)
        cm_buf_printf(&b, "%s%s", i ? ", " : "", r->e[i].fmt->name);
    const char *near = nearest_name(r, name, len);
    char hint[96];
    cm_did_you_mean(near, hint, sizeof hint);
    cm_diag_set(d, CM_ENOTFOUND,
                "unknown format '%.*s'%s (families: %s; 'capmetric formats' lists them with "
                "their %zu aliases)",
                (int)len, name, hint, b.s ? b.s : "", r->na);
    cm_buf_free(&b);
    return CM_ENOTFOUND;
}

/* Forget the formats and aliases registered after counts n0, na0. */
static void rollback(cm_registry *r, size_t n0, size_t na0)
{
    for (size_t j = n0; j < r->n; j++)
        free(r->e[j].origin);
    r->n = n0;
    r->na = na0;
}

cm_status cm_registry_load_plugin(cm_registry *r, const char *path, cm_diag *d)
{
    struct stat sb;
    if (!path || !*path)
        return cm_diag_set(d, CM_EPLUGIN, "plugin path is empty");
    if (stat(path, &sb) != 0)
        return cm_diag_set(d, CM_EPLUGIN, "plugin '%s': %s", path, strerror(errno));
    /* dlopen searches the library path for names without '/': make it a path */
    cm_buf p;
    cm_buf_init(&p);
    if (!strchr(path, '/'))
        cm_buf_puts(&p, "./");
    cm_buf_puts(&p, path);
    if (p.oom) {
        cm_buf_free(&p);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    void *h = dlopen(p.s, RTLD_NOW | RTLD_LOCAL);
    cm_buf_free(&p);
    if (!h)
        return cm_diag_set(d, CM_EPLUGIN, "plugin '%s': cannot load: %s", path, dlerror());
    cm_plugin_init_fn q;
    void *sym = dlsym(h, CM_PLUGIN_INIT_SYMBOL);
    memcpy(&q, &sym, sizeof q); /* object -> function pointer, as POSIX allows */
    if (!sym) {
        int v1 = dlsym(h, CM_PLUGIN_QUERY_SYMBOL_V1) != NULL;
        dlclose(h);
        if (v1)
            return cm_diag_set(d, CM_EABI,
                               "plugin '%s' was built for plugin ABI 1 (it exports '%s'); this "
                               "host is ABI %u.%u: rebuild it against this capmetric's headers "
                               "(it then exports '%s', which receives the host table)",
                               path, CM_PLUGIN_QUERY_SYMBOL_V1, CM_ABI_MAJOR, CM_ABI_MINOR,
                               CM_PLUGIN_INIT_SYMBOL);
        return cm_diag_set(d, CM_EPLUGIN, "plugin '%s': no symbol '%s' (a plugin exports it)",
                           path, CM_PLUGIN_INIT_SYMBOL);
    }
    size_t n = 0;
    const cm_format *const *list = q(cm_registry_host(), &n);
    if (!list || n == 0) {
        dlclose(h);
        return cm_diag_set(d, CM_EABI,
                           "plugin '%s': %s() returned no formats for host ABI %u.%u", path,
                           CM_PLUGIN_INIT_SYMBOL, CM_ABI_MAJOR, CM_ABI_MINOR);
    }
    size_t n0 = r->n, na0 = r->na;
    for (size_t i = 0; i < n; i++) {
        cm_status st = cm_registry_add(r, list[i], path, d);
        if (st) {
            char why[sizeof d->msg];
            snprintf(why, sizeof why, "%s", d ? d->msg : "");
            rollback(r, n0, na0);
            dlclose(h);
            return cm_diag_set(d, st, "plugin '%s': format %zu refused: %s", path, i, why);
        }
    }
    if (r->ndl == r->dlcap) {
        size_t cap = r->dlcap ? 2 * r->dlcap : 4;
        void **dl = realloc(r->dl, cap * sizeof *dl);
        if (!dl) {
            rollback(r, n0, na0);
            dlclose(h);
            return cm_diag_set(d, CM_ENOMEM, "out of memory");
        }
        r->dl = dl;
        r->dlcap = cap;
    }
    r->dl[r->ndl++] = h;
    return CM_OK;
}
