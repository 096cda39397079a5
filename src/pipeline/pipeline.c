/* The pipeline object: accessors, storage bits, per-thread states and
 * applying a pipeline to data. Nothing here writes a pipeline after the
 * parser built it. */
#include <capmetric/spec.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"
#include "util_int.h"

void cm_pipeline_free(cm_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n && !p->borrowed; i++) {
        if (p->st[i].fmt)
            p->st[i].fmt->params_free(p->st[i].params);
        free(p->st[i].canon);
        for (size_t k = 0; k < p->st[i].nvals; k++)
            free(p->st[i].vals[k].text);
        free(p->st[i].vals);
    }
    if (!p->borrowed)
        free(p->st);
    free(p->canonical);
    free(p->input);
    free(p->family);
    free(p);
}

/* ---- accessors ---------------------------------------------------------------- */

const char *cm_pipeline_canonical(const cm_pipeline *p) { return p->canonical; }
const char *cm_pipeline_input(const cm_pipeline *p) { return p->input; }
const char *cm_pipeline_family(const cm_pipeline *p) { return p->family; }
size_t cm_pipeline_stages(const cm_pipeline *p) { return p->n; }
const cm_format *cm_pipeline_format(const cm_pipeline *p, size_t i) { return p->st[i].fmt; }
const void *cm_pipeline_params(const cm_pipeline *p, size_t i) { return p->st[i].params; }
size_t cm_pipeline_group(const cm_pipeline *p) { return p->group; }

int cm_pipeline_tile(const cm_pipeline *p, size_t *rows, size_t *cols)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->st[i].blk.tile_r) {
            *rows = p->st[i].blk.tile_r;
            *cols = p->st[i].blk.tile_c;
            return 1;
        }
    return 0;
}
double cm_pipeline_scale(const cm_pipeline *p, size_t i) { return p->st[i].scale; }
const cm_registry *cm_pipeline_registry(const cm_pipeline *p) { return p->reg; }

cm_status cm_pipeline_value(const cm_pipeline *p, size_t i, const char *key, double *num,
                            const char **text)
{
    if (i >= p->n)
        return CM_EINVAL;
    const cm_stage *st = &p->st[i];
    for (size_t k = 0; k < st->nvals; k++)
        if (!strcmp(st->vals[k].key, key)) {
            if (num)
                *num = st->vals[k].is_word ? NAN : st->vals[k].num;
            if (text)
                *text = st->vals[k].text;
            return CM_OK;
        }
    return CM_ENOTFOUND;
}
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

/* ---- applying --------------------------------------------------------------------- */

