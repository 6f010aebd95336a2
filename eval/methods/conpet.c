/* conpet: a class-incremental task sequence (the spec's task entry: "file" = the directory, "name" = the
 * dataset, e.g. world_typing) run by one of engine/methods/conpet.h's methods with the cell's seed.
 * Metrics: average and pooled accuracy after the last task, forgetting, backward transfer, tunable
 * parameters (and for dynamic the selector's task-id accuracy and the oracle-selector bound); curves over
 * the task index: average accuracy, pooled accuracy, seconds and optimizer steps per task. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continual.h"
#include "method.h"

static const method_param params[] = {
    {"method", PARAM_STRING, "\"static\"", "sequential, joint (the upper bound), static (dynamic replay), dynamic, emr or ea-emr", 0},
    {"p", PARAM_INT, "1", "the split's number in the file names ({ds}_..._p{N}_...)", 0},
    {"batches", PARAM_INT, "200", "optimizer steps per task (the same at every task)", 0},
    {"batch", PARAM_INT, "8", "samples per step", 0},
    {"lr", PARAM_NUMBER, "0.001", "AdamW learning rate", 0},
    {"rank", PARAM_INT, "4", "LoRA rank on q and k (the reference's 4)", 0},
    {"alpha", PARAM_NUMBER, "8", "LoRA alpha", 0},
    {"top_k", PARAM_INT, "1", "dynamic: tasks the selector keeps", 0},
    {"emr_k", PARAM_INT, "5", "emr, ea-emr: samples kept per class by K-means", 1},
    {"replay_memory", PARAM_INT, "0", "static / dynamic: samples kept per finished task for replay (0: all of them, the reference's)", 1},
    {"max_words", PARAM_INT, "50", "training samples longer than this many words are dropped (the reference's 50)", 0},
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
                         .replay_memory = method_param_int(c, "replay_memory")};
    const char *name = json_string_value(json_object_get(c->params, "method"));
    if (!name || conpet_method_parse(name, &cfg.method) != 0)
        return cpet_fail(err, "params.method '%s': sequential, joint, static, dynamic, emr or ea-emr", name ? name : "");
    continual_data cd;
    if (continual_read(&cd, c->task_file, c->task_name, method_param_int(c, "p"), method_param_int(c, "max_words"), err) != 0) return -1;
    continual_limit_test(&cd, c->limit); /* the task's "limit": test samples per task, evenly spaced */
    conpet_data d;
    int rc = continual_tokenize(&cd, c->tok, c->m->cfg.bos_token_id, c->m->cfg.max_position_embeddings, &d, err);
    conpet_result res = {0};
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
        free(avg), free(steps);
    }
    conpet_result_free(&res);
    continual_tokens_free(&d);
    continual_free(&cd);
    return rc;
}

const method method_conpet = {"conpet", "a class-incremental task sequence (sequential, joint, EMR, EA-EMR, static or dynamic ConPET); task entry = the sequence",
                              params, (int)(sizeof params / sizeof params[0]), run, 1};
