#include "simple.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_train.h"
#include "distill.h"
#include "shrink.h"
#include "tensor.h"

int simple_masks_init(simple_masks *z, const model *m, float value, cpet_err *err)
{
    const model_config *c = &m->cfg;
    *z = (simple_masks){.L = c->n_layers, .KV = c->n_kv_heads, .F = c->intermediate_size, .D = c->hidden_size,
                        .q_per_kv = c->n_heads / c->n_kv_heads, .head_dim = c->head_dim};
    z->kv = malloc((size_t)z->L * z->KV * sizeof(float)), z->ffn = malloc((size_t)z->L * z->F * sizeof(float));
    z->hidden = malloc((size_t)z->D * sizeof(float));
    if (!z->kv || !z->ffn || !z->hidden) {
        simple_masks_free(z);
        return cpet_fail(err, "out of memory for the masks");
    }
    for (int i = 0; i < z->L * z->KV; i++) z->kv[i] = value;
    for (size_t i = 0; i < (size_t)z->L * z->F; i++) z->ffn[i] = value;
    for (int i = 0; i < z->D; i++) z->hidden[i] = value;
    return 0;
}

void simple_masks_free(simple_masks *z)
{
    free(z->kv), free(z->ffn), free(z->hidden);
    z->kv = z->ffn = z->hidden = NULL;
}

static void masks_zero(simple_masks *z)
{
    memset(z->kv, 0, (size_t)z->L * z->KV * sizeof(float));
    memset(z->ffn, 0, (size_t)z->L * z->F * sizeof(float));
    memset(z->hidden, 0, (size_t)z->D * sizeof(float));
}

/* the mask of column c of layer l's o_proj (query head c / head_dim, in KV group head / q_per_kv) */
static float kv_of_column(const simple_masks *z, int l, int c) { return z->kv[l * z->KV + c / (z->head_dim * z->q_per_kv)]; }

/* dst = diag(z_hidden) W diag(col) for W [D, cols]; col(c) from the layer's masks */
static void mask_matrix(const simple_masks *z, int l, const float *w, float *dst, int cols, int is_o)
{
    for (int d = 0; d < z->D; d++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)d * cols + c] = w[(size_t)d * cols + c] * z->hidden[d] * (is_o ? kv_of_column(z, l, c) : z->ffn[(size_t)l * z->F + c]);
}

void simple_fold(model *m, const simple_masks *z)
{
    for (int l = 0; l < z->L; l++) {
        linear *o = &m->layers[l].lin[LIN_O], *dn = &m->layers[l].lin[LIN_DOWN];
        mask_matrix(z, l, o->w, o->w, o->in, 1);
        mask_matrix(z, l, dn->w, dn->w, dn->in, 0);
    }
    for (size_t v = 0; v < (size_t)m->cfg.vocab_size; v++)
        for (int d = 0; d < z->D; d++) m->embed[v * z->D + d] *= z->hidden[d];
}

/* ---- one step of the masked model: the masked weights swapped in, their gradients mapped back ---- */

typedef struct {
    const simple_masks *z;
    simple_masks *dz;
    float *wo, *dwo, *wd, *dwd, *emb, *demb; /* masked copies [L, D, QD], [L, D, F], [V, D] and their gradients */
    float **lat_w, **lat_dw;                 /* [L * 2] the latent o and down weights (and gradients) */
    float *lat_emb, *lat_demb, *lat_head_w, *lat_head_dw;
    size_t n_o, n_down;
    float distill, l1;
    float *hidden_grad;
} step_state;

static int state_init(step_state *s, const model *m, const simple_masks *z, simple_masks *dz, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    s->z = z, s->dz = dz;
    s->n_o = (size_t)z->D * m->layers[0].lin[LIN_O].in, s->n_down = (size_t)z->D * z->F;
    const size_t ne = (size_t)m->cfg.vocab_size * z->D;
    s->wo = cpet_alloc_floats(z->L * s->n_o), s->dwo = cpet_alloc_floats(z->L * s->n_o);
    s->wd = cpet_alloc_floats(z->L * s->n_down), s->dwd = cpet_alloc_floats(z->L * s->n_down);
    s->emb = cpet_alloc_floats(ne), s->demb = cpet_alloc_floats(ne);
    s->lat_w = calloc(2 * (size_t)z->L, sizeof *s->lat_w), s->lat_dw = calloc(2 * (size_t)z->L, sizeof *s->lat_dw);
    if (!s->wo || !s->dwo || !s->wd || !s->dwd || !s->emb || !s->demb || !s->lat_w || !s->lat_dw)
        return cpet_fail(err, "out of memory for the masked weights");
    return 0;
}

