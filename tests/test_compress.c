/* Compression: GPTQ against RTN, exact sparsities, 2:4 masks, structured pruning, packed model forward. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "generate.h"
#include "gptq.h"
#include "moe.h"
#include "helpers.h"
#include "prune.h"
#include "quant.h"
#include "tensor.h"

/* correlated inputs (as real activations are), so that the Hessian matters */
static float *correlated_inputs(int n, int cols, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    float *z = malloc((size_t)n * cols * sizeof(float)), *mix = malloc((size_t)cols * cols * sizeof(float)),
          *x = calloc((size_t)n * cols, sizeof(float));
    fill_normal(z, (size_t)n * cols, 1.0f, &r);
    fill_normal(mix, (size_t)cols * cols, 1.0f / sqrtf((float)cols), &r);
    for (int j = 0; j < cols; j++) mix[j * cols + j] += 1.0f;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int k = 0; k < cols; k++) s += z[t * cols + k] * mix[k * cols + j];
            x[t * cols + j] = (float)s * (1.0f + 2.0f * (j % 7 == 0)); /* a few loud features */
        }
    free(z);
    free(mix);
    return x;
}

static double reconstruction_error(const float *w, const float *wq, const float *x, int rows, int cols, int n)
{
    double se = 0;
    for (int t = 0; t < n; t++)
        for (int r = 0; r < rows; r++) {
            double a = 0;
            for (int c = 0; c < cols; c++) a += (double)(w[r * cols + c] - wq[r * cols + c]) * x[t * cols + c];
            se += a * a;
        }
    return sqrt(se);
}

Test(gptq, lower_layer_reconstruction_error_than_rtn, .timeout = 60)
{
    const int rows = 48, cols = 256, n = 512;
    float *x = correlated_inputs(n, cols, 1);
    cpet_rng r;
    rng_seed(&r, 2);
    float *w = malloc((size_t)rows * cols * sizeof(float));
    fill_normal(w, (size_t)rows * cols, 0.05f, &r);
    double *H = calloc((size_t)cols * cols, sizeof(double));
    gptq_accumulate(H, x, n, cols);
    for (size_t i = 0; i < (size_t)cols * cols; i++) H[i] *= 2.0 / n;
    const qformat fs[2] = {QF_INT4, QF_INT3};
    for (int k = 0; k < 2; k++) {
        qtensor qr, qg;
        cpet_err err;
        float *wr = malloc((size_t)rows * cols * sizeof(float)), *wg = malloc((size_t)rows * cols * sizeof(float));
        cr_assert_eq(quantize_rtn(&qr, fs[k], w, rows, cols, 64, &err), 0, "%s", err.msg);
        qtensor_dequantize(&qr, wr);
        memcpy(wg, w, (size_t)rows * cols * sizeof(float));
        cr_assert_eq(gptq_quantize(&qg, fs[k], wg, rows, cols, 64, H, 0.01, &err), 0, "%s", err.msg);
        float *packed = malloc((size_t)rows * cols * sizeof(float));
        qtensor_dequantize(&qg, packed);
        cr_assert_lt(vec_max_rel_diff(packed, wg, (size_t)rows * cols), 1e-6, "the packed codes are what GPTQ computed");
        double e_rtn = reconstruction_error(w, wr, x, rows, cols, n), e_gptq = reconstruction_error(w, wg, x, rows, cols, n);
        cr_expect_lt(e_gptq, e_rtn, "%s: GPTQ %g vs RTN %g", qformat_name(fs[k]), e_gptq, e_rtn);
        cr_log_info("%s g64: ||WX - QX|| RTN %.4f, GPTQ %.4f (%.0f%% lower)", qformat_name(fs[k]), e_rtn, e_gptq,
                    100 * (1 - e_gptq / e_rtn));
        qtensor_free(&qr);
        qtensor_free(&qg);
        free(wr);
        free(wg);
        free(packed);
    }
    free(H);
    free(w);
    free(x);
}

