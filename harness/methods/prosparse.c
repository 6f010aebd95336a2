/* prosparse: ProSparse (engine/methods/prosparse.h) in two modes.
 *   model given: the cell's model replaced by one this method trained from it before (`cpet sparsify`,
 *     one per seed, made before the matrix runs since it does not depend on the task), optionally with the
 *     FATReLU threshold shift. Training stays out of the cells so that a model is trained once, not once
 *     per task.
 *   model empty: the cell's model trained here: SiLU -> ReLU, then every weight on the corpus with
 *     lambda(t) from the schedule; written whole to out_dir with sparsify.json (the log per step) when the
 *     caller keeps it. `cpet sparsify` is this mode.
 * Either way: the activation sparsity measured on a text, then scored when the task has an eval split. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "facts.h"
#include "fileio.h"
#include "method.h"
#include "methods/prosparse.h"

static const method_param params[] = {
    {.key = "model", .type = PARAM_STRING, .default_json = "\"\"", .doc = "the directory cpet sparsify wrote from the cell's model; {seed} is replaced by the seed"},
    {.key = "threshold", .type = PARAM_NUMBER, .default_json = "0", .doc = "FATReLU threshold applied on load (0: ReLU as trained; the paper's shift is 0.01)"},
    {.key = "sparsity_text", .type = PARAM_STRING, .default_json = "\"\"", .doc = "the text whose x1 sparsity is measured (per layer too)"},
    /* training (model empty) */
    {.key = "corpus", .type = PARAM_STRING, .default_json = "\"\"", .doc = "training: the text (one document per line or JSONL)", .hashed_only_when_set = 1},
    {.key = "schedule", .type = PARAM_STRING, .default_json = "\"\"", .doc = "training: lambda's stages as JSON {\"stages\": [{\"lambda\": 0, \"until_step\": 200}, ...]}",
     .hashed_only_when_set = 1},
    {.key = "lambda", .type = PARAM_NUMBER, .default_json = "-1", .doc = "training: a constant lambda instead, with steps (the paper's ablation; -1: none)",
     .hashed_only_when_set = 1},
    {.key = "lambda_scale", .type = PARAM_NUMBER, .default_json = "1", .doc = "training: every lambda times K (the schedule's shape kept, its strength chosen)",
     .hashed_only_when_set = 1, .min = 0, .max = INFINITY},
    {.key = "activation", .type = PARAM_STRING, .default_json = "\"relu\"", .doc = "training: relu (the swap) or keep (the model's own activation: a dense control)",
     .hashed_only_when_set = 1, .choices = "relu|keep"},
    {.key = "steps", .type = PARAM_INT, .default_json = "0", .doc = "training: steps (0: the schedule's last until_step)", .hashed_only_when_set = 1, .min = 0, .max = 100000000},
    {.key = "batch", .type = PARAM_INT, .default_json = "16", .doc = "training: sequences per step", .hashed_only_when_set = 1, .min = 1, .max = 65536},
    {.key = "seq", .type = PARAM_INT, .default_json = "128", .doc = "training: sequence length", .hashed_only_when_set = 1, .min = 2, .max = 1 << 20},
    {.key = "lr", .type = PARAM_NUMBER, .default_json = "0.0003", .doc = "training: peak learning rate", .hashed_only_when_set = 1},
    {.key = "min_lr", .type = PARAM_NUMBER, .default_json = "0.00003", .doc = "training: the schedule's floor", .hashed_only_when_set = 1},
    {.key = "warmup", .type = PARAM_INT, .default_json = "20", .doc = "training: warmup steps", .hashed_only_when_set = 1, .min = 0, .max = 100000000},
    {.key = "schedule_lr", .type = PARAM_STRING, .default_json = "\"cosine\"", .doc = "training: the learning-rate schedule", .hashed_only_when_set = 1,
     .choices = "constant|linear|cosine"},
    {.key = "clip", .type = PARAM_NUMBER, .default_json = "1.0", .doc = "training: gradient norm clip (0: off)", .hashed_only_when_set = 1},
    {.key = "weight_decay", .type = PARAM_NUMBER, .default_json = "0", .doc = "training: AdamW weight decay", .hashed_only_when_set = 1},
    {.key = "heldout", .type = PARAM_STRING, .default_json = "\"\"", .doc = "training: the final model's sparsity (per layer) and perplexity on this text, in sparsify.json",
     .hashed_only_when_set = 1},
};

