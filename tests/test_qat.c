/* Quantization-aware training (qat.h) and QuantGPT's token-level contrastive loss (distill.h): QAT at
 * zero steps is RTN of the same format, the clip and its gradients on a hand-worked group, the contrastive
 * loss on a hand-worked 3-token example and its gradient against finite differences, and a short QAT run
 * that lowers the quantized model's loss below RTN's. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "distill.h"
#include "helpers.h"
#include "model.h"
#include "qat.h"
#include "tensor.h"

static calib_data some_calib(int vocab, int rows, int seq, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    int *ids = malloc((size_t)rows * seq * sizeof(int));
    /* a repeating pattern with noise, so that there is something to learn */
    for (int i = 0; i < rows * seq; i++) ids[i] = rng_below(&r, 4) == 0 ? rng_below(&r, vocab) : (i * 7 + i / seq) % vocab;
    return (calib_data){ids, rows, seq};
}

static model_config qat_config(void)
{
    model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    c.hidden_size = 64, c.intermediate_size = 128, c.head_dim = 16; /* rows of 64 / 128: every group divides them */
    return c;
}

/* every layer linear of a and b dequantizes to the same floats */
static void expect_same_packed(const model *a, const model *b, const char *what)
{
    for (int l = 0; l < a->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            const qtensor *qa = a->layers[l].lin[i].qw, *qb = b->layers[l].lin[i].qw;
            cr_assert(qa && qb, "%s: layer %d linear %d is not packed", what, l, i);
            const size_t n = (size_t)qa->rows * qa->cols;
            float *wa = malloc(n * sizeof(float)), *wb = malloc(n * sizeof(float));
            qtensor_dequantize(qa, wa), qtensor_dequantize(qb, wb);
            cr_assert_eq(memcmp(wa, wb, n * sizeof(float)), 0, "%s: layer %d linear %d differs", what, l, i);
            free(wa), free(wb);
        }
}

Test(qat, zero_steps_is_rtn_of_the_same_format)
{
    static const char *const pairs[][2] = {{"qat-int8", "rtn-int8"}, {"qat-int4", "rtn-int4"}, {"qat-q8_0", "q8_0"}, {"qat-q4_0", "q4_0"}};
    cpet_err err;
    model_config c = qat_config();
    calib_data cal = some_calib(c.vocab_size, 4, 16, 3);
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        model a, b;
        cr_assert_eq(model_create(&a, &c, &err), 0, "%s", err.msg);
        cr_assert_eq(model_create(&b, &c, &err), 0, "%s", err.msg);
        model_init_random(&a, 0.3f, 7);
        memcpy(b.params, a.params, a.n_params * sizeof(float));
        compress_options o = {.group = 32, .train = compress_training_defaults()};
        o.train.steps = 0;
        cr_assert_eq(compress_model(&a, pairs[k][0], &o, &cal, &err), 0, "%s", err.msg);
        cr_assert_eq(compress_model(&b, pairs[k][1], &o, &cal, &err), 0, "%s", err.msg);
        expect_same_packed(&a, &b, pairs[k][0]);
        model_free(&a), model_free(&b);
    }
    free((void *)cal.ids);
}

