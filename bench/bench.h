/* The benchmarks as library functions: each takes an options struct and returns its result JSON (or
 * fails with a one-line cpet_err). Nothing here parses arguments or prints except to the FILE* it is
 * given; the CLI (cli/cmd_bench.c) does both. */
#ifndef CPET_BENCH_H
#define CPET_BENCH_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"

typedef struct {
    double mean, stddev;
} bench_timing;

bench_timing bench_summarize(const double *samples, int n);
/* The median of n values (left unchanged). */
double bench_median(const double *v, int n);
/* {"mean_s", "stddev_s", "samples_s": [...]} */
json_t *bench_timing_json(bench_timing t, const double *samples, int n);

/* ---- the benchmarks; `log` (may be NULL) gets one or two human-readable progress lines ---- */

typedef struct {
    int dim, layers, seq, batch, vocab, reps, threads, seed;
    FILE *log;
} bench_engine_options;
bench_engine_options bench_engine_defaults(void);
/* fwd+bwd of a random LLaMA vs OpenBLAS sgemm on the same step's GEMM shapes */
int bench_engine_run(const bench_engine_options *o, json_t **result, cpet_err *err);

typedef struct {
    const char *tokenizer, *corpus;
    const char *against; /* NULL, or a second tokenizer timed in the same reps (e.g. byte-level vs SentencePiece-style) */
    int reps;
    FILE *log;
} bench_tokenizer_options;
bench_tokenizer_options bench_tokenizer_defaults(void);
/* encode/decode MB/s over a whole corpus, one thread; with against, its figures and the encode-time ratio
 * tokenizer / against, each rep timing both back to back */
int bench_tokenizer_run(const bench_tokenizer_options *o, json_t **result, cpet_err *err);

typedef struct {
    int dim, layers, heads, kv_heads, seq, batch, vocab, reps, threads;
    FILE *log;
} bench_pretrain_options;
bench_pretrain_options bench_pretrain_defaults(void);
/* tokens/s of full training steps (forward, backward, clipping, AdamW) */
int bench_pretrain_run(const bench_pretrain_options *o, json_t **result, cpet_err *err);

typedef struct {
    int rows, cols, reps, threads;
    FILE *log;
} bench_gemv_options;
bench_gemv_options bench_gemv_defaults(void);
/* one-token GEMV on f32 and packed weights vs the copy/read bandwidth measured in the same rounds */
int bench_gemv_run(const bench_gemv_options *o, json_t **result, cpet_err *err);

typedef struct {
    const char *model;        /* a model directory (f32 or packed) */
    int prompt_tokens, gen_tokens, reps;
    int threads[8], n_threads; /* each thread count is one row pair (pp, tg) */
    int q8_activations;       /* packed models: llama.cpp's int8-activation decode */
    unsigned long long seed;  /* the random prompt */
    const char *adapter;      /* a PEFT LoRA run unmerged on top of the model (NULL: none) */
    int merge;                /* merge the adapter's LoRA into the base first (packed: re-quantized) */
    int sparse;               /* also decode with sparse FFNs (a ReLU model), dense and sparse passes side by side */
    const char *predictor;    /* with sparse: an activation predictor directory (cpet predictor), a third pass */
    float threshold;          /* with sparse: > 0 sets the FATReLU threshold first (a ReLU model) */
    FILE *log;
} bench_decode_options;
bench_decode_options bench_decode_defaults(void);
/* a decode row's "of bound" cell: tg against the read probe (copy for older records), pp against sgemm */
void bench_decode_bound_text(const json_t *row, char *out, size_t n);

typedef struct {
    int dim, ffn, group, reps, threads, seed;
    int predictor_hidden; /* > 0: also the predictor variant, an oracle mask (the true active set) plus the
                           * time of a predictor of this hidden size (random weights: its cost, not its recall) */
    const char *format; /* f32, int8 or int4 */
    int rows[4], n_rows; /* rows per call: decode (1) and small batches (the union of active neurons) */
    FILE *log;
} bench_sparse_options;
bench_sparse_options bench_sparse_defaults(void);
/* the exact sparse FFN against cpet's dense FFN on a synthetic layer at sparsities 0..99% */
int bench_sparse_run(const bench_sparse_options *o, json_t **result, cpet_err *err);
void bench_sparse_markdown(const json_t *r, FILE *out);
int bench_sparse_plot(const json_t *r, const char *dir, const char *name, cpet_err *err);

typedef struct {
    const char *model; /* a model directory (f32 or packed): the frozen base */
    int rank, seq, batch, steps, threads;
    unsigned long long seed;
    float lr;
    FILE *log;
} bench_lora_options;
bench_lora_options bench_lora_defaults(void);
/* rank-r LoRA on every layer linear of a frozen base: seconds per step (median after the first), tokens/s,
 * peak RSS and the loss curve */
int bench_lora_run(const bench_lora_options *o, json_t **result, cpet_err *err);
/* Prompt processing (one chunk of prompt_tokens through the KV cache) and generation (gen_tokens greedy
 * steps) in tokens/s, median and spread over reps per thread count; bytes read per generated token
 * (weights + the KV cache at the mean position) and their rate against the copy bandwidth measured
 * right after each rep; peak RSS. */
int bench_decode_run(const bench_decode_options *o, json_t **result, cpet_err *err);
/* llama-bench's Markdown table (model | size | params | threads | test | t/s | of bound) and CSV rows of
 * a bench_decode_run result. */
void bench_decode_markdown(const json_t *result, FILE *out);
void bench_decode_csv(const json_t *result, FILE *out);

