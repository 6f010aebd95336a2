/* Harness methods: what a matrix cell does to a loaded (possibly compressed) model before it is scored.
 * A method is one file in harness/methods/ holding a `method` struct -- name, one-line doc, parameter
 * schema, run function -- and one line in the registry (harness/registry.c). The schema drives spec
 * validation (unknown keys, wrong types: errors naming the key path) and `cpet run --help`. */
#ifndef CPET_METHOD_H
#define CPET_METHOD_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>

#include "error.h"
#include "lora.h"
#include "model.h"
#include "options.h"
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
    double min, max;     /* INT / NUMBER: the accepted range, when min < max */
    const char *choices; /* STRING: the accepted values, "a|b|c" (NULL: any string) */
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
    /* where the method writes what it makes (an adapter, a model), when the caller keeps it; NULL in a
     * matrix cell, whose record is its only output */
    const char *out_dir;
    /* also score the eval split before training, as metric acc_before (the command line reports it) */
    int score_before;
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

/* A value against its parameter's type, range and choices; err names `where` (a spec's key path, an option). */
int method_param_check(const method_param *p, const json_t *v, const char *where, cpet_err *err);

/* The method's parameters as command-line options: --key-with-hyphens for every schema key, of the
 * schema's type, with its default and doc (so `cpet METHOD --help` is generated from the schema), after the
 * command's own options `own` (OPT_END-terminated). Parses argv against both; on OPT_OK *params holds every
 * parameter (defaults filled in), checked as a spec's would be. Returns OPT_OK, OPT_HELP or OPT_ERROR. */
int method_parse_args(const method *m, const opt_command *cmd, const opt *own, int argc, char **argv, json_t **params, cpet_err *err);

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

/* The parameters method_run_lora reads, for the table of LoRA and of each variant of it */
#define METHOD_LORA_PARAMS                                                                                                        \
    {.key = "rank", .type = PARAM_INT, .default_json = "8", .doc = "LoRA rank r", .min = 1, .max = 4096},                        \
        {.key = "alpha", .type = PARAM_NUMBER, .default_json = "16", .doc = "LoRA alpha (scaling alpha/r)"},                      \
        {.key = "targets",                                                                                                        \
         .type = PARAM_STRING_LIST,                                                                                               \
         .default_json = "[\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]",               \
         .doc = "modules to adapt"},                                                                                              \
        {.key = "steps", .type = PARAM_INT, .default_json = "100", .doc = "optimizer steps", .min = 0, .max = 1 << 24},           \
        {.key = "batch", .type = PARAM_INT, .default_json = "8", .doc = "examples per step", .min = 1, .max = 1024},              \
        {.key = "lr", .type = PARAM_NUMBER, .default_json = "0.001", .doc = "peak learning rate (cosine, 10% warmup)"},          \
        {.key = "weight_decay", .type = PARAM_NUMBER, .default_json = "0.0", .doc = "AdamW weight decay"},                        \
        {.key = "clip",                                                                                                           \
         .type = PARAM_NUMBER,                                                                                                    \
         .default_json = "1.0",                                                                                                   \
         .doc = "gradient norm clip (0: off)",                                                                                    \
         .hashed_only_when_set = 1,                                                                                               \
         .min = 0,                                                                                                                \
         .max = INFINITY},                                                                                                        \
        {.key = "rslora", .type = PARAM_BOOL, .default_json = "false", .doc = "scaling alpha/sqrt(r) (rsLoRA)", .hashed_only_when_set = 1}

/* A LoRA (or MoSLoRA, with a mixer param) on m from LoRA params (rank, alpha, targets, rslora, mixer), attached */
int method_lora_create(const json_t *params, model *m, uint64_t seed, lora_adapter *ad, cpet_err *err);
/* The LoRA recipe adapter methods share: an adapter from the cell's params (rank, alpha, targets, and mixer
 * when the schema has one) on the frozen base, all of A and B trainable, then `prepare` (NULL: none) may
 * say otherwise; AdamW (lr, weight_decay), steps x batch on the train split (finetune.h), the adapter saved
 * to out_dir when set, then scored with it attached. */
int method_run_lora(const method_cell *c, method_result *r, void (*prepare)(lora_adapter *ad), cpet_err *err);
/* The recipe's training and scoring for any adapter whose tensors are given (attached, gradients allocated):
 * AdamW (lr, weight_decay) on the trainable ones, steps x batch on the train split (finetune.h), then scored
 * with it attached; records trainable_params. */
int method_train_adapter(const method_cell *c, method_result *r, param_tensor *tensors, int n_tensors, cpet_err *err);

#endif
