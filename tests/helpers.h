/* Test helpers: fixture paths, temp dirs, running the cpet binary, finite-difference gradient checks. */
#ifndef CPET_TEST_HELPERS_H
#define CPET_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "safetensors.h"
#include "tokenizer.h"

#define FIXTURE_DIR CPET_FIXTURES "/hf/llama_gqa_silu"

/* A fresh directory under /tmp, removed by nothing (tests run in their own processes). */
void make_temp_dir(char *out, size_t n);
/* Runs a shell command; returns its exit status and captures stdout+stderr into out. */
int run_capture(const char *cmd, char *out, size_t n);
int count_lines(const char *s);
void copy_fixture_model(const char *dst_dir); /* config.json + model.safetensors (+ adapter/) */
void write_text(const char *path, const char *text);
/* Reads a whole file; caller frees. */
char *read_all(const char *path, size_t *len);
/* 1 when both files are readable and hold the same bytes */
int same_file(const char *a, const char *b);
/* the status of each record line of a run's records file, in order: "ok" or "failed: <error>" (at most max) */
int record_statuses(const char *records_path, char out[][600], int max);
void write_bytes(const char *path, const void *data, size_t len);

/* Loads a float tensor from an open file into a new buffer (caller frees). */
float *tensor_f32(const st_file *f, const char *name, size_t *n);
/* Fixture input ids as ints [2, 24]. */
int *fixture_ids(const st_file *expected, int *B, int *T);

/* The scalar a gradient check differentiates, evaluated at the current parameter values. */
typedef double (*loss_fn)(void *ctx);
/* Compares <g, u> with a 4-point central difference of f along u, for u = g/|g| and k random unit
 * directions. Returns the worst |fd - <g,u>| / max(|g|, |fd|), and infinity for an all-zero g (which would
 * check nothing). x is restored. */
double fd_check(loss_fn f, void *ctx, float *x, const float *g, size_t n, float h, int k_random, uint64_t seed);

/* A saved random model (config.json, model.safetensors) with a trained tokenizer.json, in dir/model:
 * vocab 300 (id 0 = <|endoftext|>, also BOS), hidden `dim`, FFN `ffn`, `layers` layers. */
void make_tiny_model_dir(const char *dir, int dim, int ffn, int layers);
/* make_tiny_model_dir in a fresh temp dir, loaded: the model and its tokenizer */
void load_tiny_model(int dim, int ffn, int layers, model *m, tokenizer *tok);

/* A small random config in the family: everything the engine must not special-case. */
model_config small_config(int n_heads, int n_kv_heads, activation act, int tied, float rope_theta);

#endif
