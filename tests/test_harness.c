/* The harness: spec expansion and validation, resumable runs, records, reports, bench-compare. */
#include <criterion/criterion.h>
#include <csv.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "model.h"
#include "spec.h"
#include "stats.h"
#include "tokenizer.h"

/* ---- specs ---- */

static const char *GOOD_SPEC =
    "{\"name\": \"t\", \"models\": [\"m1\", \"m2\"], \"methods\": [\"zero-shot\", {\"name\": \"lora\", \"rank\": 4}],"
    " \"tasks\": [\"a/qa.jsonl\", {\"name\": \"cls\", \"file\": \"b.jsonl\", \"eval_split\": \"dev\"}], \"seeds\": [0, 1, 2]}";

Test(spec, expands_to_the_cross_product_with_defaults)
{
    json_error_t jerr;
    json_t *root = json_loads(GOOD_SPEC, 0, &jerr);
    spec s;
    cpet_err err;
    cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0, "%s", err.msg);
    int n;
    cell *c = spec_expand(&s, &n);
    cr_assert_eq(n, 2 * 1 * 2 * 2 * 3, "models x compressions x methods x tasks x seeds");
    cr_assert_str_eq(c[0].key, "model=m1 compression=none method=zero-shot task=qa seed=0");
    cr_assert_str_eq(c[1].key, "model=m1 compression=none method=zero-shot task=qa seed=1");
    cr_assert_str_eq(c[3].task->name, "cls");
    cr_assert_str_eq(c[3].task->eval_split, "dev");
    cr_assert_str_eq(c[6].method->label, "lora");
    cr_assert_str_eq(c[12].model, "m2");
    json_t *params = c[6].method->params;
    cr_assert_eq(json_integer_value(json_object_get(params, "rank")), 4, "given value kept");
    cr_assert_eq(json_integer_value(json_object_get(params, "steps")), 100, "default filled in");
    cr_assert_eq(json_array_size(json_object_get(params, "targets")), 7);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) cr_assert_str_neq(c[i].config_hash, c[j].config_hash, "cells %d and %d share a hash", i, j);
    spec s2;
    cr_assert_eq(spec_parse(&s2, root, "spec.json", &err), 0);
    int n2;
    cell *c2 = spec_expand(&s2, &n2);
    cr_assert_str_eq(c[7].config_hash, c2[7].config_hash, "the hash is a function of the configuration");
    cells_free(c, n);
    cells_free(c2, n2);
    json_decref(root);
}

static void expect_spec_error(const char *text, const char *part)
{
    char dir[256], path[512], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/spec.json", dir);
    write_text(path, text);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/run", CPET_BINARY, path, dir);
    int st = run_capture(cmd, out, sizeof out);
    cr_assert_neq(st, 0, "expected failure for %s", text);
    cr_expect(strstr(out, "spec.json") && strstr(out, part), "error should name '%s': %s", part, out);
    cr_expect_eq(count_lines(out), 1, "one line: %s", out);
    snprintf(path, sizeof path, "%s/run", dir);
    cr_expect_eq(access(path, F_OK), -1, "nothing may run for a bad spec");
}

Test(spec, bad_specs_name_the_key_path)
{
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"zero-shot\", {\"name\": \"qlora\"}], \"tasks\": [\"t.jsonl\"]}",
                      "methods[1].name: unknown method 'qlora'");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"rnak\": 4}], \"tasks\": [\"t.jsonl\"]}",
                      "methods[0].rnak: unknown key");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"rank\": \"four\"}], \"tasks\": [\"t.jsonl\"]}",
                      "methods[0].rank: expected an integer");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"], \"seeds\": [0, \"1\"]}",
                      "seeds[1]: expected a non-negative integer");
    expect_spec_error("{\"model\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"]}", "model: unknown key");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [{\"file\": \"t.jsonl\", \"limit\": -1}]}",
                      "tasks[0].limit");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [\"int5\"]}",
                      "compressions[0]: unknown compression method 'int5'");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], ", "malformed JSON");
}