static void state_free(step_state *s)
{
    cpet_free(s->wo), cpet_free(s->dwo), cpet_free(s->wd), cpet_free(s->dwd), cpet_free(s->emb), cpet_free(s->demb);
    free(s->lat_w), free(s->lat_dw);
}

static int masked_before_forward(void *ctx, model *m, cpet_err *err)
{
    (void)err;
    step_state *s = ctx;
    const simple_masks *z = s->z;
    const size_t ne = (size_t)m->cfg.vocab_size * z->D;
    for (int l = 0; l < z->L; l++) {
        linear *o = &m->layers[l].lin[LIN_O], *dn = &m->layers[l].lin[LIN_DOWN];
        float *wo = s->wo + l * s->n_o, *wd = s->wd + l * s->n_down;
        mask_matrix(z, l, o->w, wo, o->in, 1);
        mask_matrix(z, l, dn->w, wd, dn->in, 0);
        s->lat_w[2 * l] = o->w, s->lat_dw[2 * l] = o->dw, s->lat_w[2 * l + 1] = dn->w, s->lat_dw[2 * l + 1] = dn->dw;
        o->w = wo, o->dw = s->dwo + l * s->n_o;
        dn->w = wd, dn->dw = s->dwd + l * s->n_down;
    }
    memset(s->dwo, 0, z->L * s->n_o * sizeof(float)), memset(s->dwd, 0, z->L * s->n_down * sizeof(float));
    memset(s->demb, 0, ne * sizeof(float));
    for (size_t i = 0; i < ne; i++) s->emb[i] = m->embed[i] * z->hidden[i % z->D];
    s->lat_emb = m->embed, s->lat_demb = m->d_embed, s->lat_head_w = m->lm_head.w, s->lat_head_dw = m->lm_head.dw;
    m->embed = s->emb, m->d_embed = s->demb;
    if (m->cfg.tie_word_embeddings) m->lm_head.w = s->emb, m->lm_head.dw = s->demb;
    return 0;
}

/* the distillation term, and the L1 penalty's value */
static double masked_extra_loss(void *ctx, model *m, const float *teacher_hidden, cpet_err *err)
{
    (void)err;
    step_state *s = ctx;
    double v = teacher_hidden ? distill_hidden_mse(m, teacher_hidden, s->distill, s->hidden_grad) : 0.0;
    if (s->l1 > 0) {
        const simple_masks *z = s->z;
        double a = 0, b = 0, c = 0;
        for (int i = 0; i < z->L * z->KV; i++) a += fabsf(z->kv[i]);
        for (size_t i = 0; i < (size_t)z->L * z->F; i++) b += fabsf(z->ffn[i]);
        for (int i = 0; i < z->D; i++) c += fabsf(z->hidden[i]);
        v += s->l1 * (a / (z->L * z->KV) + b / ((double)z->L * z->F) + c / z->D);
    }
    return v;
}

static float sign(float x) { return (float)((x > 0) - (x < 0)); }

