#include "classify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "train.h"

static void set_tensors(class_head *h)
{
    h->tensors[0] = (param_tensor){.p = h->w, .g = h->dw, .n = (size_t)h->n_classes * h->hidden, .ndim = 2,
                                   .shape = {h->n_classes, h->hidden}, .trainable = 1, .decay = 1};
    h->tensors[1] = (param_tensor){.p = h->b, .g = h->db, .n = (size_t)h->n_classes, .ndim = 1, .shape = {h->n_classes}, .trainable = 1};
    snprintf(h->tensors[0].name, sizeof h->tensors[0].name, "head.weight");
    snprintf(h->tensors[1].name, sizeof h->tensors[1].name, "head.bias");
}

/* rows from..C-1 drawn as torch.nn.Linear draws them; the stream depends on the seed and the row only,
 * so a head grown in steps equals one made at its final size */
static void init_rows(class_head *h, int from, uint64_t seed)
{
    const float bound = 1.0f / sqrtf((float)h->hidden);
    for (int c = from; c < h->n_classes; c++) {
        cpet_rng r;
        rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + (uint64_t)c);
        for (int d = 0; d < h->hidden; d++) h->w[(size_t)c * h->hidden + d] = (2 * rng_uniform(&r) - 1) * bound;
        h->b[c] = (2 * rng_uniform(&r) - 1) * bound;
    }
}

int class_head_grow(class_head *h, int n_classes, uint64_t seed, cpet_err *err)
{
    if (n_classes < h->n_classes) return cpet_fail(err, "classification head: cannot shrink from %d to %d classes", h->n_classes, n_classes);
    const size_t D = (size_t)h->hidden, C = (size_t)n_classes;
    float *w = realloc(h->w, C * D * sizeof(float)), *b = w ? realloc(h->b, C * sizeof(float)) : NULL;
    if (w) h->w = w;
    if (b) h->b = b;
    float *dw = b ? realloc(h->dw, C * D * sizeof(float)) : NULL, *db = dw ? realloc(h->db, C * sizeof(float)) : NULL;
    if (dw) h->dw = dw;
    if (db) h->db = db;
    if (!w || !b || !dw || !db) return cpet_fail(err, "classification head: out of memory for %d classes", n_classes);
    const int old = h->n_classes;
    h->n_classes = n_classes;
    init_rows(h, old, seed);
    memset(h->dw, 0, C * D * sizeof(float));
    memset(h->db, 0, C * sizeof(float));
    set_tensors(h);
    return 0;
}

int class_head_init(class_head *h, int n_classes, int hidden, uint64_t seed, cpet_err *err)
{
    memset(h, 0, sizeof *h);
    if (n_classes < 1 || hidden < 1) return cpet_fail(err, "classification head: %d classes over %d features", n_classes, hidden);
    h->hidden = hidden;
    if (class_head_grow(h, n_classes, seed, err) != 0) {
        class_head_free(h);
        return -1;
    }
    return 0;
}

void class_head_free(class_head *h)
{
    free(h->w), free(h->b), free(h->dw), free(h->db);
    memset(h, 0, sizeof *h);
}

void classify_features(const model *m, const int *pos, float *features)
{
    const int T = m->acts.T, D = m->cfg.hidden_size;
    for (int b = 0; b < m->acts.B; b++) memcpy(features + (size_t)b * D, m->acts.xf + ((size_t)b * T + pos[b]) * D, (size_t)D * sizeof(float));
}

void class_head_forward(const class_head *h, const float *features, float *logits, int B)
{
    const int C = h->n_classes, D = h->hidden;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double s = h->b[c];
            for (int d = 0; d < D; d++) s += (double)h->w[(size_t)c * D + d] * features[(size_t)b * D + d];
            logits[(size_t)b * C + c] = (float)s;
        }
}

double classify_loss(model *m, class_head *h, const int *pos, const int *labels, int B, float *logits_out, float *grad, cpet_err *err)
{
    const int T = m->acts.T, D = m->cfg.hidden_size, C = h->n_classes;
    if (D != h->hidden) return cpet_fail(err, "classification head over %d features on a model of hidden size %d", h->hidden, D), NAN;
    int counted = 0;
    for (int b = 0; b < B; b++) {
        if (pos[b] < 0 || pos[b] >= T) return cpet_fail(err, "classification: position %d outside the sequence of %d", pos[b], T), NAN;
        if (labels[b] >= C) return cpet_fail(err, "classification: label %d of a %d-class head", labels[b], C), NAN;
        counted += labels[b] >= 0;
    }
    if (!counted) return cpet_fail(err, "classification: no labelled sequence in the batch"), NAN;
    float *f = malloc((size_t)B * D * sizeof(float)), *z = malloc((size_t)B * C * sizeof(float));
    if (!f || !z) {
        free(f), free(z);
        return cpet_fail(err, "classification: out of memory"), NAN;
    }
    classify_features(m, pos, f);
    class_head_forward(h, f, z, B);
    if (logits_out) memcpy(logits_out, z, (size_t)B * C * sizeof(float));
    memset(grad, 0, (size_t)B * T * D * sizeof(float));
    double loss = 0;
    for (int b = 0; b < B; b++) {
        if (labels[b] < 0) continue;
        float *zb = z + (size_t)b * C;
        double mx = zb[0], sum = 0;
        for (int c = 1; c < C; c++) mx = zb[c] > mx ? zb[c] : mx;
        for (int c = 0; c < C; c++) sum += exp(zb[c] - mx);
        loss += mx + log(sum) - zb[labels[b]];
        /* dL/dz = (softmax - onehot) / counted; then into W, b and the hidden state at pos[b] */
        float *g = grad + ((size_t)b * T + pos[b]) * D;
        for (int c = 0; c < C; c++) {
            const float dz = (float)((exp(zb[c] - mx) / sum - (c == labels[b])) / counted);
            h->db[c] += dz;
            for (int d = 0; d < D; d++) {
                h->dw[(size_t)c * D + d] += dz * f[(size_t)b * D + d];
                g[d] += dz * h->w[(size_t)c * D + d];
            }
        }
    }
    m->taps.d_final_hidden = grad;
    free(f), free(z);
    return loss / counted;
}

int classify_train_step(model *m, class_head *h, adamw *o, const int *ids, const int *pos, const int *labels, int B, int T, float lr,
                        double clip, int model_trains, classify_step_result *out, cpet_err *err)
{
    optimizer_zero_grad(o);
    int *none = malloc((size_t)B * T * sizeof(int));
    float *grad = malloc((size_t)B * T * m->cfg.hidden_size * sizeof(float));
    int rc = none && grad ? 0 : cpet_fail(err, "classification: out of memory");
    if (rc == 0) {
        for (int i = 0; i < B * T; i++) none[i] = -1; /* no language-model loss */
        rc = model_forward(m, ids, none, B, T, err);
    }
    if (rc == 0) {
        out->loss = classify_loss(m, h, pos, labels, B, NULL, grad, err);
        if (!isfinite(out->loss)) rc = -1;
    }
    if (rc == 0 && model_trains) rc = model_backward(m, err);
    m->taps.d_final_hidden = NULL;
    if (rc == 0) {
        out->grad_norm = clip_grad_norm(o, clip);
        if (!isfinite(out->grad_norm)) rc = cpet_fail(err, "classification: gradient norm is %f", out->grad_norm);
    }
    if (rc == 0) adamw_step(o, lr);
    free(none), free(grad);
    return rc;
}