cm_status cm_pipeline_slice(const cm_pipeline *p, size_t i, cm_pipeline **out, cm_diag *d)
{
    *out = NULL;
    if (i >= p->n)
        return cm_diag_set(d, CM_EINVAL, "stage %zu of a %zu-stage pipeline", i, p->n);
    cm_pipeline *v = calloc(1, sizeof *v);
    char *fam = cm_strdup(p->st[i].fmt->name);
    char *canon = cm_strdup(p->st[i].canon), *input = cm_strdup(p->st[i].canon);
    if (!v || !fam || !canon || !input) {
        free(v);
        free(fam);
        free(canon);
        free(input);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    v->reg = p->reg;
    v->n = 1;
    v->st = (cm_stage *)&p->st[i]; /* borrowed: cm_pipeline_free leaves it alone */
    v->borrowed = 1;
    v->canonical = canon;
    v->input = input;
    v->family = fam;
    v->group = p->st[i].group;
    *out = v;
    return CM_OK;
}

cm_status cm_pipeline_state_alloc(const cm_pipeline *p, const double *scales, size_t chunk,
                                  cm_pipeline_state **out, cm_diag *d)
{
    *out = NULL;
    for (size_t i = 0; i < p->n; i++) {
        double sc = scales ? scales[i] : p->st[i].scale;
        if (p->st[i].scalar && !p->st[i].blk.K && !(sc > 0 && isfinite(sc)))
            return cm_diag_set(d, CM_EINVAL,
                               "'%s': stage %zu has no resolved scale (scale=opt is resolved by "
                               "the engine: use cm_plan_state_alloc)",
                               p->input, i + 1);
    }
    cm_pipeline_state *s = calloc(1, sizeof *s);
    if (!s)
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    s->scale = malloc(p->n * sizeof *s->scale);
    if (!s->scale) {
        free(s);
        return cm_diag_set(d, CM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->n; i++)
        s->scale[i] = scales ? scales[i] : p->st[i].scale;
    s->tamax_abs = 0;
    s->tamax_mul = 1;
    s->chunk = chunk - chunk % p->group;
    if (s->chunk == 0)
        s->chunk = p->group;
    s->t0 = malloc(5 * s->chunk * sizeof(double));
    s->t1 = s->t0 ? s->t0 + s->chunk : NULL;
    s->stage = malloc(3 * p->n * s->chunk * sizeof(double));
    s->pass = malloc(p->n * s->chunk);
    s->fstate = calloc(p->n, sizeof *s->fstate);
    s->srng = calloc(p->n, sizeof *s->srng);
    if (!s->t0 || !s->stage || !s->pass || !s->fstate || !s->srng) {
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
        if (sz > CM_STATE_MAX) { /* a broken plugin must not make the host wrap or overcommit */
            cm_pipeline_state_free(p, s);
            return cm_diag_set(d, CM_EPLUGIN,
                               "format '%s': state_size() asks for %zu bytes (accepted: at most "
                               "%zu)",
                               f->name, sz, (size_t)CM_STATE_MAX);
        }
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
    free(s->srng);
    free(s->t0);
    free(s->stage);
    free(s->pass);
    free(s->scale);
    free(s);
}

void cm_pipeline_state_seed(const cm_pipeline *p, cm_pipeline_state *s, uint64_t seed)
{
    for (size_t i = 0; i < p->n; i++) {
        const cm_format *f = p->st[i].fmt;
        cm_pcg64_stream(&s->srng[i], seed, 0x5ca1e0000ull + i);
        if (s->fstate[i] && CM_FORMAT_HAS(f, state_seed))
            f->state_seed(p->st[i].params, s->fstate[i],
                          seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
    }
}

unsigned cm_stage_rounding(const cm_stage *st)
{
    return CM_FORMAT_HAS(st->fmt, rounding) ? st->fmt->rounding(st->params) : CM_ROUND_NEAREST;
}

const cm_blockspec *cm_stage_blockspec(const cm_stage *st, const cm_pipeline_state *s,
                                       cm_blockspec *tmp)
{
    const cm_blockspec *b = &st->blk;
    double ta = s->tamax_abs > 0 ? s->tamax_abs : s->tamax_mul * b->tensor_amax;
    if (!b->tensor || ta == b->tensor_amax)
        return b;
    *tmp = *b; /* the tensor scale calibrated to these data */
    cm_block_retarget(tmp, ta);
    return tmp;
}

/* one stage on its own: block-scaled, scaled, or as is */
static void apply_stage(const cm_pipeline *p, cm_pipeline_state *s, size_t i, const double *in,
                        double *out, size_t m)
{
    const cm_stage *st = &p->st[i];
    double *u = s->t1 + s->chunk; /* scaled input */
    double *sc = u + s->chunk, *tmp = sc + s->chunk; /* block scales, scratch */
    if (st->blk.K) {
        cm_blockspec retargeted;
        const cm_blockspec *b = cm_stage_blockspec(st, s, &retargeted);
        cm_block_apply(b, st->fmt, st->params, s->fstate[i], in, out, m, u, sc, tmp, &s->srng[i]);
    } else if (st->scalar && s->scale[i] != 1.0) {
        const double scale = s->scale[i];
        for (size_t j = 0; j < m; j++) /* divided: x / s as defined, ties kept */
            u[j] = in[j] / scale;
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
    if (st->rot) { /* rotate, run the rest there, rotate back */
        st->fmt->quantize(st->params, s->fstate[i], in, mid, m);
        apply_from(p, s, i + 1, mid, tmp, m);
        st->fmt->inverse(st->params, s->fstate[i], tmp, out, m);
    } else if (st->sel) {
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
