/* cpet bench summary: the Performance page (docs/performance.md) as Markdown, rendered from the committed result files
 * alone (RESULTS/{engine,tokenizer,pretrain,gemv}.json), every line naming the revision, threads and CPU
 * the figures come from. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "table_format.h"
#include "fileio.h"

/* the formats of bench gemv in table order; each is followed by its variants ("int4+q8act", ...) */
static const char *const gemv_bases[] = {"f32", "int8", "q8_0", "int4", "q4_0", "nf4", NULL};

/* three significant digits, no exponent: 217.1 -> "217", 23.58 -> "23.6", 5.217 -> "5.22" */
static const char *sig3(char *buf, size_t n, double v)
{
    double a = fabs(v);
    return format_grouped(buf, n, v, a >= 99.95 ? 0 : a >= 9.995 ? 1 : 2);
}

/* a fraction as a whole percentage: 0.88 -> "88%" */
static const char *percent(char *buf, size_t n, double fraction)
{
    snprintf(buf, n, "%.0f%%", 100 * fraction);
    return buf;
}

/* The number at a dotted path ("model.dim"), or -1 with err naming the file and the path. */
static int need(const json_t *r, const char *file, const char *path, double *v, cpet_err *err)
{
    char part[128];
    const json_t *x = r;
    for (const char *p = path; x;) {
        size_t len = strcspn(p, ".");
        snprintf(part, sizeof part, "%.*s", (int)len, p);
        x = json_object_get(x, part);
        if (!p[len]) break;
        p += len + 1;
    }
    if (!json_is_number(x)) return cpet_fail(err, "%s: \"%s\" is missing or not a number", file, path);
    *v = json_number_value(x);
    return 0;
}

/* where the figures come from: " (revision R, N threads, CPU)"; threads < 0: from the facts; 0: the
 * table says */
static void provenance(const json_t *r, long threads, char *buf, size_t n)
{
    const json_t *facts = json_object_get(r, "facts");
    const char *rev = json_string_value(json_object_get(facts, "git_revision"));
    const char *cpu = json_string_value(json_object_get(facts, "cpu"));
    const json_t *t = json_object_get(facts, "threads");
    if (threads < 0 && json_is_integer(t)) threads = (long)json_integer_value(t);
    char th[32];
    if (threads > 0) snprintf(th, sizeof th, "%ld thread%s", threads, threads == 1 ? "" : "s");
    else if (threads == 0) snprintf(th, sizeof th, "threads per row"); /* a table with a threads column */
    else snprintf(th, sizeof th, "threads unknown");
    const char *isa = json_string_value(json_object_get(facts, "isa")); /* the kernels' level (results since it was recorded) */
    char kernels[64] = "";
    if (isa) snprintf(kernels, sizeof kernels, ", %s kernels", isa);
    snprintf(buf, n, " (revision %s, %s, %s%s)", rev ? rev : "unknown", th, cpu ? cpu : "CPU unknown", kernels);
}

static int engine_lines(const json_t *r, const char *file, FILE *out, cpet_err *err)
{
    static const char *const shape[] = {"model.dim", "model.layers", "model.heads", "model.ffn",
                                        "model.vocab", "model.seq", "model.batch"};
    double m[7], tps, us, step, sgemm, fraction;
    for (int i = 0; i < 7; i++)
        if (need(r, file, shape[i], &m[i], err) != 0) return -1;
    if (need(r, file, "tokens_per_s_fwd_bwd", &tps, err) || need(r, file, "us_per_token_fwd_bwd", &us, err) ||
        need(r, file, "step_gflops", &step, err) || need(r, file, "sgemm_gflops", &sgemm, err) ||
        need(r, file, "fraction_of_sgemm", &fraction, err))
        return -1;
    char where[512], a[64], b[64], c[64];
    provenance(r, -1, where, sizeof where);
    fprintf(out,
            "- Training step (`cpet bench engine`): random LLaMA d=%.0f, %.0f layers, %.0f heads, FFN %.0f, vocab %.0f, "
            "seq %.0f x batch %.0f, all weights trainable%s\n",
            m[0], m[1], m[2], m[3], m[4], m[5], m[6], where);
    fprintf(out, "- Training step, forward+backward: %s tokens/s, %s µs/token%s\n", format_grouped(a, sizeof a, tps, 0),
            format_grouped(b, sizeof b, us, 0), where);
    fprintf(out,
            "- Training step, GEMM rate: %s GFLOP/s against %s GFLOP/s for sgemm alone on the same shapes in the same "
            "run: **%s of the sgemm rate**%s\n",
            format_grouped(a, sizeof a, step, 1), format_grouped(b, sizeof b, sgemm, 1), percent(c, sizeof c, fraction), where);
    return 0;
}

