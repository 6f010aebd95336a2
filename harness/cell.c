#include "cell.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "blas.h"
#include "compress.h"
#include "corpus.h"
#include "evaluate.h"
#include "facts.h"
#include "fileio.h"
#include "generate.h"
#include "gguf.h"
#include "method.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"

int jsonl_write(const char *path, const json_t *array, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_dumpf(v, af.fp, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
            atomic_abort(&af);
            return cpet_fail(err, "%s: write failed", path);
        }
        fputc('\n', af.fp);
    }
    return atomic_commit(&af, err);
}

/* A task's "limit": that many examples, evenly spaced over the split (task files are ordered by relation or
 * entity, so the first N would be one corner of the task). */
static void truncate_set(task_set *s, int limit)
{
    if (limit <= 0 || s->n <= limit) return;
    task_set keep = {0};
    for (int i = 0; i < limit; i++) tasks_add(&keep, &s->items[(long)i * s->n / limit]);
    tasks_free(s);
    *s = keep;
}

static int compress_in_place(const spec *s, const cell *c, model *m, const tokenizer *t, json_t *log, cpet_err *err)
{
    const spec_compression *co = c->comp;
    compress_options o = {.group = co->group, .sparsity = co->sparsity, .damp = 0.01, .lm_head = co->lm_head, .embeddings = co->embeddings,
                          .train = co->train, .log = log};
    int *ids = NULL, rows = 0, seq = s->calib_seq < m->rope_len ? s->calib_seq : m->rope_len;
    calib_data cal = {0};
    if (s->calib[0]) {
        if (corpus_windows(s->calib, t, m->cfg.bos_token_id >= 0 ? m->cfg.bos_token_id : 0, s->calib_rows, seq, &ids, &rows, err) != 0)
            return -1;
        cal = (calib_data){ids, rows, seq};
    }
    int rc = compress_model(m, co->chain, &o, s->calib[0] ? &cal : NULL, err);
    free(ids);
    return rc;
}

/* A chain that reads calibration data (GPTQ, Wanda, the structured pruners, and those that train: QAT,
 * SIMPLE, WID) runs once per model and options: the first cell that needs it saves the result under
 * RUN/compressed/<hash> (with a training log in compress.json), holding a lock so that a parallel cell waits
 * instead of computing the same model again; every cell then loads it, so all of them compute on the same
 * saved weights. Round-to-nearest chains are cheap and run in each cell. */
static int apply_compression(const spec *s, const cell *c, model *m, const tokenizer *t, const char *run_dir, cpet_err *err)
{
    const spec_compression *co = c->comp;
    if (!strcmp(co->chain, "none")) return 0;
    if (!compress_chain_calibrates(co->chain) || !run_dir) return compress_in_place(s, c, m, t, NULL, err);
    json_t *key = json_pack("{s:s, s:s, s:O}", "model", c->model, "chain", co->chain, "options", json_object_get(c->config, "compression_options"));
    char hash[17], dir[4300], staged[4400], path[4500];
    json_hash(key, hash);
    json_decref(key);
    snprintf(dir, sizeof dir, "%s/compressed", run_dir);
    if (make_dirs(dir, err) != 0) return -1;
    snprintf(dir, sizeof dir, "%s/compressed/%s", run_dir, hash);
    snprintf(path, sizeof path, "%s.lock", dir);
    const int lock = open(path, O_CREAT | O_RDWR, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        if (lock >= 0) close(lock);
        return cpet_fail(err, "%s: cannot lock", path);
    }
    int rc = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!path_exists(path)) {
        json_t *log = json_object();
        rc = compress_in_place(s, c, m, t, log, err);
        snprintf(staged, sizeof staged, "%s.partial", dir);
        remove_flat_dir(staged);
        if (rc == 0) rc = model_save(m, staged, err);
        if (rc == 0) {
            json_object_set_new(log, "model", json_string(c->model));
            json_object_set_new(log, "method", json_string(co->chain));
            if (compress_chain_trains(co->chain)) json_object_set_new(log, "training", compress_training_json(&co->train));
            json_object_set_new(log, "facts", run_facts());
            snprintf(path, sizeof path, "%s/compress.json", staged);
            rc = json_write_file(path, log, err);
        }
        if (rc == 0) rc = replace_dir(staged, dir, err);
        json_decref(log);
    }
    if (rc == 0) { /* every cell on the saved weights, the first one too */
        model_free(m);
        rc = model_load(m, dir, err);
    }
    flock(lock, LOCK_UN);
    close(lock);
    return rc;
}

/* Forward throughput on a fixed batch of 4 x 128 tokens (the best of three after one warm-up). */
static double forward_tokens_per_s(model *m, cpet_err *err)
{
    int T = m->rope_len < 128 ? m->rope_len : 128, B = 4, ids[4 * 128];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7919) % m->cfg.vocab_size;
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = now_seconds();
        if (model_forward(m, ids, NULL, B, T, err) != 0) return -1;
        double rate = B * T / (now_seconds() - t0);
        if (r > 0 && rate > best) best = rate;
    }
    return best;
}

/* Greedy decode throughput with the KV cache: 64 new tokens after an 8-token prompt (the best of three after
 * one warm-up), the speed a user of the compressed model sees token by token. */