typedef struct {
    const char *base, *compressed, *adapter; /* the uncompressed model, its compressed version, a PEFT adapter dir */
    const char *task, *eval_split;           /* drift on this task's split (task NULL: no drift) */
    int max_adapters, threads;
    int decode;                              /* also decode tokens/s and peak RSS: base, + adapter, merged */
    int prompt_tokens, gen_tokens, reps;     /* of that decode (bench decode's tests, one thread count) */
    const char *scratch_dir;                 /* where the decode children hand back their results */
    FILE *log;
} bench_adapters_options;
bench_adapters_options bench_adapters_defaults(void);
/* bytes of a compressed base + N adapters vs N full / compressed models; the share of the adapter's update a
 * re-quantized merge loses; the merged model's drift against the unmerged adapter on a task (bench_adapters.c) */
int bench_adapters_run(const bench_adapters_options *o, json_t **result, cpet_err *err);
/* its Markdown: the decode table, bytes at a few N, the merge and drift lines */
void bench_adapters_markdown(const json_t *result, FILE *out);
/* bytes against N as a gnuplot plot DIR/NAME.{dat,gp,png,svg} */
int bench_adapters_plot(const json_t *result, const char *dir, const char *name, cpet_err *err);

/* STREAM copy GB/s (read + write counted) over n floats, on the engine's threads. */
double bench_stream_copy_gbs(float *dst, const float *src, size_t n);
double bench_stream_read_gbs(const float *src, size_t n, float *sink);

/* ---- comparing results (bench_compare.c) ---- */

/* Every numeric figure of a result as {"a.b.c": number}, each name prefixed with `prefix.` when prefix
 * is non-empty; facts, samples*, seed and reps are left out. With judged_only, only the figures whose
 * name says which way is better (bench/figures.h: figure_direction_of; whether one is a within-run ratio:
 * figure_is_ratio). */
void bench_flatten(const json_t *result, const char *prefix, int judged_only, json_t *out);
/* A result file: a JSON object, or NULL with err naming the file (unreadable, not JSON, not an object). */
json_t *bench_read_result(const char *path, cpet_err *err);

typedef struct {
    double tolerance; /* 0.10: a 10% move is within noise */
    int absolute;     /* also compare absolute figures (tokens/s, seconds, GB/s), not only within-run ratios */
    FILE *out;        /* the table of moved figures and the summary line; NULL: silent */
} bench_compare_options;

typedef struct {
    int compared, regressed, improved;
    int skipped_absolute; /* judged figures left out because they are absolute and !absolute */
    int files;            /* result files compared (1 for two files) */
} bench_compare_summary;

/* Compares BASELINE with CURRENT: two result JSON files, or two directories whose same-named *.json files
 * are compared (figure names then carry the file's stem, "engine.fraction_of_sgemm"). Fails (-1, err
 * naming the file) on unreadable or non-JSON input, a file/directory mix, directories with no file in
 * common, or results that share no judged figure at all. */
int bench_compare(const char *baseline, const char *current, const bench_compare_options *o, bench_compare_summary *s,
                  cpet_err *err);

/* ---- the A/B regression gate's judge (bench_ab.c) ---- */

typedef struct {
    const char *rounds_dir;   /* round-NN/base/<stem>.json and round-NN/head/<stem>.json */
    const char *figures;      /* the judged figures: "stem path higher|lower" per line */
    double effect;            /* the smallest slowdown that counts (0.05) */
    double alpha;             /* the family-wise error rate (0.05) */
    const char *verdict_path; /* JSON verdict, or NULL */
    FILE *out;                /* the table; NULL: silent */
} bench_ab_options;

typedef struct {
    int figures, rounds, regressed;
} bench_ab_summary;

/* Judges head against base over the rounds: per figure, the head/base ratio of each round (the pair ran
 * back to back), Wilcoxon's one-sided signed-rank test of H0 "head at most `effect` worse" (exact), Holm's
 * adjustment over the figures; regressed where the adjusted p < alpha. A judged figure missing, null, NaN
 * or not positive in any run is an error naming the file and the figure (-1). */
int bench_ab(const bench_ab_options *o, bench_ab_summary *s, cpet_err *err);
/* The number at a dotted path in a result, an array element picked by its fields: "rows[test=tg64,n_threads=1].median_ts";
 * NaN when absent, null or not a number. */
double bench_ab_lookup(const json_t *root, const char *path);

/* ---- history (bench_history.c) ---- */

/* The history line for a set of result files: {revision, date (UTC ISO 8601), host, threads, figures:
 * {"<file stem>.<figure>": value}} (judged figures only). revision/host/threads come from the results'
 * facts, which must agree on the revision. */
json_t *bench_history_line(const char *const *result_paths, int n, cpet_err *err);
/* Appends bench_history_line() to history_path as one line, in a single write. */
int bench_history_append(const char *history_path, const char *const *result_paths, int n, cpet_err *err);

/* ---- docs/performance.md's summary (bench_summary.c) ---- */

/* Markdown from RESULTS_DIR/{engine,tokenizer,pretrain,gemv}.json: the engine's model shape, fwd+bwd
 * tokens/s and µs/token, step vs sgemm GFLOP/s and the fraction of the sgemm rate; tokenizer encode/decode
 * MB/s and bytes/token; the default model's pretraining tokens/s; a gemv table (median GB/s, fraction of
 * copy and read bandwidth, speedup vs f32 per format) with the shape and bandwidths. Every line names the
 * revision, threads and CPU of its figures. A missing file becomes a note line; an unreadable or corrupt
 * one, a result of another benchmark, or one missing a figure fails with err naming the file, as does a
 * directory holding none of the four. Nothing reaches out unless the whole summary renders. */
int bench_summary_render(const char *results_dir, FILE *out, cpet_err *err);
/* The same into out_path, atomically (its directory is created if needed); on failure the old file stays. */
int bench_summary_write(const char *results_dir, const char *out_path, cpet_err *err);

#endif
