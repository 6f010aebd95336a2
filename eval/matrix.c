#include "matrix.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "compress.h"
#include "corpus.h"
#include "evaluate.h"
#include "fileio.h"
#include "finetune.h"
#include "lora.h"
#include "model.h"
#include "records.h"
#include "tasks.h"
#include "tokenizer.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double param_num(const cell *c, const char *key) { return json_number_value(json_object_get(c->method->params, key)); }

static void truncate_set(task_set *s, int limit)
{
    if (limit <= 0 || s->n <= limit) return;
    task_set keep = {0};
    for (int i = 0; i < limit; i++) tasks_add(&keep, &s->items[i]);
    tasks_free(s);
    *s = keep;
}

/* ---- the methods ---- */

static int run_lora(const cell *c, model *m, const tokenizer *t, json_t *curves, long *tokens, cpet_err *err)
{
    json_t *targets = json_object_get(c->method->params, "targets");
    const char *names[LORA_MAX_TARGETS];
    int n = 0;
    for (size_t i = 0; i < json_array_size(targets) && n < LORA_MAX_TARGETS; i++)
        names[n++] = json_string_value(json_array_get(targets, i));
    lora_adapter ad;
    task_set train;
    if (tasks_read(&train, c->task->file, c->task->train_split, err) != 0) return -1;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    adamw_config oc = adamw_defaults();
    oc.lr = (float)param_num(c, "lr");
    oc.weight_decay = (float)param_num(c, "weight_decay");
    int rc = lora_create(&ad, m, (int)param_num(c, "rank"), (float)param_num(c, "alpha"), 0, names, n,
                         (unsigned long long)c->seed, err);
    if (rc != 0) {
        tasks_free(&train);
        return -1;
    }
    json_t *curve = json_array();
    finetune_config fc = {(int)param_num(c, "steps"), (int)param_num(c, "batch"), oc.lr, oc.weight_decay, 1.0f,
                          (uint64_t)c->seed, m->cfg.bos_token_id};
    rc = lora_set_trainable(&ad, 1, err) || adamw_init(&opt, oc, err) || adamw_add(&opt, ad.tensors, ad.n_tensors, err) ||
         finetune_multiple_choice(m, &opt, t, &train, &fc, curve, tokens, err);
    json_object_set_new(curves, "train_loss", curve);
    adamw_free(&opt);
    tasks_free(&train);
    /* the adapter stays attached for the evaluation; the process ends with the cell */
    return rc ? -1 : 0;
}

static int apply_compression(const spec *s, const cell *c, model *m, const tokenizer *t, cpet_err *err)
{
    if (!strcmp(c->compression, "none")) return 0;
    compress_options o = {s->group, s->sparsity, 0.01};
    int *ids = NULL, rows = 0, seq = s->calib_seq < m->rope_len ? s->calib_seq : m->rope_len;
    calib_data cal = {0};
    if (s->calib[0]) {
        if (corpus_windows(s->calib, t, m->cfg.bos_token_id >= 0 ? m->cfg.bos_token_id : 0, s->calib_rows, seq, &ids, &rows, err) != 0)
            return -1;
        cal = (calib_data){ids, rows, seq};
    }
    int rc = compress_model(m, c->compression, &o, s->calib[0] ? &cal : NULL, err);
    free(ids);
    return rc;
}

/* Forward throughput on a fixed batch of 4 x 128 tokens (after one warm-up). */
static double forward_tokens_per_s(model *m, cpet_err *err)
{
    int T = m->rope_len < 128 ? m->rope_len : 128, B = 4, ids[4 * 128];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7919) % m->cfg.vocab_size;
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = wall_now();
        if (model_forward(m, ids, NULL, B, T, err) != 0) return -1;
        double rate = B * T / (wall_now() - t0);
        if (r > 0 && rate > best) best = rate;
    }
    return best;
}

