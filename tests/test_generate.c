/* KV-cache decoding against the full forward, continuation scoring, sampling. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "helpers.h"
#include "lora.h"
#include "model.h"
#include "quant.h"
#include "tensor.h"

typedef struct {
    int heads, kv_heads, tied, with_lora;
} cache_case;

ParameterizedTestParameters(generate, kv_cache_matches_full_forward)
{
    static cache_case cases[] = {{4, 2, 0, 0}, {4, 4, 1, 0}, {4, 1, 0, 1}};
    return cr_make_param_array(cache_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(cache_case *cc, generate, kv_cache_matches_full_forward)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(cc->heads, cc->kv_heads, ACT_SILU, cc->tied, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.2f, 4);
    lora_adapter ad;
    memset(&ad, 0, sizeof ad);
    if (cc->with_lora) {
        const char *t[] = {"all-linear", "lm_head"};
        cr_assert_eq(lora_create(&ad, &m, 2, 4.0f, 0, t, 2, 1, &err), 0, "%s", err.msg);
        cpet_rng r;
        rng_seed(&r, 2);
        for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.2f, &r);
    }
    const int T = 20, V = cfg.vocab_size;
    int ids[20];
    cpet_rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < T; i++) ids[i] = (int)(rng_next(&r) % (uint64_t)V);
    cr_assert_eq(model_forward(&m, ids, NULL, 1, T, &err), 0, "%s", err.msg);
    float *full = malloc((size_t)T * V * sizeof(float));
    memcpy(full, model_logits(&m), (size_t)T * V * sizeof(float));

    kv_cache c;
    cr_assert_eq(kv_cache_init(&c, &m, 32, 8, &err), 0, "%s", err.msg);
    float *step = malloc((size_t)8 * V * sizeof(float));
    /* a 6-token prefill with all logits, then one token at a time */
    cr_assert_eq(model_forward_cached(&m, &c, ids, 6, step, 1, &err), 0, "%s", err.msg);
    for (int t = 0; t < 6; t++) {
        double rel = vec_max_rel_diff(step + (size_t)t * V, full + (size_t)t * V, (size_t)V);
        cr_expect_lt(rel, 1e-5, "prefill position %d differs by %.3g", t, rel);
    }
    for (int t = 6; t < T; t++) {
        cr_assert_eq(model_forward_cached(&m, &c, ids + t, 1, step, 0, &err), 0, "%s", err.msg);
        double rel = vec_max_rel_diff(step, full + (size_t)t * V, (size_t)V);
        cr_expect_lt(rel, 1e-5, "position %d differs by %.3g", t, rel);
    }
    cr_assert_eq(c.len, T);
    kv_cache_free(&c);
    free(step);
    free(full);
    lora_free(&ad);
    model_free(&m);
}

Test(generate, scores_equal_log_softmax_sums_and_ignore_batching)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_RELU, 0, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 5);
    int ctx[3][7] = {{1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 0, 0, 0, 0}, {11, 12, 13, 14, 15, 0, 0}};
    int n_ctx[3] = {7, 3, 5};
    int cont[3][3] = {{20, 21, 22}, {23, 0, 0}, {24, 25, 0}};
    int n_cont[3] = {3, 1, 2};
    score_request req[3];
    for (int i = 0; i < 3; i++) req[i] = (score_request){ctx[i], n_ctx[i], cont[i], n_cont[i]};
    double batched[3], single[3];
    int greedy[3];
    cr_assert_eq(score_continuations(&m, req, 3, 3, batched, greedy, &err), 0, "%s", err.msg);
    cr_assert_eq(score_continuations(&m, req, 3, 1, single, NULL, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) {
        /* by hand from a plain forward of context + continuation */
        int seq[10], len = n_ctx[i] + n_cont[i];
        memcpy(seq, ctx[i], (size_t)n_ctx[i] * sizeof(int));
        memcpy(seq + n_ctx[i], cont[i], (size_t)n_cont[i] * sizeof(int));
        cr_assert_eq(model_forward(&m, seq, NULL, 1, len, &err), 0, "%s", err.msg);
        double want = 0;
        for (int t = n_ctx[i] - 1; t < len - 1; t++) {
            const float *row = model_logits(&m) + (size_t)t * cfg.vocab_size;
            double mx = row[0], s = 0;
            for (int j = 1; j < cfg.vocab_size; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j < cfg.vocab_size; j++) s += exp(row[j] - mx);
            want += row[seq[t + 1]] - mx - log(s);
        }
        cr_expect(fabs(batched[i] - want) < 1e-4 * fabs(want), "request %d: %f vs %f", i, batched[i], want);
        cr_expect(fabs(single[i] - batched[i]) < 1e-5 * fabs(want), "request %d: batch 1 %f vs 3 %f", i, single[i], batched[i]);
    }
    model_free(&m);
}

