/* ProSparse's schedule (Algorithm 1) against its formula worked by hand at stage boundaries, midpoints and
 * quarter points, on the paper's 7B schedule as committed; and bad schedules refused with the file and
 * the stage named. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model.h"
#include "prosparse.h"
#include "prosparse_schedule.h"

static void write_schedule(char *path, size_t n, const char *text)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, n, "%s/schedule.json", dir);
    write_text(path, text);
}

Test(prosparse, schedule_follows_algorithm_1)
{
    prosparse_schedule s;
    cpet_err err;
    cr_assert_eq(prosparse_schedule_load(&s, CPET_SOURCE_DIR "/reports/specs/schedules/prosparse_7b.json", &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 6);
    /* stage 1: constant; each later stage starts at the previous lambda (eta = 0 at t = T_{i-1}) and ends
     * at its own (eta = (sin(pi/2) + 1) / 2 = 1 at t = T_i) */
    cr_assert_float_eq(prosparse_lambda(&s, 1), 0.0, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 5000), 0.0, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 6000), 0.005, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 10000), 0.05, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 12000), 0.05, 1e-15, "a flat stage stays flat");
    cr_assert_float_eq(prosparse_lambda(&s, 11000), 0.05, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 16000), 0.2, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 16500), 0.2, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 99999), 0.2, 1e-15, "past the schedule: its last value");
    /* midpoints: eta = (sin(0) + 1) / 2 = 1/2 */
    cr_assert_float_eq(prosparse_lambda(&s, 5500), 0.0025, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 8000), 0.005 + 0.5 * 0.045, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 14000), 0.05 + 0.5 * 0.15, 1e-15);
    /* quarter and three quarters of stage 3 (6000..10000): eta = (1 -+ sqrt(2)/2) / 2 */
    const double q = (1 - sqrt(2.0) / 2) / 2;
    cr_assert_float_eq(prosparse_lambda(&s, 7000), 0.005 + q * 0.045, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 9000), 0.005 + (1 - q) * 0.045, 1e-15);
    /* the first step of a stage moves off the previous value by (1 - cos(pi / span)) / 2 of the rise */
    cr_assert_float_eq(prosparse_lambda(&s, 5001), 0.005 * (1 - cos(M_PI / 1000)) / 2, 1e-18);
    prosparse_schedule c = prosparse_constant(0.1, 300);
    cr_assert_float_eq(prosparse_lambda(&c, 1), 0.1, 0);
    cr_assert_float_eq(prosparse_lambda(&c, 300), 0.1, 0);
    cr_assert_float_eq(prosparse_lambda(&c, 301), 0.1, 0, "the constant-lambda baseline");
}

Test(prosparse, bad_schedules_name_the_file_and_the_stage)
{
    const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"stages\": [{\"lambda\": 0, \"until_step\": 100}, {\"lambda\": 0.1, \"until_step\": 50}]}",
         "stages[1].until_step 50 is not after stages[0].until_step 100: T must increase"},
        {"{\"stages\": [{\"lambda\": 0, \"until_step\": 100}, {\"lambda\": 0.1, \"until_step\": 100}]}", "T must increase"},
        {"{\"stages\": [{\"lambda\": -0.01, \"until_step\": 100}]}", "stages[0].lambda is -0.01: the regularisation weight must be >= 0"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until_step\": 0}]}", "stages[0].until_step is 0"},
        {"{\"stages\": []}", "at least one stage"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until\": 10}]}", "stages[0]: expected {\"lambda\": number, \"until_step\": integer}"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until_step\": 10}], \"warmup\": 3}", "warmup: unknown key"},
        {"[1, 2]", "expected {\"stages\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        write_schedule(path, sizeof path, cases[i].text);
        prosparse_schedule s;
        cpet_err err;
        cr_assert_neq(prosparse_schedule_load(&s, path, &err), 0, "case %zu accepted", i);
        cr_assert(strstr(err.msg, path) && strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    }
    prosparse_schedule s;
    cpet_err err;
    cr_assert_neq(prosparse_schedule_load(&s, "/nonexistent/schedule.json", &err), 0);
    cr_assert(strstr(err.msg, "/nonexistent/schedule.json"), "%s", err.msg);
}

/* The sparsity counter against x1 recomputed here from each layer's FFN input (the stored normed hidden
 * state) with the layer's own gate and up weights, in double: a ReLU and a FATReLU model, and the SiLU
 * original, which has no exact zeros. */
