/* conpet: a class-incremental task sequence (the spec's task entry: "file" = the directory, "name" = the
 * dataset, e.g. world_typing) run by one of engine/methods/conpet.h's methods with the cell's seed.
 * Metrics: average and pooled accuracy after the last task, forgetting, backward transfer, tunable
 * parameters (and for dynamic the selector's task-id accuracy and the oracle-selector bound); curves over
 * the task index: average accuracy, pooled accuracy, seconds and optimizer steps per task. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continual.h"
#include "methods/conpet.h"
#include "method.h"

static const method_param params[] = {
    {.key = "method", .type = PARAM_STRING, .default_json = "\"static\"", .doc = "sequential, joint (the upper bound), static (dynamic replay), dynamic, emr or ea-emr", .choices = "sequential|joint|static|dynamic|emr|ea-emr"},
    {.key = "p", .type = PARAM_INT, .default_json = "1", .doc = "the split's number in the file names ({ds}_..._p{N}_...)", .min = 0, .max = 1000},
    {.key = "batches", .type = PARAM_INT, .default_json = "200", .doc = "optimizer steps per task (the same at every task)", .min = 1, .max = 1e7},
    {.key = "batch", .type = PARAM_INT, .default_json = "8", .doc = "samples per step", .min = 1, .max = 4096},
    {.key = "lr", .type = PARAM_NUMBER, .default_json = "0.001", .doc = "AdamW learning rate"},
    {.key = "rank", .type = PARAM_INT, .default_json = "4", .doc = "LoRA rank on q and k (the reference's 4)", .min = 1, .max = 4096},
    {.key = "alpha", .type = PARAM_NUMBER, .default_json = "8", .doc = "LoRA alpha"},
    {.key = "top_k", .type = PARAM_INT, .default_json = "1", .doc = "dynamic: tasks the selector keeps", .min = 1, .max = 64},
    {.key = "emr_k", .type = PARAM_INT, .default_json = "5", .doc = "emr, ea-emr: samples kept per class by K-means", .hashed_only_when_set = 1, .min = 1, .max = 1e5},
    {.key = "replay_memory", .type = PARAM_INT, .default_json = "0", .doc = "static / dynamic: samples kept per finished task for replay (0: all of them, the reference's)", .hashed_only_when_set = 1, .min = 0, .max = 1e8},
    {.key = "weight_decay", .type = PARAM_NUMBER, .default_json = "0.0", .doc = "AdamW weight decay", .hashed_only_when_set = 1},
    {.key = "eval_split", .type = PARAM_STRING, .default_json = "\"test\"",
     .doc = "the split scored after every task: test, or valid / train in its place (train: does the method fit what it saw?)",
     .hashed_only_when_set = 1, .choices = "test|valid|train"},
    {.key = "max_words", .type = PARAM_INT, .default_json = "50", .doc = "training samples longer than this many words are dropped (the reference's 50)", .min = 0, .max = 1e5},
};

static json_t *curve_of(const double *v, int n)
{
    json_t *c = json_array();
    for (int t = 0; t < n; t++) json_array_append_new(c, json_pack("[i, f]", t + 1, v[t]));
    return c;
}

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    conpet_config cfg = {.batches = method_param_int(c, "batches"), .batch = method_param_int(c, "batch"), .lr = (float)method_param_number(c, "lr"),
                         .lora_rank = method_param_int(c, "rank"), .lora_alpha = (float)method_param_number(c, "alpha"), .seed = c->seed,
                         .top_k = method_param_int(c, "top_k"), .emr_k = method_param_int(c, "emr_k"),
                         .replay_memory = method_param_int(c, "replay_memory"), .weight_decay = (float)method_param_number(c, "weight_decay")};
    const char *name = json_string_value(json_object_get(c->params, "method"));
    if (!name || conpet_method_parse(name, &cfg.method) != 0)
        return cpet_fail(err, "params.method '%s': sequential, joint, static, dynamic, emr or ea-emr", name ? name : "");
    continual_data cd;
    if (continual_read(&cd, c->task_file, c->task_name, method_param_int(c, "p"), method_param_int(c, "max_words"), err) != 0) return -1;
    continual_limit_test(&cd, c->limit); /* the task's "limit": test samples per task, evenly spaced */
    class_sequence d = {0};
    int rc = continual_tokenize(&cd, c->tok, c->m->cfg.bos_token_id, c->m->cfg.max_position_embeddings, &d, err);
    conpet_result res = {0};
    const char *split = json_string_value(json_object_get(c->params, "eval_split"));
    class_examples *test_sets = d.test; /* eval_split scores another split in the test set's place */
    if (rc == 0 && !strcmp(split, "valid")) d.test = d.valid;
    if (rc == 0 && !strcmp(split, "train")) d.test = d.train;
    if (rc == 0) rc = conpet_run(c->m, &d, &cfg, &res, err);
    if (rc == 0) {
        const int T = res.n_tasks;
        double *avg = malloc((size_t)T * sizeof(double)), *steps = malloc((size_t)T * sizeof(double));
        for (int t = 0; avg && steps && t < T; t++) avg[t] = conpet_average_accuracy(&res, t), steps[t] = (double)res.steps[t];
        json_object_set_new(r->metrics, "average_accuracy", json_real(avg ? avg[T - 1] : NAN));
        json_object_set_new(r->metrics, "pooled_accuracy", json_real(res.pooled[T - 1]));
        json_object_set_new(r->metrics, "forgetting", json_real(conpet_forgetting(&res)));
        json_object_set_new(r->metrics, "backward_transfer", json_real(conpet_backward_transfer(&res)));
        json_object_set_new(r->metrics, "tunable_params", json_integer(res.tunable));
        long n_test = 0; /* what the accuracies are over: every task's test samples */
        for (int t = 0; t < T; t++) n_test += d.test[t].n;
        json_object_set_new(r->metrics, "n", json_integer(n_test));
        if (cfg.method == CONPET_DYNAMIC) {
            json_object_set_new(r->metrics, "selector_accuracy", json_real(res.selector_acc[T - 1]));
            json_object_set_new(r->metrics, "oracle_selector_pooled_accuracy", json_real(res.oracle_acc[T - 1]));
        }
        if (avg && steps) {
            json_object_set_new(r->curves, "average_accuracy", curve_of(avg, T));
            json_object_set_new(r->curves, "pooled_accuracy", curve_of(res.pooled, T));
            json_object_set_new(r->curves, "seconds_per_task", curve_of(res.seconds, T));
            json_object_set_new(r->curves, "steps_per_task", curve_of(steps, T));
            if (cfg.method == CONPET_DYNAMIC) json_object_set_new(r->curves, "selector_accuracy", curve_of(res.selector_acc, T));
            r->curve_x = "tasks seen";
        }
        json_t *matrix = json_array();
        for (int t = 0; t < T; t++) {
            json_t *row = json_array();
            for (int u = 0; u < T; u++) json_array_append_new(row, isnan(res.acc[t * T + u]) ? json_null() : json_real(res.acc[t * T + u]));
            json_array_append_new(matrix, row);
        }
        json_array_append_new(r->examples, json_pack("{s:s, s:o}", "id", "accuracy_matrix", "rows", matrix));
        /* per task: classes, training samples, cost, accuracy after it */
        json_t *per_task = json_array();
        for (int t = 0; t < T; t++) {
            json_t *row = json_pack("{s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:f}", "task", t, "classes", d.offsets[t + 1] - d.offsets[t], "train",
                                    d.train[t].n, "steps", (json_int_t)res.steps[t], "seconds", res.seconds[t], "loss", res.loss[t],
                                    "average_accuracy", conpet_average_accuracy(&res, t), "pooled_accuracy", res.pooled[t]);
            if (cfg.method == CONPET_DYNAMIC) {
                json_object_set_new(row, "selector_accuracy", json_real(res.selector_acc[t]));
                json_object_set_new(row, "oracle_selector_pooled_accuracy", json_real(res.oracle_acc[t]));
            }
            json_array_append_new(per_task, row);
        }
        json_array_append_new(r->examples, json_pack("{s:s, s:o}", "id", "per_task", "rows", per_task));
        /* after the last task: rows = true class, columns = predicted class (global class indices) */
        json_t *conf = json_array();
        for (int a = 0; a < res.n_classes; a++) {
            json_t *row = json_array();
            for (int b = 0; b < res.n_classes; b++) json_array_append_new(row, json_integer(res.confusion[(size_t)a * res.n_classes + b]));
            json_array_append_new(conf, row);
        }
        json_array_append_new(r->examples, json_pack("{s:s, s:o}", "id", "confusion", "rows", conf));
        json_object_set_new(r->metrics, "dropped_long_train_samples", json_integer(cd.dropped_long));
        free(avg), free(steps);
    }
    d.test = test_sets;
    conpet_result_free(&res);
    continual_tokens_free(&d);
    continual_free(&cd);
    return rc;
}

const method method_conpet = {
    .name = "conpet",
    .doc = "a class-incremental task sequence (sequential, joint, EMR, EA-EMR, static or dynamic ConPET); task entry = the sequence",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
    .takes_sequence = 1,
};
