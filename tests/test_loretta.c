/* LoRETTA: the factor rule, the trainable count by the paper's formula, the saved layout and its round
 * trip, merging (rep) and its refusal (adp), and a file that does not fit. Gradients: test_gradcheck.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "loretta.h"
#include "model.h"
#include "safetensors.h"

Test(loretta, factors_follow_the_rule)
{
    int f[TT_MAX_CORES];
    cr_assert_eq(loretta_factors(2048, f), 3);
    cr_assert(f[0] == 16 && f[1] == 16 && f[2] == 8);
    cr_assert_eq(loretta_factors(11008 * 8, f), 4); /* LLaMA-2's FFN width: 2^8 x 43 */
    cr_assert(f[0] == 16 && f[1] == 16 && f[2] == 8 && f[3] == 43);
    cr_assert_eq(loretta_factors(97, f), 0, "a prime is one factor, not a train");
    cr_assert_eq(loretta_factors((size_t)1 << 50, f), 0, "13 factors of 16: more cores than a train may have");
}

/* The default model's shape (d 256, 8 layers, 8 heads of 32, 4 KV heads, FFN 768): counted by hand.
 * rep, r 8, TT rank t on q (256 -> 256) and v (256 -> 128):
 *   A: 256 x 8 = 2048 = 16 16 8 -> 16t + 16t^2 + 8t;  B of q: the same;  B of v: 8 x 128 = 1024 = 16 16 4 -> 16t + 16t^2 + 4t.
 * adp, bottleneck 64, on the inputs of gate and up and the output of down (all 256 wide):
 *   down 256 x 64 = 16384 = 16 16 16 4 -> 16t + 16t^2 + 16t^2 + 4t; up the same; biases 64 + 256. */
Test(loretta, trainable_count_is_the_formula)
{
    cpet_err err;
    model_config cfg = small_config(8, 4, ACT_SILU, 0, 10000.0f);
    cfg.hidden_size = 256, cfg.intermediate_size = 768, cfg.n_layers = 8, cfg.head_dim = 32, cfg.vocab_size = 64;
    model m;
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    const long t = 5;
    loretta_config rep = loretta_defaults(LORETTA_REP);
    loretta_adapter a;
    cr_assert_eq(loretta_create(&a, &m, &rep, 1, &err), 0, "%s", err.msg);
    const long a_q = 16 * t + 16 * t * t + 8 * t, b_v = 16 * t + 16 * t * t + 4 * t;
    cr_assert_eq((long)loretta_trainable_count(&a), 8 * (a_q * 3 + b_v));
    cr_assert_eq(a.n_mods, 16);
    loretta_free(&a);
    loretta_config adp = loretta_defaults(LORETTA_ADP);
    cr_assert_eq(loretta_create(&a, &m, &adp, 1, &err), 0, "%s", err.msg);
    const long tt = 16 * t + 32 * t * t + 4 * t;
    cr_assert_eq((long)loretta_trainable_count(&a), 8 * 3 * (2 * tt + 64 + 256));
    loretta_free(&a);
    model_free(&m);
}