/* The trained weights into the cell's model, which must have the same tensors (it is the model sparsify started from). */
static int take_weights(model *dst, const model *src, const char *dir, cpet_err *err)
{
    if (dst->n_tensors != src->n_tensors || dst->n_params != src->n_params)
        return cpet_fail(err, "%s has %d tensors / %zu parameters, the cell's model %d / %zu: not trained from it", dir, src->n_tensors,
                         src->n_params, dst->n_tensors, dst->n_params);
    for (int i = 0; i < dst->n_tensors; i++) {
        const param_tensor *a = &dst->tensors[i], *b = &src->tensors[i];
        if (strcmp(a->name, b->name) != 0 || a->n != b->n)
            return cpet_fail(err, "%s: tensor %s does not match the cell model's %s", dir, b->name, a->name);
        if (!a->p) return cpet_fail(err, "prosparse: the cell's model is compressed (%s is packed); use compression none", a->name);
    }
    for (int i = 0; i < dst->n_tensors; i++) memcpy(dst->tensors[i].p, src->tensors[i].p, dst->tensors[i].n * sizeof(float));
    dst->cfg.hidden_act = src->cfg.hidden_act;
    dst->cfg.act_threshold = src->cfg.act_threshold;
    return 0;
}


/* ---- training here (model empty) ---- */

typedef struct {
    json_t *rows;
    long steps;
    double t0;
} progress;

static int on_step(const prosparse_step_log *s, void *ctx)
{
    progress *p = ctx;
    json_array_append_new(p->rows, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)s->step, "loss", s->loss, "l1", s->l1,
                                             "lambda", s->lambda, "sparsity", s->sparsity, "lr", (double)s->lr));
    if (isatty(2)) { /* long work shows progress on a terminal */
        double el = now_seconds() - p->t0;
        fprintf(stderr, "\rstep %ld/%ld  loss %.4f  lambda %.3g  sparsity %.1f%%  ETA %.0fs   ", s->step, p->steps, s->loss, s->lambda,
                100 * s->sparsity, el / s->step * (p->steps - s->step));
    }
    return 0;
}

/* the trained model's sparsity over a held-out text, per layer, and its perplexity from the same forwards */
static json_t *heldout_sparsity(model *m, const tokenizer *tok, const char *path, int seq, cpet_err *err)
{
    corpus text;
    int *stream = NULL;
    long n = 0;
    if (corpus_read(&text, path, err) != 0) return NULL;
    int rc = corpus_tokenize(&text, tok, m->cfg.bos_token_id, &stream, &n, err);
    corpus_free(&text);
    prosparse_counts c;
    prosparse_counts_init(&c, m);
    double nll = 0;
    if (rc == 0) rc = prosparse_measure(m, stream, n, seq, 8, &c, &nll, err);
    free(stream);
    if (rc != 0) return cpet_prefix(err, "%s", path), NULL;
    json_t *layers = json_array();
    for (int l = 0; l < c.n_layers; l++) json_array_append_new(layers, json_real(prosparse_sparsity_of(&c, l)));
    return json_pack("{s:s, s:f, s:o, s:I, s:f, s:s}", "file", path, "sparsity", prosparse_sparsity_of(&c, -1), "per_layer", layers, "tokens",
                     (json_int_t)(c.entries / m->cfg.intermediate_size), "perplexity", exp(nll), "perplexity_over",
                     "windows of seq tokens tiling the text");
}

static const char *param_string(const method_cell *c, const char *key) { return json_string_value(json_object_get(c->params, key)); }