/* One INT8 row (one group) of 4: range [-2, 4] (0 included); gamma 0.5 clips to [-1, 2]. */
Test(qat, clip_and_its_gradients_on_a_hand_worked_row)
{
    cpet_err err;
    const float w[4] = {-2.0f, 0.5f, 1.5f, 4.0f}, g[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float fq[4], dw[4] = {0}, clipped[4];
    memcpy(clipped, w, sizeof w);
    qat_clip(clipped, 1, 4, QF_INT8, 0, 0.5f);
    cr_assert(clipped[0] == -1.0f && clipped[1] == 0.5f && clipped[2] == 1.5f && clipped[3] == 2.0f);
    cr_assert_eq(qat_fake_quant(w, 1, 4, QF_INT8, 0, 0.5f, fq, &err), 0, "%s", err.msg);
    /* INT8 on the clipped row: s = 2 / 127; 0.5 -> round(31.75) = 32 -> 0.503937..., 1.5 -> round(95.25) = 95 */
    const float s = 2.0f / 127.0f;
    cr_assert_float_eq(fq[1], 32 * s, 1e-6);
    cr_assert_float_eq(fq[2], 95 * s, 1e-6);
    cr_assert_float_eq(fq[3], 2.0f, 1e-6);
    const double dgamma = qat_backward(w, fq, g, 1, 4, QF_INT8, 0, 0.5f, dw);
    /* straight through inside, nothing outside */
    cr_assert(dw[0] == 0.0f && dw[1] == 2.0f && dw[2] == 3.0f && dw[3] == 0.0f);
    /* outside: the range end over gamma (-2, 4); inside: (fq - w) / gamma */
    const double want = 1.0 * -2.0 + 4.0 * 4.0 + 2.0 * (32 * s - 0.5) / 0.5 + 3.0 * (95 * s - 1.5) / 0.5;
    cr_assert_float_eq(dgamma, want, 1e-5, "dgamma %g, want %g", dgamma, want);
}

/* tau 1, one sequence of 3 tokens in 2 dimensions:
 *   s = (1,0) (0,1) (1,1)    t = (1,0) (0,1) (-1,0)
 *   cos(s1, t) = 1, 0, -1            loss1 = log(1 + e^-1 + e^-2)        = 0.407606
 *   cos(s2, t) = 0, 1, 0             loss2 = log(1 + 2 e^-1)             = 0.551445
 *   cos(s3, t) = .7071 .7071 -.7071  loss3 = log(1 + 2 e^(2 x .7071))    = 2.222078
 *   mean = 1.060376 */
Test(qat, contrastive_loss_on_a_hand_worked_example)
{
    const float s[6] = {1, 0, 0, 1, 1, 1}, t[6] = {1, 0, 0, 1, -1, 0};
    const double l1 = log(1 + exp(-1.0) + exp(-2.0)), l2 = log(1 + 2 * exp(-1.0)), l3 = log(1 + 2 * exp(2 * sqrt(0.5)));
    cr_assert_float_eq(l1 + l2 + l3, 3 * 1.060376, 1e-5);
    cr_assert_float_eq(token_contrastive_loss(s, t, 1, 3, 2, 1.0f, NULL), (l1 + l2 + l3) / 3, 1e-6);
    /* two sequences: negatives stay within each; the same three tokens twice give the same mean */
    float s2[12], t2[12];
    memcpy(s2, s, sizeof s), memcpy(s2 + 6, s, sizeof s), memcpy(t2, t, sizeof t), memcpy(t2 + 6, t, sizeof t);
    cr_assert_float_eq(token_contrastive_loss(s2, t2, 2, 3, 2, 1.0f, NULL), (l1 + l2 + l3) / 3, 1e-6);
    /* identical states at tau 0.1: each positive dominates; the loss falls toward 0 */
    cr_assert_lt(token_contrastive_loss(t, t, 1, 3, 2, 0.1f, NULL), 0.01);
}

typedef struct {
    float *s, *t;
    int B, T, D;
    float tau;
} contrastive_ctx;

static double contrastive_value(void *p)
{
    contrastive_ctx *c = p;
    return token_contrastive_loss(c->s, c->t, c->B, c->T, c->D, c->tau, NULL);
}

Test(qat, contrastive_gradient_matches_finite_differences)
{
    cpet_rng r;
    rng_seed(&r, 5);
    contrastive_ctx c = {.B = 2, .T = 4, .D = 6, .tau = 0.3f};
    const size_t n = (size_t)c.B * c.T * c.D;
    c.s = malloc(n * sizeof(float)), c.t = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float));
    fill_normal(c.s, n, 1.0f, &r), fill_normal(c.t, n, 1.0f, &r);
    token_contrastive_loss(c.s, c.t, c.B, c.T, c.D, c.tau, g);
    cr_assert_lt(fd_check(contrastive_value, &c, c.s, g, n, 1e-2f, 4, 9), 2e-3);
    free(c.s), free(c.t), free(g);
}

/* the quantized model's cross-entropy on the calibration rows */
static double calib_loss(model *m, const calib_data *cal)
{
    cpet_err err;
    const int T = cal->seq - 1;
    int *ids = malloc((size_t)cal->rows * T * sizeof(int)), *tg = malloc((size_t)cal->rows * T * sizeof(int));
    for (int b = 0; b < cal->rows; b++) {
        memcpy(ids + (size_t)b * T, cal->ids + (size_t)b * cal->seq, (size_t)T * sizeof(int));
        memcpy(tg + (size_t)b * T, cal->ids + (size_t)b * cal->seq + 1, (size_t)T * sizeof(int));
    }
    cr_assert_eq(model_forward(m, ids, tg, cal->rows, T, &err), 0, "%s", err.msg);
    free(ids), free(tg);
    return m->loss;
}

Test(qat, a_short_run_beats_rtn_on_its_training_text)
{
    cpet_err err;
    model_config c = qat_config();
    calib_data cal = some_calib(c.vocab_size, 16, 24, 11);
    model a, b;
    cr_assert_eq(model_create(&a, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(model_create(&b, &c, &err), 0, "%s", err.msg);
    model_init_random(&a, 0.3f, 8);
    memcpy(b.params, a.params, a.n_params * sizeof(float));
    compress_options o = {.group = 32, .train = compress_training_defaults()};
    o.train.steps = 40, o.train.lr = 3e-3f, o.train.batch = 4;
    json_t *log = json_object();
    o.log = log;
    cr_assert_eq(compress_model(&a, "qat-q4_0", &o, &cal, &err), 0, "%s", err.msg);
    cr_assert_eq(compress_model(&b, "q4_0", &o, &cal, &err), 0, "%s", err.msg);
    const double qat = calib_loss(&a, &cal), rtn = calib_loss(&b, &cal);
    cr_assert_lt(qat, rtn - 0.1, "QAT %.4f vs RTN %.4f", qat, rtn);
    cr_assert_eq(json_array_size(json_object_get(log, "qat_loss")), 40);
    cr_assert_eq(json_array_size(json_object_get(log, "qat_gamma")), (size_t)c.n_layers * LIN_PER_LAYER);
    json_decref(log);
    model_free(&a), model_free(&b);
    free((void *)cal.ids);
}