Test(stats, ci_half_width_known_example)
{
    double x[4] = {1, 2, 3, 4}, mean, hw;
    mean_ci95(x, 4, &mean, &hw);
    cr_assert_float_eq(mean, 2.5, 1e-12);
    /* s = sqrt(5/3) = 1.2910; t(0.975, 3) = 3.182; 3.182 * 1.2910 / 2 = 2.0540 */
    cr_assert_float_eq(hw, 3.182 * sqrt(5.0 / 3.0) / 2.0, 1e-9);
    cr_assert_float_eq(hw, 2.054, 1e-3);
    double one = 0.7;
    mean_ci95(&one, 1, &mean, &hw);
    cr_assert(mean == 0.7 && hw == 0.0);
    cr_assert_float_eq(student_t975(10), 2.228, 1e-9);
}

/* ---- runs: a tiny model and task so cells take a fraction of a second ---- */

static void make_tiny_setup(const char *dir)
{
    char path[600];
    make_tiny_model_dir(dir, 16, 32, 1);
    snprintf(path, sizeof path, "%s/tasks.jsonl", dir);
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 40; i++)
        fprintf(fp, "{\"prompt\": \"%s\", \"choices\": [\" red\", \" blue\", \" green\"], \"label\": %d, \"split\": \"%s\"}\n",
                i % 2 ? "alpha" : "beta", i % 3, i < 30 ? "train" : "test");
    fclose(fp);
    snprintf(path, sizeof path, "%s/spec.json", dir);
    char spec_text[2048];
    snprintf(spec_text, sizeof spec_text,
             "{\"name\": \"tiny\", \"models\": [\"%s/model\"], \"methods\": [\"zero-shot\", {\"name\": \"lora\", \"rank\": 2, "
             "\"steps\": 40, \"batch\": 4, \"lr\": 0.01}], \"tasks\": [\"%s/tasks.jsonl\"], \"seeds\": [0, 1, 2, 3, 4, 5], \"threads\": 1}",
             dir, dir);
    write_text(path, spec_text);
}

/* config_hash -> metrics of every ok record */
static json_t *metrics_by_hash(const char *records_path)
{
    json_t *out = json_object();
    FILE *fp = fopen(records_path, "r");
    cr_assert_not_null(fp);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_error_t jerr;
        json_t *r = json_loads(line, 0, &jerr);
        cr_assert_not_null(r, "a record line is not JSON: %s", line);
        cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "ok", "%s", line);
        cr_assert_null(json_object_get(out, json_string_value(json_object_get(r, "config_hash"))), "a cell recorded twice");
        json_t *metrics = json_deep_copy(json_object_get(r, "metrics"));
        cr_assert_gt(json_real_value(json_object_get(metrics, "forward_tokens_per_s")), 0);
        json_object_del(metrics, "forward_tokens_per_s"); /* a measured speed: equal runs differ in it */
        json_object_set_new(out, json_string_value(json_object_get(r, "config_hash")), metrics);
        cr_assert(json_is_object(json_object_get(r, "timings")) && json_object_get(r, "facts") && json_object_get(r, "seed"));
        json_decref(r);
    }
    free(line);
    fclose(fp);
    return out;
}