static double decode_tokens_per_s(model *m, cpet_err *err)
{
    enum { PROMPT = 8, NEW = 64 };
    if (m->rope_len < PROMPT + NEW) return 0;
    int prompt[PROMPT], out[PROMPT + NEW], n_out;
    for (int i = 0; i < PROMPT; i++) prompt[i] = (i * 7919 + 1) % m->cfg.vocab_size;
    const gen_config g = {.max_new_tokens = NEW, .temperature = 0.0f, .top_p = 1.0f, .stop_id = -1};
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = now_seconds();
        if (generate(m, prompt, PROMPT, &g, out, &n_out, err) != 0) return -1;
        double rate = (n_out - PROMPT) / (now_seconds() - t0);
        if (r > 0 && rate > best) best = rate;
    }
    return best;
}

/* Held-out perplexity, with each document's NLL and token count as paired-statistics material. */
static int heldout_perplexity(const spec *s, model *m, const tokenizer *t, json_t *metrics, json_t *docs_out, cpet_err *err)
{
    corpus held;
    if (corpus_read(&held, s->heldout, err) != 0) return -1;
    corpus_keep_evenly(&held, s->heldout_limit);
    double *nll = malloc(((size_t)held.n + 1) * sizeof *nll);
    long *tok = malloc(((size_t)held.n + 1) * sizeof *tok);
    ppl_result p;
    int rc = eval_perplexity_docs(m, t, held.docs, held.lens, held.n, m->cfg.bos_token_id, 16, &p, nll, tok, err);
    if (rc == 0) {
        json_object_set_new(metrics, "perplexity", json_real(p.ppl));
        for (int d = 0; d < held.n; d++)
            json_array_append_new(docs_out, json_pack("{s:i, s:f, s:I}", "id", d, "nll", nll[d], "tokens", (json_int_t)tok[d]));
    }
    free(nll);
    free(tok);
    corpus_free(&held);
    return rc;
}

int cell_run(const spec *s, const cell *c, const char *run_dir, json_t *result, cpet_err *err)
{
    engine_set_threads(s->threads);
    model m;
    tokenizer t;
    char path[4400];
    if (model_load_any(&m, c->model, err) != 0) return -1; /* a directory or a .gguf file */
    if (tokenizer_load_for(&t, c->model, NULL, err) != 0) {
        model_free(&m);
        return -1;
    }
    task_set train = {0}, eval = {0};
    method_result r = {json_object(), json_object(), json_array(), 0, NULL};
    json_t *heldout_docs = json_array();
    const char *split = strcmp(c->task->eval_split, "all") == 0 ? NULL : c->task->eval_split;
    int rc = apply_compression(s, c, &m, &t, run_dir, err);
    const int sequence = c->method->info->takes_sequence; /* the method reads its task sequence itself */
    if (rc == 0 && !sequence) rc = tasks_read(&train, c->task->file, c->task->train_split, err);
    if (rc == 0 && !sequence) rc = tasks_read(&eval, c->task->file, split, err);
    if (rc == 0 && !sequence) {
        truncate_set(&eval, c->task->limit);
        if (eval.n == 0) rc = cpet_fail(err, "%s: no examples in split '%s'", c->task->file, c->task->eval_split);
    }
    if (rc == 0) {
        method_cell mc = {.m = &m, .tok = &t, .model_path = c->model, .task_file = c->task->file, .task_name = c->task->name, .train = &train, .eval = &eval, .limit = c->task->limit,
                          .text_limit = s->heldout_limit,
                          .seed = (uint64_t)c->seed, .params = c->method->params, .threads = s->threads};
        rc = c->method->info->run(&mc, &r, err);
        if (rc != 0) cpet_prefix(err, "method %s", c->method->info->name);
    }
    if (rc == 0 && s->heldout[0]) rc = heldout_perplexity(s, &m, &t, r.metrics, heldout_docs, err);
    if (rc == 0) {
        double fwd = forward_tokens_per_s(&m, err), dec = fwd < 0 ? -1 : decode_tokens_per_s(&m, err);
        if (fwd < 0 || dec < 0) rc = -1;
        json_object_set_new(r.metrics, "decode_tokens_per_s", json_real(dec));
        json_object_set_new(r.metrics, "bytes", json_integer((json_int_t)model_storage_bytes(&m)));
        json_object_set_new(r.metrics, "forward_tokens_per_s", json_real(fwd));
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/examples", run_dir);
        rc = make_dirs(path, err);
    }
    if (rc == 0) {
        char rel[64];
        snprintf(rel, sizeof rel, "examples/%s.jsonl", c->config_hash);
        snprintf(path, sizeof path, "%s/%s", run_dir, rel);
        rc = jsonl_write(path, r.examples, err);
        json_object_set_new(result, "examples", json_string(rel));
        if (rc == 0 && s->heldout[0]) {
            snprintf(rel, sizeof rel, "examples/%s.heldout.jsonl", c->config_hash);
            snprintf(path, sizeof path, "%s/%s", run_dir, rel);
            rc = jsonl_write(path, heldout_docs, err);
            json_object_set_new(result, "heldout_examples", json_string(rel));
        }
    }
    if (rc == 0) {
        json_object_set(result, "metrics", r.metrics);
        json_object_set(result, "curves", r.curves);
        if (r.curve_x) json_object_set_new(result, "curve_x", json_string(r.curve_x));
        json_object_set_new(result, "tokens", json_integer(r.tokens));
    }
    json_decref(r.metrics);
    json_decref(r.curves);
    json_decref(r.examples);
    json_decref(heldout_docs);
    tasks_free(&train);
    tasks_free(&eval);
    tokenizer_free(&t);
    model_free(&m);
    return rc;
}