Test(prosparse, sparsity_counts_the_zeros_of_the_gated_product)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const int B = 2, T = 7, N = B * T, D = m.cfg.hidden_size, F = m.cfg.intermediate_size, L = m.cfg.n_layers;
    int ids[14];
    for (int i = 0; i < N; i++) ids[i] = (i * 53 + 11) % m.cfg.vocab_size;
    const activation acts[3] = {ACT_SILU, ACT_RELU, ACT_FATRELU};
    const float thresholds[3] = {0, 0, 0.01f};
    float *wg = malloc((size_t)F * D * sizeof(float)), *wu = malloc((size_t)F * D * sizeof(float));
    for (int k = 0; k < 3; k++) {
        m.cfg.hidden_act = acts[k];
        m.cfg.act_threshold = thresholds[k];
        cr_assert_eq(model_forward(&m, ids, NULL, B, T, &err), 0, "%s", err.msg);
        prosparse_counts c;
        prosparse_counts_init(&c, &m);
        prosparse_count(&c, &m);
        double mean = 0;
        for (int l = 0; l < L; l++) {
            model_linear_f32(&m.layers[l].lin[LIN_GATE], wg);
            model_linear_f32(&m.layers[l].lin[LIN_UP], wu);
            const float *xn = m.acts.xn2 + (size_t)l * N * D;
            int zeros = 0, unsure = 0;
            for (int n = 0; n < N; n++)
                for (int f = 0; f < F; f++) {
                    double g = 0, u = 0;
                    for (int d = 0; d < D; d++) g += (double)xn[n * D + d] * wg[(size_t)f * D + d], u += (double)xn[n * D + d] * wu[(size_t)f * D + d];
                    const double t = acts[k] == ACT_FATRELU ? thresholds[k] : 0.0;
                    if (acts[k] != ACT_SILU && fabs(g - t) < 1e-5) unsure++; /* float and double may round either way */
                    else zeros += (acts[k] != ACT_SILU && g < t) || u == 0.0;
                }
            const double got = prosparse_sparsity_of(&c, l), want = (double)zeros / ((double)N * F);
            cr_assert(fabs(got - want) <= (unsure + 0.5) / ((double)N * F), "act %d layer %d: %g vs %g", k, l, got, want);
            mean += got / L;
        }
        cr_assert_float_eq(prosparse_sparsity_of(&c, -1), mean, 1e-12, "the overall figure is the mean over layers");
        if (acts[k] == ACT_SILU) cr_assert_eq(prosparse_sparsity_of(&c, -1), 0.0, "SiLU has no exact zeros");
        else cr_assert_gt(prosparse_sparsity_of(&c, -1), 0.3, "ReLU zeroes a good share");
        const double once = prosparse_sparsity_of(&c, 0), entries = c.entries;
        prosparse_count(&c, &m); /* the same batch again: twice the entries, the same fractions */
        cr_assert_eq(c.entries, 2 * entries);
        cr_assert_float_eq(prosparse_sparsity_of(&c, 0), once, 1e-15);
    }
    free(wg);
    free(wu);
    model_free(&m);
}

/* A small random model and a token stream for training tests. */
static void small_model(model *m, activation a)
{
    cpet_err err;
    model_config c = {.vocab_size = 48, .hidden_size = 32, .intermediate_size = 96, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2,
                      .head_dim = 16, .max_position_embeddings = 32, .rms_norm_eps = 1e-5f, .rope_theta = 10000.0f, .hidden_act = a};
    cr_assert_eq(model_create(m, &c, &err), 0, "%s", err.msg);
    model_init_random(m, 0.1f, 3);
}

typedef struct {
    int n;
    double lambda[64], sparsity[64];
    long step[64];
} step_log;

static int keep_step(const prosparse_step_log *s, void *ctx)
{
    step_log *l = ctx;
    if (l->n < 64) l->step[l->n] = s->step, l->lambda[l->n] = s->lambda, l->sparsity[l->n] = s->sparsity, l->n++;
    return 0;
}

