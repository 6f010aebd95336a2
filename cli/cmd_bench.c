/* cpet bench NAME, cpet bench history append, cpet bench summary, cpet bench-compare: argument parsing
 * and output around the functions of bench/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "isa.h"
#include "fileio.h"

/* Writes j to path atomically (or stdout when path is NULL); consumes j; returns an exit status. */
static int bench_emit(json_t *j, const char *path)
{
    cpet_err err;
    int rc = 0;
    if (path) {
        rc = json_write_file(path, j, &err) != 0;
        if (rc) cli_report(&err);
    } else {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    }
    json_decref(j);
    return rc;
}

/* a benchmark's return code and result -> exit status, the result written to out */
static int finish(int rc, json_t *result, const cpet_err *err, const char *out)
{
    if (rc != 0) return cli_report(err);
    return bench_emit(result, out);
}

#define OPT_JSON_OUT(p) OPT_STRING("-o", p, "FILE.json", "the result as JSON (default: stdout)")

static int bench_engine(int argc, char **argv)
{
    bench_engine_options o = bench_engine_defaults();
    o.log = stderr;
    const char *out = NULL;
    const opt opts[] = {OPT_INT32("--dim", &o.dim, 64, 65536, "model width (a multiple of 64: head_dim 64)"),
                        OPT_INT32("--layers", &o.layers, 1, 1024, "layers"),
                        OPT_INT32("--seq", &o.seq, 2, 65536, "sequence length"),
                        OPT_INT32("--batch", &o.batch, 1, 65536, "sequences per step"),
                        OPT_INT32("--vocab", &o.vocab, 2, 1 << 20, "vocabulary"),
                        OPT_INT32("--reps", &o.reps, 1, 1000, "timed steps"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_INT32("--seed", &o.seed, 0, 0x7fffffff, "random weights' seed"),
                        OPT_JSON_OUT(&out),
                        OPT_END};
    const opt_command cmd = {.name = "bench engine",
                             .about = "Times forward+backward of a random LLaMA (all weights trainable) and the same step's GEMMs\n"
                                      "alone through OpenBLAS; reports seconds per token and the fraction of the sgemm rate.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    if (o.dim % 64 != 0) return cli_error("bench engine: --dim must be a multiple of 64 (head_dim 64)");
    json_t *result;
    cpet_err err;
    int rc = bench_engine_run(&o, &result, &err); /* before reading result: argument order is unspecified */
    return finish(rc, result, &err, out);
}

static int bench_tokenizer(int argc, char **argv)
{
    bench_tokenizer_options o = bench_tokenizer_defaults();
    o.log = stderr;
    const char *out = NULL;
    const opt opts[] = {OPT_REQUIRED("--tokenizer", &o.tokenizer, "FILE", "a tokenizer.json"),
                        OPT_REQUIRED("--corpus", &o.corpus, "TEXT", "the text encoded and decoded"),
                        OPT_STRING("--against", &o.against, "FILE", "a second tokenizer timed in the same reps, and the encode-time ratio"),
                        OPT_INT32("--reps", &o.reps, 1, 1000, "timed passes"),
                        OPT_JSON_OUT(&out),
                        OPT_END};
    const opt_command cmd = {.name = "bench tokenizer",
                             .about = "Encode and decode throughput (MB/s of UTF-8 text, single thread) over the whole corpus.\n"
                                      "--against: e.g. a SentencePiece-style file against the byte-level one.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    json_t *result;
    cpet_err err;
    int rc = bench_tokenizer_run(&o, &result, &err); /* before reading result: argument order is unspecified */
    return finish(rc, result, &err, out);
}

static int bench_pretrain(int argc, char **argv)
{
    bench_pretrain_options o = bench_pretrain_defaults();
    o.log = stderr;
    const char *out = NULL;
    const opt opts[] = {OPT_INT32("--dim", &o.dim, 8, 65536, "model width"),
                        OPT_INT32("--layers", &o.layers, 1, 1024, "layers"),
                        OPT_INT32("--heads", &o.heads, 1, 1024, "attention heads"),
                        OPT_INT32("--kv-heads", &o.kv_heads, 1, 1024, "key/value heads"),
                        OPT_INT32("--seq", &o.seq, 2, 65536, "sequence length"),
                        OPT_INT32("--batch", &o.batch, 1, 65536, "sequences per step"),
                        OPT_INT32("--vocab", &o.vocab, 2, 1 << 20, "vocabulary"),
                        OPT_INT32("--reps", &o.reps, 1, 1000, "timed steps"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_JSON_OUT(&out),
                        OPT_END};
    const opt_command cmd = {.name = "bench pretrain",
                             .about = "Times full training steps (forward, backward, clipping, AdamW) of the default tiny model.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    json_t *result;
    cpet_err err;
    int rc = bench_pretrain_run(&o, &result, &err); /* before reading result: argument order is unspecified */
    return finish(rc, result, &err, out);
}

static int bench_gemv(int argc, char **argv)
{
    bench_gemv_options o = bench_gemv_defaults();
    o.log = stderr;
    const char *out = NULL;
    const opt opts[] = {OPT_INT32("--rows", &o.rows, 32, 1 << 20, "rows of W"),
                        OPT_INT32("--cols", &o.cols, 128, 1 << 20, "columns of W (a multiple of 128)"),
                        OPT_INT32("--reps", &o.reps, 1, 1000, "rounds"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_JSON_OUT(&out),
                        OPT_END};
    const opt_command cmd = {.name = "bench gemv",
                             .about = "y = W x for one token with W f32 (sgemv), int8, q8_0, int4 (g128), q4_0, nf4 packed: GB/s of\n"
                                      "weight bytes, and the fraction of a STREAM-style copy and read bandwidth measured in the same\n"
                                      "round (median over rounds; the host's bandwidth swings). Each packed format runs with exact\n"
                                      "float activations and with int8 activation blocks (+q8act, llama.cpp's scheme; 4-bit formats\n"
                                      "from the row-interleaved decode pack, +q8act-rowwise from the stored layout).\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    if (o.cols % 128) return cli_error("bench gemv: --cols must be a multiple of 128");
    json_t *result;
    cpet_err err;
    int rc = bench_gemv_run(&o, &result, &err); /* before reading result: argument order is unspecified */
    return finish(rc, result, &err, out);
}

/* --md FILE and --plot DIR/NAME of a benchmark with a Markdown table and a plot; then the JSON to -o. Frees result. */
typedef void (*markdown_fn)(const json_t *r, FILE *out);
typedef int (*plot_fn)(const json_t *r, const char *dir, const char *name, cpet_err *err);
static int emit_md_plot(const char *cmd, json_t *result, const char *md, const char *plot, const char *out, markdown_fn to_md, plot_fn to_plot)
{
    cpet_err err;
    if (md) {
        atomic_file af;
        if (atomic_open(&af, md, &err) != 0) return json_decref(result), cli_report(&err);
        to_md(result, af.fp);
        if (atomic_commit(&af, &err) != 0) return json_decref(result), cli_report(&err);
    }
    if (plot) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", plot);
        char *slash = strrchr(dir, '/');
        const char *name = slash ? slash + 1 : dir;
        if (slash) *slash = 0;
        if (!*name) return json_decref(result), cli_error("%s: --plot DIR/NAME needs a NAME", cmd);
        if (to_plot(result, slash ? dir : ".", name, &err) != 0) return json_decref(result), cli_report(&err);
    }
    return out ? bench_emit(result, out) : (json_decref(result), 0);
}

/* cpet bench sparse-ffn [options]: the sweep table on stdout, JSON to -o, a plot with --plot DIR/NAME */
static int bench_sparse(int argc, char **argv)
{
    bench_sparse_options o = bench_sparse_defaults();
    o.log = stderr;
    const char *out = NULL, *md = NULL, *plot = NULL;
    const opt opts[] = {OPT_INT32("--dim", &o.dim, 32, 1 << 16, "model width"),
                        OPT_INT32("--ffn", &o.ffn, 32, 1 << 18, "FFN width"),
                        OPT_STRING("--format", &o.format, "f32|int8|int4", "the weights' format"),
                        OPT_INT32("--group", &o.group, 8, 1 << 16, "int4 group"),
                        OPT_INTS("--rows", o.rows, &o.n_rows, 4, "rows per call: decode (1) and small batches"),
                        OPT_INT32("--reps", &o.reps, 2, 64, "repetitions"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_INT32("--seed", &o.seed, 0, 0x7fffffff, "random layer's seed"),
                        OPT_INT32("--predictor-hidden", &o.predictor_hidden, 0, 1 << 16, "a predictor of this hidden size paid for (0: off)"),
                        OPT_JSON_OUT(&out),
                        OPT_STRING("--md", &md, "FILE.md", "the table as Markdown"),
                        OPT_STRING("--plot", &plot, "DIR/NAME", "speedup against sparsity as gnuplot DIR/NAME.{dat,gp,png,svg}"),
                        OPT_END};
    const opt_command cmd = {.name = "bench sparse-ffn",
                             .about = "The exact sparse FFN (dense gate, active rows of up, axpy over neuron-major down) against cpet's dense\n"
                                      "FFN on one random layer of that shape and format, at sparsities 0..99% (a FATReLU threshold at that\n"
                                      "quantile of the gate's outputs), per row count (more rows: the union of their active neurons).\n"
                                      "Reports the speedup with the ideal 1/(1-s) and the Amdahl bound of the dense gate 3/(1+2(1-s)), the\n"
                                      "up+down part alone, the crossover, and the dense FFN's share of the read bandwidth measured beside it.\n"
                                      "The predictor variant runs on an oracle mask (the true active set) and pays for a predictor of hidden\n"
                                      "size --predictor-hidden (random weights: its cost, not its recall).\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    json_t *result;
    cpet_err err;
    if (bench_sparse_run(&o, &result, &err) != 0) return cli_report(&err);
    bench_sparse_markdown(result, stdout);
    return emit_md_plot("bench sparse-ffn", result, md, plot, out, bench_sparse_markdown, bench_sparse_plot);
}

/* cpet bench decode MODEL_DIR [options]: the llama-bench table on stdout, JSON to -o, CSV to --csv */
static int bench_decode(int argc, char **argv)
{
    bench_decode_options o = bench_decode_defaults();
    o.log = stderr_is_tty() ? stderr : NULL;
    const char *out = NULL, *csv = NULL;
    long seed = (long)o.seed;
    const opt opts[] = {OPT_POSITIONAL(&o.model, "MODEL_DIR", "a model directory or .gguf (f32 or packed)"),
                        OPT_INT32("--prompt-tokens", &o.prompt_tokens, 1, 1 << 20, "pp: the prompt's tokens"),
                        OPT_INT32("--gen-tokens", &o.gen_tokens, 1, 1 << 20, "tg: greedy steps"),
                        OPT_INTS("--threads", o.threads, &o.n_threads, 8, "thread counts, one row pair each"),
                        OPT_INT32("--reps", &o.reps, 1, 64, "repetitions"),
                        OPT_SWITCH("--q8-activations", &o.q8_activations, "int8 activation blocks (llama.cpp's scheme)"),
                        OPT_STRING("--adapter", &o.adapter, "LORA", "a PEFT adapter run unmerged (recovery modules too)"),
                        OPT_SWITCH("--merge", &o.merge, "merge the adapter's LoRA into the base first"),
                        OPT_SWITCH("--sparse", &o.sparse, "a ReLU model: also decode with the exact sparse FFN"),
                        OPT_STRING("--predictor", &o.predictor, "DIR", "with --sparse: a third pass skipping predicted-inactive rows"),
                        OPT_FLOAT("--threshold", &o.threshold, "with --sparse: FATReLU(T) first (0: off)"),
                        OPT_INT("--seed", &seed, 0, 0x7fffffffL, "the random prompt's seed"),
                        OPT_JSON_OUT(&out),
                        OPT_STRING("--csv", &csv, "FILE.csv", "the rows as CSV"),
                        OPT_END};
    const opt_command cmd = {
        .name = "bench decode",
        .about = "llama-bench's tests on a model (f32 or packed): pp = the prompt as one chunk through the KV cache,\n"
                 "tg = greedy single-token steps; tokens/s median and spread over reps per thread count. Decode is\n"
                 "memory-bound: each rep is followed by a read-only stream and a STREAM copy, and `of bound` is\n"
                 "(bytes read per generated token x tokens/s) / read GB/s, a within-run ratio (the JSON has the copy\n"
                 "fraction too). The JSON adds the samples, bytes per token, peak RSS and RSS / (size + KV cache),\n"
                 "and the greedy ids (to compare with other runtimes on the same weights). A directory's F32 tensors\n"
                 "are read in place from the mapped checkpoint; with --q8-activations Q8_0 and 4-bit linears keep\n"
                 "only their decode pack. --merge re-quantizes a packed base in its own format (a private copy of the weights:\n"
                 "peak RSS counts it); recovery modules always run unmerged. --sparse decodes each rep twice, dense\n"
                 "then with the exact sparse FFN (crossover measured per layer at load), and reports both, their ratio,\n"
                 "the FFN's share of dense decode time, the FFN speedup, the Amdahl bound they imply, and the sparsity\n"
                 "decode saw per layer; --predictor's pass includes the predictor's own time.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    o.seed = (unsigned long long)seed;
    json_t *result;
    cpet_err err;
    int rc = bench_decode_run(&o, &result, &err);
    if (rc != 0) return cli_report(&err);
    bench_decode_markdown(result, stdout);
    if (csv) {
        atomic_file af;
        if (atomic_open(&af, csv, &err) != 0) return json_decref(result), cli_report(&err);
        bench_decode_csv(result, af.fp);
        if (atomic_commit(&af, &err) != 0) return json_decref(result), cli_report(&err);
    }
    return out ? bench_emit(result, out) : (json_decref(result), 0);
}

/* cpet bench adapters --base M --compressed CM --adapter DIR [--task T] */
static int bench_adapters(int argc, char **argv)
{
    bench_adapters_options o = bench_adapters_defaults();
    o.log = stderr_is_tty() ? stderr : NULL;
    const char *out = NULL, *csv = NULL, *md = NULL, *plot = NULL;
    /* required, and checked by bench_adapters_run with the other inputs */
    const opt opts[] = {OPT_STRING("--base", &o.base, "MODEL", "the uncompressed model (required)"),
                        OPT_STRING("--compressed", &o.compressed, "CMODEL", "its compressed version (required)"),
                        OPT_STRING("--adapter", &o.adapter, "DIR", "a PEFT adapter: LoRA and recovery modules (required)"),
                        OPT_STRING("--task", &o.task, "TASKS.jsonl", "drift of the merged model against the unmerged adapter"),
                        OPT_STRING("--eval-split", &o.eval_split, "SPLIT", "the split drift is measured on"),
                        OPT_INT32("--max-adapters", &o.max_adapters, 1, 100000, "N = 1..this many adapters"),
                        OPT_SWITCH("--decode", &o.decode, "also decode tokens/s and peak RSS: base, unmerged, merged"),
                        OPT_INT32("--prompt-tokens", &o.prompt_tokens, 1, 1 << 20, "with --decode: the prompt's tokens"),
                        OPT_INT32("--gen-tokens", &o.gen_tokens, 1, 1 << 20, "with --decode: greedy steps"),
                        OPT_INT32("--reps", &o.reps, 1, 64, "with --decode: repetitions"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_JSON_OUT(&out),
                        OPT_STRING("--csv", &csv, "FILE.csv", "bytes per N as CSV"),
                        OPT_STRING("--md", &md, "FILE.md", "the tables as Markdown"),
                        OPT_STRING("--plot", &plot, "DIR/NAME", "bytes against N as gnuplot DIR/NAME.{dat,gp,png,svg}"),
                        OPT_END};
    const opt_command cmd = {
        .name = "bench adapters",
        .usage = "--base MODEL --compressed CMODEL --adapter DIR [options]",
        .about = "What deploying task adapters on a compressed model costs: bytes of CMODEL + N adapters (the saved\n"
                 "adapter file, LoRA and recovery modules) against N full models and N compressed models, N = 1..max;\n"
                 "the share of the adapter's update a merge into the packed base loses to re-quantization; and with\n"
                 "--task, the merged model against the unmerged adapter on the split: accuracy of each, McNemar's p,\n"
                 "prediction agreement, change of the choices' log-likelihoods. Recovery modules run unmerged on both\n"
                 "sides. --decode runs bench decode in one child process each.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    json_t *result;
    cpet_err err;
    if (bench_adapters_run(&o, &result, &err) != 0) return cli_report(&err);
    const json_t *by = json_object_get(result, "bytes"), *mg = json_object_get(result, "merge"), *dr = json_object_get(result, "drift");
    printf("%s: %.2f MB compressed (%.2f MB uncompressed), adapter %.3f MB: %.0f adapters fit in the bytes compression saved\n",
           o.compressed, json_number_value(json_object_get(by, "compressed")) / 1e6, json_number_value(json_object_get(by, "base")) / 1e6,
           json_number_value(json_object_get(by, "adapter_file")) / 1e6, json_number_value(json_object_get(by, "adapters_per_saved_base")));
    printf("merge: %d of %d modules re-quantized, %.1f%% of the update lost to rounding (mean; max %.1f%%)\n",
           (int)json_integer_value(json_object_get(mg, "requantized_modules")), (int)json_integer_value(json_object_get(mg, "modules")),
           100 * json_number_value(json_object_get(mg, "update_lost_to_rounding_mean")),
           100 * json_number_value(json_object_get(mg, "update_lost_to_rounding_max")));
    if (json_is_object(dr))
        printf("drift: acc %.4f unmerged -> %.4f merged (McNemar p=%.3f), %.1f%% of predictions agree\n",
               json_number_value(json_object_get(dr, "acc_unmerged")), json_number_value(json_object_get(dr, "acc_merged")),
               json_number_value(json_object_get(dr, "mcnemar_p")), 100 * json_number_value(json_object_get(dr, "prediction_agreement")));
    if (csv) {
        atomic_file af;
        if (atomic_open(&af, csv, &err) != 0) return json_decref(result), cli_report(&err);
        fprintf(af.fp, "n,compressed_plus_adapters,base_plus_adapters,full_models,compressed_models\n");
        size_t k;
        json_t *row;
        json_array_foreach(json_object_get(result, "per_n"), k, row)
            fprintf(af.fp, "%lld,%.0f,%.0f,%.0f,%.0f\n", (long long)json_integer_value(json_object_get(row, "n")),
                    json_number_value(json_object_get(row, "compressed_plus_adapters")),
                    json_number_value(json_object_get(row, "base_plus_adapters")), json_number_value(json_object_get(row, "full_models")),
                    json_number_value(json_object_get(row, "compressed_models")));
        if (atomic_commit(&af, &err) != 0) return json_decref(result), cli_report(&err);
    }
    return emit_md_plot("bench adapters", result, md, plot, out, bench_adapters_markdown, bench_adapters_plot);
}

/* cpet bench lora MODEL_DIR [options] */
static int bench_lora(int argc, char **argv)
{
    bench_lora_options o = bench_lora_defaults();
    o.log = stderr_is_tty() ? stderr : NULL;
    const char *out = NULL;
    long seed = (long)o.seed;
    const opt opts[] = {OPT_POSITIONAL(&o.model, "MODEL_DIR", "the frozen base (f32 or packed)"),
                        OPT_INT32("--rank", &o.rank, 1, 4096, "LoRA rank"),
                        OPT_INT32("--seq", &o.seq, 2, 1 << 20, "sequence length"),
                        OPT_INT32("--batch", &o.batch, 1, 1 << 16, "sequences per step"),
                        OPT_INT32("--steps", &o.steps, 2, 1 << 20, "steps"),
                        OPT_INT32("--threads", &o.threads, 1, 1024, "threads"),
                        OPT_INT("--seed", &seed, 0, 0x7fffffffL, "the batch's seed"),
                        OPT_JSON_OUT(&out),
                        OPT_END};
    const opt_command cmd = {.name = "bench lora",
                             .about = "Trains a rank-r LoRA on every layer linear of MODEL_DIR's frozen base (f32 or packed, e.g. a 7B shape\n"
                                      "from cpet init --method q4_0) on one seeded batch of random ids: seconds per step (median after the\n"
                                      "first), tokens/s, peak RSS and the loss curve, which falls as the batch is memorised.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    o.seed = (unsigned long long)seed;
    json_t *result;
    cpet_err err;
    if (bench_lora_run(&o, &result, &err) != 0) return cli_report(&err);
    printf("lora r%d on %s: %.2f s/step, %.1f tokens/s, peak RSS %.0f MiB\n", o.rank, o.model,
           json_number_value(json_object_get(result, "step_seconds_median")), json_number_value(json_object_get(result, "tokens_per_s")),
           json_number_value(json_object_get(result, "peak_rss_mb")));
    return out ? bench_emit(result, out) : (json_decref(result), 0);
}

/* cpet bench summary RESULTS_DIR [-o FILE.md] */
static int bench_summary(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    const opt opts[] = {OPT_POSITIONAL(&dir, "RESULTS_DIR", "result files, e.g. the committed bench/results"),
                        OPT_STRING("-o", &out, "FILE.md", "written atomically (default: stdout)"),
                        OPT_END};
    const opt_command cmd = {.name = "bench summary",
                             .about = "The Performance page (docs/performance.md) as Markdown, from RESULTS_DIR/{engine,tokenizer,pretrain,gemv}.json:\n"
                                      "the training step's tokens/s, µs/token and fraction of the sgemm rate, tokenizer MB/s, pretraining\n"
                                      "tokens/s, and a gemv table of GB/s, fractions of copy and read bandwidth and speedup vs f32 per\n"
                                      "format. Every line names the revision, threads and CPU. A missing file is noted; a corrupt one is an error.\n"};
    const int p = cli_options(&cmd, opts, argc - 1, argv + 1);
    if (p != OPT_OK) return cli_exit_status(p);
    cpet_err err;
    int rc = out ? bench_summary_write(dir, out, &err) : bench_summary_render(dir, stdout, &err);
    return rc != 0 ? cli_report(&err) : 0;
}

/* cpet bench history append RESULT.json... --history FILE */
static int bench_history(int argc, char **argv)
{
    const char *history = NULL, *action = NULL;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int n = 0;
    if (!files) return cli_error("bench history: out of memory"), 2;
    const opt opts[] = {OPT_POSITIONAL(&action, "append", "the action (append is the one there is)"),
                        {.name = "", .type = OPT_T_REPEAT, .dst = files, .count = &n, .hi = argc, .metavar = "RESULT.json", .help = "result files"},
                        OPT_REQUIRED("--history", &history, "FILE.jsonl", "the history a line is appended to"),
                        OPT_END};
    const opt_command cmd = {.name = "bench history",
                             .usage = "append RESULT.json... --history FILE.jsonl",
                             .about = "Appends one line for this run to FILE.jsonl (a single write): {revision, date (UTC), host,\n"
                                      "threads, figures: {\"<file stem>.<figure>\": value}} with every figure bench-compare judges,\n"
                                      "e.g. \"engine.fraction_of_sgemm\". Revision, host and threads come from the results' facts.\n"};
    int p = cli_options(&cmd, opts, argc - 1, argv + 1), rc = 0;
    if (p != OPT_OK) rc = p == OPT_HELP ? 0 : 2;
    else if (strcmp(action, "append") != 0) rc = (cli_error("bench history: unknown action '%s' (available: append)", action), 2);
    else if (n == 0) rc = (cli_error("bench history: usage: cpet bench history append RESULT.json... --history FILE"), 2);
    else {
        cpet_err err;
        if (bench_history_append(history, files, n, &err) != 0) rc = cli_report(&err);
        else printf("%s: appended a run of %d result files\n", history, n);
    }
    free(files);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        printf("usage: cpet bench engine|tokenizer|pretrain|gemv [options]   (cpet bench NAME --help)\n"
               "       cpet bench decode MODEL_DIR [--prompt-tokens 128 --gen-tokens 256 --threads 1,2 --reps 5]\n"
               "       cpet bench lora MODEL_DIR [--rank 8 --seq 64 --batch 4 --steps 4 --threads 2]\n"
               "       cpet bench adapters --base MODEL --compressed CMODEL --adapter DIR [--task TASKS.jsonl]\n"
               "       cpet bench sparse-ffn [--dim 4096 --ffn 11008 --format f32|int8|int4 --rows 1,4]\n"
               "       cpet bench decode MODEL_DIR --sparse [--predictor DIR] [--threshold T]\n"
               "       cpet bench history append RESULT.json... --history FILE.jsonl\n"
               "       cpet bench summary RESULTS_DIR [-o FILE.md]\n"
               "  --isa LEVEL with any benchmark: run the kernels of that instruction-set level (cpet isa)\n");
        return argc < 2 ? 2 : 0;
    }
    /* --isa LEVEL anywhere: the kernels' instruction set for this benchmark (as CPET_ISA), taken out of argv
     * before the benchmark parses its own options */
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--isa") == 0) {
            cpu_isa isa;
            cpet_err err;
            if (i + 1 >= argc) return cli_error("bench: --isa needs a level (cpet isa lists them)"), 2;
            if (isa_parse(argv[i + 1], &isa) != 0) return cli_error("bench: --isa %s: not an instruction set (cpet isa lists them)", argv[i + 1]), 2;
            if (isa_use(isa, &err) != 0) return cli_report(&err), 2;
            memmove(argv + i, argv + i + 2, (size_t)(argc - i - 2 + 1) * sizeof *argv); /* with argv[argc] = NULL */
            argc -= 2, i--;
        }
    if (strcmp(argv[1], "engine") == 0) return bench_engine(argc, argv);
    if (strcmp(argv[1], "tokenizer") == 0) return bench_tokenizer(argc, argv);
    if (strcmp(argv[1], "pretrain") == 0) return bench_pretrain(argc, argv);
    if (strcmp(argv[1], "gemv") == 0) return bench_gemv(argc, argv);
    if (strcmp(argv[1], "decode") == 0) return bench_decode(argc, argv);
    if (strcmp(argv[1], "lora") == 0) return bench_lora(argc, argv);
    if (strcmp(argv[1], "adapters") == 0) return bench_adapters(argc, argv);
    if (strcmp(argv[1], "sparse-ffn") == 0) return bench_sparse(argc, argv);
    if (strcmp(argv[1], "history") == 0) return bench_history(argc, argv);
    if (strcmp(argv[1], "summary") == 0) return bench_summary(argc, argv);
    return cli_error("bench: unknown benchmark '%s' (available: engine, tokenizer, pretrain, gemv, decode, lora, adapters, sparse-ffn; or history, summary)",
                     argv[1]);
}

int cmd_bench_compare(int argc, char **argv)
{
    const char *base_path = NULL, *cur_path = NULL;
    bench_compare_options o = {.tolerance = 0.10, .out = stdout};
    const opt opts[] = {OPT_POSITIONAL(&base_path, "BASELINE", "a result JSON file, or a directory of them"),
                        OPT_POSITIONAL(&cur_path, "CURRENT", "the same, to compare with it"),
                        OPT_SHARE("--tolerance", &o.tolerance, 0, 1e9, "how far a figure may move before it counts"),
                        OPT_SWITCH("--absolute", &o.absolute, "compare absolute figures too"),
                        OPT_END};
    const opt_command cmd = {
        .name = "bench-compare",
        .about = "Two result JSON files, or two directories whose same-named *.json files are compared (figures then\n"
                 "named <file stem>.<figure>). Direction comes from the name: fraction/ratio/speedup (within-run ratios,\n"
                 "measured against a peer or the bandwidth in the same run), *_per_s, gflops, acc, GB/s are higher-is-better;\n"
                 "seconds, us_per_*, perplexity, loss, bytes, rss lower-is-better; others are not compared. By default only\n"
                 "the within-run ratios are compared: absolute figures (tokens/s, seconds, GB/s) swing with the machine's load\n"
                 "and memory bandwidth. Prints what moved beyond the tolerance.\n",
        .after = "Exits 1 if anything regressed, 2 on bad input.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : 2;
    bench_compare_summary s;
    cpet_err err;
    if (bench_compare(base_path, cur_path, &o, &s, &err) != 0) return cli_report(&err), 2;
    return s.regressed ? 1 : 0;
}

int cmd_bench_ab(int argc, char **argv)
{
    bench_ab_options o = {.effect = 0.05, .alpha = 0.05, .out = stdout};
    const opt opts[] = {OPT_POSITIONAL(&o.rounds_dir, "ROUNDS_DIR", "round-NN/{base,head}/ result files, run alternately"),
                        OPT_REQUIRED("--figures", &o.figures, "FILE", "the judged figures, one per line: RESULT PATH higher|lower"),
                        OPT_SHARE("--effect", &o.effect, 1e-9, 1 - 1e-9, "how much worse head may be"),
                        OPT_SHARE("--alpha", &o.alpha, 1e-9, 1 - 1e-9, "the test's level, after Holm's adjustment"),
                        OPT_STRING("-o", &o.verdict_path, "VERDICT.json", "the verdict as JSON"),
                        OPT_END};
    const opt_command cmd = {
        .name = "bench-ab",
        .about = "The regression gate's judge (scripts/bench-gate runs it). ROUNDS_DIR/round-NN/{base,head}/ hold the\n"
                 "results of two builds run alternately, round by round, on one machine. Per figure (e.g. decode_q4_0\n"
                 "rows[test=tg64,n_threads=1].median_ts higher): head/base in each round; Wilcoxon's signed-rank test,\n"
                 "one-sided and exact, of \"head is at most EFFECT worse\"; Holm's adjustment over the figures.\n",
        .after = "Exits 1 if a figure regressed (adjusted p < alpha), 2 on bad input: a judged figure missing, null or NaN\n"
                 "in any run fails, named.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : 2;
    bench_ab_summary s;
    cpet_err err;
    if (bench_ab(&o, &s, &err) != 0) return cli_report(&err), 2;
    return s.regressed ? 1 : 0;
}
