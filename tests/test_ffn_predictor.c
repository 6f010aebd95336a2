/* The activation predictor: its metrics on hand-counted examples, threshold and top-k gating on a hand-set
 * layer, the weighted BCE's value by hand and its gradients by finite differences, training that learns a
 * rule it can represent, files that round-trip and refuse another model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ffn_predictor_train.h"
#include "helpers.h"
#include "tensor.h"

Test(ffn_predictor, recall_precision_and_predicted_sparsity_on_a_known_example)
{
    /* 10 neurons: truly active 0..3; predicted 0, 1, 2 (hits), 6, 7 (false alarms) -> tp 3, fn 1, fp 2, tn 4 */
    const uint8_t truth[10] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, pred[10] = {1, 1, 1, 0, 0, 0, 1, 1, 0, 0};
    predict_counts c = {0};
    predict_count(&c, pred, truth, 10);
    cr_assert(c.tp == 3 && c.fn == 1 && c.fp == 2 && c.tn == 4);
    cr_assert_float_eq(predict_recall(&c), 0.75, 1e-12);
    cr_assert_float_eq(predict_precision(&c), 0.6, 1e-12);
    cr_assert_float_eq(predict_sparsity(&c), 0.5, 1e-12, "5 of 10 predicted inactive (skipped)");
}

/* D = 2, H = 2 (relu passes x through when x >= 0), F = 4 with logits z = (x0, x1, -x0, 3 x1) */
static void hand_layer(ffn_predictor *p)
{
    cpet_err err;
    cr_assert_eq(ffn_predictor_alloc(p, 1, 2, 2, 4, &err), 0, "%s", err.msg);
    const float w1[4] = {1, 0, 0, 1}, w2[8] = {1, 0, 0, 1, -1, 0, 0, 3};
    memcpy(p->layers[0].w1, w1, sizeof w1), memcpy(p->layers[0].w2, w2, sizeof w2);
}

Test(ffn_predictor, threshold_and_top_k_gating_by_hand)
{
    ffn_predictor p;
    hand_layer(&p);
    float scratch[64], x[4] = {0.5f, 2.0f, 3.0f, 0.0f}; /* row 0 logits (0.5, 2, -0.5, 6); row 1 (3, 0, -3, 0) */
    uint8_t mask[4];
    p.gating = PREDICT_THRESHOLD, p.p = 0.5f; /* logit >= 0 */
    cr_assert_eq(ffn_predictor_mask(&p, 0, x, 1, mask, scratch), 3);
    cr_assert(mask[0] && mask[1] && !mask[2] && mask[3]);
    p.p = 0.8f; /* logit >= log 4 = 1.386 */
    cr_assert_eq(ffn_predictor_mask(&p, 0, x, 1, mask, scratch), 2);
    cr_assert(!mask[0] && mask[1] && !mask[2] && mask[3]);
    p.gating = PREDICT_TOP_K, p.top_k = 1;
    cr_assert_eq(ffn_predictor_mask(&p, 0, x, 1, mask, scratch), 1);
    cr_assert(mask[3], "the largest logit");
    cr_assert_eq(ffn_predictor_mask(&p, 0, x, 2, mask, scratch), 2, "the union over rows: 3 from row 0, 0 from row 1");
    cr_assert(mask[0] && mask[3]);
    ffn_predictor_free(&p);
}

/* The training loss: by hand on one weight per matrix, and its gradients by finite differences. */
typedef struct {
    ffn_predictor_layer *L;
    const float *xb;
    const uint8_t *yb;
    int B;
    float w_neg;
    float *g1, *g2, *a, *z, *da; /* thrown away: the loss alone is differentiated */
} bce_ctx;

static double bce_loss(void *ctx)
{
    bce_ctx *c = ctx;
    return ffn_predictor_batch_loss(c->L, c->xb, c->yb, c->B, c->w_neg, c->g1, c->g2, c->a, c->z, c->da);
}