Test(prosparse, the_l1_term_raises_sparsity_and_lambda_follows_the_schedule)
{
    cpet_err err;
    int stream[2000];
    for (int i = 0; i < 2000; i++) stream[i] = (i * 7 + i / 13) % 48; /* a learnable periodic text */
    double final[2];
    for (int k = 0; k < 2; k++) { /* ReLU only (lambda 0) against a strong ramp: the same seed, data and steps */
        model m;
        small_model(&m, ACT_SILU);
        prosparse_relu_swap(&m);
        cr_assert_eq(m.cfg.hidden_act, ACT_RELU);
        prosparse_train_config c = {.steps = 40, .batch = 4, .seq = 16, .lr = {SCHED_CONSTANT, 3e-3f, 3e-3f, 0, 40}, .clip = 1.0, .seed = 5};
        c.schedule.n = 2;
        c.schedule.lambda[0] = 0, c.schedule.until[0] = 10;
        c.schedule.lambda[1] = k ? 1.0 : 0, c.schedule.until[1] = 40;
        step_log log = {0};
        cr_assert_eq(prosparse_train(&m, stream, 2000, &c, keep_step, &log, &err), 0, "%s", err.msg);
        cr_assert_eq(log.n, 40);
        for (int i = 0; i < log.n; i++) {
            cr_assert_eq(log.step[i], i + 1);
            cr_assert_float_eq(log.lambda[i], prosparse_lambda(&c.schedule, i + 1), 1e-15, "step %d", i + 1);
        }
        prosparse_counts counts;
        prosparse_counts_init(&counts, &m);
        cr_assert_eq(prosparse_measure(&m, stream, 2000, 16, 8, &counts, NULL, &err), 0, "%s", err.msg);
        final[k] = prosparse_sparsity_of(&counts, -1);
        model_free(&m);
    }
    cr_assert_gt(final[1], final[0] + 0.1, "the regulariser must raise sparsity: %g with lambda vs %g without", final[1], final[0]);
}

/* The perplexity the measurement reports is the token mean of each window's own loss (windows forwarded one
 * at a time here; there 8 a batch, the last batch partial), and asking for it leaves the sparsity as it was. */
Test(prosparse, measured_perplexity_is_the_mean_of_each_windows_loss)
{
    cpet_err err;
    int stream[333];
    for (int i = 0; i < 333; i++) stream[i] = (i * 11 + i / 7) % 48;
    model m;
    small_model(&m, ACT_SILU);
    prosparse_relu_swap(&m);
    const int seq = 16;
    const long windows = (333 - 1) / seq; /* 20: two full batches of 8 and one of 4 */
    double want = 0;
    for (long w = 0; w < windows; w++) {
        cr_assert_eq(model_forward(&m, stream + w * seq, stream + w * seq + 1, 1, seq, &err), 0, "%s", err.msg);
        want += m.loss / (double)windows;
    }
    prosparse_counts with, without;
    prosparse_counts_init(&with, &m);
    prosparse_counts_init(&without, &m);
    double nll = -1;
    cr_assert_eq(prosparse_measure(&m, stream, 333, seq, 8, &with, &nll, &err), 0, "%s", err.msg);
    cr_expect_float_eq(nll, want, 1e-5 * want, "nll %.8f, per window %.8f", nll, want);
    cr_assert_eq(prosparse_measure(&m, stream, 333, seq, 8, &without, NULL, &err), 0, "%s", err.msg);
    cr_expect_float_eq(prosparse_sparsity_of(&with, -1), prosparse_sparsity_of(&without, -1), 1e-12, "the same windows either way");
    model_free(&m);
}