Test(run, killed_and_restarted_run_records_what_an_uninterrupted_one_does, .timeout = 300)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json -o %s/straight", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    /* the same run, killed with SIGKILL once a few cells are recorded, then started again */
    snprintf(path, sizeof path, "%s/killed/records.jsonl", dir);
    pid_t pid = fork();
    if (pid == 0) {
        char spec_path[600], out_dir[600];
        snprintf(spec_path, sizeof spec_path, "%s/spec.json", dir);
        snprintf(out_dir, sizeof out_dir, "%s/killed", dir);
        freopen("/dev/null", "w", stderr);
        execl(CPET_BINARY, CPET_BINARY, "run", spec_path, "-o", out_dir, (char *)NULL);
        _exit(127);
    }
    int lines = 0;
    for (int waited = 0; waited < 6000 && lines < 3; waited++) {
        usleep(10000);
        size_t len;
        char *text = read_all(path, &len);
        lines = text ? count_lines(text) : 0;
        free(text);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_geq(lines, 3, "the run should have recorded cells before the kill");
    size_t len;
    char *text = read_all(path, &len);
    int after_kill = count_lines(text);
    free(text);
    cr_assert_lt(after_kill, 12, "the kill should come before the end (got %d of 12)", after_kill);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json -o %s/killed", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "already recorded"), "%s", out);
    snprintf(path, sizeof path, "%s/straight/records.jsonl", dir);
    json_t *a = metrics_by_hash(path);
    snprintf(path, sizeof path, "%s/killed/records.jsonl", dir);
    json_t *b = metrics_by_hash(path);
    cr_assert_eq(json_object_size(a), 12);
    cr_assert(json_equal(a, b), "records differ after kill + restart");
    json_decref(a);
    json_decref(b);
}

Test(run, torn_last_record_is_reported_then_repaired, .timeout = 120)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --only 1-2 -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/r/records.jsonl", dir);
    FILE *fp = fopen(path, "a");
    fputs("{\"spec\":\"tiny\",\"key\":\"model=", fp); /* what a kill in the middle of a write would leave */
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "records.jsonl:3:") && strstr(out, "torn write") && strstr(out, "--repair"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s report %s/r -o %s/rep", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "report must not drop the corrupt line silently");
    cr_expect(strstr(out, "records.jsonl:3:"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --repair --only 1-4 -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    json_t *m = metrics_by_hash(path);
    cr_assert_eq(json_object_size(m), 4);
    json_decref(m);
    snprintf(path, sizeof path, "%s/r/records.jsonl.corrupt", dir);
    cr_assert_eq(access(path, F_OK), 0, "the torn line is kept aside");
}

/* ---- reports from hand-written records ---- */

static void write_records(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *fp = fopen(path, "w");
    const char *labels[2] = {"lora \"fast\", r4", "zero-shot"};
    const double acc[2][2][3] = {{{0.8, 0.9, 0.85}, {0.6, 0.7, 0.65}}, {{0.5, 0.5, 0.5}, {0.3, 0.3, 0.3}}};
    const char *tasks[2] = {"qa, facts", "types"};
    int k = 0;
    for (int mth = 0; mth < 2; mth++)
        for (int t = 0; t < 2; t++)
            for (int s = 0; s < 3; s++, k++) {
                json_t *r = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:{s:s}}, s:i, s:{s:f}, s:{s:[[i, f], [i, f]]}}",
                                      "config_hash", (char[17]){0}, "status", "ok", "cell", "model", "m", "compression",
                                      "none", "method", "name", "lora", "label", labels[mth], "task", "name", tasks[t],
                                      "seed", s, "metrics", "acc", acc[mth][t][s], "curves", "train_loss", 1, 2.0 - s * 0.1,
                                      2, 1.0 - s * 0.1);
                char hash[17];
                snprintf(hash, sizeof hash, "%016x", k);
                json_object_set_new(r, "config_hash", json_string(hash));
                char *line = json_dumps(r, JSON_COMPACT);
                fprintf(fp, "%s\n", line);
                free(line);
                json_decref(r);
            }
    fclose(fp);
}

typedef struct {
    char fields[64][128];
    int n_fields, row;
    char rows[8][64][128];
    int n_rows;
} csv_read;

static void on_field(void *s, size_t len, void *data)
{
    csv_read *c = data;
    if (c->n_rows < 8 && c->n_fields < 64) snprintf(c->rows[c->n_rows][c->n_fields++], 128, "%.*s", (int)len, (const char *)s);
}

static void on_row(int ch, void *data)
{
    (void)ch;
    csv_read *c = data;
    c->n_rows++;
    c->n_fields = 0;
}

