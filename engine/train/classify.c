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

/* ---- EA-EMR's alignment layer ---- */

int feature_align_init(feature_align *a, int dim, cpet_err *err)
{
    memset(a, 0, sizeof *a);
    const size_t D = (size_t)dim;
    a->dim = dim;
    a->w = calloc(D * D, sizeof(float)), a->dw = calloc(D * D, sizeof(float));
    a->b = calloc(D, sizeof(float)), a->db = calloc(D, sizeof(float)), a->row = calloc(D, sizeof(float));
    if (dim < 1 || !a->w || !a->dw || !a->b || !a->db || !a->row) {
        feature_align_free(a);
        return cpet_fail(err, "alignment layer: cannot allocate %d x %d", dim, dim);
    }
    for (size_t i = 0; i < D; i++) a->w[i * D + i] = 1.0f;
    a->tensors[0] = (param_tensor){.p = a->w, .g = a->dw, .n = D * D, .ndim = 2, .shape = {dim, dim}, .trainable = 1};
    a->tensors[1] = (param_tensor){.p = a->b, .g = a->db, .n = D, .ndim = 1, .shape = {dim}, .trainable = 1};
    snprintf(a->tensors[0].name, sizeof a->tensors[0].name, "align.weight");
    snprintf(a->tensors[1].name, sizeof a->tensors[1].name, "align.bias");
    return 0;
}

void feature_align_free(feature_align *a)
{
    free(a->w), free(a->b), free(a->dw), free(a->db), free(a->row);
    memset(a, 0, sizeof *a);
}

void feature_align_forward(const feature_align *a, const float *x, float *y, int B)
{
    const int D = a->dim;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) {
            double s = a->b[i];
            for (int j = 0; j < D; j++) s += (double)a->w[(size_t)i * D + j] * x[(size_t)b * D + j];
            y[(size_t)b * D + i] = (float)s;
        }
}

double feature_align_fit(feature_align *a, const float *x, const float *target, int n, int epochs, int batch, float lr, uint64_t seed,
                         cpet_err *err)
{
    const int D = a->dim;
    if (n < 1 || batch < 1 || epochs < 1) return cpet_fail(err, "alignment fit: %d rows, batch %d, %d epochs", n, batch, epochs), NAN;
    adamw opt = {0};
    int *order = malloc((size_t)n * sizeof(int));
    float *y = malloc((size_t)batch * D * sizeof(float));
    int rc = order && y ? 0 : cpet_fail(err, "alignment fit: out of memory");
    adamw_config oc = {lr, 0.9f, 0.999f, 1e-8f, 0.0f};
    if (rc == 0 && ((rc = adamw_init(&opt, oc, err)) != 0 || (rc = adamw_add(&opt, a->tensors, 2, err)) != 0)) rc = -1;
    double epoch_loss = NAN;
    if (rc == 0) {
        /* the reference shuffles once, then walks the same order every epoch */
        cpet_rng r;
        rng_seed(&r, seed);
        for (int i = 0; i < n; i++) order[i] = i;
        rng_shuffle(&r, order, n);
    }
    for (int e = 0; rc == 0 && e < epochs; e++) {
        double loss_sum = 0;
        int batches = 0;
        for (int start = 0; start < n; start += batch, batches++) {
            const int B = n - start < batch ? n - start : batch;
            optimizer_zero_grad(&opt);
            double loss = 0;
            for (int b = 0; b < B; b++) {
                const float *xb = x + (size_t)order[start + b] * D, *tb = target + (size_t)order[start + b] * D;
                float *yb = y + (size_t)b * D;
                feature_align_forward(a, xb, yb, 1);
                for (int i = 0; i < D; i++) {
                    const double diff = (double)yb[i] - tb[i];
                    loss += diff * diff;
                    const float g = (float)(2.0 * diff / ((double)B * D)); /* d mean((y - t)^2) / dy */
                    a->db[i] += g;
                    for (int j = 0; j < D; j++) a->dw[(size_t)i * D + j] += g * xb[j];
                }
            }
            loss_sum += loss / ((double)B * D);
            adamw_step(&opt, lr);
        }
        epoch_loss = loss_sum / batches;
    }
    adamw_free(&opt);
    free(order), free(y);
    return rc == 0 ? epoch_loss : NAN;
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

/* one row's logits over features that are already aligned */
static void head_row(const class_head *h, const float *x, float *logits)
{
    const int C = h->n_classes, D = h->hidden;
    for (int c = 0; c < C; c++) {
        double s = h->b[c];
        for (int d = 0; d < D; d++) s += (double)h->w[(size_t)c * D + d] * x[d];
        logits[c] = (float)s;
    }
}

void class_head_forward(const class_head *h, const float *features, float *logits, int B)
{
    const int C = h->n_classes, D = h->hidden;
    for (int b = 0; b < B; b++) {
        const float *x = features + (size_t)b * D;
        if (h->align) {
            feature_align_forward(h->align, x, h->align->row, 1);
            x = h->align->row;
        }
        head_row(h, x, logits + (size_t)b * C);
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
    if (h->align && h->align->dim != D) return cpet_fail(err, "classification: an alignment over %d features on a model of hidden size %d", h->align->dim, D), NAN;
    float *f = malloc((size_t)B * D * sizeof(float)), *z = malloc((size_t)B * C * sizeof(float));
    float *a = h->align ? malloc((size_t)B * D * sizeof(float)) : f, *da = malloc((size_t)D * sizeof(float));
    if (!f || !z || !a || !da) {
        free(f), free(z), free(da);
        if (h->align) free(a);
        return cpet_fail(err, "classification: out of memory"), NAN;
    }
    classify_features(m, pos, f);
    if (h->align) feature_align_forward(h->align, f, a, B);
    for (int b = 0; b < B; b++) head_row(h, a + (size_t)b * D, z + (size_t)b * C);
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
        /* dL/dz = (softmax - onehot) / counted; then into W, b and the head's input (da), and through the
         * alignment (if any) into A, c and the hidden state at pos[b] */
        float *g = grad + ((size_t)b * T + pos[b]) * D;
        float *gin = h->align ? da : g;
        if (h->align) memset(da, 0, (size_t)D * sizeof(float));
        const float *x = a + (size_t)b * D, *fb = f + (size_t)b * D;
        for (int c = 0; c < C; c++) {
            const float dz = (float)((exp(zb[c] - mx) / sum - (c == labels[b])) / counted);
            h->db[c] += dz;
            for (int d = 0; d < D; d++) {
                h->dw[(size_t)c * D + d] += dz * x[d];
                gin[d] += dz * h->w[(size_t)c * D + d];
            }
        }
        if (h->align)
            for (int i = 0; i < D; i++) {
                const float *Ai = h->align->w + (size_t)i * D;
                float *dAi = h->align->dw + (size_t)i * D;
                h->align->db[i] += da[i];
                for (int j = 0; j < D; j++) dAi[j] += da[i] * fb[j], g[j] += da[i] * Ai[j];
            }
    }
    m->taps.d_final_hidden = grad;
    free(f), free(z), free(da);
    if (h->align) free(a);
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
