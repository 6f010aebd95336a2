/* Finite-difference gradient checks: each layer op, LoRA, cross-entropy, and whole models of several
 * shapes (GQA/MHA, each activation, tied embeddings, other RoPE thetas) through the same code path. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "distill.h"
#include "helpers.h"
#include "linear.h"
#include "lora.h"
#include "loretta.h"
#include "model.h"
#include "ops.h"
#include "prosparse.h"
#include "recovery.h"
#include "tensor.h"

#define FD_TOL 2e-3
/* Whole-model step: small enough that ReLU pre-activations rarely cross their kink (the FD error grows
 * linearly with h there: 2% at 2e-2, within 5e-3 at 1e-3), large enough for f32 rounding. */
#define FD_MODEL_H 1e-3f

static float *randn(size_t n, float std, cpet_rng *r)
{
    float *x = cpet_alloc_floats(n);
    fill_normal(x, n, std, r);
    return x;
}

/* The checker itself: f(x) = 1e-3 |x|^2 / 2, gradient 1e-3 x, small next to FD_TOL. The right gradient passes;
 * an all-zero one and one ten times too small fail, though |fd - <g,u>| is then under FD_TOL in absolute terms. */
typedef struct {
    float x[8];
} small_quadratic;

static double small_quadratic_loss(void *ctx)
{
    const small_quadratic *q = ctx;
    double s = 0;
    for (int i = 0; i < 8; i++) s += (double)q->x[i] * q->x[i];
    return 5e-4 * s;
}

Test(gradcheck, the_checker_fails_a_zero_or_far_too_small_gradient)
{
    small_quadratic q = {{0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f, -2.0f, 1.0f}};
    float g[8], zero[8] = {0}, small[8];
    for (int i = 0; i < 8; i++) g[i] = 1e-3f * q.x[i], small[i] = 1e-4f * q.x[i];
    cr_assert_lt(fd_check(small_quadratic_loss, &q, q.x, g, 8, 1e-2f, 4, 1), FD_TOL);
    cr_assert_gt(fd_check(small_quadratic_loss, &q, q.x, zero, 8, 1e-2f, 4, 1), FD_TOL);
    cr_assert_gt(fd_check(small_quadratic_loss, &q, q.x, small, 8, 1e-2f, 4, 1), FD_TOL);
    cr_assert_float_eq(q.x[3], 2.0f, 0, "x restored");
}

/* Each parameter's gradient against finite differences (k random entries, seeds seed, seed + 1, ...). */
typedef struct {
    const char *what;
    float *x;
    const float *g;
    size_t n;
} fd_param;

static void expect_fd(loss_fn f, void *ctx, const fd_param *ps, int n, float h, int k, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        const double e = fd_check(f, ctx, ps[i].x, ps[i].g, ps[i].n, h, k, seed + (uint64_t)i);
        cr_expect_lt(e, FD_TOL, "%s error %.3g", ps[i].what, e);
    }
}

static double weighted_sum(const float *out, const float *w, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * w[i];
    return s;
}

/* ---- RMSNorm ---- */
typedef struct {
    int N, D;
    float *x, *w, *out, *rstd, *R;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->D, 1e-5f);
    return weighted_sum(c->out, c->R, (size_t)c->N * c->D);
}

Test(gradcheck, rmsnorm)
{
    cpet_rng r;
    rng_seed(&r, 1);
    norm_ctx c = {.N = 6, .D = 16};
    size_t n = (size_t)c.N * c.D;
    c.x = randn(n, 1, &r);
    c.w = randn((size_t)c.D, 1, &r);
    c.R = randn(n, 1, &r);
    c.out = cpet_alloc_floats(n);
    c.rstd = cpet_alloc_floats((size_t)c.N);
    float *dx = cpet_alloc_floats(n), *dw = cpet_alloc_floats((size_t)c.D);
    norm_loss(&c);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.D);
    double ex = fd_check(norm_loss, &c, c.x, dx, n, 1e-2f, 4, 11);
    double ew = fd_check(norm_loss, &c, c.w, dw, (size_t)c.D, 1e-2f, 4, 12);
    cr_expect_lt(ex, FD_TOL, "dx error %.3g", ex);
    cr_expect_lt(ew, FD_TOL, "dw error %.3g", ew);
    cpet_free(dw);
    cpet_free(dx);
    cpet_free(c.rstd);
    cpet_free(c.out);
    cpet_free(c.R);
    cpet_free(c.w);
    cpet_free(c.x);
}

/* ---- RoPE + causal attention (GQA and MHA) ---- */
typedef struct {
    int B, T, H, KV, hd;
    float *q, *k, *v, *qr, *kr, *out, *att, *R, *cos_t, *sin_t;
} attn_ctx;

static double attn_loss(void *p)
{
    attn_ctx *c = p;
    size_t nq = (size_t)c->B * c->T * c->H * c->hd, nk = (size_t)c->B * c->T * c->KV * c->hd;
    memcpy(c->qr, c->q, nq * sizeof(float));
    memcpy(c->kr, c->k, nk * sizeof(float));
    rope_forward(c->qr, c->cos_t, c->sin_t, c->B * c->T, c->T, 0, c->H, c->hd);
    rope_forward(c->kr, c->cos_t, c->sin_t, c->B * c->T, c->T, 0, c->KV, c->hd);
    attention_forward(c->out, c->att, c->qr, c->kr, c->v, c->B, c->T, c->H, c->KV, c->hd);
    return weighted_sum(c->out, c->R, nq);
}

