/* cpet bench NAME, cpet bench history append, cpet bench summary, cpet bench-compare: argument parsing
 * and output around the functions of bench/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
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

/* an option's int value into an int field (cli_int works on long) */
static int int_opt(const char *opt, int argc, char **argv, int *i, long lo, long hi, int *dst)
{
    long v;
    if (cli_int(opt, cli_value(argc, argv, i), lo, hi, &v) != 0) return -1;
    *dst = (int)v;
    return 0;
}

/* a benchmark's option: an int in [lo, hi] (i) or a string (s); a list ends with {.name = NULL} */
typedef struct {
    const char *name;
    int *i;
    long lo, hi;
    const char **s;
} bench_opt;
#define INT_OPT(n, field, min, max) {.name = n, .i = &(field), .lo = min, .hi = max}
#define STR_OPT(n, field) {.name = n, .s = &(field)}

enum { PARSED, HELP_SHOWN, BAD_ARGS };

/* argv[2..] against opts and -o FILE (into *out); --help prints usage. Errors name cmd ("bench engine"). */
static int parse_opts(const char *cmd, const char *usage, const bench_opt *opts, int argc, char **argv, const char **out)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return HELP_SHOWN;
        }
        if (!strcmp(a, "-o")) {
            if (!(*out = cli_value(argc, argv, &i))) return BAD_ARGS;
            continue;
        }
        const bench_opt *o = opts;
        while (o->name && strcmp(a, o->name)) o++;
        if (!o->name) return cli_error("%s: unknown option %s", cmd, a), BAD_ARGS;
        int bad = o->s ? !(*o->s = cli_value(argc, argv, &i)) : int_opt(a, argc, argv, &i, o->lo, o->hi, o->i) != 0;
        if (bad) return BAD_ARGS;
    }
    return PARSED;
}

/* a benchmark's return code and result -> exit status, the result written to out */
static int finish(int rc, json_t *result, const cpet_err *err, const char *out)
{
    if (rc != 0) return cli_report(err);
    return bench_emit(result, out);
}