static void forward_logits(model *m, const int *ids, float *out)
{
    cpet_err err;
    cr_assert_eq(model_forward(m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    memcpy(out, model_logits(m), 16 * 320 * sizeof(float));
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void round_trip(int variant)
{
    cpet_err err;
    model m, m2;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&m2, FIXTURE_DIR, &err), 0, "%s", err.msg);
    loretta_config c = loretta_defaults(variant);
    c.bottleneck = 16;
    loretta_adapter ad, back;
    cr_assert_eq(loretta_create(&ad, &m, &c, 42, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < ad.n_tensors; i++)
        if (strstr(ad.tensors[i].name, "bias")) fill_normal(ad.tensors[i].p, ad.tensors[i].n, 0.1f, &r);
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(loretta_save(&ad, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(loretta_load(&back, &m2, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_mods, ad.n_mods);
    cr_assert_eq(loretta_trainable_count(&back), loretta_trainable_count(&ad));
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    static float a[16 * 320], b[16 * 320], base[16 * 320];
    forward_logits(&m, ids, a);
    forward_logits(&m2, ids, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "logits differ after a save/load round trip");
    loretta_detach(&back);
    forward_logits(&m2, ids, base);
    cr_assert_gt(max_abs_diff(a, base, 16 * 320), 1e-3, "the adapter changes nothing");
    /* the saved layout: cores [r_{k-1}, n_k, r_k] under PEFT's prefix, the type in the config */
    char path[512];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    st_file f;
    cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
    const char *core = variant == LORETTA_REP ? "base_model.model.model.layers.1.self_attn.v_proj.loretta_B.core_1"
                                              : "base_model.model.model.layers.1.mlp.down_proj.loretta_up.core_1";
    const st_tensor *t = st_find(&f, core);
    cr_assert(t, "no tensor %s", core);
    cr_assert_eq(t->ndim, 3);
    cr_assert_eq(t->shape[0], c.tt_rank);
    st_close(&f);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "peft_type")), variant == LORETTA_REP ? "LORETTA_REP" : "LORETTA_ADP");
    json_decref(j);
    loretta_free(&back);
    loretta_free(&ad);
    model_free(&m2);
    model_free(&m);
}

Test(loretta, rep_saves_and_loads_to_identical_outputs) { round_trip(LORETTA_REP); }
Test(loretta, adp_saves_and_loads_to_identical_outputs) { round_trip(LORETTA_ADP); }

Test(loretta, rep_merges_into_the_base_and_adp_is_refused)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    loretta_config c = loretta_defaults(LORETTA_REP);
    loretta_adapter ad;
    cr_assert_eq(loretta_create(&ad, &m, &c, 9, &err), 0, "%s", err.msg);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 37 + 5) % 320;
    static float with[16 * 320], merged[16 * 320];
    forward_logits(&m, ids, with);
    cr_assert_eq(loretta_merge(&ad, &err), 0, "%s", err.msg);
    cr_assert_eq(ad.attached, 0);
    forward_logits(&m, ids, merged);
    cr_assert_lt(max_abs_diff(with, merged, 16 * 320), 1e-4, "merged logits differ from the adapter's");
    loretta_free(&ad);
    loretta_config d = loretta_defaults(LORETTA_ADP);
    d.bottleneck = 16;
    cr_assert_eq(loretta_create(&ad, &m, &d, 9, &err), 0, "%s", err.msg);
    cr_assert_neq(loretta_merge(&ad, &err), 0);
    cr_assert(strstr(err.msg, "ReLU"), "%s", err.msg);
    loretta_free(&ad);
    model_free(&m);
}

Test(loretta, bad_ranks_and_files_are_one_line_errors)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    loretta_config c = loretta_defaults(LORETTA_REP);
    c.tt_rank = 0;
    loretta_adapter ad;
    cr_assert_neq(loretta_create(&ad, &m, &c, 1, &err), 0);
    cr_assert(strstr(err.msg, "rank 0") && !strchr(err.msg, '\n'), "%s", err.msg);
    /* a saved adapter for a wider model: its cores do not multiply to this model's shapes */
    c = loretta_defaults(LORETTA_REP);
    model_config wide = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    wide.hidden_size = 128, wide.head_dim = 32;
    model w;
    cr_assert_eq(model_create(&w, &wide, &err), 0, "%s", err.msg);
    cr_assert_eq(loretta_create(&ad, &w, &c, 1, &err), 0, "%s", err.msg);
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(loretta_save(&ad, dir, &err), 0, "%s", err.msg);
    loretta_free(&ad);
    loretta_adapter back;
    cr_assert_neq(loretta_load(&back, &m, dir, &err), 0);
    cr_assert(strstr(err.msg, "multiply") && !strchr(err.msg, '\n'), "%s", err.msg);
    model_free(&w);
    model_free(&m);
}

/* the front door: cpet method loretta writes the adapter, and the inference commands load it like a LoRA */
Test(loretta, the_method_writes_an_adapter_the_inference_commands_load)
{
    char dir[256], cmd[2048], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 16, 32, 1);
    snprintf(path, sizeof path, "%s/tasks.jsonl", dir);
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 24; i++)
        fprintf(fp, "{\"prompt\": \"%s\", \"choices\": [\" red\", \" blue\"], \"label\": %d, \"split\": \"%s\"}\n", i % 2 ? "alpha" : "beta", i % 2,
                i < 16 ? "train" : "test");
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s method loretta --model %s/model --task %s --variant adp --bottleneck 8 --steps 3 --batch 4 -o %s/ad", CPET_BINARY,
             dir, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval %s/model --adapter %s/ad --task %s", CPET_BINARY, dir, dir, path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"acc\""), "%s", out);
    /* a core missing from the file: one line naming it */
    snprintf(path, sizeof path, "%s/ad/adapter_config.json", dir);
    char *cfg = read_all(path, NULL);
    char *at = strstr(cfg, "LORETTA_ADP");
    cr_assert(at, "%s", cfg);
    memcpy(at, "LORETTA_REP", 11); /* the rep layout's tensors are then missing */
    write_text(path, cfg);
    free(cfg);
    snprintf(cmd, sizeof cmd, "%s eval %s/model --adapter %s/ad --task %s/tasks.jsonl", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(count_lines(out) == 1 && strstr(out, "adapter_model.safetensors") && strstr(out, "loretta_A"), "%s", out);
}
