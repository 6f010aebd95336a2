#include "ffn_predictor.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "fileio.h"
#include "gemv.h"
#include "optim.h"
#include "params.h"
#include "safetensors.h"
#include "tensor.h"

int ffn_predictor_alloc(ffn_predictor *p, int n_layers, int D, int H, int F, cpet_err *err)
{
    memset(p, 0, sizeof *p);
    if (n_layers <= 0 || D <= 0 || H <= 0 || F <= 0) return cpet_fail(err, "predictor: bad shape %d layers, %d -> %d -> %d", n_layers, D, H, F);
    p->n_layers = n_layers;
    p->gating = PREDICT_THRESHOLD;
    p->p = 0.5f;
    if (!(p->layers = calloc((size_t)n_layers, sizeof *p->layers))) return cpet_fail(err, "predictor: out of memory");
    for (int l = 0; l < n_layers; l++) {
        ffn_predictor_layer *y = &p->layers[l];
        y->D = D, y->H = H, y->F = F;
        y->w1 = cpet_alloc((size_t)H * D * sizeof(float));
        y->w2 = cpet_alloc((size_t)F * H * sizeof(float));
        if (!y->w1 || !y->w2) {
            ffn_predictor_free(p);
            return cpet_fail(err, "predictor: out of memory");
        }
    }
    return 0;
}

void ffn_predictor_free(ffn_predictor *p)
{
    for (int l = 0; p->layers && l < p->n_layers; l++) cpet_free(p->layers[l].w1), cpet_free(p->layers[l].w2);
    free(p->layers);
    memset(p, 0, sizeof *p);
}

size_t ffn_predictor_scratch(const ffn_predictor *p, int n)
{
    const ffn_predictor_layer *y = &p->layers[0];
    return (size_t)n * ((size_t)y->H + y->F) + (size_t)y->F;
}

static float logit_of(float prob) { return logf(prob / (1.0f - prob)); }

static int cmp_desc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* marks the k largest of z[F] in mask (ties: the lowest indices) */
static void mark_top_k(const float *z, int F, int k, uint8_t *mask, float *sorted)
{
    if (k >= F) {
        memset(mask, 1, (size_t)F);
        return;
    }
    if (k <= 0) return;
    memcpy(sorted, z, (size_t)F * sizeof(float));
    qsort(sorted, (size_t)F, sizeof(float), cmp_desc);
    const float kth = sorted[k - 1];
    int kept = 0;
    for (int f = 0; f < F && kept < k; f++) /* ties at the k-th value: the lowest indices */
        if (z[f] > kth) mask[f] = 1, kept++;
    for (int f = 0; f < F && kept < k; f++)
        if (z[f] == kth) mask[f] = 1, kept++;
}

int ffn_predictor_mask(const ffn_predictor *p, int layer, const float *x, int n, uint8_t *mask, float *scratch)
{
    const ffn_predictor_layer *y = &p->layers[layer];
    const int H = y->H, F = y->F;
    float *a = scratch, *z = a + (size_t)n * H, *sorted = z + (size_t)n * F;
    memset(mask, 0, (size_t)F);
    for (int r = 0; r < n; r += GEMV_MAX_N) {
        const int m = n - r < GEMV_MAX_N ? n - r : GEMV_MAX_N;
        gemv_f32(y->w1, x + (size_t)r * y->D, a + (size_t)r * H, m, H, y->D);
    }
    for (size_t i = 0; i < (size_t)n * H; i++) a[i] = a[i] > 0 ? a[i] : 0;
    for (int r = 0; r < n; r += GEMV_MAX_N) {
        const int m = n - r < GEMV_MAX_N ? n - r : GEMV_MAX_N;
        gemv_f32(y->w2, a + (size_t)r * H, z + (size_t)r * F, m, F, H);
    }
    if (p->gating == PREDICT_TOP_K) {
        for (int r = 0; r < n; r++) mark_top_k(z + (size_t)r * F, F, p->top_k, mask, sorted);
    } else {
        const float t = logit_of(p->p);
        for (int r = 0; r < n; r++)
            for (int f = 0; f < F; f++) mask[f] |= z[(size_t)r * F + f] >= t;
    }
    int k = 0;
    for (int f = 0; f < F; f++) k += mask[f] != 0;
    return k;
}

