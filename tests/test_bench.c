/* Benchmark regression tracking: bench-compare (ratios by default, --absolute, directories, bad input),
 * the history (append, render), scripts/bench-gate, the figure names they judge by, and the performance
 * page's summary rendered from result files. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "figures.h"
#include "helpers.h"
#include "history.h"
#include "tensor.h"

#define FACTS "\"facts\": {\"git_revision\": \"abc123def456\", \"host\": \"bench-host\", \"threads\": 2}"

/* a result like bench engine's: one within-run ratio, absolute rates and times, and what is not judged */
static void write_engine(const char *path, double fraction, double tokens_per_s, double mean_s)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"bench\": \"engine_train_step\", \"model\": {\"dim\": 512}, \"seed\": 0, \"reps\": 5, "
             "\"forward\": {\"mean_s\": %g, \"stddev_s\": 0.01, \"samples_s\": [0.5, 0.5]}, \"tokens_per_s_fwd_bwd\": %g, "
             "\"fraction_of_sgemm\": %g, \"attention_flop_share\": 0.2, " FACTS "}",
             mean_s, tokens_per_s, fraction);
    write_text(path, text);
}

static void write_gemv(const char *path, double fraction, double gbs)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"bench\": \"gemv\", \"rows\": 256, \"formats\": {\"f32\": {\"gb_s\": %g, \"fraction_of_bandwidth\": %g}, "
             "\"q4_0\": {\"gb_s\": %g, \"fraction_of_bandwidth\": %g, \"speedup_vs_f32\": 3.1}}, " FACTS "}",
             gbs, fraction, gbs / 3, fraction / 2);
    write_text(path, text);
}

static int compare(const char *a, const char *b, const char *opts, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s bench-compare %s %s %s", CPET_BINARY, a, b, opts);
    return run_capture(cmd, out, n);
}

/* the table line of a figure, or NULL */
static const char *row(const char *out, const char *figure)
{
    for (const char *p = out; (p = strstr(p, figure)); p++)
        if (p == out || p[-1] == '\n') return p;
    return NULL;
}

Test(bench, compare_default_gates_ratios_only)
{
    char dir[256], a[600], b[600], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base.json", dir);
    snprintf(b, sizeof b, "%s/cur.json", dir);
    /* absolute figures halve (a slower machine), the ratio holds: nothing to flag by default */
    write_engine(a, 0.80, 1000, 0.50);
    write_engine(b, 0.80, 500, 1.00);
    cr_assert_eq(compare(a, b, "", out, sizeof out), 0, "%s", out);
    cr_assert(!strstr(out, "REGRESSED"), "%s", out);
    cr_assert(strstr(out, "1 figures compared at tolerance 10.0%: 0 regressed, 0 improved"), "%s", out);
    cr_assert(strstr(out, "absolute figures not compared"), "%s", out);
    /* the ratio drops 25%: flagged, and still no absolute figure in the table */
    write_engine(b, 0.60, 2000, 0.25);
    cr_assert_eq(compare(a, b, "--tolerance 10%", out, sizeof out), 1, "%s", out);
    const char *r = row(out, "fraction_of_sgemm");
    cr_assert(r && strstr(r, "REGRESSED") && strstr(r, "within-run ratio"), "%s", out);
    cr_assert(!row(out, "tokens_per_s_fwd_bwd") && !row(out, "forward.mean_s"), "%s", out);
    cr_assert(strstr(out, "1 figures compared at tolerance 10.0%: 1 regressed, 0 improved"), "%s", out);
    /* within tolerance */
    cr_assert_eq(compare(a, b, "--tolerance 30%", out, sizeof out), 0, "%s", out);
}

Test(bench, compare_absolute_flags_a_throughput_drop)
{
    char dir[256], a[600], b[600], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base.json", dir);
    snprintf(b, sizeof b, "%s/cur.json", dir);
    write_engine(a, 0.80, 1000, 0.50);
    write_engine(b, 0.80, 700, 0.50);
    cr_assert_eq(compare(a, b, "", out, sizeof out), 0, "ratios alone do not see it: %s", out);
    cr_assert_eq(compare(a, b, "--absolute", out, sizeof out), 1, "%s", out);
    const char *r = row(out, "tokens_per_s_fwd_bwd");
    cr_assert(r && strstr(r, "REGRESSED") && strstr(r, "-30.0%"), "%s", out);
    /* fraction, tokens/s, mean_s; not stddev, samples, seed, reps, model.dim, attention_flop_share */
    cr_assert(strstr(out, "3 figures compared at tolerance 10.0%: 1 regressed, 0 improved"), "%s", out);
    /* lower is better for seconds: a faster step is an improvement */
    write_engine(b, 0.80, 1000, 0.30);
    cr_assert_eq(compare(a, b, "--absolute", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "1 improved"), "%s", out);
}