static void check_attention(int H, int KV, float theta)
{
    cpet_rng r;
    rng_seed(&r, 2);
    attn_ctx c = {.B = 2, .T = 7, .H = H, .KV = KV, .hd = 8};
    size_t nq = (size_t)c.B * c.T * H * c.hd, nk = (size_t)c.B * c.T * KV * c.hd;
    c.q = randn(nq, 1, &r);
    c.k = randn(nk, 1, &r);
    c.v = randn(nk, 1, &r);
    c.R = randn(nq, 1, &r);
    c.qr = cpet_alloc_floats(nq);
    c.kr = cpet_alloc_floats(nk);
    c.out = cpet_alloc_floats(nq);
    c.att = cpet_alloc_floats((size_t)c.B * H * c.T * c.T);
    c.cos_t = cpet_alloc_floats((size_t)c.T * c.hd / 2);
    c.sin_t = cpet_alloc_floats((size_t)c.T * c.hd / 2);
    rope_tables(c.cos_t, c.sin_t, c.T, c.hd, theta);
    float *dq = cpet_alloc_floats(nq), *dk = cpet_alloc_floats(nk), *dv = cpet_alloc_floats(nk),
          *scratch = cpet_alloc_floats((size_t)64 * c.T * c.T);
    attn_loss(&c);
    attention_backward(dq, dk, dv, scratch, c.R, c.att, c.qr, c.kr, c.v, c.B, c.T, H, KV, c.hd);
    rope_backward(dq, c.cos_t, c.sin_t, c.B * c.T, c.T, 0, H, c.hd);
    rope_backward(dk, c.cos_t, c.sin_t, c.B * c.T, c.T, 0, KV, c.hd);
    double eq = fd_check(attn_loss, &c, c.q, dq, nq, 1e-2f, 4, 21);
    double ek = fd_check(attn_loss, &c, c.k, dk, nk, 1e-2f, 4, 22);
    double ev = fd_check(attn_loss, &c, c.v, dv, nk, 1e-2f, 4, 23);
    cr_expect_lt(eq, FD_TOL, "H=%d KV=%d dq error %.3g", H, KV, eq);
    cr_expect_lt(ek, FD_TOL, "H=%d KV=%d dk error %.3g", H, KV, ek);
    cr_expect_lt(ev, FD_TOL, "H=%d KV=%d dv error %.3g", H, KV, ev);
    cpet_free(scratch);
    cpet_free(dv);
    cpet_free(dk);
    cpet_free(dq);
    cpet_free(c.sin_t);
    cpet_free(c.cos_t);
    cpet_free(c.att);
    cpet_free(c.out);
    cpet_free(c.kr);
    cpet_free(c.qr);
    cpet_free(c.R);
    cpet_free(c.v);
    cpet_free(c.k);
    cpet_free(c.q);
}

Test(gradcheck, rope_attention_gqa) { check_attention(4, 2, 10000.0f); }
Test(gradcheck, rope_attention_mha_other_theta) { check_attention(3, 3, 500000.0f); }
Test(gradcheck, rope_attention_multi_query) { check_attention(4, 1, 10000.0f); }

Test(gradcheck, attention_is_causal)
{
    /* changing a later token's k/v must not change earlier outputs */
    cpet_rng r;
    rng_seed(&r, 3);
    int B = 1, T = 6, H = 2, hd = 8;
    size_t n = (size_t)B * T * H * hd;
    float *q = randn(n, 1, &r), *k = randn(n, 1, &r), *v = randn(n, 1, &r);
    float *o1 = cpet_alloc_floats(n), *o2 = cpet_alloc_floats(n), *att = cpet_alloc_floats((size_t)H * T * T);
    attention_forward(o1, att, q, k, v, B, T, H, H, hd);
    for (int i = 0; i < H * hd; i++) {
        k[(size_t)(T - 1) * H * hd + i] += 1.0f;
        v[(size_t)(T - 1) * H * hd + i] += 1.0f;
    }
    attention_forward(o2, att, q, k, v, B, T, H, H, hd);
    cr_assert_eq(memcmp(o1, o2, (size_t)(T - 1) * H * hd * sizeof(float)), 0);
    cr_assert_neq(memcmp(o1, o2, n * sizeof(float)), 0);
    cpet_free(att);
    cpet_free(o2);
    cpet_free(o1);
    cpet_free(v);
    cpet_free(k);
    cpet_free(q);
}

/* ---- gated FFN activation, each kind ---- */
typedef struct {
    size_t n;
    activation act;
    float *g, *u, *h, *R;
} ffn_ctx;

static double ffn_loss(void *p)
{
    ffn_ctx *c = p;
    gated_act_forward(c->h, c->g, c->u, c->n, c->act, 0.05f);
    return weighted_sum(c->h, c->R, c->n);
}

ParameterizedTestParameters(gradcheck, gated_activation)
{
    static activation acts[] = {ACT_SILU, ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_FATRELU};
    return cr_make_param_array(activation, acts, sizeof acts / sizeof acts[0]);
}

ParameterizedTest(activation *act, gradcheck, gated_activation)
{
    cpet_rng r;
    rng_seed(&r, 4);
    ffn_ctx c = {.n = 200, .act = *act};
    c.g = randn(c.n, 1.5f, &r);
    for (size_t i = 0; i < c.n; i++) /* keep off the kinks of relu / fatrelu, where no derivative exists */
        if (fabsf(c.g[i]) < 0.05f || fabsf(c.g[i] - 0.05f) < 0.05f) c.g[i] += 0.2f;
    c.u = randn(c.n, 1, &r);
    c.R = randn(c.n, 1, &r);
    c.h = cpet_alloc_floats(c.n);
    float *dg = cpet_alloc_floats(c.n), *du = cpet_alloc_floats(c.n);
    ffn_loss(&c);
    gated_act_backward(dg, du, c.R, NULL, c.g, c.u, c.n, c.act, 0.05f);
    double eg = fd_check(ffn_loss, &c, c.g, dg, c.n, 1e-3f, 4, 31);
    double eu = fd_check(ffn_loss, &c, c.u, du, c.n, 1e-3f, 4, 32);
    cr_expect_lt(eg, FD_TOL, "%s: dgate error %.3g", activation_name(c.act), eg);
    cr_expect_lt(eu, FD_TOL, "%s: dup error %.3g", activation_name(c.act), eu);
    cpet_free(du);
    cpet_free(dg);
    cpet_free(c.h);
    cpet_free(c.R);
    cpet_free(c.u);
    cpet_free(c.g);
}