/* ProSparse on the cell's model; its log (sparsify.json) into *log; the model and log written to out_dir */
static int train_here(const method_cell *c, json_t **log_out, cpet_err *err)
{
    const char *corpus_path = param_string(c, "corpus"), *schedule_path = param_string(c, "schedule"), *act = param_string(c, "activation"),
               *heldout = param_string(c, "heldout"), *sched_name = param_string(c, "schedule_lr");
    const double lambda = method_param_number(c, "lambda"), lambda_scale = method_param_number(c, "lambda_scale"),
                 threshold = method_param_number(c, "threshold");
    const long steps = method_param_int(c, "steps");
    if (!corpus_path || !corpus_path[0]) return cpet_fail(err, "sparsify: a corpus is required (params.corpus, --corpus)");
    if (!schedule_path[0] == !(lambda >= 0)) return cpet_fail(err, "sparsify: give either a schedule file or a lambda (with steps)");
    if (lambda >= 0 && !steps) return cpet_fail(err, "sparsify: a constant lambda needs steps");
    if (threshold < 0) return cpet_fail(err, "sparsify: threshold %g: must be >= 0", threshold);
    prosparse_train_config tc = {.steps = steps, .batch = method_param_int(c, "batch"), .seq = method_param_int(c, "seq"),
                                 .clip = method_param_number(c, "clip"), .weight_decay = method_param_number(c, "weight_decay"), .seed = c->seed};
    if (schedule_path[0] && prosparse_schedule_load(&tc.schedule, schedule_path, err) != 0) return -1;
    if (!schedule_path[0]) tc.schedule = prosparse_constant(lambda, steps);
    prosparse_schedule_scale(&tc.schedule, lambda_scale);
    if (schedule_parse(sched_name, &tc.lr.kind) != 0) return cpet_fail(err, "sparsify: lr schedule '%s'", sched_name);
    const long total = steps ? steps : tc.schedule.until[tc.schedule.n - 1];
    tc.lr = (lr_schedule){tc.lr.kind, (float)method_param_number(c, "lr"), (float)method_param_number(c, "min_lr"), method_param_int(c, "warmup"), total};
    model *m = c->m;
    corpus text;
    int *stream = NULL;
    long n_tokens = 0;
    int rc = corpus_read(&text, corpus_path, err);
    if (rc == 0) {
        rc = corpus_tokenize(&text, c->tok, m->cfg.bos_token_id, &stream, &n_tokens, err);
        if (rc != 0) cpet_prefix(err, "%s", corpus_path);
        corpus_free(&text);
    }
    const char *act_before = activation_name(m->cfg.hidden_act);
    if (rc == 0 && !strcmp(act, "relu")) prosparse_relu_swap(m);
    if (rc == 0 && threshold > 0 && m->cfg.hidden_act != ACT_RELU && m->cfg.hidden_act != ACT_FATRELU)
        rc = cpet_fail(err, "sparsify: a threshold needs a ReLU model, and activation keep leaves %s's %s", c->model_path, act_before);
    progress p = {json_array(), total, now_seconds()};
    if (rc == 0) rc = prosparse_train(m, stream, n_tokens, &tc, on_step, &p, err);
    const double train_seconds = now_seconds() - p.t0;
    if (isatty(2)) fputc('\n', stderr);
    free(stream);
    if (rc == 0 && threshold > 0) rc = prosparse_set_threshold(m, (float)threshold, err);
    json_t *held = NULL;
    if (rc == 0 && heldout[0] && !(held = heldout_sparsity(m, c->tok, heldout, (int)tc.seq, err))) rc = -1;
    json_t *stages = json_array();
    for (int i = 0; i < tc.schedule.n; i++)
        json_array_append_new(stages, json_pack("{s:f, s:I}", "lambda", tc.schedule.lambda[i], "until_step", (json_int_t)tc.schedule.until[i]));
    json_t *log = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:f, s:f, s:o, s:{s:I, s:I, s:I, s:f, s:f, s:I, s:s, s:f, s:f}, s:I, s:f, "
                            "s:I, s:o, s:o?, s:o}",
                            "command", "sparsify", "model", c->model_path, "corpus", corpus_path, "schedule", schedule_path[0] ? schedule_path : NULL,
                            "activation_before", act_before, "activation", activation_name(m->cfg.hidden_act), "threshold", threshold,
                            "lambda_scale", lambda_scale, "stages", stages, "train", "steps", (json_int_t)total, "batch", (json_int_t)tc.batch,
                            "seq", (json_int_t)tc.seq, "lr", method_param_number(c, "lr"), "min_lr", method_param_number(c, "min_lr"), "warmup", (json_int_t)tc.lr.warmup_steps,
                            "lr_schedule", sched_name, "clip", tc.clip, "weight_decay", tc.weight_decay, "seed", (json_int_t)c->seed,
                            "train_seconds", train_seconds, "corpus_tokens", (json_int_t)n_tokens, "log", p.rows, "heldout", held, "facts",
                            run_facts());
    if (rc == 0 && c->out_dir) { /* staged beside it, renamed into place when whole */
        char staged[4200], path[4400];
        snprintf(staged, sizeof staged, "%s.partial", c->out_dir);
        remove_flat_dir(staged);
        rc = model_save(m, staged, err);
        snprintf(path, sizeof path, "%s/tokenizer.json", staged);
        if (rc == 0) rc = tokenizer_save(c->tok, path, err);
        snprintf(path, sizeof path, "%s/sparsify.json", staged);
        if (rc == 0) rc = json_write_file(path, log, err);
        if (rc == 0) rc = replace_dir(staged, c->out_dir, err);
    }
    *log_out = log;
    return rc;
}