Test(bench, compare_directories_file_by_file)
{
    char dir[256], a[600], b[600], path[700], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base", dir);
    snprintf(b, sizeof b, "%s/cur", dir);
    mkdir(a, 0755);
    mkdir(b, 0755);
    snprintf(path, sizeof path, "%s/engine.json", a);
    write_engine(path, 0.80, 1000, 0.5);
    snprintf(path, sizeof path, "%s/engine.json", b);
    write_engine(path, 0.80, 1000, 0.5);
    snprintf(path, sizeof path, "%s/gemv.json", a);
    write_gemv(path, 0.90, 30);
    snprintf(path, sizeof path, "%s/gemv.json", b);
    write_gemv(path, 0.90, 30);
    snprintf(path, sizeof path, "%s/only_here.json", b); /* no baseline: noted, not compared */
    write_engine(path, 0.1, 1, 1);
    cr_assert_eq(compare(a, b, "", out, sizeof out), 0, "%s", out);
    /* engine 1 ratio + gemv 2 fractions + 1 speedup */
    cr_assert(strstr(out, "4 figures compared"), "%s", out);
    cr_assert(strstr(out, "only_here.json"), "%s", out);
    /* a regression in one file is named by file and figure */
    snprintf(path, sizeof path, "%s/gemv.json", b);
    write_gemv(path, 0.60, 30);
    cr_assert_eq(compare(a, b, "", out, sizeof out), 1, "%s", out);
    const char *r = row(out, "gemv.formats.f32.fraction_of_bandwidth");
    cr_assert(r && strstr(r, "REGRESSED"), "%s", out);
    cr_assert(row(out, "gemv.formats.q4_0.fraction_of_bandwidth"), "%s", out);
    cr_assert(!row(out, "engine."), "engine did not move: %s", out);
    cr_assert(strstr(out, "4 figures compared at tolerance 10.0%: 2 regressed, 0 improved"), "%s", out);
}

Test(bench, compare_bad_input_exits_2_naming_the_file)
{
    char dir[256], a[600], b[600], path[700], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base.json", dir);
    snprintf(b, sizeof b, "%s/not_json.json", dir);
    write_engine(a, 0.8, 1000, 0.5);
    write_text(b, "tokens_per_s = 1000\n");
    snprintf(path, sizeof path, "%s/missing.json", dir);
    cr_assert_eq(compare(a, path, "", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "missing.json") && strstr(out, "cpet: "), "%s", out);
    cr_assert_eq(compare(path, a, "", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "missing.json"), "%s", out);
    cr_assert_eq(compare(a, b, "", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "not_json.json"), "%s", out);
    /* a directory and a file */
    cr_assert_eq(compare(dir, a, "", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "is a directory"), "%s", out);
    /* a corrupt file inside compared directories */
    char da[600], db[600];
    snprintf(da, sizeof da, "%s/da", dir);
    snprintf(db, sizeof db, "%s/db", dir);
    mkdir(da, 0755);
    mkdir(db, 0755);
    snprintf(path, sizeof path, "%s/engine.json", da);
    write_engine(path, 0.8, 1000, 0.5);
    snprintf(path, sizeof path, "%s/engine.json", db);
    write_text(path, "{\"fraction_of_sgemm\": ");
    cr_assert_eq(compare(da, db, "", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "db/engine.json"), "%s", out);
    /* bad options */
    cr_assert_eq(compare(a, a, "--tolerance lots", out, sizeof out), 2, "%s", out);
}

/* ---- history ---- */

Test(bench_history, append_writes_one_line_per_run)
{
    char dir[256], e[600], g[600], h[600], cmd[4096], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(e, sizeof e, "%s/engine.json", dir);
    snprintf(g, sizeof g, "%s/gemv.json", dir);
    snprintf(h, sizeof h, "%s/history.jsonl", dir);
    write_engine(e, 0.80, 1000, 0.5);
    write_gemv(g, 0.90, 30);
    snprintf(cmd, sizeof cmd, "%s bench history append %s %s --history %s", CPET_BINARY, e, g, h);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    write_engine(e, 0.70, 900, 0.6);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    char *text = read_all(h, NULL);
    cr_assert(text);
    cr_assert_eq(count_lines(text), 2, "%s", text);
    char *second = strchr(text, '\n') + 1;
    cr_assert_eq(second[strlen(second) - 1], '\n');
    const double fractions[2] = {0.80, 0.70};
    char *line = text;
    for (int i = 0; i < 2; i++) {
        char *end = strchr(line, '\n');
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)(end - line), 0, &jerr);
        cr_assert(j, "line %d: %s: %s", i + 1, jerr.text, line);
        cr_assert_str_eq(json_string_value(json_object_get(j, "revision")), "abc123def456");
        cr_assert_str_eq(json_string_value(json_object_get(j, "host")), "bench-host");
        cr_assert_eq(json_integer_value(json_object_get(j, "threads")), 2);
        const char *date = json_string_value(json_object_get(j, "date"));
        cr_assert(date && strlen(date) == 20 && date[4] == '-' && date[10] == 'T' && date[19] == 'Z', "%s", date);
        json_t *f = json_object_get(j, "figures");
        cr_assert_float_eq(json_number_value(json_object_get(f, "engine.fraction_of_sgemm")), fractions[i], 1e-12);
        cr_assert(json_is_number(json_object_get(f, "engine.tokens_per_s_fwd_bwd")));
        cr_assert(json_is_number(json_object_get(f, "engine.forward.mean_s")));
        cr_assert_float_eq(json_number_value(json_object_get(f, "gemv.formats.q4_0.speedup_vs_f32")), 3.1, 1e-12);
        /* judged figures only: not the configuration, the spread, the samples or the facts */
        cr_assert_eq(json_object_size(f), 3 + 5, "%s", line);
        cr_assert(!json_object_get(f, "engine.model.dim") && !json_object_get(f, "engine.forward.stddev_s") &&
                  !json_object_get(f, "engine.seed") && !json_object_get(f, "gemv.rows"));
        json_decref(j);
        line = end + 1;
    }
    free(text);
    /* results of different builds are refused, and nothing is appended */
    write_text(g, "{\"formats\": {\"f32\": {\"gb_s\": 3}}, \"facts\": {\"git_revision\": \"0000000other\"}}");
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "gemv.json") && strstr(out, "0000000other"), "%s", out);
    text = read_all(h, NULL);
    cr_assert_eq(count_lines(text), 2);
    free(text);
}