double predict_recall(const predict_counts *c) { return c->tp + c->fn > 0 ? c->tp / (c->tp + c->fn) : NAN; }
double predict_precision(const predict_counts *c) { return c->tp + c->fp > 0 ? c->tp / (c->tp + c->fp) : NAN; }
double predict_sparsity(const predict_counts *c)
{
    const double all = c->tp + c->fp + c->fn + c->tn;
    return all > 0 ? (c->tn + c->fn) / all : NAN;
}

void predict_count(predict_counts *c, const uint8_t *predicted, const uint8_t *truth, int n)
{
    for (int i = 0; i < n; i++) {
        const int p = predicted[i] != 0, t = truth[i] != 0;
        c->tp += p && t, c->fp += p && !t, c->fn += !p && t, c->tn += !p && !t;
    }
}

/* ---- training: minibatch weighted BCE through the two matrices, sgemm for every product ---- */

double ffn_predictor_batch_loss(const ffn_predictor_layer *L, const float *xb, const uint8_t *yb, int B, float w_neg, float *g1, float *g2,
                                float *a, float *z, float *da)
{
    const int D = L->D, H = L->H, F = L->F;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, D, 1.0f, xb, D, L->w1, D, 0.0f, a, H);
    for (size_t i = 0; i < (size_t)B * H; i++) a[i] = a[i] > 0 ? a[i] : 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, F, H, 1.0f, a, H, L->w2, H, 0.0f, z, F);
    /* loss: w BCE(sigmoid(z), y) = w (max(z, 0) - z y + log(1 + e^-|z|)); d/dz = w (sigmoid(z) - y) / (B F) */
    const float inv = 1.0f / ((float)B * F);
    double loss = 0;
    for (size_t i = 0; i < (size_t)B * F; i++) {
        const float yy = yb[i] != 0, w = yy ? 1.0f : w_neg, zi = z[i], s = 1.0f / (1.0f + expf(-zi));
        loss += w * ((zi > 0 ? zi : 0) - zi * yy + log1p(exp(-fabs((double)zi))));
        z[i] = w * (s - yy) * inv;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, H, B, 1.0f, z, F, a, H, 0.0f, g2, H);   /* dW2 = dz^T a */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, F, 1.0f, z, F, L->w2, H, 0.0f, da, H); /* da = dz W2 */
    for (size_t i = 0; i < (size_t)B * H; i++) da[i] = a[i] > 0 ? da[i] : 0;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, B, 1.0f, da, H, xb, D, 0.0f, g1, D); /* dW1 = da^T x */
    return loss * inv;
}

