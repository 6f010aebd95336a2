/* cpet generate / score / eval: inference on a model directory (with its tokenizer.json), optional adapter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "blas.h"
#include "cli.h"
#include "sparse_decode.h"
#include "sparse_ffn.h"
#include "compress.h"
#include "corpus.h"
#include "evaluate.h"
#include "fileio.h"
#include "generate.h"
#include "gguf.h"
#include "lora.h"
#include "recovery.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"

#define MAX_TASKS 16

typedef struct {
    const char *model_dir, *adapter, *tokenizer_path, *prompt, *split, *heldout, *out;
    const char *tasks[MAX_TASKS];
    int n_tasks, no_bos, q8_activations;
    long max_new, seed, threads, batch;
    double temperature, top_p;
} infer_args;

typedef struct {
    model m;
    any_adapter ad; /* LoRA / MoSLoRA (with a CA-LoRA adapter's recovery modules) or LoRETTA */
    tokenizer tok;
    int bos;
} loaded;

/* the options every inference command shares */
#define INFER_COMMON(a)                                                                                                            \
    OPT_POSITIONAL(&(a).model_dir, "MODEL_DIR", "an HF model directory or a .gguf file"),                                          \
        OPT_STRING("--adapter", &(a).adapter, "DIR", "an adapter: PEFT LoRA / MoSLoRA (with CA-LoRA's recovery modules) or LoRETTA"),               \
        OPT_STRING("--tokenizer", &(a).tokenizer_path, "FILE", "a tokenizer.json (default: the model's own)"),                    \
        OPT_SWITCH("--no-bos", &(a).no_bos, "no BOS before the text"),                                                           \
        OPT_SWITCH("--q8-activations", &(a).q8_activations, "packed models: llama.cpp's int8-activation decode"),                 \
        OPT_THREADS(&(a).threads)

static int load_all(const infer_args *a, loaded *L, cpet_err *err)
{
    memset(L, 0, sizeof *L);
    if (a->threads) engine_set_threads((int)a->threads);
    if (model_load_for_inference(&L->m, a->model_dir, err) != 0) return -1; /* a directory or a .gguf file */
    if (tokenizer_load_for(&L->tok, a->model_dir, a->tokenizer_path, err) != 0) {
        model_free(&L->m);
        return -1;
    }
    if (a->adapter && adapter_load(&L->ad, &L->m, a->adapter, err) != 0) {
        tokenizer_free(&L->tok);
        model_free(&L->m);
        return -1;
    }
    L->bos = a->no_bos ? -1 : tokenizer_bos(&L->tok, L->m.cfg.bos_token_id);
    if (a->q8_activations) model_keep_decode_packs_only(&L->m); /* inference only: the pack is the weights */
    model_set_q8_activations(&L->m, a->q8_activations);
    return 0;
}

static void free_all(loaded *L)
{
    adapter_free(&L->ad);
    tokenizer_free(&L->tok);
    model_free(&L->m);
}