Test(ffn_predictor, the_weighted_bce_by_hand_and_its_gradients_by_finite_differences)
{
    /* D = H = F = 1, w1 = 1, w2 = 2, x = 0.5: z = 1. A positive costs log(1 + e^-1) = 0.313262, a negative
     * w_neg log(1 + e^1) = 0.25 x 1.313262; the mean over the batch of the two. */
    float w1 = 1, w2 = 2, x2[2] = {0.5f, 0.5f}, g1, g2, a[2], z[2], da[2];
    ffn_predictor_layer one = {1, 1, 1, &w1, &w2};
    const uint8_t y2[2] = {1, 0};
    const double want = (log1p(exp(-1.0)) + 0.25 * log1p(exp(1.0))) / 2;
    cr_assert_float_eq(ffn_predictor_batch_loss(&one, x2, y2, 2, 0.25f, &g1, &g2, a, z, da), want, 1e-6);
    /* dz: (s - 1) / 2 and 0.25 s / 2, s = sigmoid(1); dW2 = sum dz a = 0.5 sum dz; dW1 = sum dz w2 x */
    const double s = 1 / (1 + exp(-1.0)), dz = (s - 1) / 2 + 0.25 * s / 2;
    cr_assert_float_eq(g2, 0.5 * dz, 1e-6);
    cr_assert_float_eq(g1, 2 * 0.5 * dz, 1e-6);
    /* D 6, H 5, F 7, a batch of 4: every weight against a 4-point central difference */
    enum { D = 6, H = 5, F = 7, B = 4 };
    ffn_predictor_layer L = {D, H, F, cpet_alloc_floats(H * D), cpet_alloc_floats(F * H)};
    cpet_rng r;
    rng_seed(&r, 9);
    fill_normal(L.w1, H * D, 0.5f, &r), fill_normal(L.w2, F * H, 0.5f, &r);
    float xb[B * D], G1[H * D], G2[F * H], A[B * H], Z[B * F], DA[B * H], s1[H * D], s2[F * H];
    uint8_t yb[B * F];
    fill_normal(xb, B * D, 1.0f, &r);
    for (int i = 0; i < B * F; i++) yb[i] = rng_uniform(&r) < 0.4f;
    bce_ctx c = {&L, xb, yb, B, 0.3f, s1, s2, A, Z, DA};
    ffn_predictor_batch_loss(&L, xb, yb, B, 0.3f, G1, G2, A, Z, DA);
    cr_assert_lt(fd_check(bce_loss, &c, L.w1, G1, H * D, 1e-3f, 4, 1), 2e-3, "w1");
    cr_assert_lt(fd_check(bce_loss, &c, L.w2, G2, F * H, 1e-3f, 4, 2), 2e-3, "w2");
    free(L.w1), free(L.w2);
}

Test(ffn_predictor, training_learns_a_rule_it_can_represent)
{
    /* neuron f is active when x[f % D] > 0.3: a two-layer ReLU net can express it */
    const int D = 8, F = 16, N = 4000;
    cpet_err err;
    cpet_rng r;
    rng_seed(&r, 5);
    float *x = malloc((size_t)N * D * sizeof(float));
    uint8_t *y = malloc((size_t)N * F);
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < D; d++) x[i * D + d] = rng_normal(&r);
        for (int f = 0; f < F; f++) y[i * F + f] = x[i * D + f % D] > 0.3f;
    }
    ffn_predictor p;
    cr_assert_eq(ffn_predictor_alloc(&p, 1, D, 32, F, &err), 0, "%s", err.msg);
    ffn_predictor_train_config c = {.hidden = 32, .epochs = 15, .batch = 64, .lr = 3e-3f, .weight_decay = 0.01f, .valid_fraction = 0.1f, .seed = 1};
    predict_counts v;
    cr_assert_eq(ffn_predictor_train_layer(&p, 0, x, y, N, &c, &v, &err), 0, "%s", err.msg);
    cr_assert_geq(predict_recall(&v), 0.95, "recall %g", predict_recall(&v));
    cr_assert_geq(predict_precision(&v), 0.7, "precision %g", predict_precision(&v));
    /* about 38% of labels are positive: the predictor must skip a real share, not predict everything */
    cr_assert(predict_sparsity(&v) > 0.4, "predicted sparsity %g", predict_sparsity(&v));
    ffn_predictor_free(&p);
    free(x), free(y);
}

Test(ffn_predictor, files_round_trip_and_refuse_another_model)
{
    cpet_err err;
    ffn_predictor p, q;
    hand_layer(&p);
    p.model_layers = 1, p.model_hidden = 2, p.model_ffn = 4, p.model_fingerprint = 0x1234;
    p.gating = PREDICT_TOP_K, p.top_k = 3;
    char dir[] = "/tmp/cpet_pred_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ffn_predictor_save(&p, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(ffn_predictor_load(&q, dir, 1, 2, 4, 0x1234, &err), 0, "%s", err.msg);
    cr_assert(q.gating == PREDICT_TOP_K && q.top_k == 3);
    cr_assert_eq(memcmp(q.layers[0].w2, p.layers[0].w2, 8 * sizeof(float)), 0);
    ffn_predictor_free(&q);
    cr_assert_neq(ffn_predictor_load(&q, dir, 1, 2, 4, 0x9999, &err), 0);
    cr_assert(strstr(err.msg, "predictor.json") && strstr(err.msg, "another model"), "%s", err.msg);
    cr_assert_neq(ffn_predictor_load(&q, dir, 2, 2, 4, 0x1234, &err), 0);
    cr_assert(strstr(err.msg, "2 layers") || strstr(err.msg, "layers"), "%s", err.msg);
    ffn_predictor_free(&p);
}
