#include "prosparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparse_decode.h"
#include "sparse_ffn.h"
#include "train.h"

void prosparse_counts_init(prosparse_counts *c, const model *m)
{
    memset(c, 0, sizeof *c);
    c->n_layers = m->cfg.n_layers < 512 ? m->cfg.n_layers : 512;
}

void prosparse_count(prosparse_counts *c, const model *m)
{
    const size_t per_layer = (size_t)m->acts.B * m->acts.T * m->cfg.intermediate_size;
    for (int l = 0; l < c->n_layers; l++) {
        const float *h = m->acts.h + (size_t)l * per_layer;
        size_t z = 0;
        for (size_t i = 0; i < per_layer; i++) z += h[i] == 0.0f;
        c->zeros[l] += (double)z;
    }
    c->entries += (double)per_layer;
}

double prosparse_sparsity_of(const prosparse_counts *c, int layer)
{
    if (c->entries <= 0) return 0.0;
    if (layer >= 0) return layer < c->n_layers ? c->zeros[layer] / c->entries : 0.0;
    double s = 0;
    for (int l = 0; l < c->n_layers; l++) s += c->zeros[l] / c->entries;
    return c->n_layers ? s / c->n_layers : 0.0;
}

static void clear_taps(model *m)
{
    for (int l = 0; l < m->cfg.n_layers; l++) m->taps.d_ffn_x1[l] = NULL;
}

double prosparse_l1_term(model *m, prosparse_l1 *r, cpet_err *err)
{
    clear_taps(m);
    if (!(r->lambda > 0)) return r->last = 0.0;
    const size_t N = (size_t)m->acts.B * m->acts.T, F = (size_t)m->cfg.intermediate_size, per_layer = N * F,
                 need = per_layer * (size_t)m->cfg.n_layers;
    if (need > r->cap) {
        free(r->grad);
        r->cap = (r->grad = malloc(need * sizeof(float))) ? need : 0;
        if (!r->cap) return cpet_fail(err, "prosparse: out of memory for the regulariser's gradient"), NAN;
    }
    const float g = (float)(r->lambda / (double)N);
    double sum = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const float *x1 = m->acts.h + (size_t)l * per_layer;
        float *d = r->grad + (size_t)l * per_layer;
        double layer = 0;
        for (size_t i = 0; i < per_layer; i++) {
            layer += fabsf(x1[i]);
            d[i] = x1[i] > 0 ? g : x1[i] < 0 ? -g : 0.0f; /* the subgradient 0 at 0: zeros stay put */
        }
        sum += layer;
        m->taps.d_ffn_x1[l] = d;
    }
    return r->last = r->lambda * sum / (double)N;
}

double prosparse_l1_hook(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err)
{
    (void)ids, (void)B, (void)T;
    return prosparse_l1_term(m, ctx, err);
}

void prosparse_l1_free(prosparse_l1 *r, model *m)
{
    if (m) clear_taps(m);
    free(r->grad);
    memset(r, 0, sizeof *r);
}

void prosparse_relu_swap(model *m)
{
    m->cfg.hidden_act = ACT_RELU;
    m->cfg.act_threshold = 0.0f;
}

int prosparse_set_threshold(model *m, float t, cpet_err *err)
{
    if (m->cfg.hidden_act != ACT_RELU && m->cfg.hidden_act != ACT_FATRELU)
        return cpet_fail(err, "the threshold shift (FATReLU) needs a ReLU model; this one uses %s (make it sparse with cpet sparsify first)",
                         activation_name(m->cfg.hidden_act));
    if (!(t >= 0.0f)) return cpet_fail(err, "the FATReLU threshold must be >= 0, not %g", (double)t);
    m->cfg.hidden_act = t > 0.0f ? ACT_FATRELU : ACT_RELU;
    m->cfg.act_threshold = t;
    return 0;
}

typedef struct {
    prosparse_l1 *l1;
    prosparse_counts *counts;
} train_hook_ctx;

static double l1_and_count(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err)
{
    train_hook_ctx *h = ctx;
    prosparse_count(h->counts, m);
    return prosparse_l1_hook(m, ids, B, T, h->l1, err);
}

int prosparse_train(model *m, const int *stream, long n_tokens, const prosparse_train_config *c, prosparse_on_step on_step,
                    void *ctx, cpet_err *err)
{
    const long steps = c->steps > 0 ? c->steps : c->schedule.n ? c->schedule.until[c->schedule.n - 1] : 0;
    if (steps <= 0) return cpet_fail(err, "prosparse: no steps to train (an empty schedule and steps 0)");
    if (c->batch <= 0 || c->seq <= 0 || c->seq > m->cfg.max_position_embeddings)
        return cpet_fail(err, "prosparse: batch %d and seq %d (the model takes 1..%d positions)", c->batch, c->seq, m->cfg.max_position_embeddings);
    if (n_tokens <= (long)c->seq + 1) return cpet_fail(err, "prosparse: %ld tokens, fewer than one window of %d", n_tokens, c->seq);
    adamw opt = {0};
    adamw_config oc = {c->lr.lr, 0.9f, 0.95f, 1e-8f, (float)c->weight_decay};
    if (model_set_trainable(m, NULL, 1, err) || adamw_init(&opt, oc, err) || adamw_add(&opt, m->tensors, m->n_tensors, err)) {
        adamw_free(&opt);
        return -1;
    }
    const int B = c->batch, T = c->seq;
    int *ids = malloc((size_t)B * T * sizeof(int)), *targets = malloc((size_t)B * T * sizeof(int));
    prosparse_l1 l1 = {0};
    int rc = ids && targets ? 0 : cpet_fail(err, "prosparse: out of memory");
    for (long step = 0; rc == 0 && step < steps; step++) {
        train_windows(stream, n_tokens, c->seed, step, B, T, ids, targets);
        prosparse_counts counts;
        prosparse_counts_init(&counts, m);
        train_hook_ctx h = {&l1, &counts};
        l1.lambda = prosparse_lambda(&c->schedule, step + 1);
        step_result r;
        rc = train_step_hooked(m, &opt, ids, targets, B, T, lr_at(&c->lr, step), c->clip, l1_and_count, &h, &r, err);
        if (rc == 0 && on_step) {
            prosparse_step_log s = {step + 1, r.loss, r.extra_loss, l1.lambda, prosparse_sparsity_of(&counts, -1), r.lr};
            if (on_step(&s, ctx) != 0) break;
        }
    }
    prosparse_l1_free(&l1, m);
    model_set_trainable(m, NULL, 0, NULL);
    adamw_free(&opt);
    free(ids);
    free(targets);
    return rc;
}