static int masked_after_backward(void *ctx, model *m, int failed, cpet_err *err)
{
    (void)err;
    step_state *s = ctx;
    const simple_masks *z = s->z;
    simple_masks *dz = s->dz;
    for (int l = 0; l < z->L; l++) {
        linear *o = &m->layers[l].lin[LIN_O], *dn = &m->layers[l].lin[LIN_DOWN];
        o->w = s->lat_w[2 * l], o->dw = s->lat_dw[2 * l], dn->w = s->lat_w[2 * l + 1], dn->dw = s->lat_dw[2 * l + 1];
    }
    m->embed = s->lat_emb, m->d_embed = s->lat_demb, m->lm_head.w = s->lat_head_w, m->lm_head.dw = s->lat_head_dw;
    if (failed) return 0;
    masks_zero(dz);
    /* W' = z_row W z_col:  dW += dW' z_row z_col;  dz_row += dW' W z_col;  dz_col += dW' W z_row */
    for (int l = 0; l < z->L; l++)
        for (int which = 0; which < 2; which++) {
            const linear *lin = &m->layers[l].lin[which ? LIN_DOWN : LIN_O];
            const float *g = which ? s->dwd + l * s->n_down : s->dwo + l * s->n_o;
            const int cols = lin->in;
            for (int d = 0; d < z->D; d++)
                for (int c = 0; c < cols; c++) {
                    const size_t k = (size_t)d * cols + c;
                    const float zc = which ? z->ffn[(size_t)l * z->F + c] : kv_of_column(z, l, c), gw = g[k] * lin->w[k];
                    if (lin->dw) lin->dw[k] += g[k] * z->hidden[d] * zc;
                    dz->hidden[d] += gw * zc;
                    if (which) dz->ffn[(size_t)l * z->F + c] += gw * z->hidden[d];
                    else dz->kv[l * z->KV + c / (z->head_dim * z->q_per_kv)] += gw * z->hidden[d];
                }
        }
    const size_t ne = (size_t)m->cfg.vocab_size * z->D;
    for (size_t i = 0; i < ne; i++) {
        const int d = (int)(i % z->D);
        if (m->d_embed) m->d_embed[i] += s->demb[i] * z->hidden[d];
        dz->hidden[d] += s->demb[i] * m->embed[i];
    }
    if (s->l1 > 0) {
        for (int i = 0; i < z->L * z->KV; i++) dz->kv[i] += s->l1 * sign(z->kv[i]) / (float)(z->L * z->KV);
        for (size_t i = 0; i < (size_t)z->L * z->F; i++) dz->ffn[i] += s->l1 * sign(z->ffn[i]) / (float)((size_t)z->L * z->F);
        for (int i = 0; i < z->D; i++) dz->hidden[i] += s->l1 * sign(z->hidden[i]) / (float)z->D;
    }
    return 0;
}

double simple_loss_and_grads(model *m, const simple_masks *z, simple_masks *dz, const int *ids, const int *targets, int B, int T,
                             const float *teacher_hidden, float distill, cpet_err *err)
{
    step_state s;
    double loss = NAN;
    if (state_init(&s, m, z, dz, err) == 0) {
        s.distill = distill;
        if (teacher_hidden && !(s.hidden_grad = cpet_alloc_floats((size_t)B * T * z->D))) cpet_fail(err, "out of memory");
        else if (masked_before_forward(&s, m, err) == 0) {
            int rc = model_forward(m, ids, targets, B, T, err);
            if (rc == 0) loss = m->loss + masked_extra_loss(&s, m, teacher_hidden, err);
            if (rc == 0) rc = model_backward(m, err);
            m->taps.d_final_hidden = NULL;
            masked_after_backward(&s, m, rc != 0, err);
            if (rc) loss = NAN;
        }
        cpet_free(s.hidden_grad);
    }
    state_free(&s);
    return loss;
}

/* ---- extraction ---- */

/* keeps the `keep` largest |z| of each of `rows` rows of n (kept [rows, keep]), zeroing the others in z */
static void threshold(float *z, int rows, int n, int keep, int *kept)
{
    float *score = malloc((size_t)n * sizeof *score);
    for (int r = 0; r < rows; r++) {
        float *zr = z + (size_t)r * n;
        for (int j = 0; j < n; j++) score[j] = fabsf(zr[j]);
        top_indices(score, n, keep, kept + (size_t)r * keep);
        for (int j = 0, a = 0; j < n; j++) {
            if (a < keep && kept[(size_t)r * keep + a] == j) a++;
            else zr[j] = 0.0f;
        }
    }
    free(score);
}