static int is_png(const char *path)
{
    static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n;
    char *data = read_all(path, &n);
    int ok = data && n > 1000 && memcmp(data, magic, 8) == 0;
    free(data);
    return ok;
}

Test(bench_history, render_writes_plots_and_table)
{
    char dir[256], h[600], out_dir[600], path[900];
    make_temp_dir(dir, sizeof dir);
    snprintf(h, sizeof h, "%s/history.jsonl", dir);
    snprintf(out_dir, sizeof out_dir, "%s/report", dir);
    write_text(h,
               "{\"revision\": \"1111111aaaaa\", \"date\": \"2024-05-01T10:00:00Z\", \"host\": \"h\", \"threads\": 2, \"figures\": "
               "{\"engine.fraction_of_sgemm\": 0.81, \"engine.tokens_per_s_fwd_bwd\": 900, \"gemv.formats.f32.gb_s\": 30.5, "
               "\"gemv.formats.q4_0.gb_s\": 12.25}}\n"
               "{\"revision\": \"2222222bbbbb\", \"date\": \"2024-05-02T10:00:00Z\", \"host\": \"h\", \"threads\": 2, \"figures\": "
               "{\"engine.fraction_of_sgemm\": 0.72, \"engine.tokens_per_s_fwd_bwd\": 880, \"gemv.formats.f32.gb_s\": 31.5}}\n"
               "{\"revision\": \"3333333ccccc\", \"date\": \"2024-05-03T10:00:00Z\", \"host\": \"h\", \"threads\": 2, \"figures\": "
               "{\"engine.fraction_of_sgemm\": 0.63, \"engine.tokens_per_s_fwd_bwd\": 910, \"gemv.formats.f32.gb_s\": 29.5, "
               "\"gemv.formats.q4_0.gb_s\": 13.75}}\n");
    cpet_err err;
    cr_assert_eq(history_render(h, out_dir, &err), 0, "%s", err.msg);
    const char *plots[] = {"history_engine", "history_gemv"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.png", out_dir, plots[i]);
        cr_assert(is_png(path), "%s is not a PNG", path);
        snprintf(path, sizeof path, "%s/%s.gp", out_dir, plots[i]); /* the script stays beside the plot */
        char *gp = read_all(path, NULL);
        cr_assert(gp && strstr(gp, "'1111111'") && strstr(gp, "'3333333'"), "revisions label x: %s", gp);
        free(gp);
        snprintf(path, sizeof path, "%s/%s.partial.png", out_dir, plots[i]);
        cr_assert_eq(access(path, F_OK), -1, "no temporary left behind");
    }
    snprintf(path, sizeof path, "%s/history.md", out_dir);
    char *md = read_all(path, NULL);
    cr_assert(md);
    cr_assert(strstr(md, "| `1111111` | `2222222` | `3333333` |"), "%s", md);
    cr_assert(strstr(md, "| engine.fraction_of_sgemm (ratio) | 0.81 | 0.72 | 0.63 | -12.5% |"), "%s", md);
    cr_assert(strstr(md, "| engine.tokens_per_s_fwd_bwd | 900 | 880 | 910 | +3.4% |"), "%s", md);
    /* a run without the figure shows a dash; the change is against the last run that had it */
    cr_assert(strstr(md, "| gemv.formats.q4_0.gb_s | 12.25 | – | 13.75 | +12.2% |"), "%s", md);
    free(md);
    snprintf(path, sizeof path, "%s/index.md", out_dir);
    char *index = read_all(path, NULL);
    cr_assert(index && strstr(index, "(history_engine.png)") && strstr(index, "(history_gemv.png)") &&
                  strstr(index, "(history.md)"),
              "%s", index);
    free(index);
}