/* ---- linear + LoRA branch ---- */
typedef struct {
    int n;
    linear lin;
    float *x, *y, *R, *scratch;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    linear_forward(&c->lin, c->x, c->y, c->n, c->scratch);
    return weighted_sum(c->y, c->R, (size_t)c->n * c->lin.out);
}

/* A one-linear check's inputs for l as it stands (its branches included): x [n, in], weights R [n, out] of
 * the loss, y and scratch; runs one forward and backward and returns dx (parameter gradients are in place). */
static float *lin_ctx_ready(lin_ctx *c, const linear *l, int n, cpet_rng *r)
{
    *c = (lin_ctx){.n = n, .lin = *l};
    size_t nx = (size_t)n * l->in, ny = (size_t)n * l->out;
    c->x = randn(nx, 1, r);
    c->R = randn(ny, 1, r);
    c->y = cpet_alloc_floats(ny);
    c->scratch = cpet_alloc_floats((size_t)n * linear_scratch_per_row(l));
    float *dx = cpet_alloc_floats(nx);
    lin_loss(c);
    linear_backward(&c->lin, c->x, c->R, dx, n, c->scratch);
    return dx;
}

/* frees what lin_ctx_ready allocated, dx included */
static void lin_ctx_free(lin_ctx *c, float *dx)
{
    cpet_free(dx);
    cpet_free(c->scratch);
    cpet_free(c->y);
    cpet_free(c->R);
    cpet_free(c->x);
}

Test(gradcheck, linear_with_lora_branch)
{
    /* build a one-linear "model" through the public LoRA API: the fixture model's layer-0 q_proj */
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 5);
    cr_assert_eq(model_set_trainable(&m, "layers.0.self_attn.q_proj", 1, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 3, 6.0f, 0, targets, 1, 7, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 6);
    fill_normal(ad.mods[0].B->p, ad.mods[0].B->n, 0.5f, &r); /* B = 0 at init would hide dA */
    cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    lin_ctx c;
    float *dx = lin_ctx_ready(&c, &m.layers[0].lin[LIN_Q], 5, &r);
    const size_t nx = (size_t)c.n * c.lin.in;
    lora_module *lm = &ad.mods[0];
    const fd_param ps[] = {
        {"dx", c.x, dx, nx},
        {"dW", c.lin.w, c.lin.dw, (size_t)c.lin.in * c.lin.out},
        {"dA", lm->A->p, lm->A->g, lm->A->n},
        {"dB", lm->B->p, lm->B->g, lm->B->n},
    };
    expect_fd(lin_loss, &c, ps, 4, 1e-2f, 4, 41);
    lin_ctx_free(&c, dx);
    lora_free(&ad);
    model_free(&m);
}

/* LoRETTA on one linear: rep (parallel, q_proj), adp on the input (gate_proj) and on the output (down_proj).
 * dx, the base's dW (which sees x' for an input adapter) and every core and bias against finite differences. */
static void check_loretta(int variant, const char *target, int output, int lin, uint64_t seed)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 5);
    char mod[64];
    snprintf(mod, sizeof mod, "layers.0.%s.%s", lin == LIN_DOWN || lin == LIN_GATE ? "mlp" : "self_attn", target);
    cr_assert_eq(model_set_trainable(&m, mod, 1, &err), 0, "%s", err.msg);
    loretta_config lc = loretta_defaults(variant);
    lc.rank = 4, lc.bottleneck = 8, lc.tt_rank = 3;
    lc.n_targets = lc.n_output_targets = 0;
    snprintf(output ? lc.output_targets[lc.n_output_targets++] : lc.targets[lc.n_targets++], 64, "%s", mod);
    loretta_adapter ad;
    cr_assert_eq(loretta_create(&ad, &m, &lc, seed, &err), 0, "%s", err.msg);
    cr_assert_eq(ad.n_mods, 1);
    cpet_rng r;
    rng_seed(&r, seed + 1);
    if (variant == LORETTA_ADP) /* nonzero biases: their gradients must show */
        for (int i = 2; i < 4; i++) fill_normal(ad.tensors[i].p, ad.tensors[i].n, 0.3f, &r);
    cr_assert_eq(loretta_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    lin_ctx c;
    float *dx = lin_ctx_ready(&c, &m.layers[0].lin[lin], 5, &r);
    if (variant == LORETTA_ADP) {
        /* ReLU's kink would make finite differences wrong by chance: the down biases put every unit's
         * pre-activation at least 0.5 from 0 for these inputs, half the units on, half off; then again */
        loretta_module *lm = &ad.mods[0];
        const size_t nu = (size_t)c.n * lm->in;
        float *u = cpet_alloc_floats(nu), *wd = cpet_alloc_floats((size_t)lm->in * lm->inner), *work = cpet_alloc_floats(tt_scratch(&lm->down) + 1);
        if (output) {
            loretta_detach(&ad);
            linear_forward(&c.lin, c.x, u, c.n, c.scratch);
            loretta_attach(&ad);
        } else
            memcpy(u, c.x, nu * sizeof *u);
        tt_materialize(&lm->down, wd, work);
        for (int k = 0; k < lm->inner; k++) {
            double lo = INFINITY, hi = -INFINITY;
            for (int i = 0; i < c.n; i++) {
                double p = 0;
                for (int j = 0; j < lm->in; j++) p += (double)u[(size_t)i * lm->in + j] * wd[(size_t)j * lm->inner + k];
                lo = fmin(lo, p), hi = fmax(hi, p);
            }
            lm->t_bias_down->p[k] = (float)(k % 2 ? -0.5 - hi : 0.5 - lo);
        }
        cpet_free(u), cpet_free(wd), cpet_free(work);
        loretta_zero_grad(&ad);
        memset(c.lin.dw, 0, (size_t)c.lin.in * c.lin.out * sizeof(float));
        memset(dx, 0, (size_t)c.n * c.lin.in * sizeof(float));
        lin_loss(&c);
        linear_backward(&c.lin, c.x, c.R, dx, c.n, c.scratch);
    }
    fd_param ps[8] = {{"dx", c.x, dx, (size_t)c.n * c.lin.in}, {"dW", c.lin.w, c.lin.dw, (size_t)c.lin.in * c.lin.out}};
    int n = 2;
    for (int i = 0; i < ad.n_tensors; i++) ps[n++] = (fd_param){ad.tensors[i].name, ad.tensors[i].p, ad.tensors[i].g, ad.tensors[i].n};
    expect_fd(lin_loss, &c, ps, n, 1e-2f, 4, seed + 2);
    lin_ctx_free(&c, dx);
    loretta_free(&ad);
    model_free(&m);
}