int matrix_run_cell(const spec *s, const cell *c, json_t *result, cpet_err *err)
{
    engine_set_threads(s->threads);
    model m;
    tokenizer t;
    char tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", c->model);
    if (model_load(&m, c->model, err) != 0) return -1;
    if (tokenizer_load(&t, tok_path, err) != 0) {
        model_free(&m);
        return -1;
    }
    json_t *curves = json_object();
    long tokens = 0;
    int rc = apply_compression(s, c, &m, &t, err);
    if (rc == 0 && strcmp(c->method->info->name, "lora") == 0) rc = run_lora(c, &m, &t, curves, &tokens, err);
    task_set eval;
    mc_result r;
    const char *split = strcmp(c->task->eval_split, "all") == 0 ? NULL : c->task->eval_split;
    if (rc == 0 && tasks_read(&eval, c->task->file, split, err) == 0) {
        truncate_set(&eval, c->task->limit);
        if (eval.n == 0) rc = cpet_fail(err, "%s: no examples in split '%s'", c->task->file, c->task->eval_split);
        else rc = eval_multiple_choice(&m, &t, &eval, m.cfg.bos_token_id, 32, &r, NULL, NULL, err);
        if (rc == 0) tokens += r.tokens;
        tasks_free(&eval);
    } else {
        rc = -1;
    }
    ppl_result p = {0, 0, 0};
    if (rc == 0 && s->heldout[0]) {
        corpus held;
        rc = corpus_read(&held, s->heldout, err);
        if (rc == 0) rc = eval_perplexity(&m, &t, held.docs, held.lens, held.n, m.cfg.bos_token_id, 16, &p, err);
        if (rc == 0) corpus_free(&held);
    }
    double fwd = rc == 0 ? forward_tokens_per_s(&m, err) : -1;
    if (fwd < 0) rc = -1;
    if (rc == 0) {
        json_t *metrics = json_pack("{s:f, s:f, s:f, s:f, s:i, s:I, s:f}", "acc", r.acc, "acc_norm", r.acc_norm, "acc_stderr",
                                    r.acc_stderr, "chance", r.chance, "n", r.n, "bytes", (json_int_t)model_storage_bytes(&m),
                                    "forward_tokens_per_s", fwd);
        if (s->heldout[0]) json_object_set_new(metrics, "perplexity", json_real(p.ppl));
        json_object_set_new(result, "metrics", metrics);
        json_object_set_new(result, "curves", json_incref(curves));
        json_object_set_new(result, "tokens", json_integer(tokens));
    }
    json_decref(curves);
    tokenizer_free(&t);
    model_free(&m);
    return rc;
}

/* ---- the runner ---- */

static int parse_only(const char *only, int n, unsigned char *keep, cpet_err *err)
{
    memset(keep, 0, (size_t)n + 1);
    const char *p = only;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
            p = end;
        }
        if (a < 1 || b > n || a > b) return cpet_fail(err, "--only '%s': cells are numbered 1..%d", only, n);
        for (long i = a; i <= b; i++) keep[i] = 1;
        if (*p == ',') p++;
        else if (*p) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
    }
    return 0;
}

static const json_t *find_record(const json_t *records, const char *hash)
{
    size_t i;
    json_t *r;
    const json_t *found = NULL;
    json_array_foreach(records, i, r)
    {
        const char *h = json_string_value(json_object_get(r, "config_hash"));
        if (h && strcmp(h, hash) == 0) found = r; /* the latest wins */
    }
    return found;
}

/* Runs the cell in a child; fills status/error/metrics/curves/timings of rec. */
static void run_in_child(const spec *s, const cell *c, const char *out_dir, json_t *rec)
{
    char result_path[4300];
    snprintf(result_path, sizeof result_path, "%s/.cell-%s.json", out_dir, c->config_hash);
    unlink(result_path);
    double t0 = wall_now();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed run takes its cell with it */
        json_t *res = json_object();
        cpet_err err;
        if (matrix_run_cell(s, c, res, &err) == 0) json_object_set_new(res, "status", json_string("ok"));
        else json_object_set_new(res, "status", json_string("failed")), json_object_set_new(res, "error", json_string(err.msg));
        json_write_file(result_path, res, &err);
        json_decref(res);
        _exit(0);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
        json_object_set_new(rec, "status", json_string("failed"));
        json_object_set_new(rec, "error", json_string("could not start the cell process"));
        return;
    }
    double wall = wall_now() - t0;
    cpet_err err;
    json_t *res = path_exists(result_path) ? json_read_file(result_path, &err) : NULL;
    unlink(result_path);
    if (!res) {
        char why[128];
        if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the cell crashed (signal %d: %s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else snprintf(why, sizeof why, "the cell exited with status %d and no result", WEXITSTATUS(status));
        json_object_set_new(rec, "status", json_string("failed"));
        json_object_set_new(rec, "error", json_string(why));
    } else {
        json_object_update(rec, res);
        json_object_del(rec, "tokens");
    }
    json_int_t tokens = json_integer_value(json_object_get(res, "tokens"));
    json_object_set_new(rec, "timings", json_pack("{s:f, s:f, s:f}", "wall_s", wall, "tokens_per_s", wall > 0 ? tokens / wall : 0.0,
                                                  "peak_rss_mb", (double)ru.ru_maxrss / 1024.0));
    json_decref(res);
}