int simple_extract(model *m, simple_masks *z, double sparsity, cpet_err *err)
{
    const int keep_kv = z->KV - (int)llround(sparsity * z->KV), keep_ffn = z->F - (int)llround(sparsity * z->F),
              keep_d = z->D - (int)llround(sparsity * z->D);
    if (keep_kv < 1) return cpet_fail(err, "simple: sparsity %.3f removes every KV head of a layer (%d per layer)", sparsity, z->KV);
    if (keep_ffn < 1 || keep_d < 1) return cpet_fail(err, "simple: sparsity %.3f removes every FFN neuron or hidden dimension", sparsity);
    int *kv = malloc((size_t)z->L * keep_kv * sizeof(int)), *ffn = malloc((size_t)z->L * keep_ffn * sizeof(int)),
        *hid = malloc((size_t)keep_d * sizeof(int));
    int rc = kv && ffn && hid ? 0 : cpet_fail(err, "out of memory");
    if (rc == 0) {
        threshold(z->kv, z->L, z->KV, keep_kv, kv);
        threshold(z->ffn, z->L, z->F, keep_ffn, ffn);
        threshold(z->hidden, 1, z->D, keep_d, hid);
        simple_fold(m, z);
        rc = model_shrink_kv_groups(m, kv, keep_kv, err);
        if (rc == 0) rc = model_shrink_ffn(m, ffn, keep_ffn, err);
        if (rc == 0) rc = model_shrink_hidden(m, hid, keep_d, err);
    }
    free(kv), free(ffn), free(hid);
    return rc ? cpet_prefix(err, "simple") : 0;
}

int simple_prune(model *m, double sparsity, const compress_training *o, const calib_data *c, json_t *log, cpet_err *err)
{
    if (m->moe) return cpet_fail(err, "simple: the FFNs are MoEfied; prune before moefication");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (!m->layers[l].lin[k].w || m->layers[l].lin[k].qw) return cpet_fail(err, "simple: layer %d is packed; prune before quantizing", l);
    simple_masks z, dz;
    if (simple_masks_init(&z, m, 1.0f, err) != 0) return -1;
    if (simple_masks_init(&dz, m, 0.0f, err) != 0) {
        simple_masks_free(&z);
        return -1;
    }
    step_state s;
    int rc = state_init(&s, m, &z, &dz, err);
    s.distill = o->distill, s.l1 = o->l1;
    const int teacher = o->distill > 0.0f && o->steps > 0;
    if (rc == 0 && teacher && c && c->seq > 1 && !(s.hidden_grad = cpet_alloc_floats((size_t)o->batch * (c->seq - 1) * z.D)))
        rc = cpet_fail(err, "out of memory");
    const size_t n_kv = (size_t)z.L * z.KV, n_ffn = (size_t)z.L * z.F;
    param_tensor masks[3] = {
        {.name = "simple.kv", .p = z.kv, .g = dz.kv, .n = n_kv, .ndim = 1, .shape = {(int64_t)n_kv}, .trainable = 1},
        {.name = "simple.ffn", .p = z.ffn, .g = dz.ffn, .n = n_ffn, .ndim = 1, .shape = {(int64_t)n_ffn}, .trainable = 1},
        {.name = "simple.hidden", .p = z.hidden, .g = dz.hidden, .n = (size_t)z.D, .ndim = 1, .shape = {z.D}, .trainable = 1},
    };
    const calib_hooks hooks = {.ctx = &s, .needs_teacher = teacher, .before_forward = masked_before_forward, .extra_loss = masked_extra_loss,
                               .after_backward = masked_after_backward, .tensors = masks, .n_tensors = 3};
    json_t *curve = json_array();
    if (rc == 0 && calib_train(m, o, c, &hooks, curve, err) != 0) rc = cpet_prefix(err, "simple");
    if (rc == 0 && log) {
        double a = 0, b = 0, h = 0;
        for (size_t i = 0; i < n_kv; i++) a += fabsf(z.kv[i]);
        for (size_t i = 0; i < n_ffn; i++) b += fabsf(z.ffn[i]);
        for (int i = 0; i < z.D; i++) h += fabsf(z.hidden[i]);
        json_object_set(log, "simple_loss", curve);
        json_object_set_new(log, "simple_mask_means", json_pack("{s:f, s:f, s:f}", "kv", a / n_kv, "ffn", b / n_ffn, "hidden", h / z.D));
    }
    json_decref(curve);
    cpet_free(s.hidden_grad);
    state_free(&s);
    if (rc == 0) rc = simple_extract(m, &z, sparsity, err);
    simple_masks_free(&z), simple_masks_free(&dz);
    return rc ? -1 : 0;
}
