#include "wid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "calib_train.h"
#include "shrink.h"
#include "tensor.h"

#define WID_CUTS 8
#define WID_PULL 0.95f

enum { WHERE_EMBED = -1, WHERE_HEAD = -2 };

/* the compactors on each linear: left over its input, right over its output (0: none) */
static void sides_of(int which, int *left, int *right)
{
    *left = which == LIN_Q || which == LIN_K || which == LIN_V || which == LIN_GATE || which == LIN_UP || which == LIN_DOWN;
    *right = which == LIN_GATE || which == LIN_UP || which == LIN_DOWN || which == LIN_O;
}

static int add(wid_compactors *c, int size, int where, int side, const char *name)
{
    const int i = c->n++;
    c->size[i] = size, c->where[i] = where, c->side[i] = side;
    snprintf(c->name[i], 64, "%s", name);
    const size_t n = (size_t)size * size;
    c->p[i] = cpet_alloc_floats(n), c->g[i] = cpet_alloc_floats(n);
    if (!c->p[i] || !c->g[i]) return -1;
    memset(c->p[i], 0, n * sizeof(float)), memset(c->g[i], 0, n * sizeof(float));
    for (int k = 0; k < size; k++) c->p[i][(size_t)k * size + k] = 1.0f;
    return 0;
}

int wid_compactors_init(wid_compactors *c, const model *m, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    if (m->cfg.tie_word_embeddings)
        return cpet_fail(err, "wid: the LM head is tied to the embeddings; a compactor on it would untie them (untie the model first)");
    if (m->moe) return cpet_fail(err, "wid: the FFNs are MoEfied; prune before moefication");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (!m->layers[l].lin[k].w || m->layers[l].lin[k].qw) return cpet_fail(err, "wid: layer %d is packed; prune before quantizing", l);
    if (m->lm_head.qw || m->embed_q) return cpet_fail(err, "wid: the LM head or embeddings are packed; prune before quantizing");
    c->L = m->cfg.n_layers, c->D = m->cfg.hidden_size, c->F = m->cfg.intermediate_size;
    const int cap = c->L * 10 + 2;
    c->p = calloc((size_t)cap, sizeof *c->p), c->g = calloc((size_t)cap, sizeof *c->g);
    c->size = calloc((size_t)cap, sizeof *c->size), c->where = calloc((size_t)cap, sizeof *c->where), c->side = calloc((size_t)cap, sizeof *c->side);
    c->name = calloc((size_t)cap, sizeof *c->name);
    int rc = c->p && c->g && c->size && c->where && c->side && c->name ? 0 : -1;
    rc = rc || add(c, c->D, WHERE_EMBED, 1, "model.embed_tokens.compactor");
    for (int l = 0; l < c->L && rc == 0; l++)
        for (int k = 0; k < LIN_PER_LAYER && rc == 0; k++) {
            int left, right;
            sides_of(k, &left, &right);
            const linear *lin = &m->layers[l].lin[k];
            char name[64];
            snprintf(name, sizeof name, "model.layers.%d.%s.left", l, linear_module_suffix[k]);
            if (left) rc = add(c, lin->in, l * LIN_PER_LAYER + k, 0, name);
            snprintf(name, sizeof name, "model.layers.%d.%s.right", l, linear_module_suffix[k]);
            if (right && rc == 0) rc = add(c, lin->out, l * LIN_PER_LAYER + k, 1, name);
        }
    rc = rc || add(c, c->D, WHERE_HEAD, 0, "lm_head.left");
    if (rc) {
        wid_compactors_free(c);
        return cpet_fail(err, "out of memory for the compactors");
    }
    return 0;
}

void wid_compactors_free(wid_compactors *c)
{
    for (int i = 0; i < c->n; i++) cpet_free(c->p[i]), cpet_free(c->g[i]);
    free(c->p), free(c->g), free(c->size), free(c->where), free(c->side), free(c->name);
    memset(c, 0, sizeof *c);
}

/* the compactor on a side of a linear (or the embedding / head), or -1 */
static int find(const wid_compactors *c, int where, int side)
{
    for (int i = 0; i < c->n; i++)
        if (c->where[i] == where && c->side[i] == side) return i;
    return -1;
}