int prosparse_measure(model *m, const int *stream, long n_tokens, int seq, int batch, prosparse_counts *c, double *nll,
                      cpet_err *err)
{
    const long windows = (nll ? n_tokens - 1 : n_tokens) / seq;
    if (windows <= 0) return cpet_fail(err, "prosparse: %ld tokens, fewer than one window of %d", n_tokens, seq);
    double sum = 0;
    for (long w = 0; w < windows; w += batch) {
        const int B = (int)(windows - w < batch ? windows - w : batch);
        if (model_forward(m, stream + w * seq, nll ? stream + w * seq + 1 : NULL, B, seq, err) != 0) return -1;
        if (nll) sum += (double)m->loss * B; /* m->loss: the mean over the batch's B * seq targets */
        prosparse_count(c, m);
    }
    if (nll) *nll = sum / (double)windows;
    return 0;
}

int prosparse_train_predictor(model *m, const int *stream, long n_tokens, int seq, long max_tokens, const ffn_predictor_train_config *c,
                              ffn_predictor *out, predict_counts *valid, cpet_err *err)
{
    const int L = m->cfg.n_layers, D = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    long windows = n_tokens / seq;
    if (max_tokens > 0 && windows * seq > max_tokens) windows = max_tokens / seq;
    if (windows <= 0) return cpet_fail(err, "predictor: %ld tokens, fewer than one window of %d", n_tokens, seq);
    const long N = windows * seq;
    float *x = malloc((size_t)L * N * D * sizeof(float));
    uint8_t *y = malloc((size_t)L * N * F);
    if (!x || !y) {
        free(x), free(y);
        return cpet_fail(err, "predictor: out of memory for %ld pairs per layer", N);
    }
    int rc = ffn_predictor_alloc(out, L, D, c->hidden, F, err);
    for (long w = 0; rc == 0 && w < windows; w += 8) {
        const int B = (int)(windows - w < 8 ? windows - w : 8);
        const size_t rows = (size_t)B * seq;
        if ((rc = model_forward(m, stream + w * seq, NULL, B, seq, err)) != 0) break;
        for (int l = 0; l < L; l++) {
            memcpy(x + ((size_t)l * N + (size_t)w * seq) * D, m->acts.x_mid + (size_t)l * rows * D, rows * D * sizeof(float));
            const float *h = m->acts.h + (size_t)l * rows * F;
            uint8_t *yl = y + ((size_t)l * N + (size_t)w * seq) * F;
            for (size_t i = 0; i < rows * F; i++) yl[i] = h[i] != 0.0f;
        }
    }
    for (int l = 0; rc == 0 && l < L; l++)
        rc = ffn_predictor_train_layer(out, l, x + (size_t)l * N * D, y + (size_t)l * N * F, N, c, &valid[l], err);
    if (rc == 0) {
        out->model_layers = L, out->model_hidden = D, out->model_ffn = F;
        out->model_fingerprint = model_ffn_fingerprint(m);
    } else {
        ffn_predictor_free(out);
    }
    free(x), free(y);
    return rc;
}

int prosparse_eval_predictor(model *m, const ffn_predictor *p, const int *stream, long n_tokens, int seq, predict_counts *counts, cpet_err *err)
{
    const int L = m->cfg.n_layers, D = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    const long windows = n_tokens / seq;
    if (windows <= 0) return cpet_fail(err, "predictor: %ld tokens, fewer than one window of %d", n_tokens, seq);
    uint8_t *mask = malloc((size_t)F), *truth = malloc((size_t)F);
    float *scratch = malloc(ffn_predictor_scratch(p, 1) * sizeof(float));
    int rc = mask && truth && scratch ? 0 : cpet_fail(err, "predictor: out of memory");
    for (long w = 0; rc == 0 && w < windows; w += 8) {
        const int B = (int)(windows - w < 8 ? windows - w : 8);
        const size_t rows = (size_t)B * seq;
        if ((rc = model_forward(m, stream + w * seq, NULL, B, seq, err)) != 0) break;
        for (int l = 0; l < L; l++)
            for (size_t i = 0; i < rows; i++) {
                ffn_predictor_mask(p, l, m->acts.x_mid + ((size_t)l * rows + i) * D, 1, mask, scratch);
                const float *h = m->acts.h + ((size_t)l * rows + i) * F;
                for (int f = 0; f < F; f++) truth[f] = h[f] != 0.0f;
                predict_count(&counts[l], mask, truth, F);
            }
    }
    free(mask), free(truth), free(scratch);
    return rc;
}