static int bench_engine(int argc, char **argv)
{
    bench_engine_options o = bench_engine_defaults();
    o.log = stderr;
    const char *out = NULL;
    const bench_opt opts[] = {INT_OPT("--dim", o.dim, 64, 65536),      INT_OPT("--layers", o.layers, 1, 1024),
                              INT_OPT("--seq", o.seq, 2, 65536),       INT_OPT("--batch", o.batch, 1, 65536),
                              INT_OPT("--vocab", o.vocab, 2, 1 << 20), INT_OPT("--reps", o.reps, 1, 1000),
                              INT_OPT("--threads", o.threads, 1, 1024), INT_OPT("--seed", o.seed, 0, 0x7fffffffL),
                              {.name = NULL}};
    int p = parse_opts("bench engine",
                       "usage: cpet bench engine [--dim 512] [--layers 8] [--seq 256] [--batch 4] [--vocab 4096]\n"
                       "                        [--reps 5] [--threads 2] [--seed 0] [-o FILE.json]\n"
                       "Times forward+backward of a random LLaMA (all weights trainable) and the same step's GEMMs\n"
                       "alone through OpenBLAS; reports seconds per token and the fraction of the sgemm rate.\n",
                       opts, argc, argv, &out);
    if (p != PARSED) return p == BAD_ARGS;
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
    const bench_opt opts[] = {STR_OPT("--tokenizer", o.tokenizer), STR_OPT("--corpus", o.corpus), STR_OPT("--against", o.against),
                              INT_OPT("--reps", o.reps, 1, 1000), {.name = NULL}};
    int p = parse_opts("bench tokenizer",
                       "usage: cpet bench tokenizer --tokenizer FILE --corpus TEXT [--against FILE] [--reps 5] [-o FILE.json]\n"
                       "Encode and decode throughput (MB/s of UTF-8 text, single thread) over the whole corpus.\n"
                       "--against: a second tokenizer timed in the same reps, and the encode-time ratio of the two\n"
                       "(e.g. a SentencePiece-style file against the byte-level one).\n",
                       opts, argc, argv, &out);
    if (p != PARSED) return p == BAD_ARGS;
    if (!o.tokenizer || !o.corpus) return cli_error("bench tokenizer: --tokenizer and --corpus are required");
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
    const bench_opt opts[] = {INT_OPT("--dim", o.dim, 8, 65536),       INT_OPT("--layers", o.layers, 1, 1024),
                              INT_OPT("--heads", o.heads, 1, 1024),    INT_OPT("--kv-heads", o.kv_heads, 1, 1024),
                              INT_OPT("--seq", o.seq, 2, 65536),       INT_OPT("--batch", o.batch, 1, 65536),
                              INT_OPT("--vocab", o.vocab, 2, 1 << 20), INT_OPT("--reps", o.reps, 1, 1000),
                              INT_OPT("--threads", o.threads, 1, 1024), {.name = NULL}};
    int p = parse_opts("bench pretrain",
                       "usage: cpet bench pretrain [--dim 256 --layers 6 --heads 8 --kv-heads 4 --seq 128 --batch 16\n"
                       "                           --vocab 2048 --reps 5 --threads 2] [-o FILE.json]\n"
                       "Times full training steps (forward, backward, clipping, AdamW) of the default tiny model.\n",
                       opts, argc, argv, &out);
    if (p != PARSED) return p == BAD_ARGS;
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
    const bench_opt opts[] = {INT_OPT("--rows", o.rows, 32, 1 << 20), INT_OPT("--cols", o.cols, 128, 1 << 20),
                              INT_OPT("--reps", o.reps, 1, 1000), INT_OPT("--threads", o.threads, 1, 1024), {.name = NULL}};
    int p = parse_opts("bench gemv",
                       "usage: cpet bench gemv [--rows 16384] [--cols 8192] [--reps 10] [--threads 2] [-o FILE.json]\n"
                       "y = W x for one token with W f32 (sgemv), int8, q8_0, int4 (g128), q4_0, nf4 packed: GB/s of\n"
                       "weight bytes, and the fraction of a STREAM-style copy and read bandwidth measured in the same\n"
                       "round (median over rounds; the host's bandwidth swings). Each packed format runs with exact\n"
                       "float activations and with int8 activation blocks (+q8act, llama.cpp's scheme; 4-bit formats\n"
                       "from the row-interleaved decode pack, +q8act-rowwise from the stored layout).\n",
                       opts, argc, argv, &out);
    if (p != PARSED) return p == BAD_ARGS;
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
    const char *out = NULL, *md = NULL, *plot = NULL, *rows = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench sparse-ffn [--dim 4096] [--ffn 11008] [--format f32|int8|int4] [--group 64] [--rows 1,4]\n"
                   "                            [--reps 7] [--threads 2] [--seed 1] [--predictor-hidden 1024]\n"
                   "                            [-o FILE.json] [--md FILE.md] [--plot DIR/NAME]\n"
                   "The exact sparse FFN (dense gate, active rows of up, axpy over neuron-major down) against cpet's dense\n"
                   "FFN on one random layer of that shape and format, at sparsities 0..99%% (a FATReLU threshold at that\n"
                   "quantile of the gate's outputs), per row count (more rows: the union of their active neurons).\n"
                   "Reports the speedup with the ideal 1/(1-s) and the Amdahl bound of the dense gate 3/(1+2(1-s)), the\n"
                   "up+down part alone, the crossover, and the dense FFN's share of the read bandwidth measured beside it.\n"
                   "The predictor variant runs on an oracle mask (the true active set) and pays for a predictor of hidden\n"
                   "size --predictor-hidden (0: off; random weights: its cost, not its recall).\n");
            return 0;
        }
        if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--md")) bad = !(md = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--plot")) bad = !(plot = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--format")) bad = !(o.format = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--rows")) bad = !(rows = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--dim")) bad = int_opt(a, argc, argv, &i, 32, 1 << 16, &o.dim) != 0;
        else if (!strcmp(a, "--ffn")) bad = int_opt(a, argc, argv, &i, 32, 1 << 18, &o.ffn) != 0;
        else if (!strcmp(a, "--group")) bad = int_opt(a, argc, argv, &i, 8, 1 << 16, &o.group) != 0;
        else if (!strcmp(a, "--predictor-hidden")) bad = int_opt(a, argc, argv, &i, 0, 1 << 16, &o.predictor_hidden) != 0;
        else if (!strcmp(a, "--reps")) bad = int_opt(a, argc, argv, &i, 2, 64, &o.reps) != 0;
        else if (!strcmp(a, "--threads")) bad = int_opt(a, argc, argv, &i, 1, 1024, &o.threads) != 0;
        else if (!strcmp(a, "--seed")) bad = int_opt(a, argc, argv, &i, 0, 0x7fffffff, &o.seed) != 0;
        else return cli_error("bench sparse-ffn: unknown option %s", a);
        if (bad) return 1;
    }
    if (rows) {
        o.n_rows = 0;
        for (const char *p = rows; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || o.n_rows == 4 || (*end && *end != ',')) return cli_error("bench sparse-ffn: --rows '%s': a list like 1,4 (at most 4)", rows);
            o.rows[o.n_rows++] = (int)v;
            p = *end ? end + 1 : end;
        }
    }
    json_t *result;
    cpet_err err;
    if (bench_sparse_run(&o, &result, &err) != 0) return cli_report(&err);
    bench_sparse_markdown(result, stdout);
    return emit_md_plot("bench sparse-ffn", result, md, plot, out, bench_sparse_markdown, bench_sparse_plot);
}