int matrix_run(const spec *s, const char *spec_path, const char *out_dir, const run_options *o, const json_t *facts,
               int *failed, cpet_err *err)
{
    int n;
    cell *cells = spec_expand(s, &n);
    unsigned char *keep = malloc((size_t)n + 1);
    memset(keep, 1, (size_t)n + 1);
    int rc = 0;
    if (o->only && parse_only(o->only, n, keep, err) != 0) rc = -1;
    for (int i = 0; i < n && rc == 0; i++)
        for (int f = 0; f < o->n_filters; f++)
            if (!strstr(cells[i].key, o->filters[f])) keep[i + 1] = 0;
    char records_path[4300];
    snprintf(records_path, sizeof records_path, "%s/records.jsonl", out_dir);
    json_t *records = rc == 0 ? records_read(records_path, o->repair, err) : NULL;
    if (!records) rc = -1;
    int todo = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!keep[i + 1]) continue;
        const json_t *prev = find_record(records, cells[i].config_hash);
        const char *st = prev ? json_string_value(json_object_get(prev, "status")) : NULL;
        int done = prev && (!o->retry_failed || (st && strcmp(st, "ok") == 0));
        if (o->dry_run) printf("%4d  %s  %-9s %s\n", cells[i].index, cells[i].config_hash, done ? (st ? st : "?") : "todo", cells[i].key);
        if (done) keep[i + 1] = 0;
        else todo++;
    }
    if (rc == 0 && o->dry_run) fprintf(stderr, "%d cells, %d to run\n", n, todo);
    if (rc == 0 && !o->dry_run) {
        char copy[4300];
        snprintf(copy, sizeof copy, "%s/spec.json", out_dir);
        rc = make_dirs(out_dir, err);
        if (rc == 0) rc = copy_file(spec_path, copy, err);
    }
    *failed = 0;
    double t_start = wall_now();
    int ran = 0;
    for (int i = 0; rc == 0 && !o->dry_run && i < n; i++) {
        if (!keep[i + 1]) continue;
        const cell *c = &cells[i];
        if (o->progress) {
            double el = wall_now() - t_start;
            fprintf(stderr, "[%d/%d] %s", ran + 1, todo, c->key);
            if (ran) fprintf(stderr, "  (ETA %.0fs)", el / ran * (todo - ran));
            fputc('\n', stderr);
        }
        json_t *rec = json_pack("{s:s, s:s, s:i, s:s, s:O, s:I}", "spec", s->name, "key", c->key, "index", c->index,
                                "config_hash", c->config_hash, "cell", c->config, "seed", (json_int_t)c->seed);
        run_in_child(s, c, out_dir, rec);
        json_object_set_new(rec, "facts", json_deep_copy(facts));
        time_t now = time(NULL);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        json_object_set_new(rec, "finished_at", json_string(stamp));
        const char *st = json_string_value(json_object_get(rec, "status"));
        if (!st || strcmp(st, "ok") != 0) {
            (*failed)++;
            fprintf(stderr, "cell %d failed: %s\n", c->index, json_string_value(json_object_get(rec, "error")));
        }
        rc = records_append(records_path, rec, err);
        json_decref(rec);
        ran++;
    }
    if (rc == 0 && !o->dry_run)
        fprintf(stderr, "%d cells run (%d failed), %d already recorded, in %.0fs -> %s\n", ran, *failed, n - todo,
                wall_now() - t_start, records_path);
    json_decref(records);
    free(keep);
    cells_free(cells, n);
    return rc;
}