Test(prune, exact_sparsity_and_2_4_masks)
{
    const int rows = 33, cols = 72;
    cpet_rng r;
    rng_seed(&r, 3);
    float *w = malloc((size_t)rows * cols * sizeof(float)), *norms = malloc(cols * sizeof(float));
    const double sparsities[] = {0.1, 0.5, 0.73};
    for (int s = 0; s < 3; s++) {
        fill_normal(w, (size_t)rows * cols, 1.0f, &r);
        prune_magnitude(w, rows, cols, sparsities[s]);
        cr_assert_eq(count_zeros(w, (size_t)rows * cols), (size_t)llround(sparsities[s] * rows * cols));
        fill_normal(w, (size_t)rows * cols, 1.0f, &r);
        fill_uniform(norms, cols, 0.1f, 3.0f, &r);
        prune_wanda(w, rows, cols, norms, sparsities[s]);
        for (int row = 0; row < rows; row++)
            cr_assert_eq(count_zeros(w + row * cols, cols), (size_t)llround(sparsities[s] * cols), "wanda prunes per row");
    }
    /* magnitude removes the smallest: every kept |w| >= every pruned original |w| */
    fill_normal(w, (size_t)rows * cols, 1.0f, &r);
    float *orig = malloc((size_t)rows * cols * sizeof(float));
    memcpy(orig, w, (size_t)rows * cols * sizeof(float));
    prune_magnitude(w, rows, cols, 0.5);
    float max_pruned = 0, min_kept = INFINITY;
    for (int i = 0; i < rows * cols; i++) {
        if (w[i] == 0.0f) max_pruned = fmaxf(max_pruned, fabsf(orig[i]));
        else min_kept = fminf(min_kept, fabsf(w[i]));
    }
    cr_assert_leq(max_pruned, min_kept);
    fill_normal(w, (size_t)rows * cols, 1.0f, &r);
    prune_nm(w, rows, cols, 2, 4, NULL);
    for (int row = 0; row < rows; row++)
        for (int c = 0; c < cols; c += 4) {
            int nz = 0;
            for (int j = 0; j < 4; j++) nz += w[row * cols + c + j] != 0.0f;
            cr_assert_eq(nz, 2, "row %d group %d has %d nonzeros", row, c / 4, nz);
        }
    free(orig);
    free(norms);
    free(w);
}

static calib_data random_calib(int vocab, int rows, int seq, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    int *ids = malloc((size_t)rows * seq * sizeof(int));
    for (int i = 0; i < rows * seq; i++) ids[i] = (int)(rng_next(&r) % (uint64_t)vocab);
    return (calib_data){ids, rows, seq};
}

/* full and small start as the same random model; small is then compressed by `method` */
static void twin_models(model *full, model *small, const model_config *c, uint64_t seed, const char *method,
                        double sparsity)
{
    cpet_err err;
    cr_assert_eq(model_create(full, c, &err), 0);
    cr_assert_eq(model_create(small, c, &err), 0);
    model_init_random(full, 0.3f, seed);
    memcpy(small->params, full->params, full->n_params * sizeof(float));
    calib_data cal = random_calib(c->vocab_size, 4, 16, seed + 1);
    compress_options o = {.group = 128, .sparsity = sparsity, .damp = 0.01};
    cr_assert_eq(compress_model(small, method, &o, &cal, &err), 0, "%s", err.msg);
    free((void *)cal.ids);
}