/* "1,2" -> threads[] */
static int thread_list(const char *text, int *threads, int *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || *n == 8 || (*end && *end != ','))
            return cli_error("bench decode: --threads '%s': expected a list like 1,2 (at most 8, each 1..1024)", text);
        threads[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *n ? 0 : cli_error("bench decode: --threads '%s' is empty", text);
}

/* cpet bench decode MODEL_DIR [options]: the llama-bench table on stdout, JSON to -o, CSV to --csv */
static int bench_decode(int argc, char **argv)
{
    bench_decode_options o = bench_decode_defaults();
    o.log = stderr_is_tty() ? stderr : NULL;
    const char *out = NULL, *csv = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench decode MODEL_DIR [--prompt-tokens 128] [--gen-tokens 256] [--threads 1,2] [--reps 5]\n"
                   "                        [--q8-activations] [--adapter LORA [--merge]] [--seed 1] [-o FILE.json] [--csv FILE.csv]\n"
                   "llama-bench's tests on a model (f32 or packed): pp = the prompt as one chunk through the KV cache,\n"
                   "tg = greedy single-token steps; tokens/s median and spread over reps per thread count. Decode is\n"
                   "memory-bound: each rep is followed by a read-only stream and a STREAM copy, and `of bound` is\n"
                   "(bytes read per generated token x tokens/s) / read GB/s, a within-run ratio (the JSON has the copy\n"
                   "fraction too). The JSON adds the samples, bytes per token, peak RSS and RSS / (size + KV cache),\n"
                   "and the greedy ids (to compare with other runtimes on the same weights). A directory's F32 tensors\n"
                   "are read in place from the mapped checkpoint; with --q8-activations 4-bit linears keep only their\n"
                   "decode pack. --adapter runs a PEFT adapter (and a CA-LoRA adapter's recovery modules) unmerged;\n"
                   "--merge merges its LoRA into the base first (a packed base is re-quantized in its own format, a\n"
                   "private copy of the weights: peak RSS counts it); recovery modules always run unmerged.\n"
                   "--sparse (a ReLU model: ProSparse, ReluLLaMA, cpet sparsify's output) decodes each rep twice, dense\n"
                   "then with the exact sparse FFN (crossover measured per layer at load), and reports both, their ratio,\n"
                   "the FFN's share of dense decode time, the FFN speedup, the Amdahl bound they imply, and the sparsity\n"
                   "decode saw per layer; --predictor DIR adds a third pass skipping predicted-inactive gate rows (its\n"
                   "own time included); --threshold T applies FATReLU(T) first.\n");
            return 0;
        }
        if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--csv")) bad = !(csv = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--prompt-tokens")) bad = int_opt(a, argc, argv, &i, 1, 1 << 20, &o.prompt_tokens) != 0;
        else if (!strcmp(a, "--gen-tokens")) bad = int_opt(a, argc, argv, &i, 1, 1 << 20, &o.gen_tokens) != 0;
        else if (!strcmp(a, "--reps")) bad = int_opt(a, argc, argv, &i, 1, 64, &o.reps) != 0;
        else if (!strcmp(a, "--threads")) {
            const char *v = cli_value(argc, argv, &i);
            bad = !v || thread_list(v, o.threads, &o.n_threads) != 0;
        } else if (!strcmp(a, "--q8-activations")) o.q8_activations = 1;
        else if (!strcmp(a, "--adapter")) bad = !(o.adapter = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--merge")) o.merge = 1;
        else if (!strcmp(a, "--sparse")) o.sparse = 1;
        else if (!strcmp(a, "--predictor")) bad = !(o.predictor = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--threshold")) {
            double t = 0;
            bad = cli_float(a, cli_value(argc, argv, &i), &t);
            o.threshold = (float)t;
        }
        else if (!strcmp(a, "--seed")) {
            int seed = 0;
            bad = int_opt(a, argc, argv, &i, 0, 0x7fffffff, &seed) != 0;
            o.seed = (unsigned long long)seed;
        } else if (a[0] == '-') return cli_error("bench decode: unknown option %s", a);
        else o.model = a;
        if (bad) return 1;
    }
    if (!o.model) return cli_error("bench decode: MODEL_DIR is required");
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
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench adapters --base MODEL --compressed CMODEL --adapter DIR [--task TASKS.jsonl]\n"
                   "                          [--eval-split test] [--max-adapters 100] [--threads 2] [--decode [--prompt-tokens 32\n"
                   "                          --gen-tokens 64 --reps 5]] [-o FILE.json] [--csv FILE.csv] [--md FILE.md] [--plot DIR/NAME]\n"
                   "What deploying task adapters on a compressed model costs: bytes of CMODEL + N adapters (the saved\n"
                   "adapter file, LoRA and recovery modules) against N full models and N compressed models, N = 1..max\n"
                   "(--csv: one row per N); the share of the adapter's update a merge into the packed base loses to\n"
                   "re-quantization; and with --task, the merged model against the unmerged adapter on the split:\n"
                   "accuracy of each, McNemar's p, prediction agreement, change of the choices' log-likelihoods.\n"
                   "Recovery modules run unmerged on both sides. --decode adds decode tokens/s and peak RSS of the base\n"
                   "alone, with the adapter unmerged and merged (bench decode in one child process each). --md writes the\n"
                   "tables as Markdown, --plot bytes against N as gnuplot DIR/NAME.{dat,gp,png,svg}.\n");
            return 0;
        }
        if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--csv")) bad = !(csv = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--base")) bad = !(o.base = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--compressed")) bad = !(o.compressed = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--adapter")) bad = !(o.adapter = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--task")) bad = !(o.task = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--eval-split")) bad = !(o.eval_split = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--max-adapters")) bad = int_opt(a, argc, argv, &i, 1, 100000, &o.max_adapters) != 0;
        else if (!strcmp(a, "--decode")) o.decode = 1;
        else if (!strcmp(a, "--prompt-tokens")) bad = int_opt(a, argc, argv, &i, 1, 1 << 20, &o.prompt_tokens) != 0;
        else if (!strcmp(a, "--gen-tokens")) bad = int_opt(a, argc, argv, &i, 1, 1 << 20, &o.gen_tokens) != 0;
        else if (!strcmp(a, "--reps")) bad = int_opt(a, argc, argv, &i, 1, 64, &o.reps) != 0;
        else if (!strcmp(a, "--md")) bad = !(md = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--plot")) bad = !(plot = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--threads")) bad = int_opt(a, argc, argv, &i, 1, 1024, &o.threads) != 0;
        else return cli_error("bench adapters: unknown option %s", a);
        if (bad) return 1;
    }
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
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench lora MODEL_DIR [--rank 8] [--seq 64] [--batch 4] [--steps 4] [--threads 2] [--seed 0]\n"
                   "                      [-o FILE.json]\n"
                   "Trains a rank-r LoRA on every layer linear of MODEL_DIR's frozen base (f32 or packed, e.g. a 7B shape\n"
                   "from cpet init --method q4_0) on one seeded batch of random ids: seconds per step (median after the\n"
                   "first), tokens/s, peak RSS and the loss curve, which falls as the batch is memorised.\n");
            return 0;
        }
        if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--rank")) bad = int_opt(a, argc, argv, &i, 1, 4096, &o.rank) != 0;
        else if (!strcmp(a, "--seq")) bad = int_opt(a, argc, argv, &i, 2, 1 << 20, &o.seq) != 0;
        else if (!strcmp(a, "--batch")) bad = int_opt(a, argc, argv, &i, 1, 1 << 16, &o.batch) != 0;
        else if (!strcmp(a, "--steps")) bad = int_opt(a, argc, argv, &i, 2, 1 << 20, &o.steps) != 0;
        else if (!strcmp(a, "--threads")) bad = int_opt(a, argc, argv, &i, 1, 1024, &o.threads) != 0;
        else if (!strcmp(a, "--seed")) {
            int seed = 0;
            bad = int_opt(a, argc, argv, &i, 0, 0x7fffffff, &seed) != 0;
            o.seed = (unsigned long long)seed;
        } else if (a[0] == '-') return cli_error("bench lora: unknown option %s", a);
        else o.model = a;
        if (bad) return 1;
    }
    if (!o.model) return cli_error("bench lora: MODEL_DIR is required");
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
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet bench summary RESULTS_DIR [-o FILE.md]\n"
                   "README's Performance section as Markdown, from RESULTS_DIR/{engine,tokenizer,pretrain,gemv}.json\n"
                   "(e.g. the committed bench/results): the training step's tokens/s, µs/token and fraction of the\n"
                   "sgemm rate, tokenizer MB/s, pretraining tokens/s, and a gemv table of GB/s, fractions of copy and\n"
                   "read bandwidth and speedup vs f32 per format. Every line names the revision, threads and CPU. A\n"
                   "missing file is noted; a corrupt one is an error. -o writes FILE.md atomically (default stdout).\n");
            return 0;
        }
        if (!strcmp(a, "-o")) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (a[0] == '-') return cli_error("bench summary: unknown option %s", a);
        else if (!dir) dir = a;
        else return cli_error("bench summary: one RESULTS_DIR, not also '%s'", a);
    }
    if (!dir) return cli_error("bench summary: usage: cpet bench summary RESULTS_DIR [-o FILE.md]");
    cpet_err err;
    int rc = out ? bench_summary_write(dir, out, &err) : bench_summary_render(dir, stdout, &err);
    return rc != 0 ? cli_report(&err) : 0;
}