static linear *linear_at(model *m, int where) { return where == WHERE_HEAD ? &m->lm_head : &m->layers[where / LIN_PER_LAYER].lin[where % LIN_PER_LAYER]; }

/* ---- the reparameterized step ---- */

typedef struct {
    const wid_compactors *c;
    int n_lin;       /* the linears with compactors: every layer linear and the LM head */
    int *lin_where;  /* [n_lin] */
    float **A, **Wp, **G; /* per linear: W L (or W), R W L, the gradient with respect to it */
    float **lat_w, **lat_dw;
    float *emb, *demb, *lat_emb, *lat_demb;
    /* pruning */
    unsigned char *hidden_masked, *ffn_masked; /* [D], [L, F] */
    int step, w_step, target_d, target_f, cuts;
} wid_state;

static int state_init(wid_state *s, model *m, const wid_compactors *c, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    s->n_lin = c->L * LIN_PER_LAYER + 1;
    s->lin_where = malloc((size_t)s->n_lin * sizeof(int));
    s->A = calloc((size_t)s->n_lin, sizeof(float *)), s->Wp = calloc((size_t)s->n_lin, sizeof(float *)), s->G = calloc((size_t)s->n_lin, sizeof(float *));
    s->lat_w = calloc((size_t)s->n_lin, sizeof(float *)), s->lat_dw = calloc((size_t)s->n_lin, sizeof(float *));
    const size_t ne = (size_t)m->cfg.vocab_size * c->D;
    s->emb = cpet_alloc_floats(ne), s->demb = cpet_alloc_floats(ne);
    s->hidden_masked = calloc((size_t)c->D, 1), s->ffn_masked = calloc((size_t)c->L * c->F, 1);
    if (!s->lin_where || !s->A || !s->Wp || !s->G || !s->lat_w || !s->lat_dw || !s->emb || !s->demb || !s->hidden_masked || !s->ffn_masked)
        return cpet_fail(err, "out of memory for WID's buffers");
    for (int i = 0; i < s->n_lin; i++) {
        s->lin_where[i] = i < c->L * LIN_PER_LAYER ? i : WHERE_HEAD;
        const linear *l = linear_at(m, s->lin_where[i]);
        const size_t n = (size_t)l->out * l->in;
        if (!(s->A[i] = cpet_alloc_floats(n)) || !(s->Wp[i] = cpet_alloc_floats(n)) || !(s->G[i] = cpet_alloc_floats(n)))
            return cpet_fail(err, "out of memory for WID's buffers");
    }
    return 0;
}

static void state_free(wid_state *s)
{
    for (int i = 0; s->A && i < s->n_lin; i++) cpet_free(s->A[i]), cpet_free(s->Wp[i]), cpet_free(s->G[i]);
    free(s->A), free(s->Wp), free(s->G), free(s->lat_w), free(s->lat_dw), free(s->lin_where);
    cpet_free(s->emb), cpet_free(s->demb);
    free(s->hidden_masked), free(s->ffn_masked);
}

/* A = W L (or W); W' = R A (or A) */
static void reparam(const wid_compactors *c, const linear *l, int where, float *A, float *Wp)
{
    const int li = find(c, where, 0), ri = find(c, where, 1);
    if (li >= 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out, l->in, l->in, 1.0f, l->w, l->in, c->p[li], l->in, 0.0f, A, l->in);
    else
        memcpy(A, l->w, (size_t)l->out * l->in * sizeof(float));
    if (ri >= 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out, l->in, l->out, 1.0f, c->p[ri], l->out, A, l->in, 0.0f, Wp, l->in);
    else
        memcpy(Wp, A, (size_t)l->out * l->in * sizeof(float));
}

