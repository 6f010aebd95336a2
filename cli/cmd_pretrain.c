/* cpet pretrain: train a small LLaMA from scratch on a text corpus, with checkpoints that resume exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "corpus.h"
#include "evaluate.h"
#include "fileio.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"
#include "train.h"

#define MAX_EVAL 8

typedef struct {
    const char *corpus, *tokenizer, *out, *heldout[MAX_EVAL], *eval[MAX_EVAL];
    int n_heldout, n_eval;
    long dim, layers, heads, kv_heads, ffn, seq, steps, batch, warmup, seed, threads, ckpt_every, stop_after;
    int tie, resume;
    double lr, min_lr, clip, wd;
    activation act;
    schedule_kind sched;
} pretrain_args;

/* Batch rows start at positions drawn from (seed, step, row) alone, so a resumed run sees the same data. */
static int write_checkpoint(const pretrain_args *a, model *m, adamw *o, json_t *curve, long step, cpet_err *err)
{
    char staged[4200], path[4400];
    snprintf(staged, sizeof staged, "%s.partial", a->out);
    remove_flat_dir(staged);
    if (model_save(m, staged, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", staged);
    if (copy_file(a->tokenizer, path, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", staged);
    if (adamw_save(o, path, err) != 0) return -1;
    json_t *state = json_pack("{s:I, s:I, s:O}", "step", (json_int_t)step, "seed", (json_int_t)a->seed, "curve", curve);
    snprintf(path, sizeof path, "%s/trainer_state.json", staged);
    int rc = json_write_file(path, state, err);
    json_decref(state);
    return rc == 0 ? replace_dir(staged, a->out, err) : -1;
}

/* 0: parsed; 2: help shown; 1: bad arguments (reported) */
static int parse(pretrain_args *a, int argc, char **argv)
{
    *a = (pretrain_args){.dim = 256, .layers = 6, .heads = 8, .kv_heads = 4, .seq = 128, .steps = 2000, .batch = 16,
                         .warmup = 100, .threads = 0, .ckpt_every = 500, .lr = 2e-3, .min_lr = 2e-4, .clip = 1.0,
                         .wd = 0.1, .act = ACT_SILU, .sched = SCHED_COSINE};
    const char *act = "silu", *sched = "cosine";
    const opt opts[] = {
        OPT_REQUIRED("--corpus", &a->corpus, "TEXT", "one document per line (or JSONL), joined with <|endoftext|>"),
        OPT_REQUIRED("--tokenizer", &a->tokenizer, "tokenizer.json", "the tokenizer, copied into the model directory"),
        OPT_REPEAT("--heldout", a->heldout, &a->n_heldout, MAX_EVAL, "TEXT", "perplexity on it at the end"),
        OPT_REPEAT("--eval", a->eval, &a->n_eval, MAX_EVAL, "TASKS.jsonl", "accuracy on it at the end"),
        OPT_INT("--dim", &a->dim, 8, 65536, "model width"),
        OPT_INT("--layers", &a->layers, 1, 1024, "layers"),
        OPT_INT("--heads", &a->heads, 1, 1024, "attention heads"),
        OPT_INT("--kv-heads", &a->kv_heads, 1, 1024, "key/value heads"),
        OPT_INT("--ffn", &a->ffn, 0, 1 << 20, "FFN width (0: 8/3 dim, rounded up to 64)"),
        OPT_STRING("--act", &act, "silu|relu|gelu|gelu_pytorch_tanh", "the FFN's activation"),
        OPT_SWITCH("--tie", &a->tie, "tie the LM head to the embeddings"),
        OPT_INT("--seq", &a->seq, 2, 1 << 16, "sequence length"),
        OPT_INT("--steps", &a->steps, 1, 100000000, "optimizer steps"),
        OPT_INT("--batch", &a->batch, 1, 65536, "sequences per step"),
        OPT_NUMBER("--lr", &a->lr, "peak learning rate"),
        OPT_NUMBER("--min-lr", &a->min_lr, "the schedule's floor"),
        OPT_INT("--warmup", &a->warmup, 0, 100000000, "linear warmup steps"),
        OPT_STRING("--schedule", &sched, "constant|linear|cosine", "the learning-rate schedule"),
        OPT_NUMBER("--clip", &a->clip, "gradient norm clip (0: off)"),
        OPT_NUMBER("--weight-decay", &a->wd, "AdamW weight decay"),
        OPT_SEED(&a->seed),
        OPT_THREADS(&a->threads),
        OPT_INT("--ckpt-every", &a->ckpt_every, 1, 100000000, "checkpoint every N steps"),
        OPT_SWITCH("--resume", &a->resume, "continue from MODEL_DIR's checkpoint exactly"),
        OPT_INT("--stop-after", &a->stop_after, 0, 100000000, "train at most N steps now, checkpoint and exit (0: no limit)"),
        OPT_REQUIRED("-o", &a->out, "MODEL_DIR", "the HF checkpoint, with optimizer and trainer state"),
        OPT_END};
    const opt_command cmd = {
        .name = "pretrain",
        .about = "Trains a LLaMA from scratch on TEXT, writing an HF checkpoint (config.json, model.safetensors,\n"
                 "tokenizer.json) plus optimizer and trainer state every --ckpt-every steps, atomically. At the end:\n"
                 "perplexity on each --heldout TEXT and accuracy on each --eval TASKS.jsonl, recorded with the loss\n"
                 "curve, seed and git revision in MODEL_DIR/pretrain.json.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p == OPT_HELP ? 2 : 1;
    if (activation_parse(act, &a->act) != 0) return cli_error("--act: '%s' is not silu, relu, gelu or gelu_pytorch_tanh", act);
    if (schedule_parse(sched, &a->sched) != 0) return cli_error("--schedule: '%s' is not constant, linear or cosine", sched);
    if (a->dim % a->heads) return cli_error("pretrain: --dim %ld is not a multiple of --heads %ld", a->dim, a->heads);
    if (!a->ffn) a->ffn = (a->dim * 8 / 3 + 63) / 64 * 64;
    return 0;
}

/* Final evaluation: held-out perplexity and each task file's accuracy. */
static json_t *evaluate_all(const pretrain_args *a, model *m, const tokenizer *t, int bos, cpet_err *err)
{
    json_t *res = json_object(), *ppl = json_object();
    json_object_set_new(res, "perplexity", ppl);
    for (int i = 0; i < a->n_heldout; i++) {
        corpus held;
        ppl_result p;
        if (corpus_read(&held, a->heldout[i], err) != 0) goto fail;
        int rc = eval_perplexity(m, t, held.docs, held.lens, held.n, bos, 16, &p, err);
        corpus_free(&held);
        if (rc != 0) goto fail;
        const char *base = strrchr(a->heldout[i], '/');
        json_object_set_new(ppl, base ? base + 1 : a->heldout[i],
                            json_pack("{s:s, s:f, s:f, s:I}", "file", a->heldout[i], "perplexity", p.ppl,
                                      "nll_per_token", p.nll / p.tokens, "tokens", (json_int_t)p.tokens));
    }
    json_t *tasks = json_object();
    json_object_set_new(res, "tasks", tasks);
    for (int i = 0; i < a->n_eval; i++) {
        task_set s;
        mc_result r;
        if (tasks_read(&s, a->eval[i], NULL, err) != 0) goto fail;
        int rc = eval_multiple_choice(m, t, &s, bos, 32, &r, NULL, NULL, err);
        const char *name = s.n && s.items[0].task ? s.items[0].task : a->eval[i];
        if (rc == 0)
            json_object_set_new(tasks, name, json_pack("{s:s, s:i, s:f, s:f, s:f, s:f}", "file", a->eval[i], "n", r.n,
                                                       "acc", r.acc, "acc_stderr", r.acc_stderr, "acc_norm", r.acc_norm,
                                                       "chance", r.chance));
        tasks_free(&s);
        if (rc != 0) goto fail;
    }
    return res;
fail:
    json_decref(res);
    return NULL;
}

int cmd_pretrain(int argc, char **argv)
{
    pretrain_args a;
    int prc = parse(&a, argc, argv);
    if (prc) return prc == 2 ? 0 : prc;
    if (a.threads) engine_set_threads((int)a.threads);
    cpet_err err;
    tokenizer tok;
    corpus text;
    if (tokenizer_load(&tok, a.tokenizer, &err) != 0) return cli_report(&err);
    int sep = tokenizer_id(&tok, "<|endoftext|>");
    if (sep < 0) {
        tokenizer_free(&tok);
        return cli_error("%s: has no <|endoftext|> token to separate documents", a.tokenizer);
    }
    if (corpus_read(&text, a.corpus, &err) != 0) {
        tokenizer_free(&tok);
        return cli_report(&err);
    }
    int *stream = NULL, rc = 1;
    long n_tokens = 0, step0 = 0;
    model m;
    memset(&m, 0, sizeof m);
    adamw opt;
    memset(&opt, 0, sizeof opt);
    json_t *curve = json_array();
    int *ids = NULL, *targets = NULL;
    if (corpus_tokenize(&text, &tok, sep, &stream, &n_tokens, &err) != 0) {
        cpet_prefix(&err, "%s", a.corpus);
        goto done;
    }
    if (n_tokens < a.seq + 2) {
        cpet_fail(&err, "%s: %ld tokens, fewer than one window of --seq %ld", a.corpus, n_tokens, a.seq);
        goto done;
    }
    char state_path[4200];
    snprintf(state_path, sizeof state_path, "%s/trainer_state.json", a.out);
    int resuming = a.resume && path_exists(state_path);
    if (resuming) {
        json_t *state = json_read_file(state_path, &err);
        if (!state || model_load(&m, a.out, &err) != 0) {
            json_decref(state);
            goto done;
        }
        step0 = (long)json_integer_value(json_object_get(state, "step"));
        long seed = (long)json_integer_value(json_object_get(state, "seed"));
        json_array_extend(curve, json_object_get(state, "curve"));
        json_decref(state);
        if (seed != a.seed) {
            cpet_fail(&err, "%s: the checkpoint was trained with seed %ld, not --seed %ld", state_path, seed, a.seed);
            goto done;
        }
    } else {
        model_config c = {.vocab_size = tok.vocab_size, .hidden_size = (int)a.dim, .intermediate_size = (int)a.ffn,
                          .n_layers = (int)a.layers, .n_heads = (int)a.heads, .n_kv_heads = (int)a.kv_heads,
                          .head_dim = (int)(a.dim / a.heads), .max_position_embeddings = (int)a.seq,
                          .rms_norm_eps = 1e-5f, .rope_theta = 10000.0f, .tie_word_embeddings = (int)a.tie,
                          .hidden_act = a.act, .bos_token_id = sep, .eos_token_id = sep};
        if (model_create(&m, &c, &err) != 0) goto done;
        model_init_random(&m, 0.02f, (unsigned long long)a.seed);
    }
    adamw_config oc = {(float)a.lr, 0.9f, 0.95f, 1e-8f, (float)a.wd};
    if (model_set_trainable(&m, NULL, 1, &err) || adamw_init(&opt, oc, &err) || adamw_add(&opt, m.tensors, m.n_tensors, &err))
        goto done;
    if (resuming) {
        char opt_path[4300];
        snprintf(opt_path, sizeof opt_path, "%s/optimizer.safetensors", a.out);
        if (adamw_load(&opt, opt_path, &err) != 0) goto done;
    }
    lr_schedule sched = {a.sched, (float)a.lr, (float)a.min_lr, a.warmup, a.steps};
    const int B = (int)a.batch, T = (int)a.seq;
    ids = malloc((size_t)B * T * sizeof(int));
    targets = malloc((size_t)B * T * sizeof(int));
    double t0 = now_seconds();
    long trained = 0, last = a.stop_after && step0 + a.stop_after < a.steps ? step0 + a.stop_after : a.steps;
    for (long step = step0; step < last; step++) {
        train_windows(stream, n_tokens, (uint64_t)a.seed, step, B, T, ids, targets);
        step_result r;
        if (train_step(&m, &opt, ids, targets, B, T, lr_at(&sched, step), a.clip, &r, &err) != 0) goto done;
        json_array_append_new(curve, json_real(r.loss));
        trained++;
        double el = now_seconds() - t0, tps = (double)trained * B * T / el;
        if (stderr_is_tty())
            fprintf(stderr, "\rstep %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %.0fs   ", step + 1, a.steps,
                    (double)r.loss, (double)r.lr, tps, el / trained * (a.steps - step - 1));
        if ((step + 1) % a.ckpt_every == 0 || step + 1 == last)
            if (write_checkpoint(&a, &m, &opt, curve, step + 1, &err) != 0) goto done;
    }
    double train_seconds = now_seconds() - t0;
    if (stderr_is_tty()) fputc('\n', stderr);
    if (last < a.steps) {
        fprintf(stderr, "pretrain: stopped after step %ld of %ld; continue with --resume -o %s\n", last, a.steps, a.out);
        rc = 0;
        goto done;
    }
    json_t *results = evaluate_all(&a, &m, &tok, sep, &err);
    if (!results) goto done;
    json_t *log = json_pack(
        "{s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:I}, s:{s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:f}, "
        "s:I, s:f, s:I, s:I, s:f, s:f, s:f, s:O, s:o, s:o}",
        "command", "pretrain", "corpus", a.corpus, "tokenizer", a.tokenizer, "seed", (json_int_t)a.seed, "model", "dim",
        (json_int_t)a.dim, "layers", (json_int_t)a.layers, "heads", (json_int_t)a.heads, "kv_heads",
        (json_int_t)a.kv_heads, "ffn", (json_int_t)a.ffn, "vocab", (json_int_t)tok.vocab_size, "act",
        activation_name(a.act), "tied", (int)a.tie, "parameters", (json_int_t)m.n_params, "train", "steps",
        (json_int_t)a.steps, "batch", (json_int_t)a.batch, "seq", (json_int_t)a.seq, "lr", a.lr, "min_lr", a.min_lr,
        "warmup", (json_int_t)a.warmup, "clip", a.clip, "weight_decay", a.wd, "corpus_tokens", (json_int_t)n_tokens,
        "passes", (double)a.steps * B * T / (double)n_tokens, "tokens_seen", (json_int_t)(a.steps * B * T), "resumed_at_step", (json_int_t)step0, "train_seconds", train_seconds, "tokens_per_second",
        trained ? (double)trained * B * T / train_seconds : 0.0, "final_loss",
        json_real_value(json_array_get(curve, json_array_size(curve) - 1)), "loss_curve", curve, "eval", results,
        "facts", run_facts());
    char log_path[4300];
    snprintf(log_path, sizeof log_path, "%s/pretrain.json", a.out);
    rc = json_write_file(log_path, log, &err) != 0;
    json_decref(log);
    if (rc == 0) fprintf(stderr, "pretrain: %ld steps in %.0f s -> %s (results in %s)\n", a.steps - step0, train_seconds, a.out, log_path);
done:
    if (rc != 0) cli_report(&err);
    json_decref(curve);
    free(ids);
    free(targets);
    free(stream);
    adamw_free(&opt);
    model_free(&m);
    corpus_free(&text);
    tokenizer_free(&tok);
    return rc;
}