/* cpet bench history append RESULT.json... --history FILE */
static int bench_history(int argc, char **argv)
{
    const char *history = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n = 0, append = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet bench history append RESULT.json... --history FILE.jsonl\n"
                   "Appends one line for this run to FILE.jsonl (a single write): {revision, date (UTC), host,\n"
                   "threads, figures: {\"<file stem>.<figure>\": value}} with every figure bench-compare judges,\n"
                   "e.g. \"engine.fraction_of_sgemm\". Revision, host and threads come from the results' facts.\n");
            free(files);
            return 0;
        }
        if (!strcmp(a, "--history")) {
            if (!(history = cli_value(argc, argv, &i))) return free(files), 2;
        } else if (a[0] == '-') return free(files), cli_error("bench history: unknown option %s", a), 2;
        else if (!append && !strcmp(a, "append")) append = 1;
        else if (!append) return free(files), cli_error("bench history: unknown action '%s' (available: append)", a), 2;
        else files[n++] = a;
    }
    int rc = 0;
    if (!append || !history || n == 0) rc = (cli_error("bench history: usage: cpet bench history append RESULT.json... --history FILE"), 2);
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
               "       cpet bench summary RESULTS_DIR [-o FILE.md]\n");
        return argc < 2 ? 2 : 0;
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet bench-compare BASELINE CURRENT [--tolerance 10%%] [--absolute]\n"
                   "BASELINE and CURRENT are two result JSON files, or two directories whose same-named *.json\n"
                   "files are compared (figures then named <file stem>.<figure>).\n"
                   "Direction comes from the name: fraction/ratio/speedup (within-run ratios, measured against a\n"
                   "peer or the bandwidth in the same run), *_per_s, gflops, acc, GB/s are higher-is-better;\n"
                   "seconds, us_per_*, perplexity, loss, bytes, rss lower-is-better; others are not compared.\n"
                   "By default only the within-run ratios are compared: absolute figures (tokens/s, seconds, GB/s)\n"
                   "swing with the machine's load and memory bandwidth. --absolute compares them too.\n"
                   "Prints what moved beyond the tolerance; exits 1 if anything regressed, 2 on bad input.\n");
            return 0;
        }
        if (!strcmp(a, "--tolerance")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v) return 2;
            char *end;
            o.tolerance = strtod(v, &end);
            if (end == v || (*end && strcmp(end, "%") != 0) || o.tolerance < 0)
                return cli_error("--tolerance: '%s' is not like 10%% or 0.1", v), 2;
            if (*end == '%') o.tolerance /= 100.0;
        } else if (!strcmp(a, "--absolute")) o.absolute = 1;
        else if (a[0] == '-') return cli_error("bench-compare: unknown option %s", a), 2;
        else if (!base_path) base_path = a;
        else if (!cur_path) cur_path = a;
        else return cli_error("bench-compare: too many files"), 2;
    }
    if (!base_path || !cur_path) return cli_error("bench-compare: BASELINE and CURRENT are required"), 2;
    bench_compare_summary s;
    cpet_err err;
    if (bench_compare(base_path, cur_path, &o, &s, &err) != 0) return cli_report(&err), 2;
    return s.regressed ? 1 : 0;
}