static int wid_before_forward(void *ctx, model *m, cpet_err *err)
{
    (void)err;
    wid_state *s = ctx;
    const wid_compactors *c = s->c;
    for (int i = 0; i < s->n_lin; i++) {
        linear *l = linear_at(m, s->lin_where[i]);
        reparam(c, l, s->lin_where[i], s->A[i], s->Wp[i]);
        memset(s->G[i], 0, (size_t)l->out * l->in * sizeof(float));
        s->lat_w[i] = l->w, s->lat_dw[i] = l->dw;
        l->w = s->Wp[i], l->dw = s->G[i];
    }
    const int ci = find(c, WHERE_EMBED, 1), V = m->cfg.vocab_size;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, V, c->D, c->D, 1.0f, m->embed, c->D, c->p[ci], c->D, 0.0f, s->emb, c->D); /* E C^T */
    memset(s->demb, 0, (size_t)V * c->D * sizeof(float));
    s->lat_emb = m->embed, s->lat_demb = m->d_embed;
    m->embed = s->emb, m->d_embed = s->demb;
    return 0;
}

/* dR = G A^T;  dA = R^T G (or G);  dL = W^T dA;  dC = dE'^T E */
static int wid_after_backward(void *ctx, model *m, int failed, cpet_err *err)
{
    (void)err;
    wid_state *s = ctx;
    const wid_compactors *c = s->c;
    for (int i = 0; i < s->n_lin; i++) {
        linear *l = linear_at(m, s->lin_where[i]);
        l->w = s->lat_w[i], l->dw = s->lat_dw[i];
    }
    m->embed = s->lat_emb, m->d_embed = s->lat_demb;
    if (failed) return 0;
    float *dA = NULL;
    size_t most = 0;
    for (int i = 0; i < s->n_lin; i++) {
        const linear *l = linear_at(m, s->lin_where[i]);
        most = (size_t)l->out * l->in > most ? (size_t)l->out * l->in : most;
    }
    if (!(dA = cpet_alloc_floats(most))) return cpet_fail(err, "out of memory");
    for (int i = 0; i < s->n_lin; i++) {
        const linear *l = linear_at(m, s->lin_where[i]);
        const int li = find(c, s->lin_where[i], 0), ri = find(c, s->lin_where[i], 1);
        const float *dAp = s->G[i];
        if (ri >= 0) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out, l->out, l->in, 1.0f, s->G[i], l->in, s->A[i], l->in, 0.0f, c->g[ri], l->out);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, l->out, 1.0f, c->p[ri], l->out, s->G[i], l->in, 0.0f, dA, l->in);
            dAp = dA;
        }
        if (li >= 0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->in, l->in, l->out, 1.0f, l->w, l->in, dAp, l->in, 0.0f, c->g[li], l->in);
    }
    cpet_free(dA);
    const int ci = find(c, WHERE_EMBED, 1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c->D, c->D, m->cfg.vocab_size, 1.0f, s->demb, c->D, m->embed, c->D, 0.0f, c->g[ci], c->D);
    return 0;
}

double wid_loss_and_grads(model *m, const wid_compactors *c, const int *ids, const int *targets, int B, int T, cpet_err *err)
{
    wid_state s;
    double loss = NAN;
    if (state_init(&s, m, c, err) == 0 && wid_before_forward(&s, m, err) == 0) {
        int rc = model_forward(m, ids, targets, B, T, err);
        if (rc == 0) loss = m->loss;
        if (rc == 0) rc = model_backward(m, err);
        if (wid_after_backward(&s, m, rc != 0, err) != 0 || rc) loss = NAN;
    }
    state_free(&s);
    return loss;
}

/* ---- masks: which hidden dimensions and neurons a compactor's channels serve ---- */

/* calls fn on every (compactor, channel) that carries hidden dimension `dim` (ffn_layer < 0) or neuron `dim`
 * of layer ffn_layer: a left compactor's column, a right one's (and C's) row */
static void for_channel(const wid_compactors *c, int ffn_layer, int dim, void (*fn)(float *p, int n, int k, int is_row, void *ctx), float **which,
                        void *ctx)
{
    for (int i = 0; i < c->n; i++) {
        const int w = c->where[i], lin = w >= 0 ? w % LIN_PER_LAYER : -1, layer = w >= 0 ? w / LIN_PER_LAYER : -1;
        const int over_ffn = (lin == LIN_GATE || lin == LIN_UP) ? c->side[i] == 1 : lin == LIN_DOWN ? c->side[i] == 0 : 0;
        if (ffn_layer >= 0 ? !(over_ffn && layer == ffn_layer) : over_ffn) continue;
        fn(which[i], c->size[i], dim, c->side[i] == 1, ctx);
    }
}

