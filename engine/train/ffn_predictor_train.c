#include "ffn_predictor_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "optim.h"
#include "params.h"
#include "tensor.h"

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
    const float thr = logf(p->p / (1.0f - p->p)); /* the gating threshold as a logit */
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