int cmd_bench_ab(int argc, char **argv)
{
    bench_ab_options o = {.effect = 0.05, .alpha = 0.05, .out = stdout};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet bench-ab ROUNDS_DIR --figures FILE [--effect 5%%] [--alpha 0.05] [-o VERDICT.json]\n"
                   "The regression gate's judge (scripts/bench-gate runs it). ROUNDS_DIR/round-NN/{base,head}/ hold the\n"
                   "results of two builds run alternately, round by round, on one machine. FILE names the judged\n"
                   "figures, one per line: RESULT PATH higher|lower (e.g. decode_q4_0 rows[test=tg64,n_threads=1].median_ts\n"
                   "higher). Per figure: head/base in each round; Wilcoxon's signed-rank test, one-sided and exact, of\n"
                   "\"head is at most EFFECT worse\"; Holm's adjustment over the figures. Exits 1 if a figure regressed\n"
                   "(adjusted p < alpha), 2 on bad input: a judged figure missing, null or NaN in any run fails, named.\n");
            return 0;
        }
        if (!strcmp(a, "--figures")) {
            if (!(o.figures = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-o")) {
            if (!(o.verdict_path = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--effect") || !strcmp(a, "--alpha")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v) return 2;
            char *end;
            double x = strtod(v, &end);
            if (end == v || (*end && strcmp(end, "%") != 0)) return cli_error("%s: '%s' is not like 5%% or 0.05", a, v), 2;
            if (*end == '%') x /= 100.0;
            if (!(x > 0 && x < 1)) return cli_error("%s: %s is not between 0 and 1", a, v), 2;
            if (!strcmp(a, "--effect")) o.effect = x;
            else o.alpha = x;
        } else if (a[0] == '-') return cli_error("bench-ab: unknown option %s", a), 2;
        else if (!o.rounds_dir) o.rounds_dir = a;
        else return cli_error("bench-ab: more than one ROUNDS_DIR"), 2;
    }
    if (!o.rounds_dir || !o.figures) return cli_error("bench-ab: ROUNDS_DIR and --figures are required"), 2;
    bench_ab_summary s;
    cpet_err err;
    if (bench_ab(&o, &s, &err) != 0) return cli_report(&err), 2;
    return s.regressed ? 1 : 0;
}
