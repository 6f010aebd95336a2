/* Harness methods: what a matrix cell does to a loaded (possibly compressed) model before it is scored.
 * A method is one file in eval/methods/ holding a `method` struct -- name, one-line doc, parameter
 * schema, run function -- and one line in the registry (eval/method.c). The schema drives spec
 * validation (unknown keys, wrong types: errors naming the key path) and `cpet run --help`. */
#ifndef CPET_METHOD_H
#define CPET_METHOD_H

#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"

typedef enum { PARAM_INT, PARAM_NUMBER, PARAM_STRING, PARAM_STRING_LIST, PARAM_BOOL } param_type;

typedef struct {
    const char *key;
    param_type type;
    const char *default_json; /* the default as JSON text */
    const char *doc;
    /* added after records of the method existed, with a default that does what the method did before: at
     * its default it stays out of the cell's config hash, so those records stay current */
    int hashed_only_when_set;
} method_param;

/* What a method gets: the model (compression already applied), its tokenizer, the task's examples
 * (train split, and the eval split it is scored on), the seed and its parameters (defaults filled in). */
typedef struct {
    model *m;
    const tokenizer *tok;
    const char *model_path; /* the cell's model before compression (a teacher for CA-LoRA) */
    const char *task_file;
    const char *task_name; /* the spec's name of the task */
    const task_set *train; /* may be empty */
    const task_set *eval;
    /* the task's "limit" (0: none): train and eval are already cut to it; a method that reads its task
     * sequence itself scores that many test samples per task of the sequence */
    int limit;
    /* the profile's heldout_limit (0: none): a text the method measures keeps that many documents, evenly spaced */
    int text_limit;
    uint64_t seed;
    const json_t *params;
    int threads;
} method_cell;

/* What it returns: metrics (numbers by name), curves (name -> [[x, y], ...]), per-example outputs (one
 * object per eval example: id, prediction, correct, scores, ...), tokens processed (for tokens/s), and
 * what the curves' x is (NULL: training steps; e.g. "tasks seen"), which plots name their axis by.
 * The caller creates the three JSON containers; the method fills them. */
typedef struct {
    json_t *metrics, *curves, *examples;
    long tokens;
    const char *curve_x;
} method_result;

typedef struct method {
    const char *name;
    const char *doc;
    const method_param *params;
    int n_params;
    int (*run)(const method_cell *c, method_result *r, cpet_err *err);
    /* 1: the method runs a class-incremental task sequence (datasets/continual.h) instead of a multiple-choice
     * task: the spec's task entry names the sequence's directory ("file") and dataset ("name"); train and
     * eval are then empty and the method reads the sequence itself */
    int takes_sequence;
} method;

/* The registry, in listing order. */
extern const method *const method_registry[];
extern const int method_registry_size;
const method *method_find(const char *name);

/* Parameter accessors for run functions (the schema guarantees presence and type). */
double method_param_number(const method_cell *c, const char *key);
int method_param_int(const method_cell *c, const char *key);

/* The string parameter `key` with "{task}" replaced by the cell's task name and "{seed}" by its seed: a
 * path to something made per task or seed beforehand (an adapter, a sparsified model). */
int method_expand_path(const method_cell *c, const char *key, char *out, size_t size, cpet_err *err);

/* Scores the eval split by candidate log-likelihood (eval/evaluate.h) and fills acc, acc_norm,
 * acc_stderr, chance, n and one example object per eval example: {"id", "label", "prediction",
 * "correct", "prediction_norm", "correct_norm", "scores": [log p(choice)]}. Most methods end with it. */
int method_score_multiple_choice(const method_cell *c, method_result *r, cpet_err *err);

#endif
