/* cpet compress end to end: packed checkpoints reload exactly, --dequantize, bad input. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "model.h"
#include "safetensors.h"
#include "tensor.h"
#include "tokenizer.h"

/* a small model (FFN 128, so groups of 32/64/128 divide every row) and some calibration text */
static void make_model(const char *dir)
{
    char path[600];
    make_tiny_model_dir(dir, 64, 128, 2);
    snprintf(path, sizeof path, "%s/calib.txt", dir);
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 60; i++) fprintf(fp, "%s %d\n", i % 2 ? "the river runs through the old city" : "a city by the river has a bridge", i);
    fclose(fp);
}

static float *logits_of(const char *dir, int *n)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, dir, &err), 0, "%s", err.msg);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 13) % 300;
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 16, &err), 0, "%s", err.msg);
    *n = 16 * m.cfg.vocab_size;
    float *out = malloc((size_t)*n * sizeof(float));
    memcpy(out, model_logits(&m), (size_t)*n * sizeof(float));
    model_free(&m);
    return out;
}

Test(compress_cli, packed_checkpoints_reload_and_dequantize, .timeout = 120)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    make_model(dir);
    const char *methods[] = {"rtn-int4", "gptq-int3", "nf4", "q4_0", "w8a8", "wanda+rtn-int8", "nm-2:4+q8_0"};
    for (int k = 0; k < 7; k++) {
        snprintf(cmd, sizeof cmd, "%s compress %s/model --method %s --group 64 --calib %s/calib.txt --calib-seq 32 -o %s/c%d",
                 CPET_BINARY, dir, methods[k], dir, dir, k);
        cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s: %s", methods[k], out);
        snprintf(cmd, sizeof cmd, "%s compress %s/model --method %s --group 64 --calib %s/calib.txt --calib-seq 32 --dequantize -o %s/d%d",
                 CPET_BINARY, dir, methods[k], dir, dir, k);
        cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s: %s", methods[k], out);
        snprintf(path, sizeof path, "%s/c%d", dir, k);
        int n;
        float *packed = logits_of(path, &n);
        snprintf(path, sizeof path, "%s/d%d", dir, k);
        float *plain = logits_of(path, &n);
        /* W8A8 also quantizes activations at run time, which f32 weights cannot reproduce */
        double tol = strcmp(methods[k], "w8a8") == 0 ? 5e-2 : 1e-5, rel = vec_max_rel_diff(packed, plain, (size_t)n);
        cr_expect_lt(rel, tol, "%s: packed and dequantized checkpoints differ by %.3g", methods[k], rel);
        /* the dequantized file is a plain HF checkpoint: every weight is an F32 *.weight */
        snprintf(path, sizeof path, "%s/d%d/model.safetensors", dir, k);
        st_file f;
        cpet_err err;
        cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
        for (int i = 0; i < f.n_tensors; i++) cr_assert(strstr(f.tensors[i].name, ".weight") && f.tensors[i].dtype == ST_F32);
        st_close(&f);
        snprintf(path, sizeof path, "%s/c%d/model.safetensors", dir, k);
        cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
        cr_assert_not_null(st_find(&f, "model.layers.0.mlp.up_proj.qweight"), "%s stores packed weights", methods[k]);
        cr_assert_not_null(st_meta(&f, "cpet.quant.model.layers.0.mlp.up_proj.weight"));
        st_close(&f);
        free(packed);
        free(plain);
    }
    snprintf(path, sizeof path, "%s/c0/compress.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j);
    cr_assert_lt(json_integer_value(json_object_get(j, "bytes_after")), json_integer_value(json_object_get(j, "bytes_before")));
    json_decref(j);
}

static void expect_fail(const char *cmd, const char *part1, const char *part2)
{
    char out[4096];
    int st = run_capture(cmd, out, sizeof out);
    cr_assert_neq(st, 0, "expected failure: %s", cmd);
    cr_expect(strstr(out, part1) && strstr(out, part2) && count_lines(out) == 1, "wanted '%s' and '%s': %s", part1, part2, out);
}

Test(compress_cli, bad_input, .timeout = 60)
{
    char dir[256], cmd[2048], path[600];
    make_temp_dir(dir, sizeof dir);
    make_model(dir);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int5 -o %s/x", CPET_BINARY, dir, dir);
    expect_fail(cmd, "rtn-int5", "unknown compression method");
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int4 --group 100 -o %s/x", CPET_BINARY, dir, dir);
    expect_fail(cmd, "group size 100", "not supported");
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int4 --group 128 -o %s/x", CPET_BINARY, dir, dir);
    expect_fail(cmd, "model.layers.0.self_attn.q_proj", "group size 128 does not divide the row length 64");
    char out[4096];
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method gptq-int4 --calib %s/nope.txt -o %s/y", CPET_BINARY, dir, dir, dir);
    expect_fail(cmd, "nope.txt", "calibration file is missing");
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method gptq-int4 -o %s/y", CPET_BINARY, dir, dir);
    expect_fail(cmd, "gptq-int4", "needs calibration");
    /* the trained methods: a share that leaves a layer no KV head, and quantization trained twice */
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method simple --sparsity 0.9 --calib %s/calib.txt --calib-seq 32 --train-steps 1 -o %s/y",
             CPET_BINARY, dir, dir, dir);
    expect_fail(cmd, "simple", "removes every KV head of a layer");
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method qat-int8+qat-q8_0 --calib %s/calib.txt -o %s/y", CPET_BINARY, dir, dir, dir);
    expect_fail(cmd, "qat-int8+qat-q8_0", "quantized only once");
    snprintf(path, sizeof path, "%s/y", dir);
    cr_assert_eq(access(path, F_OK), -1, "no output after a failure");
    /* a packed checkpoint whose scales went missing */
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int4 --group 64 -o %s/z", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/z/model.safetensors", dir);
    size_t len;
    char *raw = read_all(path, &len);
    char *hit = memmem(raw, len, "model.layers.1.mlp.gate_proj.scales", 35);
    cr_assert_not_null(hit);
    memcpy(hit, "model.layers.1.mlp.gate_proj.scalez", 35); /* same length: the file stays valid */
    write_bytes(path, raw, len);
    free(raw);
    snprintf(cmd, sizeof cmd, "%s info %s/z", CPET_BINARY, dir);
    expect_fail(cmd, "model.layers.1.mlp.gate_proj.scales", "is missing");
}