Test(bench_history, render_rejects_bad_histories)
{
    char dir[256], h[600], out_dir[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(h, sizeof h, "%s/history.jsonl", dir);
    snprintf(out_dir, sizeof out_dir, "%s/report", dir);
    cpet_err err;
    cr_assert_eq(history_render(h, out_dir, &err), -1);
    cr_assert(strstr(err.msg, "history.jsonl"), "%s", err.msg);
    write_text(h, "");
    cr_assert_eq(history_render(h, out_dir, &err), -1);
    cr_assert(strstr(err.msg, "no runs"), "%s", err.msg);
    write_text(h, "{\"revision\": \"a\", \"figures\": {\"x.y\": 1}}\n{\"revision\": \"b\", \"figures\": {\"x.y\": 2}}\n{\"revi");
    cr_assert_eq(history_render(h, out_dir, &err), -1);
    cr_assert(strstr(err.msg, "history.jsonl:3"), "%s", err.msg);
    write_text(h, "{\"revision\": \"a\", \"figures\": {\"x.y\": 1}}\n[1, 2]\n");
    cr_assert_eq(history_render(h, out_dir, &err), -1);
    cr_assert(strstr(err.msg, "history.jsonl:2"), "%s", err.msg);
}

/* ---- scripts/bench-gate (the judge itself: tests/test_gate.c) ---- */

/* bad arguments stop the gate before it builds anything: exit 2 and a line naming the problem */
Test(bench_gate, bad_arguments_are_refused_before_any_build)
{
    char cmd[4096], out[16384];
    snprintf(cmd, sizeof cmd, "cd %s && scripts/bench-gate --base no-such-revision-xyz --out /nonexistent/never", CPET_SOURCE_DIR);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "no-such-revision-xyz: no such revision"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && scripts/bench-gate --rounds 1 --out /nonexistent/never", CPET_SOURCE_DIR);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "--rounds must be at least 2"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && scripts/bench-gate --frobnicate", CPET_SOURCE_DIR);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "unknown argument --frobnicate"), "%s", out);
}

/* ---- figure names (bench/figures.h): one definition for bench-compare and the history ---- */