Test(gradcheck, linear_with_loretta_rep) { check_loretta(LORETTA_REP, "q_proj", 0, LIN_Q, 51); }
Test(gradcheck, linear_with_loretta_adapter_on_its_input) { check_loretta(LORETTA_ADP, "gate_proj", 0, LIN_GATE, 61); }
Test(gradcheck, linear_with_loretta_adapter_on_its_output) { check_loretta(LORETTA_ADP, "down_proj", 1, LIN_DOWN, 71); }

/* MoSLoRA: y += s B M A x; dx, dA, dB and the mixer's dM against finite differences */
Test(gradcheck, linear_with_moslora_mixer)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 5);
    const char *targets[] = {"o_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create_mixed(&ad, &m, 3, 6.0f, 0, LORA_MIXER_TRAINED, targets, 1, 7, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 9);
    fill_normal(ad.mods[0].B->p, ad.mods[0].B->n, 0.5f, &r);
    cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    lin_ctx c;
    float *dx = lin_ctx_ready(&c, &m.layers[0].lin[LIN_O], 5, &r);
    const size_t nx = (size_t)c.n * c.lin.in;
    lora_module *lm = &ad.mods[0];
    const fd_param ps[] = {
        {"dx", c.x, dx, nx},
        {"dA", lm->A->p, lm->A->g, lm->A->n},
        {"dB", lm->B->p, lm->B->g, lm->B->n},
        {"dM", lm->M->p, lm->M->g, lm->M->n},
    };
    expect_fd(lin_loss, &c, ps, 4, 1e-2f, 4, 61);
    lin_ctx_free(&c, dx);
    lora_free(&ad);
    model_free(&m);
}

/* CA-LoRA's recovery branch beside a LoRA on the same linear: a no-op at init, then every gradient
 * (x, a1, a2, and the LoRA's A, B through the shared output) against finite differences */
Test(gradcheck, linear_with_lora_and_recovery_branches)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 5);
    cpet_rng r;
    rng_seed(&r, 8);
    const linear *v = &m.layers[0].lin[LIN_V];
    const size_t nx = (size_t)5 * v->in, ny = (size_t)5 * v->out;
    float *x = randn(nx, 1, &r), *before = cpet_alloc_floats(ny), *after = cpet_alloc_floats(ny);
    linear_forward(v, x, before, 5, NULL);
    const char *targets[] = {"v_proj"};
    lora_adapter ad;
    recovery_set rs;
    cr_assert_eq(lora_create(&ad, &m, 3, 6.0f, 0, targets, 1, 7, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_create(&rs, &m, 4, 8.0f, targets, 1, 9, &err), 0, "%s", err.msg);
    cr_assert_eq(rs.n_mods, 2, "v_proj of both layers");
    float *scratch = cpet_alloc_floats((size_t)5 * linear_scratch_per_row(v));
    linear_forward(v, x, after, 5, scratch); /* now with both branches */
    cr_assert_eq(memcmp(before, after, ny * sizeof(float)), 0, "LoRA (B = 0) and recovery (a2 = 0) add nothing at init");
    fill_normal(ad.mods[0].B->p, ad.mods[0].B->n, 0.5f, &r); /* zeros would hide the other factor's gradient */
    fill_normal(rs.mods[0].a2->p, rs.mods[0].a2->n, 0.5f, &r);
    cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_set_trainable(&rs, 1, &err), 0, "%s", err.msg);
    lin_ctx c;
    float *dx = lin_ctx_ready(&c, v, 5, &r);
    recovery_module *rm = &rs.mods[0];
    lora_module *lm = &ad.mods[0];
    const fd_param ps[] = {
        {"dx", c.x, dx, nx},
        {"da1", rm->a1->p, rm->a1->g, rm->a1->n},
        {"da2", rm->a2->p, rm->a2->g, rm->a2->n},
        {"dA", lm->A->p, lm->A->g, lm->A->n},
        {"dB", lm->B->p, lm->B->g, lm->B->n},
    };
    expect_fd(lin_loss, &c, ps, 5, 1e-2f, 4, 51);
    lin_ctx_free(&c, dx);
    cpet_free(scratch);
    cpet_free(after);
    cpet_free(before);
    cpet_free(x);
    recovery_free(&rs);
    lora_free(&ad);
    model_free(&m);
}