static void zero_channel(float *p, int n, int k, int is_row, void *ctx)
{
    const float f = *(const float *)ctx;
    for (int j = 0; j < n; j++) p[is_row ? (size_t)k * n + j : (size_t)j * n + k] *= f;
}

static void scale_masked(const wid_compactors *c, float **which, const unsigned char *hidden, const unsigned char *ffn, float f)
{
    for (int d = 0; d < c->D; d++)
        if (hidden[d]) for_channel(c, -1, d, zero_channel, which, &f);
    for (int l = 0; l < c->L; l++)
        for (int j = 0; j < c->F; j++)
            if (ffn[(size_t)l * c->F + j]) for_channel(c, l, j, zero_channel, which, &f);
}

/* column norms of a left compactor: the scores */
static void column_norms(const float *p, int n, float *out)
{
    for (int k = 0; k < n; k++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += (double)p[(size_t)j * n + k] * p[(size_t)j * n + k];
        out[k] = (float)sqrt(s);
    }
}

/* the kept units (largest scores): hidden [D - cut_d], ffn [L, F - cut_f] */
static void choose(const wid_compactors *c, int cut_d, int cut_f, int *hidden_kept, int *ffn_kept)
{
    float *score = malloc((size_t)(c->F > c->D ? c->F : c->D) * sizeof(float));
    column_norms(c->p[find(c, LIN_V, 0)], c->D, score); /* layer 0's v_proj left compactor */
    top_indices(score, c->D, c->D - cut_d, hidden_kept);
    for (int l = 0; l < c->L; l++) {
        column_norms(c->p[find(c, l * LIN_PER_LAYER + LIN_DOWN, 0)], c->F, score);
        top_indices(score, c->F, c->F - cut_f, ffn_kept + (size_t)l * (c->F - cut_f));
    }
    free(score);
}

static void masks_from_kept(const wid_compactors *c, const int *hidden_kept, int keep_d, const int *ffn_kept, int keep_f, unsigned char *hidden,
                            unsigned char *ffn)
{
    memset(hidden, 1, (size_t)c->D), memset(ffn, 1, (size_t)c->L * c->F);
    for (int a = 0; a < keep_d; a++) hidden[hidden_kept[a]] = 0;
    for (int l = 0; l < c->L; l++)
        for (int a = 0; a < keep_f; a++) ffn[(size_t)l * c->F + ffn_kept[(size_t)l * keep_f + a]] = 0;
}

static int wid_discard_masked(void *ctx, model *m, int failed, cpet_err *err)
{
    wid_state *s = ctx;
    int rc = wid_after_backward(ctx, m, failed, err);
    if (!failed && rc == 0) scale_masked(s->c, s->c->g, s->hidden_masked, s->ffn_masked, 0.0f); /* the task gradient discarded */
    return rc;
}

/* ResRep's pull on the masked channels; every w_step steps one more cut */
static void wid_after_update(void *ctx)
{
    wid_state *s = ctx;
    const wid_compactors *c = s->c;
    scale_masked(c, c->p, s->hidden_masked, s->ffn_masked, WID_PULL);
    if (++s->step % s->w_step || s->cuts >= WID_CUTS) return;
    s->cuts++;
    const int cut_d = (int)llround((double)s->target_d * s->cuts / WID_CUTS), cut_f = (int)llround((double)s->target_f * s->cuts / WID_CUTS);
    int *hk = malloc((size_t)c->D * sizeof(int)), *fk = malloc((size_t)c->L * c->F * sizeof(int));
    if (!hk || !fk) {
        free(hk), free(fk);
        return;
    }
    choose(c, cut_d, cut_f, hk, fk);
    masks_from_kept(c, hk, c->D - cut_d, fk, c->F - cut_f, s->hidden_masked, s->ffn_masked);
    free(hk), free(fk);
}

/* ---- merging ---- */

