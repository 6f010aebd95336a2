#include "method_door.h"

#include <string.h>

#include "blas.h"
#include "facts.h"
#include "gguf.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"

int method_door_run(const method *m, const door_inputs *in, const json_t *params, json_t **record, cpet_err *err)
{
    *record = NULL;
    if (in->threads) engine_set_threads((int)in->threads);
    const char *train_split = in->train_split ? in->train_split : "train", *eval_split = in->eval_split ? in->eval_split : "test";
    model mdl;
    tokenizer tok;
    task_set train = {0}, eval = {0};
    if (model_load(&mdl, in->model, err) != 0) return -1;
    int rc = tokenizer_load_for(&tok, in->model, NULL, err), have_tok = rc == 0;
    if (rc == 0 && !m->takes_sequence && in->task) { /* no task: a method that only makes something (cpet sparsify) */
        rc = tasks_read(&train, in->task, train_split, err);
        if (rc == 0) rc = tasks_read(&eval, in->task, eval_split, err);
        if (rc == 0 && (train.n == 0 || eval.n == 0))
            rc = cpet_fail(err, "%s: splits '%s' (%d examples) and '%s' (%d) must both have examples", in->task, train_split, train.n,
                           eval_split, eval.n);
    }
    method_result res = {.metrics = json_object(), .curves = json_object(), .examples = json_array()};
    if (rc == 0) {
        const method_cell cell = {.m = &mdl,
                                  .tok = &tok,
                                  .model_path = in->model_path ? in->model_path : in->model,
                                  .task_file = in->task,
                                  .task_name = in->task_name ? in->task_name : in->task,
                                  .train = &train,
                                  .eval = &eval,
                                  .seed = (uint64_t)in->seed,
                                  .params = params,
                                  .threads = (int)in->threads,
                                  .out_dir = in->out_dir,
                                  .score_before = in->score_before};
        rc = m->run(&cell, &res, err);
    }
    if (rc == 0)
        *record = json_pack("{s:s, s:O, s:s, s:s?, s:I, s:O, s:O, s:O, s:I, s:o}", "method", m->name, "params", params, "model", in->model,
                            "task", in->task, "seed", (json_int_t)in->seed, "metrics", res.metrics, "curves", res.curves, "examples",
                            res.examples, "tokens", (json_int_t)res.tokens, "facts", run_facts());
    json_decref(res.metrics), json_decref(res.curves), json_decref(res.examples);
    tasks_free(&train), tasks_free(&eval);
    if (have_tok) tokenizer_free(&tok);
    model_free(&mdl);
    return rc;
}
