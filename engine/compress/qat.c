#include "qat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_train.h"
#include "distill.h"
#include "tensor.h"

#define GAMMA_MIN 0.05f

/* the format's group along a row (a whole row when the format says 0) */
static int group_len(qformat f, int group, int cols)
{
    int g = qformat_group(f, group);
    return g > 0 ? g : cols;
}

/* [lo, hi]: gamma times the group's range, zero included (the RTN grids all contain 0) */
static void group_range(const float *w, int n, float gamma, float *lo, float *hi)
{
    float mn = 0.0f, mx = 0.0f;
    for (int i = 0; i < n; i++) mn = fminf(mn, w[i]), mx = fmaxf(mx, w[i]);
    *lo = gamma * mn, *hi = gamma * mx;
}

void qat_clip(float *w, int rows, int cols, qformat f, int group, float gamma)
{
    const int g = group_len(f, group, cols);
    if (gamma >= 1.0f) return; /* the range of the values themselves */
    for (size_t start = 0; start < (size_t)rows * cols; start += (size_t)g) {
        float lo, hi;
        group_range(w + start, g, gamma, &lo, &hi);
        for (int i = 0; i < g; i++) w[start + i] = fminf(fmaxf(w[start + i], lo), hi);
    }
}

int qat_fake_quant(const float *w, int rows, int cols, qformat f, int group, float gamma, float *out, cpet_err *err)
{
    memcpy(out, w, (size_t)rows * cols * sizeof *out);
    qat_clip(out, rows, cols, f, group, gamma);
    qtensor q;
    if (quantize_rtn(&q, f, out, rows, cols, group, err) != 0) return -1;
    qtensor_dequantize(&q, out);
    qtensor_free(&q);
    return 0;
}

double qat_backward(const float *w, const float *fq, const float *g, int rows, int cols, qformat f, int group, float gamma, float *dw)
{
    const int len = group_len(f, group, cols);
    double dgamma = 0;
    for (size_t start = 0; start < (size_t)rows * cols; start += (size_t)len) {
        float lo, hi;
        group_range(w + start, len, gamma, &lo, &hi);
        for (int i = 0; i < len; i++) {
            const size_t k = start + (size_t)i;
            if (w[k] > hi && gamma < 1.0f) dgamma += (double)g[k] * (hi / gamma);
            else if (w[k] < lo && gamma < 1.0f) dgamma += (double)g[k] * (lo / gamma);
            else {
                dw[k] += g[k];
                dgamma += (double)g[k] * (fq[k] - w[k]) / gamma;
            }
        }
    }
    return dgamma;
}

/* every layer linear: its latent weight and gradient, and the buffers the step swaps in */
typedef struct {
    linear *l;
    float *w, *dw;   /* latent */
    float *fq, *dfq; /* fake-quantized, and the gradient with respect to it */
} qat_slot;

typedef struct {
    qat_slot *slots;
    int n;
    qformat f;
    int group;
    float *gamma, *dgamma;
    const compress_training *o;
    float *hidden_grad;
} qat_state;

static int check_model(const model *m, cpet_err *err)
{
    if (m->moe) return cpet_fail(err, "qat: the model's FFNs are MoEfied; quantization-aware training needs dense layers");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++)
            if (m->layers[l].lin[i].qw || !m->layers[l].lin[i].w)
                return cpet_fail(err, "qat: layer %d already has packed weights; it must be the chain's only quantizer", l);
    return 0;
}

/* the forward and backward see W^ */
static int qat_before_forward(void *ctx, model *m, cpet_err *err)
{
    (void)m;
    qat_state *q = ctx;
    for (int s = 0; s < q->n; s++) /* all computed before any is swapped in: a failure leaves the model as it was */
        if (qat_fake_quant(q->slots[s].l->w, q->slots[s].l->out, q->slots[s].l->in, q->f, q->group, q->gamma[s], q->slots[s].fq, err) != 0)
            return -1;
    for (int s = 0; s < q->n; s++) {
        qat_slot *sl = &q->slots[s];
        sl->w = sl->l->w, sl->dw = sl->l->dw;
        memset(sl->dfq, 0, (size_t)sl->l->out * sl->l->in * sizeof(float));
        sl->l->w = sl->fq, sl->l->dw = sl->dfq;
    }
    return 0;
}