/* CA-LoRA's training loss on a whole model: CE + w * MSE(final hidden, a teacher's), through LoRA and
 * recovery branches; the distillation term enters backward through the d_final_hidden tap */
typedef struct {
    model *m;
    const int *ids;
    const float *teacher;
    float w, *grad;
} distill_ctx;

static double distill_loss(void *p)
{
    distill_ctx *c = p;
    cpet_err err;
    cr_assert_eq(model_forward(c->m, c->ids, c->ids + 1, 1, 8, &err), 0, "%s", err.msg);
    return (double)c->m->loss + distill_hidden_mse(c->m, c->teacher, c->w, c->grad);
}

Test(gradcheck, calora_loss_with_hidden_state_distillation)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 21);
    const char *lt[] = {"q_proj"}, *rt[] = {"v_proj", "down_proj"};
    lora_adapter ad;
    recovery_set rs;
    cr_assert_eq(lora_create(&ad, &m, 2, 4.0f, 0, lt, 1, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_create(&rs, &m, 3, 6.0f, rt, 2, 4, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 22);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.3f, &r);
    for (int i = 0; i < rs.n_mods; i++) fill_normal(rs.mods[i].a2->p, rs.mods[i].a2->n, 0.3f, &r);
    cr_assert_eq(lora_set_trainable(&ad, 1, &err) || recovery_set_trainable(&rs, 1, &err), 0, "%s", err.msg);
    int ids[9];
    for (int i = 0; i < 9; i++) ids[i] = (i * 7 + 3) % cfg.vocab_size;
    float *teacher = randn((size_t)8 * cfg.hidden_size, 1.0f, &r), *grad = cpet_alloc_floats((size_t)8 * cfg.hidden_size);
    distill_ctx c = {&m, ids, teacher, 0.5f, grad};
    double with = distill_loss(&c);
    cr_assert_gt(with, m.loss, "the distillation term adds to the task loss");
    lora_zero_grad(&ad);
    recovery_zero_grad(&rs);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    const lora_module *lm = &ad.mods[0];
    const recovery_module *rm = &rs.mods[1];
    const fd_param ps[] = {
        {"LoRA dA", lm->A->p, lm->A->g, lm->A->n},
        {"recovery da1", rm->a1->p, rm->a1->g, rm->a1->n},
        {"recovery da2", rm->a2->p, rm->a2->g, rm->a2->n},
    };
    expect_fd(distill_loss, &c, ps, 3, 1e-2f, 4, 71);
    cr_assert_eq(distill_hidden_mse(&m, teacher, 0.0f, grad), 0.0);
    cr_assert_null(m.taps.d_final_hidden, "w = 0 clears the tap");
    cpet_free(grad);
    cpet_free(teacher);
    recovery_free(&rs);
    lora_free(&ad);
    model_free(&m);
}

/* ---- ProSparse: LM loss + lambda * sum_l mean_tokens ||x1||_1, entering backward through d_ffn_x1 ---- */
typedef struct {
    model *m;
    const int *ids;
    prosparse_l1 *r;
} l1_ctx;

static double l1_loss(void *p)
{
    l1_ctx *c = p;
    cpet_err err;
    cr_assert_eq(model_forward(c->m, c->ids, c->ids + 1, 1, 8, &err), 0, "%s", err.msg);
    return (double)c->m->loss + prosparse_l1_term(c->m, c->r, &err);
}

Test(gradcheck, prosparse_l1_regulariser_on_the_gated_product)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f); /* smooth: |x1| has its kink only at x1 = 0 */
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 31);
    cr_assert_eq(model_set_trainable(&m, "mlp", 1, &err), 0, "%s", err.msg);
    int ids[9];
    for (int i = 0; i < 9; i++) ids[i] = (i * 5 + 2) % cfg.vocab_size;
    prosparse_l1 r = {.lambda = 0.05};
    l1_ctx c = {&m, ids, &r};
    const double with = l1_loss(&c);
    cr_assert_gt(r.last, 0.05 * m.loss / 100, "the term is on");
    cr_assert_float_eq(with, m.loss + r.last, 1e-9);
    /* the term by hand: lambda x sum |x1| / tokens */
    double by_hand = 0;
    for (size_t i = 0; i < (size_t)cfg.n_layers * 8 * cfg.intermediate_size; i++) by_hand += fabs(m.acts.h[i]);
    cr_assert_float_eq(r.last, 0.05 * by_hand / 8, 1e-9 * by_hand);
    model_zero_grad(&m);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    const linear *gate = &m.layers[0].lin[LIN_GATE], *up = &m.layers[1].lin[LIN_UP], *down = &m.layers[0].lin[LIN_DOWN];
    const fd_param ps[] = {
        {"layer 0 gate", gate->w, gate->dw, (size_t)gate->out * gate->in},
        {"layer 1 up", up->w, up->dw, (size_t)up->out * up->in},
        {"layer 0 down", down->w, down->dw, (size_t)down->out * down->in},
    };
    expect_fd(l1_loss, &c, ps, 3, FD_MODEL_H, 6, 81);
    r.lambda = 0;
    cr_assert_eq(l1_loss(&c), (double)m.loss, "lambda 0: no term");
    for (int l = 0; l < cfg.n_layers; l++) cr_assert_null(m.taps.d_ffn_x1[l], "and no tap");
    prosparse_l1_free(&r, &m);
    model_free(&m);
}