void wid_fold(model *m, const wid_compactors *c)
{
    for (int w = 0; w < c->L * LIN_PER_LAYER + 1; w++) {
        const int where = w < c->L * LIN_PER_LAYER ? w : WHERE_HEAD;
        linear *l = linear_at(m, where);
        const size_t n = (size_t)l->out * l->in;
        float *A = cpet_alloc_floats(n), *Wp = cpet_alloc_floats(n);
        reparam(c, l, where, A, Wp);
        memcpy(l->w, Wp, n * sizeof(float));
        cpet_free(A), cpet_free(Wp);
    }
    const int ci = find(c, WHERE_EMBED, 1), V = m->cfg.vocab_size;
    float *e = cpet_alloc_floats((size_t)V * c->D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, V, c->D, c->D, 1.0f, m->embed, c->D, c->p[ci], c->D, 0.0f, e, c->D);
    memcpy(m->embed, e, (size_t)V * c->D * sizeof(float));
    cpet_free(e);
}

int wid_merge(model *m, wid_compactors *c, const int *hidden_kept, int keep_d, const int *ffn_kept, int keep_f, cpet_err *err)
{
    unsigned char *hidden = malloc((size_t)c->D), *ffn = malloc((size_t)c->L * c->F);
    if (!hidden || !ffn) {
        free(hidden), free(ffn);
        return cpet_fail(err, "out of memory");
    }
    masks_from_kept(c, hidden_kept, keep_d, ffn_kept, keep_f, hidden, ffn);
    scale_masked(c, c->p, hidden, ffn, 0.0f);
    free(hidden), free(ffn);
    wid_fold(m, c);
    int rc = model_shrink_ffn(m, ffn_kept, keep_f, err);
    if (rc == 0) rc = model_shrink_hidden(m, hidden_kept, keep_d, err);
    return rc ? cpet_prefix(err, "wid") : 0;
}

int wid_prune(model *m, double sparsity, const compress_training *o, const calib_data *calib, json_t *log, cpet_err *err)
{
    wid_compactors c;
    if (wid_compactors_init(&c, m, err) != 0) return -1;
    const int cut_d = (int)llround(sparsity * c.D), cut_f = (int)llround(sparsity * c.F);
    if (cut_d >= c.D || cut_f >= c.F) {
        wid_compactors_free(&c);
        return cpet_fail(err, "wid: sparsity %.3f removes every hidden dimension or FFN neuron", sparsity);
    }
    wid_state s;
    int rc = state_init(&s, m, &c, err);
    s.target_d = cut_d, s.target_f = cut_f, s.w_step = o->steps / (WID_CUTS + 2) > 0 ? o->steps / (WID_CUTS + 2) : 1;
    param_tensor *tensors = calloc((size_t)c.n, sizeof *tensors);
    if (rc == 0 && !tensors) rc = cpet_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < c.n; i++)
        tensors[i] = (param_tensor){.p = c.p[i], .g = c.g[i], .n = (size_t)c.size[i] * c.size[i], .ndim = 2, .shape = {c.size[i], c.size[i]}, .trainable = 1},
        snprintf(tensors[i].name, sizeof tensors[i].name, "%s", c.name[i]);
    const calib_hooks hooks = {.ctx = &s, .model_frozen = 1, .before_forward = wid_before_forward, .after_backward = wid_discard_masked,
                               .after_update = wid_after_update, .tensors = tensors, .n_tensors = c.n};
    json_t *curve = json_array();
    if (rc == 0 && calib_train(m, o, calib, &hooks, curve, err) != 0) rc = cpet_prefix(err, "wid");
    if (rc == 0 && log) json_object_set(log, "wid_loss", curve);
    json_decref(curve);
    state_free(&s);
    free(tensors);
    int *hk = malloc((size_t)c.D * sizeof(int)), *fk = malloc((size_t)c.L * c.F * sizeof(int));
    if (rc == 0 && (!hk || !fk)) rc = cpet_fail(err, "out of memory");
    if (rc == 0) {
        choose(&c, cut_d, cut_f, hk, fk);
        rc = wid_merge(m, &c, hk, c.D - cut_d, fk, c.F - cut_f, err);
    }
    free(hk), free(fk);
    wid_compactors_free(&c);
    return rc ? -1 : 0;
}