Test(report, tables_csv_quoting_and_png_plots, .timeout = 60)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_records(dir);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    /* CSV: read back with libcsv; names with commas and quotes survive */
    snprintf(path, sizeof path, "%s/rep/table.csv", dir);
    size_t len;
    char *text = read_all(path, &len);
    struct csv_parser p;
    csv_init(&p, CSV_STRICT);
    static csv_read c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(csv_parse(&p, text, len, on_field, on_row, &c), len);
    csv_fini(&p, on_field, on_row, &c);
    csv_free(&p);
    cr_assert_eq(c.n_rows, 3, "header + 2 rows");
    cr_assert_str_eq(c.rows[0][4], "qa, facts mean");
    cr_assert_str_eq(c.rows[1][0], "lora \"fast\", r4");
    cr_assert_str_eq(c.rows[1][3], "lora \"fast\", r4");
    cr_assert_float_eq(atof(c.rows[1][4]), 0.85, 1e-9);
    cr_assert_float_eq(atof(c.rows[1][5]), 4.303 * 0.05 / sqrt(3.0), 1e-5, "ci95 of 0.8, 0.9, 0.85");
    cr_assert_str_eq(c.rows[1][7], "1", "best in its column");
    cr_assert_str_eq(c.rows[2][7], "0");
    cr_assert_float_eq(atof(c.rows[2][12]), 0.4, 1e-9, "average of 0.5 and 0.3");
    free(text);
    /* Markdown marks the best; JSON carries the values */
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    text = read_all(path, NULL);
    cr_assert(strstr(text, "**0.8500 ± 0.1242**"), "%s", text);
    cr_assert(strstr(text, "| zero-shot | 0.5000 ± 0.0000 |"), "%s", text);
    free(text);
    /* real PNGs */
    const char *pngs[] = {"bars.png", "curve_train_loss_qa__facts.png"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/rep/%s", dir, pngs[i]);
        text = read_all(path, &len);
        cr_assert_not_null(text, "%s missing", pngs[i]);
        cr_assert(len > 1000 && memcmp(text, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", pngs[i]);
        free(text);
    }
    snprintf(path, sizeof path, "%s/rep/index.md", dir);
    text = read_all(path, NULL);
    cr_assert(strstr(text, "(bars.png)") && strstr(text, "(table.csv)") && strstr(text, "curve_train_loss_types.png"), "%s", text);
    free(text);
}

Test(report, without_gnuplot_tables_are_written_and_plots_skipped)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_records(dir);
    snprintf(cmd, sizeof cmd, "PATH=/nonexistent %s report %s -o %s/rep", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "plots skipped"), "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    cr_assert_eq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/rep/bars.png", dir);
    cr_assert_eq(access(path, F_OK), -1);
}

Test(bench_compare, flags_regressions_beyond_tolerance)
{
    char dir[256], cmd[2048], out[4096], a[600], b[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base.json", dir);
    snprintf(b, sizeof b, "%s/cur.json", dir);
    write_text(a, "{\"tokens_per_s\": 1000, \"fraction_of_sgemm\": 0.80, \"forward\": {\"mean_s\": 0.50, \"stddev_s\": 0.01}, \"facts\": {\"threads\": 2}}");
    write_text(b, "{\"tokens_per_s\": 950, \"fraction_of_sgemm\": 0.60, \"forward\": {\"mean_s\": 0.52, \"stddev_s\": 0.05}, \"facts\": {\"threads\": 4}}");
    snprintf(cmd, sizeof cmd, "%s bench-compare %s %s --tolerance 10%%", CPET_BINARY, a, b);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "fraction_of_sgemm") && strstr(out, "REGRESSED") && strstr(out, "within-run ratio"), "%s", out);
    cr_assert(!strstr(out, "tokens_per_s "), "a 5%% change is within tolerance: %s", out);
    cr_assert(strstr(out, "3 figures compared"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s bench-compare %s %s --tolerance 30%%", CPET_BINARY, a, b);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s bench-compare %s %s/missing.json", CPET_BINARY, a, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2);
    cr_assert(strstr(out, "missing.json"), "%s", out);
}