/* ---- cross-entropy ---- */
typedef struct {
    int N, V, *targets, count;
    float *logits, *lse;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    return cross_entropy_forward(c->lse, c->logits, c->targets, c->N, c->V, &c->count);
}

Test(gradcheck, cross_entropy_with_ignored_positions)
{
    cpet_rng r;
    rng_seed(&r, 8);
    ce_ctx c = {.N = 6, .V = 11};
    int targets[6] = {3, -1, 0, 10, -1, 5};
    c.targets = targets;
    c.logits = randn((size_t)c.N * c.V, 2, &r);
    c.lse = cpet_alloc_floats((size_t)c.N);
    float *d = cpet_alloc_floats((size_t)c.N * c.V);
    ce_loss(&c);
    cr_assert_eq(c.count, 4);
    cross_entropy_backward(d, c.logits, c.lse, c.targets, c.N, c.V, 1.0f / (float)c.count);
    for (int j = 0; j < c.V; j++) cr_assert_eq(d[c.V + j], 0.0f, "ignored rows get no gradient");
    double e = fd_check(ce_loss, &c, c.logits, d, (size_t)c.N * c.V, 1e-2f, 4, 51);
    cr_expect_lt(e, FD_TOL, "dlogits error %.3g", e);
    cpet_free(d);
    cpet_free(c.lse);
    cpet_free(c.logits);
}

/* ---- whole models: every tensor, several configurations ---- */
typedef struct {
    int heads, kv_heads;
    activation act;
    int tied;
    float theta;
    int with_lora; /* LoRA attached and trained together with the base */
} model_case;

typedef struct {
    model *m;
    int *ids, B, T;
} model_ctx;

static double model_loss(void *p)
{
    model_ctx *c = p;
    cpet_err err;
    model_forward(c->m, c->ids, NULL, c->B, c->T, &err);
    return c->m->loss;
}

ParameterizedTestParameters(gradcheck, whole_model)
{
    static model_case cases[] = {
        {4, 2, ACT_SILU, 0, 10000.0f, 0},       /* GQA, like the fixture */
        {4, 4, ACT_RELU, 0, 10000.0f, 0},       /* MHA + ReLU */
        {2, 1, ACT_GELU, 1, 10000.0f, 0},       /* tied embeddings + GELU */
        {4, 2, ACT_GELU_TANH, 0, 500000.0f, 0}, /* LLaMA-3 rope theta */
        {4, 2, ACT_SILU, 1, 1000000.0f, 1},     /* base and LoRA trained together */
    };
    return cr_make_param_array(model_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(model_case *mc, gradcheck, whole_model)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(mc->heads, mc->kv_heads, mc->act, mc->tied, mc->theta);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 9);
    cpet_rng r;
    rng_seed(&r, 10);
    for (int i = 0; i < m.n_tensors; i++) /* non-trivial norm weights */
        if (m.tensors[i].ndim == 1)
            for (size_t j = 0; j < m.tensors[i].n; j++) m.tensors[i].p[j] = 1.0f + 0.3f * rng_normal(&r);
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    lora_adapter ad;
    memset(&ad, 0, sizeof ad);
    if (mc->with_lora) {
        const char *t[] = {"all-linear"};
        cr_assert_eq(lora_create(&ad, &m, 2, 4.0f, 1, t, 1, 3, &err), 0, "%s", err.msg);
        for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.3f, &r);
        cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    }
    model_ctx c = {.m = &m, .B = 2, .T = 9};
    int ids[18];
    for (int i = 0; i < 18; i++) ids[i] = (int)(rng_next(&r) % (uint64_t)cfg.vocab_size);
    c.ids = ids;
    cr_assert_eq(model_forward(&m, ids, NULL, c.B, c.T, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    for (int i = 0; i < m.n_tensors; i++) {
        param_tensor *t = &m.tensors[i];
        double e = fd_check(model_loss, &c, t->p, t->g, t->n, FD_MODEL_H, 2, 60 + i);
        cr_expect_lt(e, 5e-3, "%s (act %s, tied %d): error %.3g", t->name, activation_name(mc->act), mc->tied, e);
    }
    for (int i = 0; i < ad.n_tensors; i++) {
        param_tensor *t = &ad.tensors[i];
        double e = fd_check(model_loss, &c, t->p, t->g, t->n, FD_MODEL_H, 2, 90 + i);
        cr_expect_lt(e, 5e-3, "%s: error %.3g", t->name, e);
    }
    lora_free(&ad);
    model_free(&m);
}

/* ---- a classification head over the final hidden state at a position, no LM loss (classify.h) ---- */
typedef struct {
    model *m;
    class_head *h;
    const int *ids, *pos, *labels;
    float *grad;
} cls_ctx;

static double cls_loss(void *p)
{
    cls_ctx *c = p;
    cpet_err err;
    int none[2 * 8];
    for (int i = 0; i < 16; i++) none[i] = -1;
    cr_assert_eq(model_forward(c->m, c->ids, none, 2, 8, &err), 0, "%s", err.msg);
    memset(c->h->dw, 0, (size_t)c->h->n_classes * c->h->hidden * sizeof(float));
    memset(c->h->db, 0, (size_t)c->h->n_classes * sizeof(float));
    if (c->h->align) {
        memset(c->h->align->dw, 0, (size_t)c->h->hidden * c->h->hidden * sizeof(float));
        memset(c->h->align->db, 0, (size_t)c->h->hidden * sizeof(float));
    }
    const double loss = classify_loss(c->m, c->h, c->pos, c->labels, 2, NULL, c->grad, &err);
    cr_assert(isfinite(loss), "%s", err.msg);
    return loss;
}

Test(gradcheck, classification_head_at_a_position_without_lm_loss)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 41);
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    class_head h;
    cr_assert_eq(class_head_init(&h, 5, cfg.hidden_size, 7, &err), 0, "%s", err.msg);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7 + 3) % cfg.vocab_size;
    const int pos[2] = {5, 7}, labels[2] = {3, 1};
    float *grad = malloc((size_t)16 * cfg.hidden_size * sizeof(float));
    cls_ctx c = {&m, &h, ids, pos, labels, grad};
    cls_loss(&c);
    model_zero_grad(&m);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    /* positions after the classified one cannot matter (causal): sequence 0's tokens 6 and 7 get no gradient */
    for (int d = 0; d < cfg.hidden_size; d++) cr_assert_eq(grad[6 * cfg.hidden_size + d], 0.0f);
    /* copies: the FD calls below recompute (and overwrite) the head's gradient */
    float *dw = malloc((size_t)5 * cfg.hidden_size * sizeof(float)), db[5];
    memcpy(dw, h.dw, (size_t)5 * cfg.hidden_size * sizeof(float)), memcpy(db, h.db, sizeof db);
    const linear *q = &m.layers[0].lin[LIN_Q], *down = &m.layers[1].lin[LIN_DOWN];
    const fd_param ps[] = {
        {"head weight", h.w, dw, (size_t)5 * cfg.hidden_size},
        {"head bias", h.b, db, 5},
        {"layer 0 q (through the hidden-state tap)", q->w, q->dw, (size_t)q->out * q->in},
        {"layer 1 down", down->w, down->dw, (size_t)down->out * down->in},
        {"final norm", m.final_norm, m.d_final_norm, (size_t)cfg.hidden_size},
    };
    expect_fd(cls_loss, &c, ps, 5, FD_MODEL_H, 6, 91);
    /* the LM head gets nothing: there is no LM loss */
    for (size_t i = 0; i < (size_t)cfg.vocab_size * cfg.hidden_size; i++) cr_assert_eq(m.lm_head.dw[i], 0.0f);
    m.taps.d_final_hidden = NULL;
    free(grad), free(dw);
    class_head_free(&h);
    model_free(&m);
}