/* the training log's lambda, loss and batch sparsity per step, as curves */
static void log_curves(const json_t *log, json_t *curves)
{
    const char *keys[] = {"lambda", "loss", "sparsity"}, *names[] = {"lambda", "train_loss", "train_sparsity"};
    for (int k = 0; k < 3; k++) {
        json_t *curve = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(log, "log"), i, row)
            json_array_append_new(curve, json_pack("[O, O]", json_object_get(row, "step"), json_object_get(row, keys[k])));
        json_object_set_new(curves, names[k], curve);
    }
}

/* a model trained before: its weights into the cell's model, its log's curves */
static int take_trained(const method_cell *c, method_result *r, cpet_err *err)
{
    char dir[4096];
    if (method_expand_path(c, "model", dir, sizeof dir, err) != 0) return -1;
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/sparsify.json", dir);
    if (!path_exists(cfg)) return cpet_fail(err, "%s: missing; make the model first with cpet sparsify %s ... -o %s", cfg, c->model_path, dir);
    model trained;
    if (model_load(&trained, dir, err) != 0) return -1;
    int rc = take_weights(c->m, &trained, dir, err);
    model_free(&trained);
    const double threshold = method_param_number(c, "threshold");
    if (rc == 0 && threshold > 0) rc = prosparse_set_threshold(c->m, (float)threshold, err);
    json_t *log = rc == 0 ? json_read_file(cfg, err) : NULL;
    if (rc == 0 && !log) rc = -1;
    if (log) log_curves(log, r->curves);
    json_decref(log);
    return rc;
}

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    const char *given = param_string(c, "model"), *text_path = param_string(c, "sparsity_text");
    int rc;
    if (given && given[0]) rc = take_trained(c, r, err);
    else {
        json_t *log = NULL;
        rc = train_here(c, &log, err);
        if (log) {
            log_curves(log, r->curves);
            const json_t *held = json_object_get(log, "heldout");
            if (json_is_object(held)) json_object_set(r->metrics, "heldout_sparsity", json_object_get(held, "sparsity"));
            const json_t *last = json_array_get(json_object_get(log, "log"), json_array_size(json_object_get(log, "log")) - 1);
            json_object_set(r->metrics, "train_loss", json_object_get(last, "loss"));
            json_object_set(r->metrics, "train_sparsity", json_object_get(last, "sparsity"));
        }
        json_decref(log);
    }
    if (rc != 0) return -1;
    if (text_path && text_path[0]) {
        corpus text;
        int *stream = NULL;
        long n = 0;
        if ((rc = corpus_read(&text, text_path, err)) == 0) {
            corpus_keep_evenly(&text, c->text_limit);
            rc = corpus_tokenize(&text, c->tok, c->m->cfg.bos_token_id, &stream, &n, err);
            corpus_free(&text);
        }
        prosparse_counts counts;
        prosparse_counts_init(&counts, c->m);
        const int seq = c->m->cfg.max_position_embeddings < 128 ? c->m->cfg.max_position_embeddings : 128;
        if (rc == 0 && prosparse_measure(c->m, stream, n, seq, 8, &counts, NULL, err) != 0) rc = cpet_prefix(err, "%s", text_path);
        free(stream);
        if (rc != 0) return -1;
        json_object_set_new(r->metrics, "sparsity", json_real(prosparse_sparsity_of(&counts, -1)));
        for (int l = 0; l < counts.n_layers; l++) {
            char key[48];
            snprintf(key, sizeof key, "sparsity_layer_%d", l);
            json_object_set_new(r->metrics, key, json_real(prosparse_sparsity_of(&counts, l)));
        }
    } else if (c->eval->n > 0)
        return cpet_fail(err, "params.sparsity_text (a text file) is required");
    return c->eval->n > 0 ? method_score_multiple_choice(c, r, err) : 0;
}

const method method_prosparse = {
    .name = "prosparse",
    .doc = "a model cpet sparsify made from the cell's model (ReLU, L1 schedule), optional FATReLU; x1 sparsity measured, then scored",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