static int tokenizer_lines(const json_t *r, const char *file, FILE *out, cpet_err *err)
{
    double enc, dec, bpt, bytes;
    if (need(r, file, "encode_mb_per_s", &enc, err) || need(r, file, "decode_mb_per_s", &dec, err) ||
        need(r, file, "bytes_per_token", &bpt, err))
        return -1;
    char where[512], corpus[256] = "", a[64], b[64], c[64];
    provenance(r, 1, where, sizeof where); /* encode and decode run on one thread whatever the BLAS threads */
    const char *cpath = json_string_value(json_object_get(r, "corpus"));
    if (cpath) {
        const char *base = path_base(cpath);
        if (need(r, file, "bytes", &bytes, NULL) == 0)
            snprintf(corpus, sizeof corpus, ", %s, %s bytes", base, format_grouped(a, sizeof a, bytes, 0));
        else snprintf(corpus, sizeof corpus, ", %s", base);
    }
    fprintf(out, "- Tokenizer (`cpet bench tokenizer`%s): encode %s MB/s, decode %s MB/s, %s bytes/token%s\n", corpus,
            sig3(a, sizeof a, enc), sig3(b, sizeof b, dec), format_grouped(c, sizeof c, bpt, 2), where);
    return 0;
}

/* A tokenizer timed against another in the same reps (--against): the encode-time ratio */
static int tokenizer_against_lines(const json_t *r, const char *file, FILE *out, cpet_err *err)
{
    double enc, dec;
    const json_t *ratio = json_object_get(json_object_get(r, "encode_time_ratio"), "mean"), *other = json_object_get(r, "against");
    if (need(r, file, "encode_mb_per_s", &enc, err) || need(r, file, "decode_mb_per_s", &dec, err)) return -1;
    if (!json_is_number(ratio) || !json_is_object(other)) return cpet_fail(err, "%s: no encode_time_ratio / against (run with --against)", file);
    char where[512], a[64], b[64], c[64];
    provenance(r, 1, where, sizeof where);
    const char *mine = json_string_value(json_object_get(r, "tokenizer")), *theirs = json_string_value(json_object_get(other, "tokenizer"));
    fprintf(out, "- Tokenizer %s against %s (`cpet bench tokenizer --against`, the same reps): encode takes %sx its time; %s encodes %s MB/s, "
                 "decodes %s MB/s%s\n",
            mine ? path_base(mine) : "?", theirs ? path_base(theirs) : "?", format_grouped(a, sizeof a, json_number_value(ratio), 2),
            mine ? path_base(mine) : "?", sig3(b, sizeof b, enc), sig3(c, sizeof c, dec), where);
    return 0;
}

static int pretrain_lines(const json_t *r, const char *file, FILE *out, cpet_err *err)
{
    static const char *const shape[] = {"model.dim",   "model.layers", "model.heads", "model.kv_heads",
                                        "model.vocab", "seq",          "batch"};
    double m[7], tps, params;
    for (int i = 0; i < 7; i++)
        if (need(r, file, shape[i], &m[i], err) != 0) return -1;
    if (need(r, file, "tokens_per_s", &tps, err) != 0) return -1;
    char where[512], a[64], p[96] = "";
    provenance(r, -1, where, sizeof where);
    if (need(r, file, "model.parameters", &params, NULL) == 0)
        snprintf(p, sizeof p, ", %s parameters", format_grouped(a, sizeof a, params, 0));
    fprintf(out,
            "- Pretraining step of the default model (`cpet bench pretrain`: d=%.0f, %.0f layers, %.0f heads (%.0f KV), "
            "vocab %.0f%s, seq %.0f x batch %.0f; forward, backward, clipping, AdamW): %s tokens/s%s\n",
            m[0], m[1], m[2], m[3], m[4], p, m[5], m[6], format_grouped(a, sizeof a, tps, 0), where);
    return 0;
}