/* EA-EMR's alignment layer between the hidden state and the head: the gradient reaches A, c and the model */
Test(gradcheck, classification_through_an_alignment_layer)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 43);
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    const int D = cfg.hidden_size;
    class_head h;
    feature_align al;
    cr_assert_eq(class_head_init(&h, 4, D, 9, &err), 0, "%s", err.msg);
    cr_assert_eq(feature_align_init(&al, D, &err), 0, "%s", err.msg);
    for (int i = 0; i < D * D; i++) al.w[i] += 0.2f * sinf(0.7f * i); /* away from the identity */
    for (int i = 0; i < D; i++) al.b[i] = 0.1f * cosf(1.3f * i);
    h.align = &al;
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 5 + 1) % cfg.vocab_size;
    const int pos[2] = {6, 3}, labels[2] = {0, 2};
    float *grad = malloc((size_t)16 * D * sizeof(float));
    cls_ctx c = {&m, &h, ids, pos, labels, grad};
    cls_loss(&c);
    model_zero_grad(&m);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    float *dw = malloc((size_t)4 * D * sizeof(float)), *dA = malloc((size_t)D * D * sizeof(float)), *dc = malloc((size_t)D * sizeof(float));
    memcpy(dw, h.dw, (size_t)4 * D * sizeof(float)), memcpy(dA, al.dw, (size_t)D * D * sizeof(float)), memcpy(dc, al.db, (size_t)D * sizeof(float));
    const linear *v = &m.layers[1].lin[LIN_V];
    const fd_param ps[] = {
        {"head weight", h.w, dw, (size_t)4 * D},
        {"alignment weight", al.w, dA, (size_t)D * D},
        {"alignment bias", al.b, dc, (size_t)D},
        {"layer 1 v (through the alignment)", v->w, v->dw, (size_t)v->out * v->in},
    };
    expect_fd(cls_loss, &c, ps, 4, FD_MODEL_H, 6, 93);
    m.taps.d_final_hidden = NULL;
    free(grad), free(dw), free(dA), free(dc);
    class_head_free(&h);
    feature_align_free(&al);
    model_free(&m);
}

/* The alignment fit (EA-EMR's update_alignment_model). One Adam step from the identity moves every
 * parameter by lr against the sign of its MSE gradient (Adam's first step is lr g / (|g| + eps)), the
 * gradient worked by hand; and many steps recover a known linear map. */