/* --lm-head: the classifier is stored packed, loads packed-only, and computes what its dequantized
 * weights compute; a tied head is refused. */
Test(compress_cli, lm_head_quantized_and_reloaded_packed, .timeout = 120)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    make_model(dir);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method q8_0 --lm-head -o %s/q", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method q8_0 --lm-head --dequantize -o %s/deq", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/q/model.safetensors", dir);
    st_file f;
    cpet_err err;
    cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
    cr_assert_not_null(st_find(&f, "lm_head.qweight"), "the head is stored packed");
    cr_assert_null(st_find(&f, "lm_head.weight"));
    st_close(&f);
    snprintf(path, sizeof path, "%s/q", dir);
    model m;
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    cr_assert_not_null(m.lm_head.qw);
    cr_assert_null(m.lm_head.w, "no f32 copy of a packed head");
    model_free(&m);
    int n1, n2;
    snprintf(path, sizeof path, "%s/q", dir);
    float *a = logits_of(path, &n1);
    snprintf(path, sizeof path, "%s/deq", dir);
    float *b = logits_of(path, &n2);
    cr_assert_eq(n1, n2);
    double worst = 0, scale = 0;
    for (int i = 0; i < n1; i++) worst = fmax(worst, fabs(a[i] - b[i])), scale = fmax(scale, fabs(b[i]));
    cr_assert_leq(worst, 1e-4 * scale, "packed head vs its dequantized weights: %g of %g", worst, scale);
    free(a);
    free(b);
    /* a tied head is refused, nothing written */
    snprintf(path, sizeof path, "%s/model/config.json", dir);
    char *cfg = read_all(path, NULL);
    char *tie = strstr(cfg, "\"tie_word_embeddings\": false");
    cr_assert_not_null(tie, "%s", cfg);
    memcpy(tie, "\"tie_word_embeddings\": true ", 28);
    mkdir((snprintf(cmd, sizeof cmd, "%s/tied", dir), cmd), 0755);
    snprintf(path, sizeof path, "%s/tied/config.json", dir);
    write_text(path, cfg);
    free(cfg);
    snprintf(cmd, sizeof cmd, "cp %s/model/model.safetensors %s/tied/ && %s compress %s/tied --method q8_0 --lm-head -o %s/tq", dir, dir,
             CPET_BINARY, dir, dir);
    int st = run_capture(cmd, out, sizeof out);
    cr_assert_neq(st, 0, "%s", out);
    cr_assert(strstr(out, "tied to the embeddings"), "%s", out);
    snprintf(path, sizeof path, "%s/tq", dir);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
}

/* cpet init --method: packed from the start, no f32 copy of a linear, and it runs. */
Test(compress_cli, init_packed_random_model, .timeout = 60)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 300,"
                     " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5, \"hidden_act\": \"silu\", \"tie_word_embeddings\": false}");
    snprintf(cmd, sizeof cmd, "%s init %s -o %s/m --method q4_0 --lm-head --seed 3", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s init %s -o %s/bad --method q5_k", CPET_BINARY, path, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "q5_k") && count_lines(out) == 1, "%s", out);
    snprintf(path, sizeof path, "%s/m", dir);
    model m;
    cpet_err err;
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    for (int l = 0; l < m.cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) cr_assert(m.layers[l].lin[k].qw && !m.layers[l].lin[k].w);
    cr_assert(m.lm_head.qw && !m.lm_head.w, "the head packed too");
    cr_assert_eq(m.n_params, 300 * 64 + 2 * 2 * 64 + 64, "only embeddings and norms are f32 (%zu)", m.n_params);
    int ids[8] = {1, 5, 9, 13, 17, 21, 25, 29};
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 8, &err), 0, "%s", err.msg);
    cr_assert(isfinite(m.loss) && m.loss > 0, "loss %f", (double)m.loss);
    model_free(&m);
    /* --embeddings: the table packed too; the model holds only its norms in f32 */
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(cmd, sizeof cmd, "%s init %s -o %s/e --method q8_0 --lm-head --embeddings --seed 3", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/e", dir);
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    cr_assert(m.embed_q && m.embed_q->format == QF_Q8_0 && !m.embed, "the embedding table is packed");
    cr_assert_eq(m.n_params, 2 * 2 * 64 + 64, "only norms are f32 (%zu)", m.n_params);
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 8, &err), 0, "%s", err.msg);
    cr_assert(isfinite(m.loss) && m.loss > 0, "loss %f", (double)m.loss);
    model_free(&m);
}