/* one table row of a gemv format */
static int gemv_row(const json_t *formats, const char *key, const char *file, FILE *out, cpet_err *err)
{
    static const char *const figure[] = {"median_gb_s", "fraction_of_bandwidth", "fraction_of_read_bandwidth"};
    const json_t *row = json_object_get(formats, key);
    double v[3], speedup;
    for (int i = 0; i < 3; i++)
        if (need(row, file, figure[i], &v[i], NULL) != 0)
            return cpet_fail(err, "%s: \"formats.%s.%s\" is missing or not a number", file, key, figure[i]);
    char copy[32], read[32], times[32], over_exact[32] = "—";
    if (need(row, file, "speedup_vs_f32", &speedup, NULL) == 0) snprintf(times, sizeof times, "%.2fx", speedup);
    else snprintf(times, sizeof times, "%s", strcmp(key, "f32") ? "—" : "1.00x"); /* f32 is the reference */
    double q8;
    if (need(row, file, "speedup_vs_exact", &q8, NULL) == 0) snprintf(over_exact, sizeof over_exact, "%.2fx", q8);
    fprintf(out, "| %s | %.2f | %s | %s | %s | %s |\n", key, v[0], percent(copy, sizeof copy, v[1]),
            percent(read, sizeof read, v[2]), times, over_exact);
    return 0;
}

/* key is base itself (exact) or one of its variants ("int4+q8act") */
static int is_variant_of(const char *key, const char *base, int exact)
{
    size_t n = strlen(base);
    return exact ? !strcmp(key, base) : !strncmp(key, base, n) && key[n] == '+';
}

static int is_known(const char *key)
{
    for (int b = 0; gemv_bases[b]; b++)
        if (is_variant_of(key, gemv_bases[b], 1) || is_variant_of(key, gemv_bases[b], 0)) return 1;
    return 0;
}

static int gemv_lines(const json_t *r, const char *file, FILE *out, cpet_err *err)
{
    double rows, cols, copy, read, reps;
    if (need(r, file, "rows", &rows, err) || need(r, file, "cols", &cols, err) ||
        need(r, file, "stream_copy_gb_s", &copy, err) || need(r, file, "stream_read_gb_s", &read, err))
        return -1;
    const json_t *formats = json_object_get(r, "formats");
    if (!json_is_object(formats) || json_object_size(formats) == 0)
        return cpet_fail(err, "%s: \"formats\" is missing or empty", file);
    const json_t *t = json_object_get(r, "threads");
    char where[512], rounds[64] = "";
    provenance(r, json_is_integer(t) ? (long)json_integer_value(t) : -1, where, sizeof where);
    if (need(r, file, "reps", &reps, NULL) == 0) snprintf(rounds, sizeof rounds, ", median of %.0f rounds", reps);
    fprintf(out,
            "- One-token GEMV y = W x (`cpet bench gemv`): W %.0f x %.0f%s; copy bandwidth %.2f GB/s, read bandwidth "
            "%.2f GB/s (medians, measured in the same rounds)%s\n\n",
            rows, cols, rounds, copy, read, where);
    fprintf(out, "| format | median GB/s | of copy bandwidth | of read bandwidth | speedup vs f32 | int8 activations vs exact |\n"
                 "|---|---:|---:|---:|---:|---:|\n");
    const char *key;
    const json_t *x;
    /* each known format, then its variants in the result's order; formats this summary does not know, last */
    for (int b = 0; gemv_bases[b]; b++)
        for (int exact = 1; exact >= 0; exact--)
            json_object_foreach((json_t *)formats, key, x)
                if (is_variant_of(key, gemv_bases[b], exact) && gemv_row(formats, key, file, out, err) != 0) return -1;
    json_object_foreach((json_t *)formats, key, x)
        if (!is_known(key) && gemv_row(formats, key, file, out, err) != 0) return -1;
    return 0;
}

typedef struct {
    const char *stem, *bench, *what;
    int (*lines)(const json_t *r, const char *file, FILE *out, cpet_err *err);
    int optional; /* a comparison beside the core figures: no line when its file is missing */
} section;