Test(prosparse, the_threshold_shift_needs_a_relu_model)
{
    cpet_err err;
    model m;
    small_model(&m, ACT_SILU);
    cr_assert_neq(prosparse_set_threshold(&m, 0.01f, &err), 0);
    cr_assert(strstr(err.msg, "ReLU") && strstr(err.msg, "silu"), "%s", err.msg);
    prosparse_relu_swap(&m);
    cr_assert_eq(prosparse_set_threshold(&m, 0.01f, &err), 0, "%s", err.msg);
    cr_assert(m.cfg.hidden_act == ACT_FATRELU && m.cfg.act_threshold == 0.01f);
    cr_assert_eq(prosparse_set_threshold(&m, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(m.cfg.hidden_act, ACT_RELU, "threshold 0 is plain ReLU again");
    model_free(&m);
}

static void expect_one_line_error(const char *cmd, const char *part1, const char *part2)
{
    char out[8192];
    int status = run_capture(cmd, out, sizeof out);
    cr_assert_neq(status, 0, "expected failure: %s\n%s", cmd, out);
    cr_expect_eq(count_lines(out), 1, "one line, got:\n%s", out);
    cr_expect(strstr(out, part1) && strstr(out, part2), "message should name '%s' and '%s': %s", part1, part2, out);
}

/* The commands end to end on a tiny world: sparsify (with its log), a predictor, sparse decode equal to
 * dense decode; and their bad input. */
Test(prosparse, sparsify_predictor_and_sparse_decode_from_the_command_line, .timeout = 300)
{
    char dir[256], cmd[8192], out[16384], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    write_text(path, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
                     " \"num_attention_heads\": 2, \"num_key_value_heads\": 2, \"vocab_size\": 300, \"max_position_embeddings\": 64,"
                     " \"rms_norm_eps\": 1e-5, \"hidden_act\": \"silu\", \"bos_token_id\": 0, \"eos_token_id\": 0}");
    snprintf(cmd, sizeof cmd,
             "%s world --seed 1 --docs 400 -o %s/w && %s tokenizer-train --vocab-size 300 -o %s/w/tokenizer.json %s/w/corpus_train.jsonl && "
             "%s init %s/cfg.json --seed 1 -o %s/m && cp %s/w/tokenizer.json %s/m/",
             CPET_BINARY, dir, CPET_BINARY, dir, dir, CPET_BINARY, dir, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/s.json", dir);
    write_text(path, "{\"stages\": [{\"lambda\": 0, \"until_step\": 4}, {\"lambda\": 0.01, \"until_step\": 8}]}");
    snprintf(cmd, sizeof cmd,
             "%s sparsify %s/m --corpus %s/w/corpus_train.jsonl --schedule %s --lambda-scale 0.5 --batch 2 --seq 32 --threshold 0.01 -o %s/sp",
             CPET_BINARY, dir, dir, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    prosparse_schedule unscaled;
    cpet_err err;
    cr_assert_eq(prosparse_schedule_load(&unscaled, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/sp/sparsify.json", dir);
    json_error_t je;
    json_t *log = json_load_file(path, 0, &je);
    cr_assert_not_null(log, "%s", je.text);
    cr_assert_eq(json_array_size(json_object_get(log, "log")), 8, "one row per step");
    for (long t = 1; t <= 8; t++) { /* --lambda-scale: every step's lambda is half the file's */
        const double got = json_number_value(json_object_get(json_array_get(json_object_get(log, "log"), (size_t)t - 1), "lambda"));
        cr_expect_float_eq(got, 0.5 * prosparse_lambda(&unscaled, t), 1e-12, "step %ld: lambda %g, want %g", t, got, 0.5 * prosparse_lambda(&unscaled, t));
    }
    cr_expect_float_eq(json_number_value(json_object_get(log, "lambda_scale")), 0.5, 0, "the scale is recorded");
    cr_assert_str_eq(json_string_value(json_object_get(log, "activation")), "fatrelu");
    cr_assert_str_eq(json_string_value(json_object_get(log, "activation_before")), "silu");
    cr_assert(json_object_get(json_object_get(log, "facts"), "git_revision"), "the run records its revision");
    json_decref(log);
    /* a predictor for it, then decode: exact sparse = dense (greedy ids), the predictor counted */
    snprintf(cmd, sizeof cmd, "%s predictor %s/sp --corpus %s/w/corpus_train.jsonl --seq 32 --epochs 2 --batch 64 --max-tokens 2048 -o %s/pred && "
             "%s bench decode %s/sp --sparse --predictor %s/pred --prompt-tokens 8 --gen-tokens 16 --threads 1 --reps 2 -o %s/bd.json",
             CPET_BINARY, dir, dir, dir, CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/bd.json", dir);
    json_t *bd = json_load_file(path, 0, &je);
    cr_assert_not_null(bd, "%s", je.text);
    json_t *s0 = json_array_get(json_object_get(bd, "sparse"), 0);
    cr_assert(json_is_true(json_object_get(s0, "exact_same_greedy_ids")), "exact sparse decode must generate what dense decode does");
    cr_assert(json_is_number(json_object_get(s0, "predictor_speedup")));
    json_decref(bd);
    /* bad input */
    snprintf(path, sizeof path, "%s/bad.json", dir);
    write_text(path, "{\"stages\": [{\"lambda\": 0, \"until_step\": 10}, {\"lambda\": 0.1, \"until_step\": 5}]}");
    snprintf(cmd, sizeof cmd, "%s sparsify %s/m --corpus %s/w/corpus_train.jsonl --schedule %s -o %s/never", CPET_BINARY, dir, dir, path, dir);
    expect_one_line_error(cmd, "bad.json", "T must increase");
    write_text(path, "{\"stages\": [{\"lambda\": -0.1, \"until_step\": 10}]}");
    expect_one_line_error(cmd, "bad.json", "stages[0].lambda");
    snprintf(cmd, sizeof cmd, "%s sparsify %s/m --corpus %s/w/corpus_train.jsonl --lambda 0 --steps 2 --lambda-scale -1 -o %s/never",
             CPET_BINARY, dir, dir, dir);
    expect_one_line_error(cmd, "--lambda-scale", ">= 0");
    snprintf(path, sizeof path, "%s/never", dir);
    cr_assert_eq(access(path, F_OK), -1, "no output on failure");
    snprintf(cmd, sizeof cmd, "%s bench decode %s/m --sparse --threshold 0.01 --gen-tokens 4 --prompt-tokens 4", CPET_BINARY, dir);
    expect_one_line_error(cmd, "threshold", "silu");
    snprintf(cmd, sizeof cmd, "%s bench decode %s/m --sparse --gen-tokens 4 --prompt-tokens 4", CPET_BINARY, dir);
    expect_one_line_error(cmd, "ReLU", "silu");
    /* the predictor of sp on another ReLU model: the same shape, other weights */
    snprintf(cmd, sizeof cmd, "%s sparsify %s/m --corpus %s/w/corpus_train.jsonl --lambda 0 --steps 2 --batch 2 --seq 32 --seed 9 -o %s/other > /dev/null && "
             "%s bench decode %s/other --sparse --predictor %s/pred --gen-tokens 4 --prompt-tokens 4",
             CPET_BINARY, dir, dir, dir, CPET_BINARY, dir, dir);
    expect_one_line_error(cmd, "predictor.json", "another model");
}

/* ProSparse's checkpoints name the activation "fatrelu" with the threshold as hidden_act_param; ReluLLaMA's
 * plain "relu". Both load; a negative threshold does not. */
Test(prosparse, config_reads_prosparse_and_relullama_activations)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *base = "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
                       " \"num_attention_heads\": 2, \"vocab_size\": 48, \"max_position_embeddings\": 32, \"rms_norm_eps\": 1e-5, %s}";
    char text[1024];
    model_config c;
    cpet_err err;
    snprintf(text, sizeof text, base, "\"hidden_act\": \"fatrelu\", \"hidden_act_param\": 0.01");
    write_text(path, text);
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
    cr_assert(c.hidden_act == ACT_FATRELU && c.act_threshold == 0.01f);
    snprintf(text, sizeof text, base, "\"hidden_act\": \"relu\"");
    write_text(path, text);
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
    cr_assert(c.hidden_act == ACT_RELU && c.act_threshold == 0.0f);
    /* ProSparse-7B's own config: SparseLlamaForCausalLM, model_type sparsellama */
    snprintf(text, sizeof text, "{\"architectures\": [\"SparseLlamaForCausalLM\"], \"model_type\": \"sparsellama\", \"hidden_size\": 32,"
             " \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"vocab_size\": 48, \"max_position_embeddings\": 32,"
             " \"rms_norm_eps\": 1e-5, \"hidden_act\": \"fatrelu\", \"hidden_act_param\": 0.01, \"pretraining_tp\": 1}");
    write_text(path, text);
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
    cr_assert(c.hidden_act == ACT_FATRELU && c.act_threshold == 0.01f);
    /* its other activation, shiftrelu (relu(x - t)), is not FATReLU: refused by name */
    snprintf(text, sizeof text, base, "\"hidden_act\": \"shiftrelu\", \"hidden_act_param\": 0.01");
    write_text(path, text);
    cr_assert_neq(config_load(&c, path, &err), 0);
    cr_assert(strstr(err.msg, "shiftrelu"), "%s", err.msg);
    snprintf(text, sizeof text, base, "\"hidden_act\": \"relu\", \"fatrelu_threshold\": -0.5");
    write_text(path, text);
    cr_assert_neq(config_load(&c, path, &err), 0);
    cr_assert(strstr(err.msg, "config.json") && strstr(err.msg, "negative"), "%s", err.msg);
}
