/* Matrix specs: models x compressions x methods x tasks x seeds, read with Jansson and checked strictly
 * (unknown keys, wrong types and unknown methods are errors naming the key path; nothing runs). */
#ifndef CPET_SPEC_H
#define CPET_SPEC_H

#include <jansson.h>
#include <stdint.h>

#include "calib.h"
#include "error.h"
#include "hashmap.h"
#include "method.h"

typedef struct {
    char label[64];    /* row name; the method name unless the spec gives "label" */
    const method *info;
    json_t *params;    /* every parameter, defaults filled in */
    json_t *only;      /* the entry's "compressions": the labels this row runs on (NULL: every one) */
} spec_method;

typedef struct {
    char name[64];
    char file[1024];
    char train_split[16], eval_split[16];
    int limit;         /* use at most this many eval examples (0 = all) */
} spec_task;

/* One entry of "compressions": a chain with the spec's shared compression_options, or an object
 * {"chain", "label", and any compression_options key} whose own options override the shared ones. */
typedef struct {
    char label[256]; /* the row name: the chain unless the entry gives "label" */
    char chain[256]; /* a cpet compress chain, or "none" */
    int group;
    double sparsity;
    int lm_head, embeddings;
    int custom;      /* given as an object: its label and options go into the cell's hash */
    compress_training train; /* for chains that train (qat-*, simple, wid): "train": {steps, batch, lr, ...} */
} spec_compression;

typedef struct {
    char name[64];
    char **models;
    int n_models;
    spec_compression *compressions;
    int n_compressions;
    spec_method *methods;
    int n_methods;
    spec_task *tasks;
    int n_tasks;
    int64_t *seeds;
    int n_seeds;
    int threads;
    /* compression settings shared by every compressed cell */
    int group, calib_rows, calib_seq;
    double sparsity;
    int lm_head;        /* pack the LM head too (compress_options.lm_head) */
    int embeddings;     /* pack the embedding table too (compress_options.embeddings) */
    compress_training train; /* the shared training settings of the chains that train */
    char calib[1024];   /* calibration text ("" = none) */
    char heldout[1024]; /* text for a perplexity metric ("" = none) */
    int heldout_limit;  /* a profile's cap on the documents of the held-out text (and of a method's measured text); 0: all */
    char hash[17];      /* of the spec as given (sorted keys): runs of one spec share it */
    json_t *root;       /* the spec as loaded (spec_load), its chosen "profile" included: a run's spec.json */
} spec;

typedef struct {
    int index; /* 1-based, in expansion order */
    const char *model, *compression; /* compression: the entry's label */
    const spec_compression *comp;
    const spec_method *method;
    const spec_task *task;
    int64_t seed;
    char key[1024];       /* human-readable identity */
    char config_hash[17]; /* FNV-1a of the canonical cell config */
    json_t *config;       /* the cell's full configuration */
} cell;

int spec_load(spec *s, const char *path, cpet_err *err);
/* The spec with one of its "profiles" chosen (NULL: as written). A profile is a reduced budget of the same
 * study, {"compressions", "methods", "tasks": labels to keep, "seeds": [...], "method_params": {key: value}
 * set in every kept method that has the parameter}; the file's own "profile" key chooses one too. */
int spec_load_profile(spec *s, const char *path, const char *profile, cpet_err *err);
int spec_parse(spec *s, json_t *root, const char *path, cpet_err *err);
void spec_free(spec *s);
/* The cell's shard (1..n) in a partition into n: a function of its config hash alone, so every process
 * agrees and adding cells to a spec never moves the others. */
int cell_shard(const cell *c, int n);
/* config hash -> index into cells[0..n), to match records to the spec's cells in O(1). */
int cells_by_hash(const cell *cells, int n, str_map *out);
/* All cells in order: models, compressions, methods, tasks, seeds (seeds vary fastest); a method whose
 * entry names its compressions runs only on those (a sparse matrix: ablation rows on a few compressions). */
cell *spec_expand(const spec *s, int *n_cells);
void cells_free(cell *c, int n);

/* FNV-1a 64 of a JSON value dumped with sorted keys, as 16 hex digits. */
void json_hash(const json_t *v, char out[17]);

#endif