static const section sections[] = {
    {"engine", "engine_train_step", "Training step", engine_lines, 0},
    {"tokenizer", "tokenizer", "Tokenizer", tokenizer_lines, 0},
    {"tokenizer_spm", "tokenizer", "SentencePiece-style tokenizer against the byte-level one", tokenizer_against_lines, 1},
    {"pretrain", "pretrain_step", "Pretraining step", pretrain_lines, 0},
    {"gemv", "gemv", "One-token GEMV", gemv_lines, 0},
};
#define N_SECTIONS (int)(sizeof sections / sizeof *sections)

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every decode_*.json of the directory as one llama-bench-like table; *found counts the files. */
static int decode_table(const char *results_dir, FILE *out, int *found, cpet_err *err)
{
    DIR *d = opendir(results_dir);
    char *names[64];
    int n = 0, rc = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "decode_", 7) && len > 5 && !strcmp(e->d_name + len - 5, ".json")) names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; i < n && rc == 0; i++) {
        char path[4200], prov[512];
        path_join(path, sizeof path, results_dir, names[i]);
        json_t *r = bench_read_result(path, err);
        if (!r) {
            rc = -1;
            break;
        }
        if (strcmp(json_string_value(json_object_get(r, "bench")) ?: "", "decode") != 0) {
            rc = cpet_fail(err, "%s: not a `cpet bench decode` result", path);
            json_decref(r);
            break;
        }
        if (i == 0) {
            provenance(r, 0, prov, sizeof prov);
            fprintf(out, "- Decode (`cpet bench decode`, `make bench`: a d768 / 12-layer / vocab-32000 LLaMA with random weights, f32 "
                         "and Q8_0 / Q4_0 with the LM head packed and int8 activations; pp = prompt tokens as one chunk, tg = "
                         "greedy tokens; of bound: for tg, bytes read per token x tokens/s / the bandwidth of a read-only stream in "
                         "the same run, for pp, the time OpenBLAS sgemm alone takes for the prompt's linears / the whole prompt "
                         "pass; RSS / (size + KV): peak RSS of the run over the weights' bytes plus its KV cache)%s\n\n"
                         "| result | size | peak RSS | RSS / (size + KV) | threads | test | t/s (median ± sd) | of bound |\n"
                         "|---|---:|---:|---:|---:|---|---:|---:|\n",
                    prov);
        }
        size_t k;
        json_t *row;
        json_array_foreach(json_object_get(r, "rows"), k, row)
        {
            char f[16], stem[128], ratio[16] = "";
            bench_decode_bound_text(row, f, sizeof f);
            json_t *rr = json_object_get(r, "rss_over_size_plus_kv");
            if (rr && json_is_number(rr)) snprintf(ratio, sizeof ratio, "%.2f", json_number_value(rr));
            snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 5), names[i]);
            fprintf(out, "| %s | %.1f MiB | %.0f MiB | %s | %lld | %s | %.1f ± %.1f | %s |\n", stem,
                    json_number_value(json_object_get(r, "model_bytes")) / 1048576.0, json_number_value(json_object_get(r, "peak_rss_mb")), ratio,
                    (long long)json_integer_value(json_object_get(row, "n_threads")), json_string_value(json_object_get(row, "test")) ?: "?",
                    json_number_value(json_object_get(row, "median_ts")), json_number_value(json_object_get(row, "stddev_ts")), f);
        }
        (*found)++;
        json_decref(r);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    return rc;
}

int bench_summary_render(const char *results_dir, FILE *out, cpet_err *err)
{
    struct stat st;
    if (stat(results_dir, &st) != 0) return cpet_fail(err, "%s: cannot read (%s)", results_dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cpet_fail(err, "%s: not a directory (of bench result files)", results_dir);
    /* rendered whole before anything reaches out, so that a bad file leaves no partial summary */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return cpet_fail(err, "%s: cannot allocate the summary (%s)", results_dir, strerror(errno));
    int rc = 0, found = 0;
    for (int s = 0; s < N_SECTIONS && rc == 0; s++) {
        char path[4200], name[64];
        snprintf(name, sizeof name, "%s.json", sections[s].stem);
        if (path_join(path, sizeof path, results_dir, name) != 0) {
            rc = cpet_fail(err, "%s: path too long", results_dir);
            break;
        }
        if (!path_exists(path)) {
            if (!sections[s].optional) fprintf(m, "- %s: not measured (%s is missing)\n", sections[s].what, path);
            continue;
        }
        json_t *r = bench_read_result(path, err);
        if (!r) {
            rc = -1;
            break;
        }
        found++;
        const char *bench = json_string_value(json_object_get(r, "bench"));
        if (!bench || strcmp(bench, sections[s].bench) != 0)
            rc = cpet_fail(err, "%s: not a `cpet bench %s` result (\"bench\": \"%s\", expected \"%s\")", path,
                           sections[s].stem, bench ? bench : "", sections[s].bench);
        else rc = sections[s].lines(r, path, m, err);
        json_decref(r);
    }
    if (rc == 0) rc = decode_table(results_dir, m, &found, err);
    if (rc == 0 && found == 0)
        rc = cpet_fail(err, "%s: no result file (engine.json, tokenizer.json, pretrain.json, gemv.json, decode_*.json)", results_dir);
    fclose(m);
    if (rc == 0 && fwrite(text, 1, len, out) != len) rc = cpet_fail(err, "%s: cannot write the summary", results_dir);
    free(text);
    return rc;
}

int bench_summary_write(const char *results_dir, const char *out_path, cpet_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (make_dirs(dir, err) != 0) return -1;
    }
    atomic_file af;
    if (atomic_open(&af, out_path, err) != 0) return -1;
    if (bench_summary_render(results_dir, af.fp, err) != 0) { /* the old summary stays */
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err);
}