Test(figures, direction_and_ratio_from_the_name)
{
    cr_assert(figure_is_ratio("engine.fraction_of_sgemm"));
    cr_assert(figure_is_ratio("gemv.formats.q4_0.speedup_vs_f32"));
    cr_assert(figure_is_ratio("compression_ratio"));
    cr_assert(!figure_is_ratio("engine.tokens_per_s_fwd_bwd"));
    cr_assert(!figure_is_ratio("ratio.gb_s"), "only the last component counts");
    cr_assert_eq(figure_direction_of("engine.fraction_of_sgemm"), FIGURE_HIGHER_IS_BETTER);
    cr_assert_eq(figure_direction_of("engine.tokens_per_s_fwd_bwd"), FIGURE_HIGHER_IS_BETTER);
    cr_assert_eq(figure_direction_of("gemv.formats.int8.gb_s"), FIGURE_HIGHER_IS_BETTER);
    cr_assert_eq(figure_direction_of("step_gflops"), FIGURE_HIGHER_IS_BETTER);
    cr_assert_eq(figure_direction_of("engine.forward.mean_s"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("us_per_token_fwd_bwd"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("gemv.formats.f32.bytes"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("seconds"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("wall_seconds"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("peak_rss_mb"), FIGURE_LOWER_IS_BETTER);
    cr_assert_eq(figure_direction_of("engine.forward.stddev_s"), FIGURE_UNJUDGED);
    cr_assert_eq(figure_direction_of("acc_ci95"), FIGURE_UNJUDGED);
    cr_assert_eq(figure_direction_of("chance_acc"), FIGURE_UNJUDGED);
    cr_assert_eq(figure_direction_of("engine.model.dim"), FIGURE_UNJUDGED);
    cr_assert_str_eq(figure_leaf("gemv.formats.int8.gb_s"), "gb_s");
    cr_assert_str_eq(figure_leaf("gb_s"), "gb_s");
}

/* ---- cpet bench summary: docs/performance.md's summary from result files ---- */

#define SUMMARY_FACTS "\"facts\": {\"git_revision\": \"abc123def456\", \"threads\": 2, \"cpu\": \"Test CPU 9000\", \"host\": \"h\"}"
#define WHERE " (revision abc123def456, 2 threads, Test CPU 9000)"

static void write_summary_results(const char *dir, int engine, int tokenizer, int pretrain, int gemv)
{
    char path[700];
    if (engine) {
        snprintf(path, sizeof path, "%s/engine.json", dir);
        write_text(path, "{\"bench\": \"engine_train_step\", \"model\": {\"dim\": 128, \"layers\": 2, \"heads\": 2, \"ffn\": 352, "
                         "\"vocab\": 512, \"seq\": 64, \"batch\": 2}, \"forward_backward\": {\"mean_s\": 0.1}, "
                         "\"us_per_token_fwd_bwd\": 810.4, \"tokens_per_s_fwd_bwd\": 1234.4, \"step_gflops\": 88.04, "
                         "\"sgemm_gflops\": 100.0, \"fraction_of_sgemm\": 0.88, " SUMMARY_FACTS "}");
    }
    if (tokenizer) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        write_text(path, "{\"bench\": \"tokenizer\", \"corpus\": \"world/corpus.txt\", \"bytes\": 1048576, \"tokens\": 233017, "
                         "\"bytes_per_token\": 4.5, \"encode_mb_per_s\": 12.345, \"decode_mb_per_s\": 345.6, " SUMMARY_FACTS "}");
    }
    if (pretrain) {
        snprintf(path, sizeof path, "%s/pretrain.json", dir);
        write_text(path, "{\"bench\": \"pretrain_step\", \"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"kv_heads\": 2, "
                         "\"vocab\": 300, \"parameters\": 123456}, \"seq\": 32, \"batch\": 8, \"tokens_per_s\": 20480.6, "
                         SUMMARY_FACTS "}");
    }
    if (gemv) { /* formats out of table order, and one the summary does not know */
        snprintf(path, sizeof path, "%s/gemv.json", dir);
        write_text(path, "{\"bench\": \"gemv\", \"rows\": 256, \"cols\": 512, \"reps\": 3, \"threads\": 2, "
                         "\"stream_copy_gb_s\": 10.0, \"stream_read_gb_s\": 8.0, \"formats\": {"
                         "\"q4_0+q8act\": {\"median_gb_s\": 6.414, \"fraction_of_bandwidth\": 0.629, "
                         "\"fraction_of_read_bandwidth\": 0.987, \"speedup_vs_f32\": 4.158, \"speedup_vs_exact\": 3.494}, "
                         "\"fp8\": {\"median_gb_s\": 5, \"fraction_of_bandwidth\": 0.5, \"fraction_of_read_bandwidth\": 0.6}, "
                         "\"int8\": {\"gb_s\": 9.9, \"median_gb_s\": 4.0, \"fraction_of_bandwidth\": 0.4, "
                         "\"fraction_of_read_bandwidth\": 0.5, \"speedup_vs_f32\": 1.684}, "
                         "\"f32\": {\"median_gb_s\": 9.5, \"fraction_of_bandwidth\": 0.95, \"fraction_of_read_bandwidth\": 1.2}, "
                         "\"q4_0\": {\"median_gb_s\": 1.843, \"fraction_of_bandwidth\": 0.1816, "
                         "\"fraction_of_read_bandwidth\": 0.2597, \"speedup_vs_f32\": 1.1949}}, " SUMMARY_FACTS "}");
    }
}

static int summary(const char *results, const char *out_path, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s bench summary %s%s%s", CPET_BINARY, results, out_path ? " -o " : "", out_path ? out_path : "");
    return run_capture(cmd, out, n);
}

Test(bench_summary, renders_every_figure_with_where_it_comes_from)
{
    char dir[256], res[600], md[700], out[16384];
    make_temp_dir(dir, sizeof dir);
    snprintf(res, sizeof res, "%s/results", dir);
    mkdir(res, 0755);
    write_summary_results(res, 1, 1, 1, 1);
    snprintf(md, sizeof md, "%s/reports/bench/summary.md", dir); /* its directory is created */
    cr_assert_eq(summary(res, md, out, sizeof out), 0, "%s", out);
    char *text = read_all(md, NULL);
    cr_assert(text, "%s not written", md);
    static const char *const expected =
        "- Training step (`cpet bench engine`): random LLaMA d=128, 2 layers, 2 heads, FFN 352, vocab 512, seq 64 x batch 2, "
        "all weights trainable" WHERE "\n"
        "- Training step, forward+backward: 1,234 tokens/s, 810 µs/token" WHERE "\n"
        "- Training step, GEMM rate: 88.0 GFLOP/s against 100.0 GFLOP/s for sgemm alone on the same shapes in the same run: "
        "**88% of the sgemm rate**" WHERE "\n"
        "- Tokenizer (`cpet bench tokenizer`, corpus.txt, 1,048,576 bytes): encode 12.3 MB/s, decode 346 MB/s, 4.50 bytes/token "
        "(revision abc123def456, 1 thread, Test CPU 9000)\n"
        "- Pretraining step of the default model (`cpet bench pretrain`: d=64, 2 layers, 4 heads (2 KV), vocab 300, 123,456 "
        "parameters, seq 32 x batch 8; forward, backward, clipping, AdamW): 20,481 tokens/s" WHERE "\n"
        "- One-token GEMV y = W x (`cpet bench gemv`): W 256 x 512, median of 3 rounds; copy bandwidth 10.00 GB/s, read "
        "bandwidth 8.00 GB/s (medians, measured in the same rounds)" WHERE "\n"
        "\n"
        "| format | median GB/s | of copy bandwidth | of read bandwidth | speedup vs f32 | int8 activations vs exact |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| f32 | 9.50 | 95% | 120% | 1.00x | — |\n"
        "| int8 | 4.00 | 40% | 50% | 1.68x | — |\n"
        "| q4_0 | 1.84 | 18% | 26% | 1.19x | — |\n"
        "| q4_0+q8act | 6.41 | 63% | 99% | 4.16x | 3.49x |\n"
        "| fp8 | 5.00 | 50% | 60% | — | — |\n";
    cr_assert_str_eq(text, expected);
    /* without -o the same text goes to stdout */
    cr_assert_eq(summary(res, NULL, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, expected);
    free(text);
}

/* a tokenizer timed against another (--against): its encode-time ratio, in the line of its own */
Test(bench_summary, a_tokenizer_against_another_gives_the_ratio)
{
    char dir[256], path[600], out[16384];
    make_temp_dir(dir, sizeof dir);
    write_summary_results(dir, 1, 1, 1, 1);
    snprintf(path, sizeof path, "%s/tokenizer_spm.json", dir);
    write_text(path, "{\"bench\": \"tokenizer\", \"tokenizer\": \"x/spm.json\", \"encode_mb_per_s\": 10.0, \"decode_mb_per_s\": 20.0,"
                     " \"against\": {\"tokenizer\": \"y/bytes.json\"}, \"encode_time_ratio\": {\"mean\": 1.5, \"stddev\": 0.01},"
                     " \"facts\": {\"git_revision\": \"abc123def456\", \"threads\": 1, \"cpu\": \"Test CPU 9000\"}}");
    cr_assert_eq(summary(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "- Tokenizer spm.json against bytes.json (`cpet bench tokenizer --against`, the same reps): encode takes 1.50x its "
                          "time; spm.json encodes 10.0 MB/s, decodes 20.0 MB/s"),
              "%s", out);
}

Test(bench_summary, notes_a_missing_result_file)
{
    char dir[256], md[700], out[16384];
    make_temp_dir(dir, sizeof dir);
    write_summary_results(dir, 1, 0, 0, 1);
    snprintf(md, sizeof md, "%s/summary.md", dir);
    cr_assert_eq(summary(dir, md, out, sizeof out), 0, "%s", out);
    char *text = read_all(md, NULL), line[1024];
    snprintf(line, sizeof line, "\n- Tokenizer: not measured (%s/tokenizer.json is missing)\n"
                                "- Pretraining step: not measured (%s/pretrain.json is missing)\n- One-token GEMV", dir, dir);
    cr_assert(strstr(text, line), "%s", text);
    cr_assert(strstr(text, "**88% of the sgemm rate**" WHERE "\n"), "%s", text);
    cr_assert(strstr(text, "| int8 | 4.00 | 40% | 50% | 1.68x | — |\n"), "%s", text);
    free(text);
}

Test(bench_summary, a_corrupt_file_is_an_error_naming_it)
{
    char dir[256], md[700], path[700], out[16384], cmd[1024];
    make_temp_dir(dir, sizeof dir);
    write_summary_results(dir, 1, 1, 1, 1);
    snprintf(md, sizeof md, "%s/out/summary.md", dir);
    cr_assert_eq(summary(dir, md, out, sizeof out), 0, "%s", out);
    char *before = read_all(md, NULL);
    /* not JSON: exit 1, one line naming the file, the old summary kept whole and no temporary left */
    snprintf(path, sizeof path, "%s/gemv.json", dir);
    write_text(path, "{\"bench\": \"gemv\", \"rows\": ");
    cr_assert_eq(summary(dir, md, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "cpet: ") && strstr(out, path) && count_lines(out) == 1, "%s", out);
    char *after = read_all(md, NULL);
    cr_assert_str_eq(after, before);
    free(after);
    snprintf(cmd, sizeof cmd, "ls %s/out", dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0);
    cr_assert_str_eq(out, "summary.md\n");
    /* nothing reaches stdout either */
    cr_assert_eq(summary(dir, NULL, out, sizeof out), 1, "%s", out);
    cr_assert(!strstr(out, "Training step"), "%s", out);
    /* a format row without its figure names the file and the figure */
    write_text(path, "{\"bench\": \"gemv\", \"rows\": 1, \"cols\": 128, \"stream_copy_gb_s\": 1, \"stream_read_gb_s\": 1, "
                     "\"formats\": {\"int8\": {\"median_gb_s\": \"fast\"}}}");
    cr_assert_eq(summary(dir, md, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, path) && strstr(out, "formats.int8.median_gb_s"), "%s", out);
    remove(path);
    /* another benchmark's result under this name */
    snprintf(path, sizeof path, "%s/engine.json", dir);
    write_text(path, "{\"bench\": \"tokenizer\", \"encode_mb_per_s\": 1}");
    cr_assert_eq(summary(dir, md, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, path) && strstr(out, "engine_train_step"), "%s", out);
    /* a missing figure */
    write_text(path, "{\"bench\": \"engine_train_step\", \"model\": {\"dim\": 1, \"layers\": 1, \"heads\": 1, \"ffn\": 1, "
                     "\"vocab\": 2, \"seq\": 2, \"batch\": 1}, \"tokens_per_s_fwd_bwd\": 1, \"us_per_token_fwd_bwd\": 1, "
                     "\"step_gflops\": 1, \"sgemm_gflops\": 1}");
    cr_assert_eq(summary(dir, md, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, path) && strstr(out, "fraction_of_sgemm"), "%s", out);
    free(before);
    /* a directory with none of the four, and no directory at all */
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    mkdir(empty, 0755);
    cr_assert_eq(summary(empty, NULL, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, empty) && strstr(out, "no result file"), "%s", out);
    snprintf(empty, sizeof empty, "%s/nowhere", dir);
    cr_assert_eq(summary(empty, NULL, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, empty), "%s", out);
}

Test(bench_summary, renders_the_committed_results)
{
    char out[32768];
    cr_assert_eq(summary(CPET_SOURCE_DIR "/bench/results", NULL, out, sizeof out), 0, "%s", out);
    cr_assert(!strstr(out, "not measured"), "%s", out);
    cr_assert(strstr(out, "of the sgemm rate**") && strstr(out, "| f32 |") && strstr(out, "| q4_0+q8act |"), "%s", out);
}

/* The CLI writes what the benchmark returns (a regression once read the result before it was set). */
Test(bench_cli, tokenizer_result_is_written, .timeout = 60)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 16, 32, 1);
    snprintf(path, sizeof path, "%s/corpus.txt", dir);
    write_text(path, "The capital of Avalon is Brightwater.\n\nThe founder of Corvid Works is Dana Holt.\n");
    snprintf(cmd, sizeof cmd, "%s bench tokenizer --tokenizer %s/model/tokenizer.json --corpus %s --reps 1 -o %s/t.json", CPET_BINARY,
             dir, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/t.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_gt(json_number_value(json_object_get(j, "encode_mb_per_s")), 0);
    cr_assert_gt(json_integer_value(json_object_get(j, "tokens")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "bench")), "tokenizer");
    json_decref(j);
}

/* bench decode on a tiny model: the rows llama-bench prints, and bytes per token by hand from the shapes. */
Test(bench_cli, decode_rows_and_bytes_per_token, .timeout = 120)
{
    char dir[256], cmd[2048], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 16, 32, 1);
    snprintf(cmd, sizeof cmd, "%s bench decode %s/model --prompt-tokens 4 --gen-tokens 6 --threads 1,2 --reps 2 -o %s/d.json --csv %s/d.csv",
             CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "| pp4 |") && strstr(out, "| tg6 |"), "%s", out);
    snprintf(path, sizeof path, "%s/d.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_array_size(json_object_get(j, "rows")), 4, "pp and tg for 1 and 2 threads");
    cr_assert_eq(json_array_size(json_object_get(j, "greedy_ids")), 6);
    /* the tiny model: vocab 300, d 16, FFN 32, 1 layer, KV width from its config; f32 */
    json_t *cfg = json_load_file((snprintf(path, sizeof path, "%s/model/config.json", dir), path), 0, NULL);
    long V = json_integer_value(json_object_get(cfg, "vocab_size")), D = 16, F = 32;
    long H = json_integer_value(json_object_get(cfg, "num_attention_heads"));
    long KV = json_integer_value(json_object_get(cfg, "num_key_value_heads")), hd = D / H;
    double linears = 4.0 * (D * H * hd + 2 * D * KV * hd + H * hd * D + 3 * D * F + V * D);
    double expected = linears + 4.0 * (3 * D + D) + 2.0 * 1 * KV * hd * 4 * (4 + (6 - 1) / 2.0);
    cr_assert_float_eq(json_real_value(json_object_get(j, "weight_bytes_per_token")), linears + 4.0 * (3 * D + D), 1e-6);
    cr_assert_float_eq(json_real_value(json_object_get(j, "bytes_per_token")), expected, 1e-6);
    cr_assert_eq(json_integer_value(json_object_get(j, "model_n_params")), (long)(linears / 4) + V * D + 3 * D,
                 "every weight: the linears and head, the embedding table, three norms");
    json_t *pp = json_array_get(json_object_get(j, "rows"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(pp, "test")), "pp4");
    cr_assert_gt(json_real_value(json_object_get(pp, "fraction_of_sgemm")), 0, "prompt processing against sgemm alone");
    cr_assert_float_eq(json_real_value(json_object_get(pp, "linear_gflop")), linears / 4.0 * 2 * 4 / 1e9, 1e-12,
                       "2 flops per weight per prompt token");
    json_t *tg = json_array_get(json_object_get(j, "rows"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(tg, "test")), "tg6");
    cr_assert_gt(json_real_value(json_object_get(tg, "median_ts")), 0);
    cr_assert_gt(json_real_value(json_object_get(tg, "fraction_of_copy_bandwidth")), 0);
    double rf = json_real_value(json_object_get(tg, "fraction_of_read_bandwidth")),
           rbw = json_real_value(json_object_get(tg, "read_bw_gb_s_median")), achieved = json_real_value(json_object_get(tg, "read_gb_s_median"));
    cr_assert_float_eq(rf, achieved / rbw, 0.5 * rf, "the fraction is the achieved read rate over the read probe's (medians of ratios)");
    double rss = json_real_value(json_object_get(j, "peak_rss_mb")), kv = json_real_value(json_object_get(j, "kv_cache_mb"));
    cr_assert_gt(rss, 0);
    cr_assert_float_eq(kv, 2.0 * 1 * KV * hd * 4 * (4 + 6) / 1048576.0, 1e-12, "K and V, f32, prompt + generated positions");
    cr_assert_float_eq(json_real_value(json_object_get(j, "rss_over_size_plus_kv")),
                       rss * 1048576.0 / (json_number_value(json_object_get(j, "model_bytes")) + kv * 1048576.0), 1e-9);
    json_decref(cfg);
    json_decref(j);
    snprintf(path, sizeof path, "%s/d.csv", dir);
    char *csv = read_all(path, NULL);
    cr_assert_eq(count_lines(csv), 5, "header + 4 rows: %s", csv);
    free(csv);
}

/* the decode results become one table, a row per (file, threads, test) */
Test(bench_summary, decode_results_as_one_table)
{
    char dir[256], path[600], cmd[1024], out[8192];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/decode_f32.json", dir);
    write_text(path, "{\"bench\": \"decode\", \"model_bytes\": 1048576, \"peak_rss_mb\": 10, \"rows\": ["
                     "{\"n_threads\": 1, \"test\": \"pp4\", \"median_ts\": 50.0, \"stddev_ts\": 1.0},"
                     "{\"n_threads\": 1, \"test\": \"tg8\", \"median_ts\": 5.0, \"stddev_ts\": 0.5, \"fraction_of_copy_bandwidth\": 1.3,"
                     " \"fraction_of_read_bandwidth\": 0.8}], \"rss_over_size_plus_kv\": 0.9,"
                     " \"facts\": {\"git_revision\": \"abc\", \"cpu\": \"X\", \"threads\": 1}}");
    snprintf(cmd, sizeof cmd, "%s bench summary %s", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "| decode_f32 | 1.0 MiB | 10 MiB | 0.90 | 1 | tg8 | 5.0 ± 0.5 | 80% |"), "%s", out);
    cr_assert(strstr(out, "| decode_f32 | 1.0 MiB | 10 MiB | 0.90 | 1 | pp4 | 50.0 ± 1.0 |  |"), "%s", out);
    cr_assert(strstr(out, "Training step: not measured"), "%s", out);
    snprintf(path, sizeof path, "%s/decode_bad.json", dir);
    write_text(path, "{\"bench\": \"gemv\"}");
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "decode_bad.json"), "%s", out);
}