int ffn_predictor_train_layer(ffn_predictor *p, int layer, const float *x, const uint8_t *y, long N, const ffn_predictor_train_config *c,
                              predict_counts *valid, cpet_err *err)
{
    ffn_predictor_layer *L = &p->layers[layer];
    const int D = L->D, H = L->H, F = L->F, B = c->batch;
    const long n_valid = (long)(N * c->valid_fraction), n_train = N - n_valid;
    if (n_train < B || n_valid < 1) return cpet_fail(err, "predictor: %ld pairs are too few for batch %d and a validation split", N, B);
    /* the split: a seeded permutation, validation last */
    long *perm = malloc((size_t)N * sizeof(long));
    float *a = malloc((size_t)B * H * sizeof(float)), *z = malloc((size_t)B * F * sizeof(float)), *xb = malloc((size_t)B * D * sizeof(float)),
          *da = malloc((size_t)B * H * sizeof(float)), *best1 = malloc((size_t)H * D * sizeof(float)), *best2 = malloc((size_t)F * H * sizeof(float)),
          *g1 = calloc((size_t)H * D, sizeof(float)), *g2 = calloc((size_t)F * H, sizeof(float));
    uint8_t *mask = malloc((size_t)F), *yb = malloc((size_t)B * F);
    adamw opt = {0};
    int rc = perm && a && z && xb && da && best1 && best2 && g1 && g2 && mask && yb ? 0 : cpet_fail(err, "predictor: out of memory");
    cpet_rng r;
    rng_seed(&r, c->seed * 1000003ull + (uint64_t)layer);
    for (long i = 0; i < N; i++) perm[i] = i;
    for (long i = N - 1; rc == 0 && i > 0; i--) {
        long j = (long)(rng_uniform(&r) * (float)(i + 1));
        if (j > i) j = i;
        long t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    /* init as torch.nn.Linear: U(+-1/sqrt(in)) */
    for (size_t i = 0; i < (size_t)H * D; i++) L->w1[i] = (2 * rng_uniform(&r) - 1) / sqrtf((float)D);
    for (size_t i = 0; i < (size_t)F * H; i++) L->w2[i] = (2 * rng_uniform(&r) - 1) / sqrtf((float)H);
    double pos = 0; /* mean(y) over the training pairs: the negatives' weight is it + 0.005 */
    for (long i = 0; i < n_train; i++)
        for (int f = 0; f < F; f++) pos += y[(size_t)perm[i] * F + f] != 0;
    const float w_neg = (float)(pos / ((double)n_train * F) + 0.005);
    param_tensor t[2] = {{.p = L->w1, .g = g1, .n = (size_t)H * D, .ndim = 2, .shape = {H, D}, .trainable = 1, .decay = 1},
                         {.p = L->w2, .g = g2, .n = (size_t)F * H, .ndim = 2, .shape = {F, H}, .trainable = 1, .decay = 1}};
    snprintf(t[0].name, sizeof t[0].name, "w1"), snprintf(t[1].name, sizeof t[1].name, "w2");
    adamw_config oc = {c->lr, 0.9f, 0.999f, 1e-8f, c->weight_decay};
    if (rc == 0) rc = adamw_init(&opt, oc, err) || adamw_add(&opt, t, 2, err);
    double best_recall = -1;
    memcpy(best1, L->w1, (size_t)H * D * sizeof(float)), memcpy(best2, L->w2, (size_t)F * H * sizeof(float));
    const float thr = logit_of(p->p);
    for (int epoch = 0; rc == 0 && epoch < c->epochs; epoch++) {
        for (long b0 = 0; b0 + B <= n_train; b0 += B) {
            for (int i = 0; i < B; i++) {
                memcpy(xb + (size_t)i * D, x + (size_t)perm[b0 + i] * D, (size_t)D * sizeof(float));
                memcpy(yb + (size_t)i * F, y + (size_t)perm[b0 + i] * F, (size_t)F);
            }
            ffn_predictor_batch_loss(L, xb, yb, B, w_neg, g1, g2, a, z, da);
            adamw_step(&opt, c->lr);
        }
        predict_counts v = {0};
        for (long i = n_train; i < N; i++) { /* validation under the threshold gating */
            const float *xi = x + (size_t)perm[i] * D;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, H, D, 1.0f, L->w1, D, xi, 1, 0.0f, a, 1);
            for (int h = 0; h < H; h++) a[h] = a[h] > 0 ? a[h] : 0;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, F, H, 1.0f, L->w2, H, a, 1, 0.0f, z, 1);
            for (int f = 0; f < F; f++) mask[f] = z[f] >= thr;
            predict_count(&v, mask, y + (size_t)perm[i] * F, F);
        }
        if (predict_recall(&v) > best_recall) {
            best_recall = predict_recall(&v);
            *valid = v;
            memcpy(best1, L->w1, (size_t)H * D * sizeof(float)), memcpy(best2, L->w2, (size_t)F * H * sizeof(float));
        }
    }
    if (rc == 0) memcpy(L->w1, best1, (size_t)H * D * sizeof(float)), memcpy(L->w2, best2, (size_t)F * H * sizeof(float));
    adamw_free(&opt);
    free(perm), free(a), free(z), free(xb), free(da), free(best1), free(best2), free(g1), free(g2), free(mask), free(yb);
    return rc;
}

/* ---- files ---- */