/* the two models give the same logits on a fixed sequence */
static void expect_same_logits(model *a, model *b)
{
    cpet_err err;
    int ids[12] = {1, 5, 9, 2, 7, 3, 30, 11, 0, 4, 8, 6};
    const size_t n = 12 * (size_t)a->cfg.vocab_size;
    cr_assert_eq(model_forward(a, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    float *want = malloc(n * sizeof(float));
    memcpy(want, model_logits(a), n * sizeof(float));
    cr_assert_eq(model_forward(b, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    double rel = vec_max_rel_diff(model_logits(b), want, n);
    cr_assert_lt(rel, 1e-5, "smaller model vs masked model: %.3g", rel);
    free(want);
}

Test(prune, structured_ffn_model_equals_masked_full_model)
{
    model full, small;
    model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    twin_models(&full, &small, &c, 4, "struct-ffn", 0.25);
    cr_assert_eq(small.cfg.intermediate_size, 30, "40 neurons minus 25%%");
    cr_assert_lt(small.n_params, full.n_params);
    /* mask the full model: zero the gate/up rows and down columns of neurons the small model dropped */
    const int D = c.hidden_size, F = c.intermediate_size;
    for (int l = 0; l < c.n_layers; l++)
        for (int j = 0; j < F; j++) {
            int kept = 0;
            for (int a = 0; a < 30 && !kept; a++)
                kept = !memcmp(full.layers[l].lin[LIN_GATE].w + j * D, small.layers[l].lin[LIN_GATE].w + a * D, D * sizeof(float));
            if (kept) continue;
            memset(full.layers[l].lin[LIN_GATE].w + j * D, 0, D * sizeof(float));
            memset(full.layers[l].lin[LIN_UP].w + j * D, 0, D * sizeof(float));
            for (int d = 0; d < D; d++) full.layers[l].lin[LIN_DOWN].w[d * F + j] = 0.0f;
        }
    expect_same_logits(&full, &small);
    model_free(&small);
    model_free(&full);
}

/* a random 2-layer model (d 64, FFN 128, 4 heads over 2 KV heads) compressed with chain: group 32, 50% */
static model_config compressed_model(model *m, const char *chain, activation act, uint64_t seed)
{
    cpet_err err;
    model_config c = small_config(4, 2, act, 1, 10000.0f);
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.head_dim = 16;
    cr_assert_eq(model_create(m, &c, &err), 0);
    model_init_random(m, 0.1f, seed);
    compress_options o = {.group = 32, .sparsity = 0.5, .damp = 0.01};
    cr_assert_eq(compress_model(m, chain, &o, NULL, &err), 0, "%s: %s", chain, err.msg);
    return c;
}

Test(compress, packed_forward_equals_dequantized_weights)
{
    const char *chains[] = {"rtn-int4", "q4_0", "q8_0", "nf4", "rtn-int8", "magnitude+rtn-int3"};
    for (int k = 0; k < 6; k++) {
        cpet_err err;
        model m;
        model_config c = compressed_model(&m, chains[k], ACT_RELU, 6);
        int ids[40];
        for (int i = 0; i < 40; i++) ids[i] = (i * 7) % c.vocab_size;
        for (int batch = 1; batch <= 20; batch += 19) { /* decode-sized and tile-sized inputs */
            cr_assert_eq(model_forward(&m, ids, NULL, 1, batch, &err), 0, "%s", err.msg);
            float *packed = malloc((size_t)batch * c.vocab_size * sizeof(float));
            memcpy(packed, model_logits(&m), (size_t)batch * c.vocab_size * sizeof(float));
            for (int l = 0; l < c.n_layers; l++)
                for (int i = 0; i < LIN_PER_LAYER; i++) m.layers[l].lin[i].qw = NULL; /* the dequantized f32 path */
            cr_assert_eq(model_forward(&m, ids, NULL, 1, batch, &err), 0, "%s", err.msg);
            double rel = vec_max_rel_diff(packed, model_logits(&m), (size_t)batch * c.vocab_size);
            cr_expect_lt(rel, 1e-5, "%s, %d tokens: %.3g", chains[k], batch, rel);
            for (int l = 0; l < c.n_layers; l++)
                for (int i = 0; i < LIN_PER_LAYER; i++) m.layers[l].lin[i].qw = &m.quant[l * LIN_PER_LAYER + i];
            free(packed);
        }
        cr_assert_lt(model_storage_bytes(&m), m.n_params * 4, "%s stores fewer bytes", chains[k]);
        if (k == 5) {
            size_t zeros = 0, total = 0;
            for (int l = 0; l < c.n_layers; l++)
                for (int i = 0; i < LIN_PER_LAYER; i++) {
                    zeros += count_zeros(m.layers[l].lin[i].w, (size_t)m.layers[l].lin[i].in * m.layers[l].lin[i].out);
                    total += (size_t)m.layers[l].lin[i].in * m.layers[l].lin[i].out;
                }
            cr_assert_geq(zeros, total / 2, "quantization keeps the pruned zeros (%zu of %zu)", zeros, total);
        }
        model_free(&m);
    }
}

/* the int8-activation decode of a compressed model: model_set_q8_activations builds the row-interleaved
 * pack of every 4-bit linear, and a decode step reads it to the same logits as the stored layout */
Test(compress, q8_activation_decode_reads_the_pack)
{
    const char *chains[] = {"rtn-int4", "q4_0"};
    for (int k = 0; k < 2; k++) {
        cpet_err err;
        model m;
        model_config c = compressed_model(&m, chains[k], ACT_SILU, 7);
        int ids[1] = {5};
        float exact[64], from_pack[64], from_rows[64]; /* vocab 37 */
        cr_assert_eq(model_forward(&m, ids, NULL, 1, 1, &err), 0, "%s", err.msg);
        memcpy(exact, model_logits(&m), (size_t)c.vocab_size * sizeof(float));
        for (int i = 0; i < c.n_layers * LIN_PER_LAYER; i++) m.quant[i].q8_activations = 1; /* without packs */
        cr_assert_eq(model_forward(&m, ids, NULL, 1, 1, &err), 0, "%s", err.msg);
        memcpy(from_rows, model_logits(&m), (size_t)c.vocab_size * sizeof(float));
        model_set_q8_activations(&m, 1);
        for (int i = 0; i < c.n_layers * LIN_PER_LAYER; i++) cr_assert_not_null(m.quant[i].pack, "%s: linear %d packed", chains[k], i);
        cr_assert_eq(model_forward(&m, ids, NULL, 1, 1, &err), 0, "%s", err.msg);
        memcpy(from_pack, model_logits(&m), (size_t)c.vocab_size * sizeof(float));
        cr_expect_lt(vec_max_rel_diff(from_pack, from_rows, (size_t)c.vocab_size), 1e-5, "%s", chains[k]);
        /* inference keeps only the packs: bitwise the same decode, and prompts (dequantized tiles) too */
        int prompt[20];
        for (int i = 0; i < 20; i++) prompt[i] = (i * 5) % c.vocab_size;
        float *prefill = malloc((size_t)20 * c.vocab_size * sizeof(float));
        cr_assert_eq(model_forward(&m, prompt, NULL, 1, 20, &err), 0, "%s", err.msg);
        memcpy(prefill, model_logits(&m), (size_t)20 * c.vocab_size * sizeof(float));
        model_keep_decode_packs_only(&m);
        cr_assert(model_is_decode_only(&m));
        for (int i = 0; i < c.n_layers * LIN_PER_LAYER; i++) cr_assert_null(m.quant[i].data, "%s: linear %d pack only", chains[k], i);
        cr_assert_eq(model_forward(&m, ids, NULL, 1, 1, &err), 0, "%s", err.msg);
        cr_expect_eq(memcmp(from_pack, model_logits(&m), (size_t)c.vocab_size * sizeof(float)), 0, "%s: decode", chains[k]);
        cr_assert_eq(model_forward(&m, prompt, NULL, 1, 20, &err), 0, "%s", err.msg);
        cr_expect_eq(memcmp(prefill, model_logits(&m), (size_t)20 * c.vocab_size * sizeof(float)), 0, "%s: prompt", chains[k]);
        free(prefill);
        cr_expect_neq(model_save(&m, "/tmp/cpet-test-pack-only-refused", &err), 0);
        cr_expect(strstr(err.msg, "only its decode packs"), "%s", err.msg);
        double drift = vec_max_rel_diff(from_pack, exact, (size_t)c.vocab_size);
        cr_expect(drift > 0 && drift < 3e-2, "%s: int8 activations moved the logits by %.3g", chains[k], drift);
        model_free(&m);
    }
}

Test(compress, bad_chains_are_explained)
{
    compress_options o = {.group = 128, .sparsity = 0.5, .damp = 0.01};
    cpet_err err;
    cr_assert_neq(compress_check_chain("rtn-int5", &o, 1, &err), 0);
    cr_assert(strstr(err.msg, "unknown compression method 'rtn-int5'"), "%s", err.msg);
    cr_assert_neq(compress_check_chain("rtn-int4+wanda", &o, 1, &err), 0);
    cr_assert(strstr(err.msg, "prune first"), "%s", err.msg);
    cr_assert_neq(compress_check_chain("gptq-int4", &o, 0, &err), 0);
    cr_assert(strstr(err.msg, "needs calibration"), "%s", err.msg);
    o.group = 100;
    cr_assert_neq(compress_check_chain("rtn-int4", &o, 1, &err), 0);
    cr_assert(strstr(err.msg, "group size 100"), "%s", err.msg);
    o.group = 128;
    o.sparsity = 0;
    cr_assert_neq(compress_check_chain("magnitude", &o, 1, &err), 0);
    cr_assert(strstr(err.msg, "sparsity"), "%s", err.msg);
    o.sparsity = 0.5;
    cr_assert_eq(compress_check_chain("wanda+gptq-int4", &o, 1, &err), 0, "%s", err.msg);
}

Test(prune, structured_heads_model_equals_masked_full_model)
{
    model full, small;
    model_config c = small_config(6, 3, ACT_SILU, 0, 10000.0f); /* 3 KV groups of 2 query heads */
    twin_models(&full, &small, &c, 7, "struct-heads", 0.34);
    cr_assert_eq(small.cfg.n_kv_heads, 2, "3 groups minus 1");
    cr_assert_eq(small.cfg.n_heads, 4);
    const int D = c.hidden_size, hd = c.head_dim, QD = c.n_heads * hd;
    for (int l = 0; l < c.n_layers; l++)
        for (int g = 0; g < 3; g++) {
            int kept = 0;
            for (int a = 0; a < 2 && !kept; a++)
                kept = !memcmp(full.layers[l].lin[LIN_K].w + (size_t)g * hd * D, small.layers[l].lin[LIN_K].w + (size_t)a * hd * D,
                               (size_t)hd * D * sizeof(float));
            if (kept) continue;
            for (int d = 0; d < D; d++) /* silence the group's query heads at the output projection */
                memset(full.layers[l].lin[LIN_O].w + (size_t)d * QD + g * 2 * hd, 0, 2 * hd * sizeof(float));
        }
    expect_same_logits(&full, &small);
    model_free(&small);
    model_free(&full);
}

/* ---- MoEfication ---- */

static double loss_of(void *p)
{
    struct {
        model *m;
        int *ids;
    } *c = p;
    cpet_err err;
    model_forward(c->m, c->ids, NULL, 1, 12, &err);
    return c->m->loss;
}

Test(moe, experts_routing_cache_checkpoint_and_gradients, .timeout = 60)
{
    cpet_err err;
    model m, dense;
    model_config c = small_config(4, 2, ACT_RELU, 0, 10000.0f);
    c.intermediate_size = 64; /* 2 experts of 32: top 20% rounds to 1 */
    c.n_layers = 1;
    cr_assert_eq(model_create(&m, &c, &err), 0);
    cr_assert_eq(model_create(&dense, &c, &err), 0);
    model_init_random(&m, 0.3f, 11);
    memcpy(dense.params, m.params, m.n_params * sizeof(float));
    calib_data cal = random_calib(c.vocab_size, 8, 16, 12);
    compress_options o = {.group = 128, .sparsity = 0.5, .damp = 0.01};
    cr_assert_eq(compress_model(&m, "moefication", &o, &cal, &err), 0, "%s", err.msg);
    cr_assert_eq(m.cfg.moe_experts, 2);
    cr_assert_eq(m.cfg.moe_top_k, 1);
    int count[2] = {0};
    for (int j = 0; j < 64; j++) count[m.moe[0].expert_of[j]]++;
    cr_assert(count[0] == 32 && count[1] == 32, "balanced experts: %d / %d", count[0], count[1]);
    int ids[12] = {1, 5, 9, 2, 7, 3, 30, 11, 0, 4, 8, 6};
    /* at most top_k x 32 neurons are active per token */
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    for (int t = 0; t < 12; t++) {
        int active = 0;
        for (int j = 0; j < 64; j++) active += m.acts.h[t * 64 + j] != 0.0f;
        cr_assert_leq(active, 32, "token %d has %d active neurons", t, active);
    }
    float *masked = malloc(12 * c.vocab_size * sizeof(float));
    memcpy(masked, model_logits(&m), 12 * c.vocab_size * sizeof(float));
    /* with every expert on, the model is the dense one */
    m.moe[0].top_k = 2;
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0);
    cr_assert_eq(model_forward(&dense, ids, NULL, 1, 12, &err), 0);
    cr_assert_lt(vec_max_rel_diff(model_logits(&m), model_logits(&dense), 12 * (size_t)c.vocab_size), 1e-6);
    m.moe[0].top_k = 1;
    /* the KV-cache path routes the same way */
    kv_cache kc;
    cr_assert_eq(kv_cache_init(&kc, &m, 16, 12, &err), 0, "%s", err.msg);
    float *step = malloc(12 * c.vocab_size * sizeof(float));
    cr_assert_eq(model_forward_cached(&m, &kc, ids, 12, step, 1, &err), 0, "%s", err.msg);
    cr_assert_lt(vec_max_rel_diff(step, masked, 12 * (size_t)c.vocab_size), 1e-5);
    kv_cache_free(&kc);
    /* checkpoint round trip */
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    model back;
    cr_assert_eq(model_save(&m, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&back, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.cfg.moe_experts, 2);
    cr_assert_eq(model_forward(&back, ids, NULL, 1, 12, &err), 0);
    cr_assert_lt(vec_max_rel_diff(model_logits(&back), masked, 12 * (size_t)c.vocab_size), 1e-6);
    /* gradients through the expert mask: directional finite differences on the FFN weights */
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0);
    model_zero_grad(&m);
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    struct {
        model *m;
        int *ids;
    } ctx = {&m, ids};
    const char *names[] = {"model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight"};
    for (int k = 0; k < 3; k++) {
        param_tensor *t = model_find_tensor(&m, names[k]);
        double e = fd_check(loss_of, &ctx, t->p, t->g, t->n, 1e-3f, 2, 70 + k);
        cr_expect_lt(e, 5e-3, "%s: %.3g", names[k], e);
    }
    free(step);
    free(masked);
    free((void *)cal.ids);
    model_free(&back);
    model_free(&dense);
    model_free(&m);
}

Test(moe, router_beats_chance)
{
    /* 8 experts; tokens whose activation mass sits in expert (i mod 8), visible from x */
    const int n = 400, D = 16, F = 64, E = 8;
    cpet_rng r;
    rng_seed(&r, 5);
    float *w = malloc(F * D * sizeof(float)), *x = malloc((size_t)n * D * sizeof(float)), *h = calloc((size_t)n * F, sizeof(float));
    fill_normal(w, F * D, 1.0f, &r);
    fill_normal(x, (size_t)n * D, 1.0f, &r);
    moe_layer e;
    cpet_err err;
    cr_assert_eq(moe_cluster(&e, w, F, D, E, 1, &err), 0, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        int hot = (x[i * D] > 0) * 4 + (x[i * D + 1] > 0) * 2 + (x[i * D + 2] > 0);
        for (int j = 0; j < F; j++) h[i * F + j] = e.expert_of[j] == hot ? 1.0f : 0.01f * rng_uniform(&r);
    }
    double recall = moe_train_router(&e, x, h, n, 1, 500, 2);
    cr_assert_gt(recall, 0.5, "router recall %.2f (chance 1/8)", recall);
    moe_free(&e);
    free(h);
    free(x);
    free(w);
}

/* --embeddings: the table packed round-to-nearest in the chain's format. The oracle is the f32 model with
 * the table replaced by its dequantized values; a saved model loads it packed (no f32 copy) to the same
 * logits; a tied LM head multiplies by the packed table. */
Test(compress, packed_embeddings_match_their_dequantized_table)
{
    const char *chains[] = {"q8_0", "q4_0", "rtn-int4"};
    for (int k = 0; k < 3; k++)
        for (int tied = 0; tied <= 1; tied++) {
            cpet_err err;
            model m, oracle, back;
            model_config c = small_config(4, 2, ACT_SILU, tied, 10000.0f);
            c.hidden_size = 64, c.intermediate_size = 128, c.head_dim = 16;
            cr_assert_eq(model_create(&m, &c, &err), 0);
            model_init_random(&m, 0.1f, 40 + k);
            cr_assert_eq(model_create(&oracle, &c, &err), 0);
            memcpy(oracle.params, m.params, m.n_params * sizeof(float));
            const size_t before = model_storage_bytes(&m), table = (size_t)c.vocab_size * c.hidden_size;
            compress_options o = {.group = 32, .embeddings = 1};
            cr_assert_eq(compress_model(&m, chains[k], &o, NULL, &err), 0, "%s: %s", chains[k], err.msg);
            cr_assert_not_null(m.embed_q, "%s: the table is packed", chains[k]);
            if (tied) cr_assert_eq(m.lm_head.qw, m.embed_q, "a tied head reads the packed table");
            qtensor_dequantize(m.embed_q, oracle.embed); /* the oracle: f32 everywhere but the table's values */
            for (int l = 0; l < c.n_layers; l++)
                for (int i = 0; i < LIN_PER_LAYER; i++) qtensor_dequantize(m.layers[l].lin[i].qw, oracle.layers[l].lin[i].w);
            int ids[10];
            for (int i = 0; i < 10; i++) ids[i] = (i * 11 + 3) % c.vocab_size;
            const size_t n = (size_t)10 * c.vocab_size;
            cr_assert_eq(model_forward(&oracle, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
            float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
            memcpy(want, model_logits(&oracle), n * sizeof(float));
            cr_assert_eq(model_forward(&m, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
            memcpy(got, model_logits(&m), n * sizeof(float));
            cr_expect_lt(vec_max_rel_diff(got, want, n), 1e-5, "%s tied=%d", chains[k], tied);
            char dir[256];
            make_temp_dir(dir, sizeof dir);
            cr_assert_eq(model_save(&m, dir, &err), 0, "%s", err.msg);
            cr_assert_eq(model_load(&back, dir, &err), 0, "%s", err.msg);
            cr_assert(back.embed_q && !back.embed, "%s: loaded packed, no f32 table", chains[k]);
            cr_assert_eq(model_storage_bytes(&back), model_storage_bytes(&m));
            cr_expect_lt(model_storage_bytes(&back), before - table * 4 + qtensor_bytes(back.embed_q) + 1, "%s: the table's bytes are the packed ones",
                         chains[k]);
            cr_assert_eq(model_forward(&back, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
            cr_expect_eq(memcmp(model_logits(&back), got, n * sizeof(float)), 0, "%s tied=%d: saved and loaded, bitwise", chains[k], tied);
            free(want);
            free(got);
            model_free(&back);
            model_free(&oracle);
            model_free(&m);
        }
    compress_options o = {.group = 32, .sparsity = 0.5, .embeddings = 1};
    cpet_err err;
    cr_assert_neq(compress_check_chain("magnitude", &o, 0, &err), 0);
    cr_assert(strstr(err.msg, "quantizing the embeddings needs a quantizer"), "%s", err.msg);
}
