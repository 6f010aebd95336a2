/* The front door every method's command shares: the command parses its own inputs and the method's
 * parameters (harness/method.h: method_parse_args, so flags, defaults and help come from the method's
 * schema), then runs the very `run` a matrix cell runs, on the model, tokenizer and task it names. */
#ifndef CPET_METHOD_DOOR_H
#define CPET_METHOD_DOOR_H

#include <jansson.h>

#include "error.h"
#include "method.h"

typedef struct {
    const char *model;       /* the model the method runs on (loaded whole: trainable) */
    const char *model_path;  /* what the cell calls the model before compression (CA-LoRA's teacher); NULL: model */
    const char *task;        /* TASKS.jsonl, or a task sequence's directory for methods that take one; NULL: none */
    const char *task_name;   /* the sequence's dataset; NULL: the task file's name */
    const char *train_split; /* NULL: "train" */
    const char *eval_split;  /* NULL: "test" */
    long seed, threads;
    const char *out_dir;     /* where the method writes what it makes (method_cell.out_dir) */
    int score_before;
} door_inputs;

/* Loads, runs and returns the record a command writes: {"method", "params", "model", "task", "seed",
 * "metrics", "curves", "examples", "tokens", "facts"}. */
int method_door_run(const method *m, const door_inputs *in, const json_t *params, json_t **record, cpet_err *err);

#endif