static double qat_contrastive(void *ctx, model *m, const float *teacher_hidden, cpet_err *err)
{
    (void)err;
    qat_state *q = ctx;
    return teacher_hidden ? distill_token_contrastive(m, teacher_hidden, q->o->contrastive, q->o->tau, q->hidden_grad) : 0.0;
}

/* back to the latent weights; W^'s gradient into W and gamma */
static int qat_after_backward(void *ctx, model *m, int failed, cpet_err *err)
{
    (void)m, (void)err;
    qat_state *q = ctx;
    for (int s = 0; s < q->n; s++) {
        qat_slot *sl = &q->slots[s];
        sl->l->w = sl->w, sl->l->dw = sl->dw;
        if (!failed) q->dgamma[s] = (float)qat_backward(sl->w, sl->fq, sl->dfq, sl->l->out, sl->l->in, q->f, q->group, q->gamma[s], sl->dw);
    }
    return 0;
}

static void qat_clamp_gamma(void *ctx)
{
    qat_state *q = ctx;
    for (int s = 0; s < q->n; s++) q->gamma[s] = fminf(fmaxf(q->gamma[s], GAMMA_MIN), 1.0f);
}

int qat_train(model *m, qformat f, int group, const compress_training *o, const calib_data *c, json_t *log, cpet_err *err)
{
    if (check_model(m, err) != 0) return -1;
    const int n = m->cfg.n_layers * LIN_PER_LAYER;
    qat_state q = {.n = n, .f = f, .group = group, .o = o};
    q.gamma = malloc((size_t)n * sizeof *q.gamma), q.dgamma = calloc((size_t)n, sizeof *q.dgamma);
    q.slots = calloc((size_t)n, sizeof *q.slots);
    int rc = q.gamma && q.dgamma && q.slots ? 0 : cpet_fail(err, "out of memory");
    for (int s = 0; s < n && rc == 0; s++) q.gamma[s] = 1.0f;
    const int contrastive = o->contrastive > 0.0f && o->steps > 0;
    if (rc == 0 && contrastive && c && c->seq > 1 &&
        !(q.hidden_grad = cpet_alloc_floats((size_t)o->batch * (c->seq - 1) * m->cfg.hidden_size)))
        rc = cpet_fail(err, "out of memory");
    for (int s = 0; s < n && rc == 0 && o->steps > 0; s++) {
        qat_slot *sl = &q.slots[s];
        sl->l = &m->layers[s / LIN_PER_LAYER].lin[s % LIN_PER_LAYER];
        const size_t k = (size_t)sl->l->out * sl->l->in;
        if (!(sl->fq = cpet_alloc_floats(k)) || !(sl->dfq = cpet_alloc_floats(k))) rc = cpet_fail(err, "out of memory for QAT buffers");
    }
    param_tensor gt = {.name = "qat.gamma", .p = q.gamma, .g = q.dgamma, .n = (size_t)n, .ndim = 1, .shape = {n},
                       .trainable = o->dynamic_scaling, .decay = 0};
    const calib_hooks hooks = {.ctx = &q, .needs_teacher = contrastive, .before_forward = qat_before_forward,
                               .extra_loss = contrastive ? qat_contrastive : NULL, .after_backward = qat_after_backward,
                               .after_update = qat_clamp_gamma, .tensors = &gt, .n_tensors = 1};
    json_t *curve = json_array();
    if (rc == 0 && calib_train(m, o, c, &hooks, curve, err) != 0) rc = cpet_prefix(err, "qat");
    if (rc == 0) /* the trained grid, for the RTN packing that follows */
        for (int s = 0; s < n; s++) {
            linear *l = &m->layers[s / LIN_PER_LAYER].lin[s % LIN_PER_LAYER];
            qat_clip(l->w, l->out, l->in, f, group, q.gamma[s]);
        }
    if (rc == 0 && log) {
        json_t *g = json_array();
        for (int s = 0; s < n; s++) json_array_append_new(g, json_real(q.gamma[s]));
        json_object_set(log, "qat_loss", curve);
        json_object_set_new(log, "qat_gamma", g);
    }
    json_decref(curve);
    for (int s = 0; q.slots && s < n; s++) cpet_free(q.slots[s].fq), cpet_free(q.slots[s].dfq);
    cpet_free(q.hidden_grad);
    free(q.slots), free(q.gamma), free(q.dgamma);
    return rc ? -1 : 0;
}