int ffn_predictor_save(const ffn_predictor *p, const char *dir, cpet_err *err)
{
    char path[4200];
    if (make_dirs(dir, err) != 0) return -1;
    const int n = p->n_layers;
    st_entry *e = calloc((size_t)2 * n, sizeof *e);
    char (*names)[64] = calloc((size_t)2 * n, sizeof *names);
    if (!e || !names) {
        free(e), free(names);
        return cpet_fail(err, "predictor: out of memory");
    }
    for (int l = 0; l < n; l++) {
        const ffn_predictor_layer *y = &p->layers[l];
        snprintf(names[2 * l], 64, "layers.%d.w1", l), snprintf(names[2 * l + 1], 64, "layers.%d.w2", l);
        e[2 * l] = st_f32_entry(names[2 * l], y->w1, 2, (int64_t[]){y->H, y->D});
        e[2 * l + 1] = st_f32_entry(names[2 * l + 1], y->w2, 2, (int64_t[]){y->F, y->H});
    }
    snprintf(path, sizeof path, "%s/predictor.safetensors", dir);
    int rc = st_write(path, e, 2 * n, NULL, 0, err);
    free(e), free(names);
    if (rc != 0) return -1;
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)p->model_fingerprint);
    json_t *j = json_pack("{s:s, s:s, s:f, s:i, s:i, s:{s:i, s:i, s:i, s:s}}", "format", "cpet ffn predictor: per layer w1 [H, D], relu, w2 [F, H]",
                          "gating", p->gating == PREDICT_TOP_K ? "top_k" : "threshold", "p", (double)p->p, "top_k", p->top_k, "hidden",
                          p->layers[0].H, "model", "layers", p->model_layers, "hidden_size", p->model_hidden, "intermediate_size",
                          p->model_ffn, "fingerprint", fp);
    snprintf(path, sizeof path, "%s/predictor.json", dir);
    rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

int ffn_predictor_load(ffn_predictor *p, const char *dir, int n_layers, int D, int F, uint64_t fingerprint, cpet_err *err)
{
    char path[4200];
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/predictor.json", dir);
    json_t *j = json_read_file(path, err);
    if (!j) return -1;
    const json_t *mj = json_object_get(j, "model");
    const int layers = (int)json_integer_value(json_object_get(mj, "layers")), hidden = (int)json_integer_value(json_object_get(mj, "hidden_size")),
              ffn = (int)json_integer_value(json_object_get(mj, "intermediate_size")), H = (int)json_integer_value(json_object_get(j, "hidden"));
    const char *fp = json_string_value(json_object_get(mj, "fingerprint")), *gating = json_string_value(json_object_get(j, "gating"));
    char want[32];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)fingerprint);
    int rc = 0;
    if (layers != n_layers || hidden != D || ffn != F)
        rc = cpet_fail(err, "%s: a predictor for a model of %d layers, hidden %d, FFN %d; this one has %d, %d, %d", path, layers, hidden, ffn,
                       n_layers, D, F);
    else if (!fp || strcmp(fp, want) != 0)
        rc = cpet_fail(err, "%s: trained for another model (weights fingerprint %s, this model's %s)", path, fp ? fp : "missing", want);
    else if (!gating || (strcmp(gating, "threshold") != 0 && strcmp(gating, "top_k") != 0))
        rc = cpet_fail(err, "%s: gating '%s' is not threshold or top_k", path, gating ? gating : "");
    if (rc == 0) rc = ffn_predictor_alloc(p, n_layers, D, H, F, err);
    if (rc == 0) {
        p->gating = !strcmp(gating, "top_k") ? PREDICT_TOP_K : PREDICT_THRESHOLD;
        p->p = (float)json_number_value(json_object_get(j, "p"));
        p->top_k = (int)json_integer_value(json_object_get(j, "top_k"));
        p->model_layers = layers, p->model_hidden = hidden, p->model_ffn = ffn, p->model_fingerprint = fingerprint;
    }
    json_decref(j);
    if (rc != 0) return -1;
    snprintf(path, sizeof path, "%s/predictor.safetensors", dir);
    st_file f;
    if (st_open(&f, path, err) != 0) {
        ffn_predictor_free(p);
        return -1;
    }
    for (int l = 0; l < n_layers && rc == 0; l++) {
        char name[64];
        ffn_predictor_layer *y = &p->layers[l];
        for (int k = 0; k < 2 && rc == 0; k++) {
            snprintf(name, sizeof name, "layers.%d.w%d", l, k + 1);
            const st_tensor *t = st_find(&f, name);
            const int64_t shape[2] = {k ? F : H, k ? H : D};
            if (!t) rc = cpet_fail(err, "%s: tensor %s is missing", path, name);
            else rc = st_check_shape(&f, t, 2, shape, err) || st_to_f32(&f, t, k ? y->w2 : y->w1, err);
        }
    }
    st_close(&f);
    if (rc != 0) ffn_predictor_free(p);
    return rc;
}