Test(gradcheck, the_alignment_fit_is_adam_on_the_mse)
{
    cpet_err err;
    enum { D = 3, N = 4 };
    const float x[N * D] = {1, 2, -1, 0.5f, -1, 2, -2, 0.25f, 1, 1.5f, 1, 0.5f};
    float t[N * D];
    for (int i = 0; i < N * D; i++) t[i] = x[i] + 0.3f * (float)((i * 7) % 5) - 0.6f;
    feature_align a;
    cr_assert_eq(feature_align_init(&a, D, &err), 0, "%s", err.msg);
    const double loss = feature_align_fit(&a, x, t, N, 1, N, 0.01f, 1, &err);
    /* at the identity y = x: dL/dA_ij = 2/(N D) sum_b (x_bi - t_bi) x_bj, dL/dc_i = 2/(N D) sum_b (x_bi - t_bi) */
    double want_loss = 0;
    for (int i = 0; i < N * D; i++) want_loss += (double)(x[i] - t[i]) * (x[i] - t[i]) / (N * D);
    cr_assert_float_eq(loss, want_loss, 1e-6);
    for (int i = 0; i < D; i++) {
        double gc = 0;
        for (int b = 0; b < N; b++) gc += 2.0 * (x[b * D + i] - t[b * D + i]) / (N * D);
        cr_assert_float_eq(a.b[i], -0.01 * (gc > 0 ? 1 : -1), 1e-6, "c[%d]", i);
        for (int j = 0; j < D; j++) {
            double g = 0;
            for (int b = 0; b < N; b++) g += 2.0 * (x[b * D + i] - t[b * D + i]) * x[b * D + j] / (N * D);
            cr_assert_float_eq(a.w[i * D + j], (i == j) - 0.01 * (g > 0 ? 1 : -1), 1e-6, "A[%d][%d] (gradient %g)", i, j, g);
        }
    }
    feature_align_free(&a);
    /* a known map: targets = x M^T + v over 64 random rows, fitted in batches of 16 */
    enum { R = 64 };
    const float M[D * D] = {0.5f, -0.2f, 0.1f, 0.3f, 1.2f, 0.0f, -0.4f, 0.2f, 0.8f}, v[D] = {0.1f, -0.3f, 0.2f};
    float xr[R * D], tr[R * D];
    cpet_rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < R * D; i++) xr[i] = 2 * rng_uniform(&r) - 1;
    for (int b = 0; b < R; b++)
        for (int i = 0; i < D; i++) {
            tr[b * D + i] = v[i];
            for (int j = 0; j < D; j++) tr[b * D + i] += M[i * D + j] * xr[b * D + j];
        }
    cr_assert_eq(feature_align_init(&a, D, &err), 0, "%s", err.msg);
    const double final = feature_align_fit(&a, xr, tr, R, 400, 16, 0.01f, 2, &err);
    cr_assert_lt(final, 1e-5, "mse %g", final);
    for (int i = 0; i < D * D; i++) cr_assert_float_eq(a.w[i], M[i], 1e-2, "A[%d]", i);
    for (int i = 0; i < D; i++) cr_assert_float_eq(a.b[i], v[i], 1e-2, "c[%d]", i);
    feature_align_free(&a);
}

Test(gradcheck, a_head_grows_and_keeps_its_old_rows)
{
    cpet_err err;
    class_head h, once;
    cr_assert_eq(class_head_init(&h, 2, 8, 5, &err), 0, "%s", err.msg);
    float old_w[16], old_b[2];
    memcpy(old_w, h.w, sizeof old_w), memcpy(old_b, h.b, sizeof old_b);
    h.w[3] = 42.0f; /* trained rows are kept as trained */
    cr_assert_eq(class_head_grow(&h, 3, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(h.n_classes, 3);
    cr_assert_eq(h.w[3], 42.0f);
    cr_assert_eq(memcmp(h.w + 8, old_w + 8, 8 * sizeof(float)), 0);
    cr_assert_eq(memcmp(h.b, old_b, sizeof old_b), 0);
    cr_assert_eq(h.tensors[0].n, 24, "the optimizer's view grows too");
    cr_assert_eq(class_head_init(&once, 3, 8, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(h.w + 16, once.w + 16, 8 * sizeof(float)), 0, "the new row is drawn as at init");
    cr_assert_neq(class_head_grow(&h, 2, 5, &err), 0);
    cr_assert(strstr(err.msg, "shrink"), "%s", err.msg);
    class_head_free(&h), class_head_free(&once);
}

/* ---- a residual-stream intervention (ROME's value delta) and its gradient ---- */
typedef struct {
    model *m;
    const int *ids;
} iv_ctx;

static double iv_loss(void *p)
{
    iv_ctx *c = p;
    cpet_err err;
    cr_assert_eq(model_forward(c->m, c->ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    return c->m->loss;
}

Test(gradcheck, a_residual_intervention_and_its_gradient)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 47);
    const int D = cfg.hidden_size;
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 11 + 2) % cfg.vocab_size;
    iv_ctx c = {&m, ids};
    const double plain = iv_loss(&c);
    float *delta = calloc((size_t)D, sizeof(float)), *d_delta = calloc((size_t)D, sizeof(float));
    const int pos[2] = {3, 5};
    residual_intervention iv = {1, pos, delta, d_delta};
    m.intervention = &iv;
    cr_assert_float_eq(iv_loss(&c), plain, 1e-7, "a zero delta changes nothing");
    for (int d = 0; d < D; d++) delta[d] = 0.5f * sinf(0.9f * d);
    const double moved = iv_loss(&c);
    cr_assert(fabs(moved - plain) > 1e-4, "a delta moves the loss");
    /* positions before the edited one see nothing of it (causal): their logits are unchanged */
    float *with = malloc((size_t)cfg.vocab_size * sizeof(float));
    memcpy(with, model_logits(&m) + (size_t)2 * cfg.vocab_size, (size_t)cfg.vocab_size * sizeof(float));
    m.intervention = NULL;
    iv_loss(&c);
    cr_assert_eq(memcmp(with, model_logits(&m) + (size_t)2 * cfg.vocab_size, (size_t)cfg.vocab_size * sizeof(float)), 0);
    m.intervention = &iv;
    iv_loss(&c);
    model_zero_grad(&m);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    float *g = malloc((size_t)D * sizeof(float));
    memcpy(g, d_delta, (size_t)D * sizeof(float));
    /* one position's delta has a small gradient: a larger step keeps float rounding below the check */
    const double e = fd_check(iv_loss, &c, delta, g, (size_t)D, 2e-2f, 6, 95);
    cr_expect_lt(e, 5e-3, "d loss / d delta: error %.3g", e);
    m.intervention = NULL;
    free(delta), free(d_delta), free(g), free(with);
    model_free(&m);
}
