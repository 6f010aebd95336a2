#include "qat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "distill.h"
#include "optim.h"
#include "tensor.h"
#include "train.h"

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

static int check_model(const model *m, cpet_err *err)
{
    if (m->moe) return cpet_fail(err, "qat: the model's FFNs are MoEfied; quantization-aware training needs dense layers");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++)
            if (m->layers[l].lin[i].qw || !m->layers[l].lin[i].w)
                return cpet_fail(err, "qat: layer %d already has packed weights; it must be the chain's only quantizer", l);
    return 0;
}

/* a frozen copy of m's weights: the full-precision teacher */
static int copy_model(model *dst, const model *src, cpet_err *err)
{
    if (model_create(dst, &src->cfg, err) != 0) return -1;
    if (dst->n_params != src->n_params) {
        model_free(dst);
        return cpet_fail(err, "qat: cannot copy the model for its teacher (layout differs)");
    }
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return 0;
}

int qat_train(model *m, qformat f, int group, const compress_training *o, const calib_data *c, json_t *log, cpet_err *err)
{
    if (check_model(m, err) != 0) return -1;
    if (o->steps > 0 && (!c || c->rows < 1 || c->seq < 2)) return cpet_fail(err, "qat: needs calibration text (--calib) to train on");
    const int L = m->cfg.n_layers, n_slots = L * LIN_PER_LAYER;
    float *gamma = malloc((size_t)n_slots * sizeof *gamma), *dgamma = calloc((size_t)n_slots, sizeof *dgamma);
    qat_slot *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!gamma || !dgamma || !slots) {
        free(gamma), free(dgamma), free(slots);
        return cpet_fail(err, "out of memory");
    }
    for (int i = 0; i < n_slots; i++) gamma[i] = 1.0f;
    int rc = 0;
    model teacher = {0};
    int have_teacher = 0;
    float *teacher_hidden = NULL, *hidden_grad = NULL;
    int *ids = NULL, *targets = NULL;
    adamw opt = {0};
    json_t *curve = json_array();
    const int B = o->batch, T = c ? c->seq - 1 : 1;
    if (o->steps > 0) {
        for (int s = 0; s < n_slots && rc == 0; s++) {
            qat_slot *q = &slots[s];
            q->l = &m->layers[s / LIN_PER_LAYER].lin[s % LIN_PER_LAYER];
            const size_t n = (size_t)q->l->out * q->l->in;
            q->fq = cpet_alloc_floats(n), q->dfq = cpet_alloc_floats(n);
            if (!q->fq || !q->dfq) rc = cpet_fail(err, "out of memory for QAT buffers");
        }
        if (rc == 0 && o->contrastive > 0.0f && copy_model(&teacher, m, err) == 0) have_teacher = 1;
        else if (o->contrastive > 0.0f) rc = -1;
        if (rc == 0) rc = model_set_trainable(m, NULL, 1, err);
        for (int s = 0; s < n_slots && rc == 0; s++) slots[s].w = slots[s].l->w, slots[s].dw = slots[s].l->dw;
        param_tensor gt = {.name = "qat.gamma", .p = gamma, .g = dgamma, .n = (size_t)n_slots, .ndim = 1, .shape = {n_slots},
                           .trainable = o->dynamic_scaling, .decay = 0};
        adamw_config oc = adamw_defaults();
        oc.lr = o->lr, oc.weight_decay = 0.0f;
        if (rc == 0) rc = adamw_init(&opt, oc, err) || adamw_add(&opt, m->tensors, m->n_tensors, err) || adamw_add(&opt, &gt, 1, err);
        ids = malloc((size_t)B * T * sizeof *ids), targets = malloc((size_t)B * T * sizeof *targets);
        const size_t nh = (size_t)B * T * m->cfg.hidden_size;
        teacher_hidden = have_teacher ? cpet_alloc_floats(nh) : NULL, hidden_grad = have_teacher ? cpet_alloc_floats(nh) : NULL;
        if (rc == 0 && (!ids || !targets || (have_teacher && (!teacher_hidden || !hidden_grad)))) rc = cpet_fail(err, "out of memory");
        lr_schedule sched = {.kind = SCHED_COSINE, .lr = o->lr, .min_lr = o->lr * 0.1f, .warmup_steps = o->steps / 10, .total_steps = o->steps};
        cpet_rng rng;
        rng_seed(&rng, o->seed);
        for (int step = 0; step < o->steps && rc == 0; step++) {
            for (int b = 0; b < B; b++) { /* rows drawn from the calibration set */
                const int *row = c->ids + (size_t)rng_below(&rng, c->rows) * c->seq;
                memcpy(ids + (size_t)b * T, row, (size_t)T * sizeof *ids);
                memcpy(targets + (size_t)b * T, row + 1, (size_t)T * sizeof *targets);
            }
            if (have_teacher) {
                rc = model_forward(&teacher, ids, NULL, B, T, err);
                if (rc) break;
                memcpy(teacher_hidden, model_final_hidden(&teacher), nh * sizeof(float));
            }
            optimizer_zero_grad(&opt);
            memset(dgamma, 0, (size_t)n_slots * sizeof *dgamma);
            for (int s = 0; s < n_slots && rc == 0; s++) { /* the forward and backward see W^ */
                qat_slot *q = &slots[s];
                rc = qat_fake_quant(q->w, q->l->out, q->l->in, f, group, gamma[s], q->fq, err);
                memset(q->dfq, 0, (size_t)q->l->out * q->l->in * sizeof(float));
                q->l->w = q->fq, q->l->dw = q->dfq;
            }
            double ce = NAN, cont = 0;
            if (rc == 0) rc = model_forward(m, ids, targets, B, T, err);
            if (rc == 0) ce = m->loss;
            if (rc == 0 && !isfinite(ce)) rc = cpet_fail(err, "qat: loss is %f at step %d (diverged)", ce, step + 1);
            if (rc == 0 && have_teacher) cont = distill_token_contrastive(m, teacher_hidden, o->contrastive, o->tau, hidden_grad);
            if (rc == 0) rc = model_backward(m, err);
            m->taps.d_final_hidden = NULL;
            for (int s = 0; s < n_slots; s++) { /* back to the latent weights; W^'s gradient into W and gamma */
                qat_slot *q = &slots[s];
                q->l->w = q->w, q->l->dw = q->dw;
                if (rc == 0) dgamma[s] = (float)qat_backward(q->w, q->fq, q->dfq, q->l->out, q->l->in, f, group, gamma[s], q->dw);
            }
            if (rc) break;
            const double norm = clip_grad_norm(&opt, 1.0);
            if (!isfinite(norm)) {
                rc = cpet_fail(err, "qat: gradient norm is %f at step %d", norm, step + 1);
                break;
            }
            adamw_step(&opt, lr_at(&sched, step));
            for (int s = 0; s < n_slots; s++) gamma[s] = fminf(fmaxf(gamma[s], GAMMA_MIN), 1.0f);
            json_array_append_new(curve, json_pack("[i, f, f]", step + 1, ce, cont));
        }
    }
    if (rc == 0) /* the trained grid, for the RTN packing that follows */
        for (int s = 0; s < n_slots; s++) {
            linear *l = &m->layers[s / LIN_PER_LAYER].lin[s % LIN_PER_LAYER];
            qat_clip(l->w, l->out, l->in, f, group, gamma[s]);
        }
    if (rc == 0 && log) {
        json_t *g = json_array();
        for (int s = 0; s < n_slots; s++) json_array_append_new(g, json_real(gamma[s]));
        json_object_set(log, "qat_loss", curve);
        json_object_set_new(log, "qat_gamma", g);
    }
    json_decref(curve);
    if (o->steps > 0 && rc == 0) rc = model_set_trainable(m, NULL, 0, err);
    adamw_free(&opt);
    if (have_teacher) model_free(&teacher);
    for (int s = 0; s < n_slots; s++) cpet_free(slots[s].fq), cpet_free(slots[s].dfq);
    cpet_free(teacher_hidden), cpet_free(hidden_grad);
    free(ids), free(targets), free(slots), free(gamma), free(dgamma);
    return rc ? -1 : 0;
}