/* bench lora on a packed base: the first step's loss is the frozen model's own loss on the same seeded ids
 * (B = 0 at init), and the curve falls as the batch is memorised */
Test(bench_cli, lora_on_a_packed_base, .timeout = 120)
{
    char dir[256], cmd[1024], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 300,"
                     " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5, \"hidden_act\": \"silu\", \"tie_word_embeddings\": false}");
    snprintf(cmd, sizeof cmd, "%s init %s -o %s/m --method q4_0 --lm-head --embeddings --std 0.1", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s bench lora %s/m --seq 16 --batch 2 --steps 6 --threads 1 --seed 5 -o %s/l.json", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/l.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j);
    json_t *curve = json_object_get(j, "curve");
    cr_assert_eq(json_array_size(curve), 6);
    double first = json_real_value(json_object_get(json_array_get(curve, 0), "loss")),
           last = json_real_value(json_object_get(json_array_get(curve, 5), "loss"));
    cr_assert_lt(last, first, "the adapter trains: %g -> %g", first, last);
    cr_assert_eq(json_integer_value(json_object_get(j, "adapter_params")), 2 * 8 * ((64 + 64) + 2 * (64 + 32) + (64 + 64) + 3 * (64 + 128)),
                 "r (in + out) on the seven linears of both layers");
    cr_assert_gt(json_real_value(json_object_get(j, "peak_rss_mb")), 0);
    model m;
    cpet_err err;
    snprintf(path, sizeof path, "%s/m", dir);
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    int ids[32];
    uint64_t s = 5;
    for (int i = 0; i < 32; i++) ids[i] = (int)(splitmix64(&s) % 300ull);
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 16, &err), 0, "%s", err.msg);
    cr_assert_float_eq(first, m.loss, 1e-5 * m.loss, "first step %g vs the frozen model's loss %g", first, (double)m.loss);
    model_free(&m);
    json_decref(j);
}

/* a result that records its kernels' instruction set says so beside the revision, threads and CPU */
Test(bench_summary, names_the_kernels_a_result_ran_on)
{
    char dir[256], path[600], out[16384];
    make_temp_dir(dir, sizeof dir);
    write_summary_results(dir, 1, 0, 0, 0);
    snprintf(path, sizeof path, "%s/engine.json", dir);
    char *text = read_all(path, NULL);
    char *facts = strstr(text, "\"facts\": {");
    cr_assert_not_null(facts, "%s", text);
    char patched[4096];
    snprintf(patched, sizeof patched, "%.*s\"facts\": {\"isa\": \"avx512-vnni\", %s", (int)(facts - text), text, facts + strlen("\"facts\": {"));
    write_text(path, patched);
    free(text);
    cr_assert_eq(summary(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, " (revision abc123def456, 2 threads, Test CPU 9000, avx512-vnni kernels)"), "%s", out);
}