Test(generate, sampling_greedy_seeded_and_calibrated)
{
    float logits[4] = {0.0f, 1.0f, 2.0f, 0.5f};
    uint64_t s = 1;
    cr_assert_eq(sample_token(logits, 4, 0.0f, 1.0f, &s), 2, "greedy takes the argmax");
    cr_assert_eq(sample_token(logits, 4, 1.0f, 0.01f, &s), 2, "a tiny top-p keeps only the best token");
    uint64_t a = 7, b = 7;
    for (int i = 0; i < 50; i++) cr_assert_eq(sample_token(logits, 4, 1.0f, 1.0f, &a), sample_token(logits, 4, 1.0f, 1.0f, &b));
    /* frequencies follow softmax(logits) */
    int counts[4] = {0};
    uint64_t r = 11;
    const int n = 20000;
    for (int i = 0; i < n; i++) counts[sample_token(logits, 4, 1.0f, 1.0f, &r)]++;
    double z = 0;
    for (int i = 0; i < 4; i++) z += exp(logits[i]);
    for (int i = 0; i < 4; i++) {
        double p = exp(logits[i]) / z, sd = sqrt(p * (1 - p) / n);
        cr_expect(fabs(counts[i] / (double)n - p) < 5 * sd, "token %d: %.4f vs %.4f", i, counts[i] / (double)n, p);
    }
    /* top-p 0.7 keeps tokens 2 and 1 (0.61 + 0.22), never 0 or 3 */
    int seen[4] = {0};
    for (int i = 0; i < 2000; i++) seen[sample_token(logits, 4, 1.0f, 0.7f, &r)]++;
    cr_expect(seen[0] == 0 && seen[3] == 0 && seen[1] > 0 && seen[2] > 0, "top-p kept %d %d %d %d", seen[0], seen[1],
              seen[2], seen[3]);
}

Test(generate, greedy_generation_follows_the_cache)
{
    cpet_err err;
    model m;
    model_config cfg = small_config(4, 2, ACT_SILU, 1, 10000.0f);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.5f, 6);
    int prompt[3] = {3, 1, 4}, out[16], n_out;
    gen_config g = {.max_new_tokens = 10, .temperature = 0.0f, .top_p = 1.0f, .stop_id = -1, .seed = 0};
    cr_assert_eq(generate(&m, prompt, 3, &g, out, &n_out, &err), 0, "%s", err.msg);
    cr_assert_eq(n_out, 13);
    /* each generated token is the argmax of a full forward over what came before */
    for (int t = 3; t < n_out; t++) {
        cr_assert_eq(model_forward(&m, out, NULL, 1, t, &err), 0, "%s", err.msg);
        const float *row = model_logits(&m) + (size_t)(t - 1) * cfg.vocab_size;
        int best = 0;
        for (int j = 1; j < cfg.vocab_size; j++)
            if (row[j] > row[best]) best = j;
        cr_assert_eq(out[t], best, "token %d", t);
    }
    model_free(&m);
}

/* Packed models decode with the packed GEMVs (and, with int8 activations, integer dot products over
 * quantized activations) while the full forward multiplies dequantized weights: a 5-token prefill, then 15
 * single steps, against the full forward over all 20 tokens. Exact decode agrees to float rounding. The
 * int8-activation path differs by the activations' quantization (absmax / 127 per block of 32): measured
 * 1-8% of the largest logit on this random model, with no growth over the steps; the bound is twice that,
 * and the logits must move, or the path was not taken. */
Test(generate, packed_models_decode_step_by_step_as_the_full_forward)
{
    const qformat formats[] = {QF_INT8, QF_INT4, QF_Q8_0, QF_Q4_0, QF_NF4};
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cfg.hidden_size = 64, cfg.intermediate_size = 128, cfg.head_dim = 16; /* rows of whole blocks (NF4: 64) */
    const int T = 20, V = cfg.vocab_size;
    int ids[20];
    cpet_rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < T; i++) ids[i] = (int)(rng_next(&r) % (uint64_t)V);
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
        for (int q8 = 0; q8 <= 1; q8++) {
            if (q8 && (formats[f] == QF_INT8 || formats[f] == QF_NF4)) continue; /* no int8-activation decode */
            cpet_err err;
            model m;
            cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
            model_init_random(&m, 0.3f, 5);
            for (int l = 0; l < cfg.n_layers; l++)
                for (int w = 0; w < LIN_PER_LAYER; w++) {
                    const linear *lin = &m.layers[l].lin[w];
                    qtensor q;
                    cr_assert_eq(quantize_rtn(&q, formats[f], lin->w, lin->out, lin->in, 32, &err), 0, "%s", err.msg);
                    q.q8_activations = q8;
                    if (q8 && qtensor_pack_supported(&q)) cr_assert_eq(qtensor_pack_decode(&q), 0);
                    cr_assert_eq(model_set_packed(&m, l, w, &q), 0);
                }
            cr_assert_eq(model_forward(&m, ids, NULL, 1, T, &err), 0, "%s", err.msg);
            float *full = malloc((size_t)T * V * sizeof(float)), *step = malloc((size_t)8 * V * sizeof(float));
            memcpy(full, model_logits(&m), (size_t)T * V * sizeof(float));
            kv_cache c;
            cr_assert_eq(kv_cache_init(&c, &m, 32, 8, &err), 0, "%s", err.msg);
            cr_assert_eq(model_forward_cached(&m, &c, ids, 5, step, 1, &err), 0, "%s", err.msg);
            double worst = 0;
            for (int t = 0; t < 5; t++) worst = fmax(worst, vec_max_rel_diff(step + (size_t)t * V, full + (size_t)t * V, (size_t)V));
            for (int t = 5; t < T; t++) {
                cr_assert_eq(model_forward_cached(&m, &c, ids + t, 1, step, 0, &err), 0, "%s", err.msg);
                worst = fmax(worst, vec_max_rel_diff(step, full + (size_t)t * V, (size_t)V));
            }
            if (q8) cr_assert(worst > 1e-6 && worst < 0.15, "format %d, int8 activations: %.3g", formats[f], worst);
            else cr_assert_lt(worst, 1e-4, "format %d: %.3g", formats[f], worst);
            kv_cache_free(&c);
            free(full), free(step);
            model_free(&m);
        }
}