int cmd_generate(int argc, char **argv)
{
    infer_args a = {.max_new = 32, .temperature = 0.0, .top_p = 1.0};
    int sparse = 0;
    const opt opts[] = {INFER_COMMON(a),
                        OPT_REQUIRED("--prompt", &a.prompt, "TEXT", "the text continued"),
                        OPT_INT("--max-new", &a.max_new, 1, 1 << 20, "tokens generated at most"),
                        OPT_NUMBER("--temperature", &a.temperature, "0: greedy; above: nucleus sampling from the seed"),
                        OPT_NUMBER("--top-p", &a.top_p, "nucleus sampling's mass"),
                        OPT_SEED(&a.seed),
                        OPT_SWITCH("--sparse", &sparse, "a ReLU model: the exact sparse FFN at decode (the same tokens)"),
                        OPT_END};
    const opt_command cmd = {.name = "generate",
                             .about = "KV-cache decoding; stops at the model's eos token. Prints the continuation.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    loaded L;
    cpet_err err;
    if (load_all(&a, &L, &err) != 0) return cli_report(&err);
    if (sparse && model_sparse_enable(&L.m, 1, &err) != 0) {
        cpet_prefix(&err, "%s", a.model_dir);
        free_all(&L);
        return cli_report(&err);
    }
    int *ids, n, rc = 1;
    if (tokenizer_encode(&L.tok, a.prompt, strlen(a.prompt), &ids, &n, &err) == 0) {
        int *prompt = malloc((size_t)(n + 1) * sizeof(int)), np = 0;
        if (L.bos >= 0) prompt[np++] = L.bos;
        memcpy(prompt + np, ids, (size_t)n * sizeof(int));
        np += n;
        int *out = malloc((size_t)(np + a.max_new) * sizeof(int)), n_out;
        gen_config g = {(int)a.max_new, (float)a.temperature, (float)a.top_p, L.m.cfg.eos_token_id, (uint64_t)a.seed};
        char *text;
        size_t len;
        if (generate(&L.m, prompt, np, &g, out, &n_out, &err) == 0) {
            int end = n_out;
            if (end > np && out[end - 1] == g.stop_id) end--;
            if (tokenizer_decode(&L.tok, out + np, end - np, &text, &len, &err) == 0) {
                fwrite(text, 1, len, stdout);
                putchar('\n');
                free(text);
                rc = 0;
            }
        }
        free(out);
        free(prompt);
        free(ids);
    }
    if (rc) cli_report(&err);
    free_all(&L);
    return rc;
}

/* score (per-example JSONL on stdout) and eval (aggregate JSON) share their options */
static int parse_eval(infer_args *a, int argc, char **argv, const char *name, const char *about)
{
    a->batch = 32;
    const opt opts[] = {INFER_COMMON(*a),
                        OPT_REPEAT("--task", a->tasks, &a->n_tasks, MAX_TASKS, "TASKS.jsonl", "multiple-choice examples"),
                        OPT_STRING("--split", &a->split, "S", "only examples of that split"),
                        OPT_STRING("--heldout", &a->heldout, "TEXT", "perplexity on held-out text, one document per line"),
                        OPT_INT("--batch", &a->batch, 1, 4096, "examples per forward"),
                        OPT_STRING("-o", &a->out, "RESULTS.json", "written atomically (default: stdout)"),
                        OPT_END};
    const opt_command cmd = {.name = name, .about = about};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p;
    if (!a->n_tasks && !a->heldout) return cli_error("%s: give --task FILE and/or --heldout FILE", name), OPT_ERROR;
    return OPT_OK;
}

int cmd_score(int argc, char **argv)
{
    infer_args a = {0};
    const int p = parse_eval(&a, argc, argv, "score",
                             "Scores every choice of every example by summed log-likelihood (lm-eval multiple choice) and prints\n"
                             "one JSON line per example: id, label, prediction, correct, logprobs.\n");
    if (p != OPT_OK) return cli_exit_status(p);
    loaded L;
    cpet_err err;
    if (load_all(&a, &L, &err) != 0) return cli_report(&err);
    int rc = 0;
    for (int f = 0; f < a.n_tasks && rc == 0; f++) {
        task_set s;
        mc_result r;
        if (tasks_read(&s, a.tasks[f], a.split, &err) != 0) {
            rc = cli_report(&err);
            break;
        }
        int n_choices = 0;
        for (int i = 0; i < s.n; i++) n_choices += s.items[i].n_choices;
        int *pred = malloc(((size_t)s.n + 1) * sizeof(int));
        double *lp = malloc(((size_t)n_choices + 1) * sizeof(double));
        if (eval_multiple_choice(&L.m, &L.tok, &s, L.bos, (int)a.batch, &r, pred, lp, &err) != 0) rc = cli_report(&err);
        for (int i = 0, k = 0; rc == 0 && i < s.n; k += s.items[i].n_choices, i++) {
            json_t *l = json_array();
            for (int c = 0; c < s.items[i].n_choices; c++) json_array_append_new(l, json_real(lp[k + c]));
            json_t *o = json_pack("{s:s, s:i, s:i, s:b, s:o}", "id", s.items[i].id, "label", s.items[i].label,
                                  "prediction", pred[i], "correct", pred[i] == s.items[i].label, "logprobs", l);
            json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            putchar('\n');
            json_decref(o);
        }
        free(pred);
        free(lp);
        tasks_free(&s);
    }
    free_all(&L);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    infer_args a = {0};
    const int p = parse_eval(&a, argc, argv, "eval",
                             "Accuracy (acc, acc_norm, stderr, chance) per task file by candidate scoring, and perplexity on\n"
                             "held-out text (one document per line).\n");
    if (p != OPT_OK) return cli_exit_status(p);
    loaded L;
    cpet_err err;
    if (load_all(&a, &L, &err) != 0) return cli_report(&err);
    json_t *tasks = json_object(), *res = json_pack("{s:s, s:s?, s:s?, s:o}", "model", a.model_dir, "adapter", a.adapter,
                                                    "split", a.split, "tasks", tasks);
    int rc = 0;
    double t0 = now_seconds();
    for (int f = 0; f < a.n_tasks && rc == 0; f++) {
        task_set s;
        mc_result r;
        if (tasks_read(&s, a.tasks[f], a.split, &err) != 0 ||
            eval_multiple_choice(&L.m, &L.tok, &s, L.bos, (int)a.batch, &r, NULL, NULL, &err) != 0) {
            rc = cli_report(&err);
        } else {
            const char *name = s.n && s.items[0].task ? s.items[0].task : a.tasks[f];
            json_object_set_new(tasks, name, json_pack("{s:s, s:i, s:f, s:f, s:f, s:f}", "file", a.tasks[f], "n", r.n,
                                                       "acc", r.acc, "acc_stderr", r.acc_stderr, "acc_norm", r.acc_norm,
                                                       "chance", r.chance));
        }
        tasks_free(&s);
    }
    if (rc == 0 && a.heldout) {
        corpus c;
        ppl_result p;
        if (corpus_read(&c, a.heldout, &err) != 0 || eval_perplexity(&L.m, &L.tok, c.docs, c.lens, c.n, L.bos, 16, &p, &err) != 0)
            rc = cli_report(&err);
        else
            json_object_set_new(res, "heldout", json_pack("{s:s, s:f, s:I}", "file", a.heldout, "perplexity", p.ppl,
                                                          "tokens", (json_int_t)p.tokens));
        corpus_free(&c);
    }
    if (rc == 0) {
        json_object_set_new(res, "seconds", json_real(now_seconds() - t0));
        json_object_set_new(res, "facts", run_facts());
        if (a.out) {
            if (json_write_file(a.out, res, &err) != 0) rc = cli_report(&err);
        } else {
            json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
        }
    }
    json_decref(res);
    free_all(&L);
    return rc;
}
