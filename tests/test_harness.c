/* The harness: spec expansion and validation, resumable runs, records, reports, bench-compare. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <csv.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "table_format.h"
#include "model.h"
#include "lora.h"
#include "method.h"
#include "recovery.h"
#include "report.h"
#include "tensor.h"
#include "fileio.h"
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
    spec_free(&s2);
    spec_free(&s);
    json_decref(root);
}

/* A profile is a reduced budget of the same spec: kept labels, its seeds, method parameters set; the kept cells
 * of an unchanged method keep their hashes, a changed parameter makes new ones; editing a profile leaves the
 * spec's own hash alone; a name the spec lacks is one clear error. */
Test(spec, a_profile_keeps_named_rows_and_sets_parameters)
{
    const char *text =
        "{\"name\": \"p\", \"models\": [\"m\"], \"compressions\": [\"none\", \"rtn-int8\", {\"chain\": \"nf4\", \"label\": \"NF4\"}],"
        " \"methods\": [\"zero-shot\", {\"name\": \"lora\", \"label\": \"lora r8\", \"rank\": 8, \"steps\": 150, \"compressions\": [\"rtn-int8\"]},"
        "  {\"name\": \"lora\", \"label\": \"lora nf4\", \"compressions\": [\"NF4\"]}],"
        " \"tasks\": [\"a/qa.jsonl\", \"a/cls.jsonl\"], \"seeds\": [0, 1, 2],"
        " \"profiles\": {\"quick\": {\"compressions\": [\"none\", \"rtn-int8\"], \"methods\": [\"zero-shot\", \"lora r8\", \"lora nf4\"],"
        "  \"tasks\": [\"qa\"], \"seeds\": [0], \"method_params\": {\"steps\": 20}}}}";
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    cr_assert_not_null(root, "%s", jerr.text);
    spec full, quick;
    cpet_err err;
    cr_assert_eq(spec_parse(&full, root, "spec.json", &err), 0, "%s", err.msg);
    int nf, nq;
    cell *cf = spec_expand(&full, &nf);
    cr_assert_eq(nf, (3 + 1 + 1) * 2 * 3, "zero-shot on 3 compressions, each lora on its one; 2 tasks; 3 seeds");
    json_object_set_new(root, "profile", json_string("quick"));
    cr_assert_eq(spec_parse(&quick, root, "spec.json", &err), 0, "%s", err.msg);
    cell *cq = spec_expand(&quick, &nq);
    cr_assert_eq(nq, 2 + 1, "zero-shot on none and rtn-int8, lora r8 on rtn-int8; lora nf4 lost its compression; one task, one seed");
    cr_assert_eq(quick.n_methods, 2);
    cr_assert_eq(json_integer_value(json_object_get(quick.methods[1].params, "steps")), 20, "the profile sets steps");
    cr_assert_eq(json_integer_value(json_object_get(quick.methods[1].params, "rank")), 8, "the rest as the spec says");
    cr_assert_str_eq(cq[0].config_hash, cf[0].config_hash, "zero-shot, none, qa, seed 0: the same cell as in the full spec");
    for (int i = 0; i < nf; i++) cr_assert_str_neq(cq[2].config_hash, cf[i].config_hash, "20 steps is another cell");
    cr_assert_str_neq(full.hash, quick.hash);
    cells_free(cf, nf), cells_free(cq, nq);
    spec_free(&quick);
    /* per-method parameters and other models */
    json_t *q = json_object_get(json_object_get(root, "profiles"), "quick");
    json_object_set_new(q, "methods", json_pack("{s:{}, s:{s:i}}", "zero-shot", "lora r8", "rank", 2));
    json_object_set_new(q, "models", json_pack("[s]", "m-small"));
    cr_assert_eq(spec_parse(&quick, root, "spec.json", &err), 0, "%s", err.msg);
    cr_assert_eq(quick.n_methods, 2);
    cr_assert_eq(json_integer_value(json_object_get(quick.methods[1].params, "rank")), 2);
    cr_assert_eq(json_integer_value(json_object_get(quick.methods[1].params, "steps")), 20);
    cr_assert(quick.n_models == 1 && !strcmp(quick.models[0], "m-small"));
    cr_assert_eq(quick.tasks[0].limit, 0, "no task_limit: every example");
    spec_free(&quick);
    /* task_limit: every kept task scores that many examples (a new cell) */
    json_object_set_new(q, "task_limit", json_integer(40));
    cr_assert_eq(spec_parse(&quick, root, "spec.json", &err), 0, "%s", err.msg);
    cr_assert(quick.n_tasks == 1 && quick.tasks[0].limit == 40);
    spec_free(&quick);
    json_object_del(q, "task_limit");
    json_object_set_new(q, "methods", json_pack("{s:{s:i}}", "lora r8", "ranks", 2));
    cr_assert_neq(spec_parse(&quick, root, "spec.json", &err), 0);
    cr_assert(strstr(err.msg, "methods.lora r8.ranks") && strstr(err.msg, "no such parameter"), "%s", err.msg);
    spec_free(&quick);
    /* editing the profile leaves the full spec's hash as it was */
    json_object_del(root, "profile");
    json_object_set_new(json_object_get(json_object_get(root, "profiles"), "quick"), "seeds", json_pack("[i]", 1));
    spec again;
    cr_assert_eq(spec_parse(&again, root, "spec.json", &err), 0, "%s", err.msg);
    cr_assert_str_eq(again.hash, full.hash);
    spec_free(&again), spec_free(&full);
    /* bad profiles: one line naming the path */
    const char *bad[][2] = {{"\"profile\": \"slow\"", "profile 'slow'"},
                            {"\"profile\": \"quick\", \"profiles\": {\"quick\": {\"methods\": [\"lora r4\"]}}", "profiles.quick.methods[0]"},
                            {"\"profile\": \"quick\", \"profiles\": {\"quick\": {\"method_params\": {\"steps\": \"many\"}}}", "method_params.steps"},
                            {"\"profile\": \"quick\", \"profiles\": {\"quick\": {\"epochs\": 3}}", "profiles.quick.epochs"},
                            {"\"profile\": \"quick\", \"profiles\": {\"quick\": {\"task_limit\": 0}}", "profiles.quick.task_limit"},
                            {"\"profile\": \"quick\", \"profiles\": {\"quick\": {\"heldout_limit\": \"some\"}}", "profiles.quick.heldout_limit"}};
    for (int k = 0; k < 6; k++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "{\"models\": [\"m\"], \"methods\": [\"zero-shot\", {\"name\": \"lora\", \"label\": \"lora r8\"}], "
                                  "\"tasks\": [\"t.jsonl\"], %s}", bad[k][0]);
        json_t *b = json_loads(buf, 0, &jerr);
        cr_assert_not_null(b, "%s: %s", buf, jerr.text);
        spec x;
        cr_assert_neq(spec_parse(&x, b, "spec.json", &err), 0, "%s", buf);
        cr_assert(strstr(err.msg, "spec.json") && strstr(err.msg, bad[k][1]), "%s", err.msg);
        spec_free(&x);
        json_decref(b);
    }
    json_decref(root);
}

/* The main job's specs: every study spec has a quick profile that parses, every study the Makefile's `studies`
 * target runs has a spec, and every spec belongs to one of them (its name, or the part before its first '-'). */
Test(spec, the_quick_profile_of_every_study_spec_parses_and_names_its_study)
{
    char path[1200], line[4096] = "";
    snprintf(path, sizeof path, "%s/Makefile.reports", CPET_SOURCE_DIR);
    FILE *mk = fopen(path, "r");
    cr_assert_not_null(mk, "%s", path);
    while (fgets(line, sizeof line, mk) && strncmp(line, "studies:", 8)) {}
    fclose(mk);
    cr_assert(!strncmp(line, "studies:", 8), "Makefile.reports has no studies target");
    char *studies[16];
    int n_studies = 0, covered[16] = {0};
    for (char *t = strtok(line + 8, " \t\n"); t && n_studies < 16; t = strtok(NULL, " \t\n")) studies[n_studies++] = t;
    cr_assert_geq(n_studies, 6);
    snprintf(path, sizeof path, "%s/reports/specs", CPET_SOURCE_DIR);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n_specs = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") || !strcmp(e->d_name, "smoke.json")) continue;
        char file[1400];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        spec s;
        cpet_err err;
        cr_assert_eq(spec_load_profile(&s, file, "quick", &err), 0, "%s", err.msg);
        char study[64]; /* the spec's name, or its part before a '-' (calora-mix-probe belongs to calora) */
        snprintf(study, sizeof study, "%s", s.name);
        if (strchr(study, '-')) *strchr(study, '-') = 0;
        int found = 0;
        for (int k = 0; k < n_studies; k++)
            if (!strcmp(studies[k], s.name) || !strcmp(studies[k], study)) found = 1, covered[k] = 1;
        cr_assert(found, "%s: spec '%s' belongs to no study of Makefile.reports' studies target", e->d_name, s.name);
        spec_free(&s);
        n_specs++;
    }
    closedir(d);
    cr_assert_geq(n_specs, n_studies);
    for (int k = 0; k < n_studies; k++) cr_assert(covered[k], "study %s has no spec with a quick profile", studies[k]);
}

Test(spec, a_compression_entry_may_carry_its_own_label_and_options)
{
    const char *text = "{\"models\": [\"m\"], \"methods\": [\"zero-shot\", {\"name\": \"zero-shot\", \"label\": \"only 75\","
                       " \"compressions\": [\"magnitude 75%\"]}], \"tasks\": [\"t.jsonl\"],"
                       " \"compression_options\": {\"sparsity\": 0.5, \"group\": 64},"
                       " \"compressions\": [\"magnitude\", {\"chain\": \"magnitude\", \"label\": \"magnitude 75%\", \"sparsity\": 0.75},"
                       " {\"chain\": \"rtn-int4\", \"lm_head\": true}]}";
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    spec s;
    cpet_err err;
    cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0, "%s", err.msg);
    int n;
    cell *c = spec_expand(&s, &n);
    cr_assert_eq(n, 4, "3 compressions x zero-shot, and the restricted row on one");
    cr_assert_str_eq(c[2].method->label, "only 75");
    cr_assert_str_eq(c[2].compression, "magnitude 75%", "a row that names its compressions runs on those alone");
    cr_assert_eq(c[3].index, 4, "indices stay dense");
    cr_assert_str_eq(c[0].compression, "magnitude");
    cr_assert_float_eq(c[0].comp->sparsity, 0.5, 1e-12, "a plain chain takes the shared options");
    cr_assert_str_eq(c[1].compression, "magnitude 75%", "the label is the row");
    cr_assert_str_eq(c[1].comp->chain, "magnitude");
    cr_assert_float_eq(c[1].comp->sparsity, 0.75, 1e-12, "the entry's own sparsity wins");
    cr_assert_eq(c[1].comp->group, 64, "what the entry does not set is shared");
    cr_assert_str_eq(c[3].compression, "rtn-int4", "without a label the chain names the row");
    cr_assert(c[3].comp->lm_head && !c[0].comp->lm_head);
    json_t *o1 = json_object_get(c[1].config, "compression_options");
    cr_assert_float_eq(json_number_value(json_object_get(o1, "sparsity")), 0.75, 1e-12, "the cell's config (and hash) has it");
    cr_assert_str_eq(json_string_value(json_object_get(o1, "chain")), "magnitude");
    cr_assert_null(json_object_get(json_object_get(c[0].config, "compression_options"), "chain"),
                   "a plain chain's config is what it always was (its records stay current)");
    cr_assert_str_neq(c[0].config_hash, c[1].config_hash);
    cells_free(c, n);
    spec_free(&s);
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
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [{\"chain\": \"rtn-int4\", \"bits\": 4}]}",
                      "compressions[0].bits: unknown key");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [\"magnitude\", {\"chain\": \"nm-2:4\", \"label\": \"magnitude\"}]}",
                      "compressions[1]: label 'magnitude' is used twice");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"compressions\": [\"nf4\"]}], \"tasks\": [\"t.jsonl\"]}",
                      "methods[0].compressions[0]: no compression is labelled 'nf4'");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [\"int5\"]}",
                      "compressions[0]: unknown compression method 'int5'");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"lora\"], ", "malformed JSON");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [\"q8_0\"],"
                      " \"compression_options\": {\"lm_head\": 1}}",
                      "compression_options.lm_head: expected true or false");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"], \"compression_options\": {\"group\": 0}}",
                      "compression_options.group: expected a positive integer (or -1: per output channel)");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"], \"compressions\": [{\"chain\": \"qat-q8_0\","
                      " \"train\": {\"steps\": -1}}]}",
                      "compressions[0].train.steps: expected an integer in [0, 16777216]");
    expect_spec_error("{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"], \"compression_options\": {\"train\": {\"epochs\": 2}}}",
                      "compression_options.train.epochs: unknown key");
}

Test(stats, ci_half_width_known_example)
{
    double x[4] = {1, 2, 3, 4}, mean, hw;
    mean_ci95(x, 4, &mean, &hw);
    cr_assert_float_eq(mean, 2.5, 1e-12);
    /* s = sqrt(5/3) = 1.2910; t(0.975, 3) = 3.182446; 3.182446 * 1.2910 / 2 = 2.0542 */
    cr_assert_float_eq(hw, 3.182446 * sqrt(5.0 / 3.0) / 2.0, 1e-5);
    cr_assert_float_eq(hw, 2.054, 1e-3);
    double one = 0.7;
    mean_ci95(&one, 1, &mean, &hw);
    cr_assert(mean == 0.7 && hw == 0.0);
    cr_assert_float_eq(student_t975(10), 2.228139, 1e-6);
    cr_assert_float_eq(student_t975(3), 3.182446, 1e-6);
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

/* A cell that fails on purpose (its model is missing): the run records it as failed, names the file, goes
 * on and exits nonzero; a plain rerun skips it even once the model exists; --retry-failed runs it again and
 * the new ok record follows the failed one; a merge keeps the ok record of each cell, though a failed one
 * comes later, and of two ok records the later. */
Test(run, a_failed_cell_is_recorded_skipped_retried_and_merged_by_the_survivor_rules, .timeout = 120)
{
    char dir[256], cmd[4096], out[8192], path[600], st[8][600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(path, sizeof path, "%s/fail.json", dir);
    char spec_text[2048];
    snprintf(spec_text, sizeof spec_text,
             "{\"name\": \"fail\", \"models\": [\"%s/model\", \"%s/late\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"%s/tasks.jsonl\"], "
             "\"seeds\": [0], \"threads\": 1}",
             dir, dir, dir);
    write_text(path, spec_text);
    snprintf(cmd, sizeof cmd, "%s run %s/fail.json -o %s/r 2>&1", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "a failed cell makes the run's exit status nonzero: %s", out);
    cr_assert(strstr(out, "cell 2 failed: ") && strstr(out, "/late/config.json: missing file") && strstr(out, "(1 failed)"), "%s", out);
    snprintf(path, sizeof path, "%s/r/records.jsonl", dir);
    cr_assert_eq(record_statuses(path, st, 8), 2);
    cr_assert_str_eq(st[0], "ok");
    cr_assert(!strncmp(st[1], "failed: ", 8) && strstr(st[1], "/late/config.json: missing file"), "%s", st[1]);
    /* the model appears; a plain rerun still skips the failed cell */
    snprintf(cmd, sizeof cmd, "cp -r %s/model %s/late && %s run %s/fail.json -o %s/r 2>&1", dir, dir, CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "2 already recorded"), "%s", out);
    cr_assert_eq(record_statuses(path, st, 8), 2, "nothing run again");
    /* --retry-failed runs it again: the ok record is appended after the failed one */
    snprintf(cmd, sizeof cmd, "%s run %s/fail.json -o %s/r --retry-failed 2>&1", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "1 cells run") && strstr(out, "1 already recorded"), "%s", out);
    cr_assert_eq(record_statuses(path, st, 8), 3);
    cr_assert(!strncmp(st[1], "failed", 6) && !strcmp(st[2], "ok"), "%s / %s", st[1], st[2]);
    /* merge: the lines reordered so that the failed record comes last, and cell 1 recorded twice with
     * different accuracies; the survivors are cell 2's ok record and cell 1's later one */
    char *text = read_all(path, NULL), *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    l2[-1] = l3[-1] = 0;
    if (strchr(l3, '\n')) *strchr(l3, '\n') = 0;
    json_t *second = json_loads(l1, 0, NULL);
    json_object_set_new(json_object_get(second, "metrics"), "acc", json_real(0.123));
    char *l1b = json_dumps(second, JSON_COMPACT);
    json_decref(second);
    snprintf(path, sizeof path, "%s/s", dir);
    mkdir(path, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/r/spec.json %s/s/", dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/s/records.jsonl", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "%s\n%s\n%s\n%s\n", l1, l3, l1b, l2);
    fclose(fp);
    free(text), free(l1b);
    snprintf(cmd, sizeof cmd, "%s merge %s/s -o %s/m 2>&1", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/m/records.jsonl", dir);
    cr_assert_eq(record_statuses(path, st, 8), 2, "one record per cell");
    cr_assert(!strcmp(st[0], "ok") && !strcmp(st[1], "ok"), "%s / %s", st[0], st[1]);
    text = read_all(path, NULL);
    cr_assert(strstr(text, "\"acc\":0.123") || strstr(text, "\"acc\": 0.123"), "cell 1's later record survives: %s", text);
    free(text);
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

/* Writes dir/spec.json and one ok record per cell of it, with the cell's real config hash; value(cell)
 * gives its acc. Returns the number of cells. */
typedef double (*cell_value_fn)(const cell *c);

static int write_spec_and_records(const char *dir, const char *spec_text, cell_value_fn value, const char *records_name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/spec.json", dir);
    write_text(path, spec_text);
    json_error_t jerr;
    json_t *root = json_loads(spec_text, 0, &jerr);
    cr_assert_not_null(root, "%s", jerr.text);
    spec s;
    cpet_err err;
    cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0, "%s", err.msg);
    int n;
    cell *c = spec_expand(&s, &n);
    snprintf(path, sizeof path, "%s/%s", dir, records_name);
    FILE *fp = fopen(path, "a");
    for (int k = 0; k < n; k++) {
        json_t *r = json_pack("{s:s, s:s, s:O, s:I, s:{s:f, s:i}, s:{s:[[i, f], [i, f]]}}", "config_hash", c[k].config_hash,
                              "status", "ok", "cell", c[k].config, "seed", (json_int_t)c[k].seed, "metrics", "acc",
                              value(&c[k]), "n", 10, "curves", "train_loss", 1, 2.0 - c[k].seed * 0.1, 2, 1.0 - c[k].seed * 0.1);
        char *line = json_dumps(r, JSON_COMPACT);
        fprintf(fp, "%s\n", line);
        free(line);
        json_decref(r);
    }
    fclose(fp);
    cells_free(c, n);
    spec_free(&s);
    json_decref(root);
    return n;
}

static const char *REPORT_SPEC =
    "{\"name\": \"r\", \"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"label\": \"lora \\\"fast\\\", r4\", \"rank\": 4},"
    " \"zero-shot\"], \"tasks\": [{\"name\": \"qa, facts\", \"file\": \"qa.jsonl\"}, {\"name\": \"types\", \"file\": \"t.jsonl\"}],"
    " \"seeds\": [0, 1, 2]}";

static double report_value(const cell *c)
{
    const double lora[2][3] = {{0.8, 0.9, 0.85}, {0.6, 0.7, 0.65}}, zero[2] = {0.5, 0.3};
    int task = strcmp(c->task->name, "types") == 0;
    return strcmp(c->method->info->name, "lora") == 0 ? lora[task][c->seed] : zero[task];
}

static double low_value(const cell *c) { return 0.2 + 0.01 * (double)c->seed; }

static void write_records(const char *dir) { write_spec_and_records(dir, REPORT_SPEC, report_value, "records.jsonl"); }

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
    cr_assert_float_eq(atof(c.rows[1][5]), 4.302653 * 0.05 / sqrt(3.0), 1e-6, "ci95 of 0.8, 0.9, 0.85: t(0.975, 2) = 4.302653");
    cr_assert_str_eq(c.rows[1][6], "3", "seeds");
    cr_assert_str_eq(c.rows[1][7], "1", "best in its column");
    cr_assert_str_eq(c.rows[2][7], "0");
    cr_assert_str_eq(c.rows[1][8], "10", "examples per seed");
    cr_assert_float_eq(atof(c.rows[2][14]), 0.4, 1e-9, "average of 0.5 and 0.3");
    free(text);
    /* Markdown marks the best; JSON carries the values */
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    text = read_all(path, NULL);
    cr_assert(strstr(text, "**0.8500 ± 0.1242**"), "%s", text);
    cr_assert(strstr(text, "| zero-shot | 0.5000 ± 0.0000 |"), "%s", text);
    cr_assert(strstr(text, "| n (examples × seeds) | 10 × 3 | 10 × 3 |"), "%s", text);
    cr_assert(strstr(text, "12 records used, no stale records"), "%s", text);
    free(text);
    /* real PNGs */
    const char *pngs[] = {"bars.png", "curve_train_loss_qa__facts.png"};
    cr_assert_eq(sizeof pngs / sizeof pngs[0], 2);
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

/* Which way a metric is better, by its name: times ("_s" at the end) and losses lower, rates and accuracies
 * higher, whatever else the name contains */
Test(report, the_direction_of_a_metric)
{
    cr_assert(metric_lower_is_better("perplexity") && metric_lower_is_better("wall_s") && metric_lower_is_better("forgetting"));
    cr_assert(metric_lower_is_better("train_loss") && metric_lower_is_better("tunable_params"));
    cr_assert(!metric_lower_is_better("forward_tokens_per_s") && !metric_lower_is_better("acc"));
    cr_assert(!metric_lower_is_better("oracle_selector_pooled_accuracy"), "'e_s' inside a name is not a time in seconds");
    cr_assert(!metric_lower_is_better("selector_accuracy"));
    /* settings, not outcomes: no direction, so no bars, paired plots or Pareto front */
    cr_assert(metric_is_setting("notebook_size") && metric_is_setting("edits"));
    cr_assert(!metric_is_setting("bytes") && !metric_is_setting("eq") && !metric_is_setting("size_penalty"));
}

/* A metric only one method reports (Dynamic ConPET's selector accuracy): its rows are filled, the others
 * left blank and counted, with no paired section when the baseline lacks it; a metric no record has fails. */
Test(report, a_metric_only_some_methods_report_is_blank_elsewhere, .timeout = 60)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_records(dir);
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    json_t *lines = json_array();
    FILE *fp = fopen(path, "r");
    char line[8192];
    while (fgets(line, sizeof line, fp)) {
        json_t *r = json_loads(line, 0, NULL);
        cr_assert_not_null(r);
        const char *name = json_string_value(json_object_get(json_object_get(json_object_get(r, "cell"), "method"), "name"));
        if (name && !strcmp(name, "lora"))
            json_object_set_new(json_object_get(r, "metrics"), "selector", json_real(0.5 + 0.1 * (double)json_integer_value(json_object_get(r, "seed"))));
        json_array_append_new(lines, r);
    }
    fclose(fp);
    fp = fopen(path, "w");
    for (size_t i = 0; i < json_array_size(lines); i++) {
        char *text = json_dumps(json_array_get(lines, i), JSON_COMPACT);
        fprintf(fp, "%s\n", text);
        free(text);
    }
    fclose(fp);
    json_decref(lines);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --metric acc,selector --baseline zero-shot", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/rep/table_selector.md", dir);
    char *text = read_all(path, NULL);
    cr_assert(strstr(text, "| zero-shot | – | – | – |"), "%s", text);
    cr_assert(strstr(text, "**0.6000 ± 0.2484**"), "mean of 0.5, 0.6, 0.7: %s", text);
    cr_assert(strstr(text, "6 records used, 6 without this metric (blank)"), "%s", text);
    cr_assert_null(strstr(text, "Difference to"), "the baseline has no selector values: no paired section: %s", text);
    free(text);
    snprintf(path, sizeof path, "%s/rep/paired_selector.csv", dir);
    cr_assert_neq(access(path, F_OK), 0);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep2 --metric acc,selectr", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "no record has the metric 'selectr'"), "%s", out);
}

Test(report, stale_records_of_an_earlier_config_are_ignored_not_pooled)
{
    /* what pooled 6 records into each LoRA cell of a 3-seed spec: the same labels, an earlier config */
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    char old_spec[2048];
    snprintf(old_spec, sizeof old_spec, "%s", REPORT_SPEC);
    char *rank = strstr(old_spec, "\"rank\": 4");
    cr_assert_not_null(rank);
    rank[8] = '2'; /* rank 2: an earlier configuration of the same label */
    write_spec_and_records(dir, old_spec, low_value, "records.jsonl");
    write_records(dir); /* the current spec (rank 4) and its records, appended; spec.json is the current one */
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "6 stale records ignored"), "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    char *text = read_all(path, NULL);
    cr_assert(strstr(text, "**0.8500 ± 0.1242**"), "only the current config's 3 seeds count: %s", text);
    cr_assert(strstr(text, "10 × 3"), "%s", text);
    cr_assert(strstr(text, "6 stale records ignored"), "%s", text);
    free(text);
    snprintf(path, sizeof path, "%s/rep/table.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *lora = json_object_get(json_object_get(json_array_get(json_object_get(j, "rows"), 0), "cells"), "types");
    cr_assert_eq(json_integer_value(json_object_get(lora, "n")), 3);
    cr_assert_float_eq(json_real_value(json_object_get(lora, "mean")), 0.65, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "records"), "stale")), 6);
    json_decref(j);
}

Test(report, cells_sharing_a_label_with_different_configs_are_an_error)
{
    char dir[256], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    /* two task files with one base name: both columns would be 'qa' and their cells pooled */
    write_spec_and_records(dir,
                           "{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"a/qa.jsonl\", \"b/qa.jsonl\"], \"seeds\": [0]}",
                           low_value, "records.jsonl");
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cells 1 (") && strstr(out, "and 2 (") && strstr(out, "column 'qa'") && strstr(out, "a/qa.jsonl") &&
                  strstr(out, "b/qa.jsonl"),
              "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
}

Test(report, baseline_naming_no_row_is_an_error)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_records(dir);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --baseline zero_shot", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "--baseline 'zero_shot' names no row") && strstr(out, "'zero-shot'"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
}

/* ---- paired statistics ---- */

Test(stats, paired_bootstrap_on_hand_computed_distributions)
{
    paired_ci ci;
    /* two examples, differences {0, 1}: the resampled mean is 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4,
     * so the 2.5% and 97.5% percentiles are 0 and 1 */
    double a[2] = {0, 1}, b[2] = {0, 0};
    paired_group g = {2, a, NULL, b, NULL};
    cr_assert_eq(paired_bootstrap(&g, 1, PAIRED_MEAN, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, &ci), 0);
    cr_assert_float_eq(ci.diff, 0.5, 1e-12);
    cr_assert_float_eq(ci.lo, 0.0, 1e-12);
    cr_assert_float_eq(ci.hi, 1.0, 1e-12);
    cr_assert_eq(ci.excludes_zero, 0);
    /* every pair differs by +1: the interval is the point */
    double ones[5] = {1, 1, 1, 1, 1}, zeros[5] = {0};
    g = (paired_group){5, ones, NULL, zeros, NULL};
    paired_bootstrap(&g, 1, PAIRED_MEAN, 1000, 7, &ci);
    cr_assert(ci.lo == 1.0 && ci.hi == 1.0 && ci.excludes_zero);
    /* 400 pairs: 120 differences of +1, 40 of -1, 240 of 0: mean 0.2, sd 0.6, se 0.03; the percentile
     * interval is close to the normal one, 0.2 +- 1.96 x 0.03 */
    static double x[400], y[400];
    for (int i = 0; i < 400; i++) x[i] = i < 120, y[i] = i >= 120 && i < 160;
    g = (paired_group){400, x, NULL, y, NULL};
    paired_bootstrap(&g, 1, PAIRED_MEAN, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, &ci);
    cr_assert_float_eq(ci.diff, 0.2, 1e-12);
    cr_assert_float_eq(ci.lo, 0.2 - 1.96 * 0.03, 0.006, "lo %f", ci.lo);
    cr_assert_float_eq(ci.hi, 0.2 + 1.96 * 0.03, 0.006, "hi %f", ci.hi);
    paired_ci again;
    paired_bootstrap(&g, 1, PAIRED_MEAN, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, &again);
    cr_assert(again.lo == ci.lo && again.hi == ci.hi, "a fixed bootstrap seed reproduces the interval");
    /* perplexity: exp(sum nll / sum tokens); a: (2 + 4) / (2 + 2) = 1.5, b: (1 + 1) / 4 = 0.5 */
    double na[2] = {2, 4}, da[2] = {2, 2}, nb[2] = {1, 1}, db[2] = {2, 2};
    g = (paired_group){2, na, da, nb, db};
    paired_bootstrap(&g, 1, PAIRED_EXP_RATIO, 100, 1, &ci);
    cr_assert_float_eq(ci.diff, exp(1.5) - exp(0.5), 1e-12);
    /* two seeds: the point estimate is the mean of the per-seed differences */
    paired_group two[2] = {{2, a, NULL, b, NULL}, {5, ones, NULL, zeros, NULL}};
    paired_bootstrap(two, 2, PAIRED_MEAN, 100, 1, &ci);
    cr_assert_float_eq(ci.diff, (0.5 + 1.0) / 2, 1e-12);
    cr_assert_eq(ci.n, 7);
}

Test(stats, paired_bootstrap_of_an_average_over_columns)
{
    paired_ci ci, one;
    /* column 1: 10 pairs all +1; column 2: 100 pairs all 0. The tasks weigh equally: 0.5, not the pooled
     * 10/110; every resample gives exactly that, so the interval is the point */
    static double ones[100], zeros[100];
    for (int i = 0; i < 100; i++) ones[i] = 1;
    paired_group g[2] = {{10, ones, NULL, zeros, NULL}, {100, zeros, NULL, zeros, NULL}};
    cr_assert_eq(paired_bootstrap_columns(g, 2, 1, PAIRED_MEAN, 1000, 3, &ci), 0);
    cr_assert_float_eq(ci.diff, 0.5, 1e-12);
    cr_assert(ci.lo == 0.5 && ci.hi == 0.5 && ci.excludes_zero);
    cr_assert_eq(ci.n, 110);
    /* one column is paired_bootstrap, draw for draw */
    double a[2] = {0, 1}, b[2] = {0, 0};
    paired_group seeds[2] = {{2, a, NULL, b, NULL}, {10, ones, NULL, zeros, NULL}};
    paired_bootstrap(seeds, 2, PAIRED_MEAN, 2000, 11, &one);
    paired_bootstrap_columns(seeds, 1, 2, PAIRED_MEAN, 2000, 11, &ci);
    cr_assert(ci.diff == one.diff && ci.lo == one.lo && ci.hi == one.hi);
    /* two equal columns of 400 pairs (mean 0.2, sd 0.6 each, independent resampling): the average's se is
     * 0.03 / sqrt(2), so its interval is that much narrower than one column's */
    static double x[400], y[400];
    for (int i = 0; i < 400; i++) x[i] = i < 120, y[i] = i >= 120 && i < 160;
    paired_group two[2] = {{400, x, NULL, y, NULL}, {400, x, NULL, y, NULL}};
    paired_bootstrap_columns(two, 2, 1, PAIRED_MEAN, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, &ci);
    cr_assert_float_eq(ci.diff, 0.2, 1e-12);
    cr_assert_float_eq(ci.hi - ci.lo, 2 * 1.96 * 0.03 / sqrt(2.0), 0.006, "width %f", ci.hi - ci.lo);
}

/* p = {0.01, 0.04, 0.03, 0.005, NaN}: sorted 0.005, 0.01, 0.03, 0.04 over m = 4 tests; times 4, 3, 2, 1:
 * 0.02, 0.03, 0.06, 0.04; the running maximum 0.02, 0.03, 0.06, 0.06; back in input order. */
Test(stats, holm_adjustment_hand_computed)
{
    const double p[5] = {0.01, 0.04, 0.03, 0.005, NAN}, want[4] = {0.03, 0.06, 0.06, 0.02};
    double adj[5];
    holm_adjust(p, 5, adj);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(adj[i], want[i], 1e-12, "p[%d]", i);
    cr_assert(isnan(adj[4]), "a NaN is not a test");
    const double big[2] = {0.6, 0.7};
    holm_adjust(big, 2, adj);
    cr_assert_float_eq(adj[0], 1.0, 1e-12, "capped at 1");
    cr_assert_float_eq(adj[1], 1.0, 1e-12, "never below the one before");
}

Test(stats, mcnemar_exact_p_hand_computed)
{
    /* b = 1, c = 7: 2 P(X <= 1), X ~ Bin(8, 1/2) = 2 (1 + 8) / 256 */
    cr_assert_float_eq(mcnemar_exact_p(1, 7), 18.0 / 256.0, 1e-12);
    cr_assert_float_eq(mcnemar_exact_p(7, 1), 18.0 / 256.0, 1e-12);
    cr_assert_float_eq(mcnemar_exact_p(0, 10), 2.0 / 1024.0, 1e-12);
    cr_assert_float_eq(mcnemar_exact_p(7, 0), 2.0 / 128.0, 1e-12);
    cr_assert_float_eq(mcnemar_exact_p(3, 3), 1.0, 1e-12, "2 x 42/64 > 1 is capped");
    cr_assert_float_eq(mcnemar_exact_p(0, 0), 1.0, 1e-12);
}

/* A run directory with per-example outputs for every cell of spec_text: examples ex0..ex9, right(cell, i)
 * saying which are correct, written in reverse order for every other cell (pairing is by id, not line). */
typedef int (*example_right_fn)(const cell *c, int i);

static void write_example_run(const char *dir, const char *spec_text, example_right_fn right)
{
    char path[600];
    snprintf(path, sizeof path, "%s/spec.json", dir);
    write_text(path, spec_text);
    json_t *root = json_loads(spec_text, 0, NULL);
    spec s;
    cpet_err err;
    cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0, "%s", err.msg);
    int n;
    cell *c = spec_expand(&s, &n);
    snprintf(path, sizeof path, "%s/examples", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *rec = fopen(path, "w");
    for (int k = 0; k < n; k++) {
        char ex[600];
        snprintf(ex, sizeof ex, "%s/examples/%s.jsonl", dir, c[k].config_hash);
        FILE *fp = fopen(ex, "w");
        int correct = 0;
        for (int j = 0; j < 10; j++) {
            const int i = k % 2 ? 9 - j : j, ok = right(&c[k], i);
            fprintf(fp, "{\"id\": \"ex%d\", \"prediction\": 0, \"correct\": %s, \"scores\": [-1.0, -2.0]}\n", i, ok ? "true" : "false");
            correct += ok;
        }
        fclose(fp);
        json_t *r = json_pack("{s:s, s:s, s:O, s:I, s:{s:f, s:i}, s:s++}", "config_hash", c[k].config_hash, "status", "ok", "cell",
                              c[k].config, "seed", (json_int_t)c[k].seed, "metrics", "acc", correct / 10.0, "n", 10, "examples", "examples/",
                              c[k].config_hash, ".jsonl");
        char *line = json_dumps(r, JSON_COMPACT);
        fprintf(rec, "%s\n", line);
        free(line);
        json_decref(r);
    }
    fclose(rec);
    cells_free(c, n);
    spec_free(&s);
    json_decref(root);
}

static int is_base(const cell *c) { return !strcmp(c->method->label, "base"); }

/* a report's table.json: row's comparison with the baseline in column col */
static json_t *vs_baseline(json_t *table, int row, const char *col)
{
    return json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(table, "rows"), (size_t)row), "cells"), col),
                           "vs_baseline");
}

static int right_first_2_or_9(const cell *c, int i) { return i < (is_base(c) ? 2 : 9); }

static int right_by_seed(const cell *c, int i)
{
    static const int right[2][2][10] = {{{1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0}},  /* seed 0: base, tuned */
                                        {{1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {1, 1, 1, 1, 0, 0, 1, 1, 1, 0}}}; /* seed 1 */
    return right[c->seed][!is_base(c)][i];
}

/* A baseline correct on examples 0-1 of 10, a tuned row on 0-8: 7 pairs only the row gets right, none the
 * other way. Difference +70 points, McNemar p = 2/128. The tuned row's long label gets the plots' left margin. */
Test(report, paired_difference_and_mcnemar_against_the_baseline)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_example_run(dir,
                      "{\"models\": [\"m\"], \"methods\": [{\"name\": \"zero-shot\", \"label\": \"base\"}, {\"name\": \"lora\", "
                      "\"label\": \"tuned (K-means memory, 5 per class)\"}], \"tasks\": [{\"name\": \"t\", \"file\": \"t.jsonl\"}], \"seeds\": [0]}",
                      right_first_2_or_9);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --baseline base", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    char *text = read_all(path, NULL);
    cr_assert(strstr(text, "| tuned (K-means memory, 5 per class) | +70.00† [") && strstr(text, "p=0.016 |"), "%s", text);
    cr_assert(strstr(text, "| n (examples × seeds) | 10 × 1 |"), "%s", text);
    free(text);
    snprintf(path, sizeof path, "%s/rep/table.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *vs = vs_baseline(j, 1, "t");
    cr_assert_float_eq(json_real_value(json_object_get(vs, "diff")), 0.7, 1e-12);
    cr_assert_float_eq(json_real_value(json_object_get(vs, "mcnemar_p")), 2.0 / 128.0, 1e-12);
    cr_assert_gt(json_real_value(json_object_get(vs, "ci_lo")), 0.3);
    cr_assert_leq(json_real_value(json_object_get(vs, "ci_hi")), 1.0);
    cr_assert(json_is_true(json_object_get(vs, "excludes_zero")));
    json_decref(j);
    const char *pngs[] = {"bars.png", "paired.png"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        snprintf(path, sizeof path, "%s/rep/%s", dir, pngs[i]);
        text = read_all(path, &len);
        cr_assert(text && len > 1000 && memcmp(text, "\x89PNG\r\n\x1a\n", 8) == 0, "%s", pngs[i]);
        free(text);
        /* 35 characters at font 9: 0.85 x 35 rounded up, plus 2 */
        snprintf(path, sizeof path, "%s/rep/%.*s.gp", dir, (int)strlen(pngs[i]) - 4, pngs[i]);
        text = read_all(path, NULL);
        cr_assert(text && strstr(text, "set lmargin 32\n"), "%s", text ? text : pngs[i]);
        free(text);
    }
}

/* Two seeds on the same 10 examples. Seed 0: the baseline right on 0-1, the row on 0-8; seed 1: the baseline
 * on 0-5, the row on 0-3 and 6-8. Summed over the seeds, the row's net wins per example are +1 on 2 and 3,
 * +2 on 6, 7 and 8, and 0 elsewhere (4 and 5: a win and a loss): b = 5, c = 0, p = 2 / 2^5 = 0.0625. Pooling
 * the pairs of both seeds as if independent would give b = 10, c = 2, p = 2 (1 + 12 + 66) / 2^12 = 0.0386. */
Test(report, mcnemar_counts_each_example_once_across_seeds)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_example_run(dir,
                      "{\"models\": [\"m\"], \"methods\": [{\"name\": \"zero-shot\", \"label\": \"base\"}, {\"name\": \"lora\", "
                      "\"label\": \"tuned\"}], \"tasks\": [{\"name\": \"t\", \"file\": \"t.jsonl\"}], \"seeds\": [0, 1]}",
                      right_by_seed);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --baseline base --no-plots", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *vs = vs_baseline(j, 1, "t");
    cr_assert_float_eq(json_real_value(json_object_get(vs, "diff")), 0.4, 1e-12, "(9 + 7) / 20 - (2 + 6) / 20");
    cr_assert_float_eq(json_real_value(json_object_get(vs, "mcnemar_p")), 2.0 / 32.0, 1e-12, "b = 5, c = 0");
    json_decref(j);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    char *text = read_all(path, NULL);
    cr_assert(strstr(text, "each example counted once"), "%s", text);
    free(text);
}

static int right_first_2_9_or_4(const cell *c, int i)
{
    return i < (is_base(c) ? 2 : !strcmp(c->method->label, "tuned A") ? 9 : 4);
}

/* Two rows against one baseline on one task, seed 0: row A wins 7 pairs (b = 7, c = 0: p = 2/128 = 0.015625),
 * row B wins 2 (p = 2/4 = 0.5). Holm over the m = 2 tests: the smaller p doubled (0.03125), the larger
 * times one, kept at least as large as the one before it (0.5). */
Test(report, mcnemar_p_adjusted_by_holm_over_the_table)
{
    char dir[256], cmd[2048], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    write_example_run(dir,
                      "{\"models\": [\"m\"], \"methods\": [{\"name\": \"zero-shot\", \"label\": \"base\"}, {\"name\": \"lora\", "
                      "\"label\": \"tuned A\"}, {\"name\": \"lora\", \"label\": \"tuned B\", \"rank\": 4}], \"tasks\": [{\"name\": \"t\", "
                      "\"file\": \"t.jsonl\"}], \"seeds\": [0]}",
                      right_first_2_9_or_4);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --baseline base --no-plots", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/rep/table.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    const double want_p[3] = {0, 2.0 / 128.0, 0.5}, want_holm[3] = {0, 2.0 / 64.0, 0.5};
    for (int row = 1; row <= 2; row++) {
        json_t *vs = vs_baseline(j, row, "t");
        cr_assert_float_eq(json_real_value(json_object_get(vs, "mcnemar_p")), want_p[row], 1e-12, "row %d", row);
        cr_assert_float_eq(json_real_value(json_object_get(vs, "mcnemar_p_holm")), want_holm[row], 1e-12, "row %d", row);
    }
    json_decref(j);
    snprintf(path, sizeof path, "%s/rep/table.md", dir);
    char *text = read_all(path, NULL);
    cr_assert(strstr(text, "| tuned A | +70.00† [") && strstr(text, "p=0.016 (0.031) |"), "%s", text);
    cr_assert(strstr(text, "p=0.500 (0.500) |") && strstr(text, "Holm over the table's 2 tests"), "%s", text);
    free(text);
    snprintf(path, sizeof path, "%s/rep/paired.csv", dir);
    text = read_all(path, NULL);
    cr_assert(text && strstr(text, "\"mcnemar_p\",\"mcnemar_p_holm\"") && strstr(text, "\"0.015625\",\"0.03125\""), "%s", text ? text : path);
    free(text);
}

/* ---- shards and merges ---- */

Test(shard, partition_is_stable_and_complete)
{
    json_t *root = json_loads(GOOD_SPEC, 0, NULL);
    spec s;
    cpet_err err;
    cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0);
    int n;
    cell *c = spec_expand(&s, &n);
    for (int N = 1; N <= 7; N++) {
        int count[8] = {0};
        for (int k = 0; k < n; k++) {
            int sh = cell_shard(&c[k], N);
            cr_assert(sh >= 1 && sh <= N);
            count[sh]++;
        }
        int total = 0;
        for (int i = 1; i <= N; i++) total += count[i];
        cr_assert_eq(total, n);
        if (N == 2) cr_assert(count[1] > 0 && count[2] > 0, "both halves get cells (%d, %d)", count[1], count[2]);
    }
    /* a cell keeps its shard when the spec grows: the shard is a function of the cell's own hash */
    json_t *grown = json_deep_copy(root);
    json_array_append_new(json_object_get(grown, "seeds"), json_integer(3));
    spec s2;
    cr_assert_eq(spec_parse(&s2, grown, "spec.json", &err), 0);
    int n2;
    cell *c2 = spec_expand(&s2, &n2);
    cr_assert_eq(n2, n / 3 * 4);
    for (int k = 0; k < n; k++)
        for (int q = 0; q < n2; q++)
            if (!strcmp(c[k].config_hash, c2[q].config_hash)) cr_assert_eq(cell_shard(&c[k], 5), cell_shard(&c2[q], 5));
    cr_assert_str_neq(s.hash, s2.hash, "the spec hash changes with the spec");
    cells_free(c, n);
    cells_free(c2, n2);
    spec_free(&s2);
    spec_free(&s);
    json_decref(root);
    json_decref(grown);
}

/* Hashes alike in their low bits (here: all even, as FNV-1a gives for texts of one byte parity) still
 * spread over the shards: at least a third of them on each of two, and every one of 4 shards used. */
Test(shard, hashes_alike_in_their_low_bits_spread_over_the_shards)
{
    cell c = {0};
    int count2[3] = {0}, count4[5] = {0};
    for (int k = 0; k < 64; k++) {
        snprintf(c.config_hash, sizeof c.config_hash, "%016llx", 0x1c0514aa85294400ull + 16ull * (unsigned long long)k);
        count2[cell_shard(&c, 2)]++;
        count4[cell_shard(&c, 4)]++;
    }
    cr_assert(count2[1] >= 21 && count2[2] >= 21, "two shards: %d and %d of 64", count2[1], count2[2]);
    for (int i = 1; i <= 4; i++) cr_assert(count4[i] > 0, "shard %d of 4 is empty", i);
}

Test(shard, bad_shard_arguments_are_one_line_errors)
{
    char dir[256], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    const char *bad[] = {"3/2", "0/0", "0/2", "2", "a/b", "1/0"};
    for (int i = 0; i < 6; i++) {
        snprintf(cmd, sizeof cmd, "%s run %s/spec.json --shard %s -o %s/r", CPET_BINARY, dir, bad[i], dir);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "--shard %s", bad[i]);
        cr_assert(strstr(out, "--shard") && strstr(out, bad[i]), "%s", out);
        cr_assert_eq(count_lines(out), 1, "%s", out);
    }
}

Test(shard, two_shards_merged_equal_the_unsharded_run, .timeout = 300)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json -o %s/straight && %s run %s/spec.json --shard 1/2 -o %s/s1 && "
                              "%s run %s/spec.json --shard 2/2 -o %s/s2",
             CPET_BINARY, dir, dir, CPET_BINARY, dir, dir, CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/s1/records.shard-1-of-2.jsonl", dir);
    json_t *m1 = metrics_by_hash(path);
    snprintf(path, sizeof path, "%s/s2/records.shard-2-of-2.jsonl", dir);
    json_t *m2 = metrics_by_hash(path);
    cr_assert(json_object_size(m1) > 0 && json_object_size(m2) > 0);
    cr_assert_eq(json_object_size(m1) + json_object_size(m2), 12, "the shards partition the 12 cells");
    snprintf(cmd, sizeof cmd, "%s merge %s/s1 %s/s2 -o %s/merged", CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "12 of 12 cells") && strstr(out, "0 conflicts"), "%s", out);
    snprintf(path, sizeof path, "%s/straight/records.jsonl", dir);
    json_t *a = metrics_by_hash(path);
    snprintf(path, sizeof path, "%s/merged/records.jsonl", dir);
    json_t *b = metrics_by_hash(path);
    cr_assert(json_equal(a, b), "merged shards differ from the unsharded run");
    /* the reports agree, and every per-example file came along */
    snprintf(cmd, sizeof cmd, "%s report %s/straight -o %s/ra --baseline zero-shot && %s report %s/merged -o %s/rb --baseline zero-shot",
             CPET_BINARY, dir, dir, CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    const char *files[] = {"table.md", "table.csv", "table.json", "paired.csv"};
    for (int i = 0; i < 4; i++) {
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/ra/%s", dir, files[i]);
        snprintf(pb, sizeof pb, "%s/rb/%s", dir, files[i]);
        char *ta = read_all(pa, NULL), *tb = read_all(pb, NULL);
        cr_assert(ta && tb && strcmp(ta, tb) == 0, "%s differs:\n%s\n---\n%s", files[i], ta, tb);
        free(ta);
        free(tb);
    }
    /* merging again (the merged run with a shard) deduplicates */
    snprintf(cmd, sizeof cmd, "%s merge %s/merged %s/s1 -o %s/merged", CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "12 of 12 cells") && strstr(out, "duplicates, 0 conflicts"), "%s", out);
    json_decref(m1);
    json_decref(m2);
    json_decref(a);
    json_decref(b);
}

/* --jobs: cells run several at once from a work queue; the records (metrics, every cell once) are the
 * sequential run's, each says how many cells shared the machine, and a bad count is a one-line error. */
Test(run, jobs_run_cells_at_once_and_record_what_a_sequential_run_does, .timeout = 300)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json -o %s/straight && %s run %s/spec.json --jobs 3 -o %s/jobs", CPET_BINARY, dir, dir, CPET_BINARY,
             dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "12 cells run (0 failed)"), "%s", out);
    snprintf(path, sizeof path, "%s/straight/records.jsonl", dir);
    json_t *a = metrics_by_hash(path);
    snprintf(path, sizeof path, "%s/jobs/records.jsonl", dir);
    json_t *b = metrics_by_hash(path); /* fails on a cell recorded twice */
    cr_assert_eq(json_object_size(b), 12);
    cr_assert(json_equal(a, b), "--jobs 3 records differ from the sequential run's");
    char *text = read_all(path, NULL);
    int with_jobs = 0;
    for (const char *p = text; (p = strstr(p, "\"jobs\":3")); p++) with_jobs++;
    cr_assert_eq(with_jobs, 12, "every record says 3 cells shared the machine");
    free(text);
    /* started again: nothing left to run */
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --jobs 2 -o %s/jobs", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "0 cells run (0 failed), 12 already recorded"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --jobs 0 -o %s/bad", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "--jobs"), "%s", out);
    json_decref(a), json_decref(b);
}

Test(shard, a_shard_never_rewrites_another_shards_torn_file, .timeout = 120)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --shard 1/2 -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/r/records.shard-1-of-2.jsonl", dir);
    FILE *fp = fopen(path, "a");
    fputs("{\"spec\":\"tiny\",\"key\":\"mod", fp); /* shard 1 killed (or still writing) mid-line */
    fclose(fp);
    size_t before;
    char *text = read_all(path, &before);
    free(text);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --shard 2/2 --repair -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "shard 2 starts despite shard 1's torn line: %s", out);
    size_t after;
    text = read_all(path, &after);
    cr_assert_eq(after, before, "shard 1's file is left as it was");
    cr_assert(strstr(text, "\"key\":\"mod"));
    free(text);
}

Test(shard, merge_refuses_runs_of_different_specs_and_reports_conflicts)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/b", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/a", dir);
    write_spec_and_records(path, REPORT_SPEC, report_value, "records.jsonl");
    snprintf(path, sizeof path, "%s/b", dir);
    write_spec_and_records(path, "{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"]}", low_value, "records.jsonl");
    snprintf(cmd, sizeof cmd, "%s merge %s/a %s/b -o %s/m", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "different specs") && strstr(out, "/a (spec hash ") && strstr(out, "/b (spec hash "), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    snprintf(path, sizeof path, "%s/m/records.jsonl", dir);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    /* the same spec twice with different results for every cell: merged, each conflict reported */
    snprintf(path, sizeof path, "%s/c", dir);
    mkdir(path, 0755);
    write_spec_and_records(path, REPORT_SPEC, low_value, "records.jsonl");
    snprintf(cmd, sizeof cmd, "%s merge %s/a %s/c -o %s/m", CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "12 duplicates, 12 conflicts") && strstr(out, "conflict: cell 1 "), "%s", out);
    /* of two ok records of a cell, the later run's survives: every merged value is c's (low_value) */
    snprintf(path, sizeof path, "%s/m/records.jsonl", dir);
    {
        FILE *fp = fopen(path, "r");
        cr_assert_not_null(fp);
        char line[8192];
        int lines = 0;
        while (fgets(line, sizeof line, fp)) {
            json_t *r = json_loads(line, 0, NULL);
            const double acc = json_real_value(json_object_get(json_object_get(r, "metrics"), "acc"));
            const long long seed = json_integer_value(json_object_get(r, "seed"));
            cr_assert_float_eq(acc, 0.2 + 0.01 * (double)seed, 1e-12, "the later run's value survives: %s", line);
            json_decref(r);
            lines++;
        }
        fclose(fp);
        cr_assert_eq(lines, 12);
    }
    /* records of another spec in a run survive a merge in place (reports ignore them) */
    snprintf(path, sizeof path, "%s/a", dir);
    write_spec_and_records(path, "{\"models\": [\"m\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"t.jsonl\"]}", low_value, "records.jsonl");
    write_spec_and_records(path, REPORT_SPEC, report_value, "records.jsonl"); /* spec.json back to REPORT_SPEC */
    snprintf(cmd, sizeof cmd, "%s merge %s/a -o %s/a", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "1 stale records kept"), "%s", out);
    snprintf(path, sizeof path, "%s/a/records.jsonl", dir);
    char *text = read_all(path, NULL);
    cr_assert_eq(count_lines(text), 13, "12 cells + 1 stale record");
    free(text);
}

Test(run, per_example_outputs_agree_with_the_metrics, .timeout = 120)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s run %s/spec.json --only 1,7 -o %s/r", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/r/records.jsonl", dir);
    FILE *fp = fopen(path, "r");
    char line[1 << 16];
    int records = 0;
    while (fgets(line, sizeof line, fp)) {
        json_t *r = json_loads(line, 0, NULL);
        const char *rel = json_string_value(json_object_get(r, "examples"));
        cr_assert_not_null(rel, "the record points to its per-example file");
        char ex[700];
        snprintf(ex, sizeof ex, "%s/r/%s", dir, rel);
        cr_assert(strstr(rel, json_string_value(json_object_get(r, "config_hash"))), "named by the cell hash: %s", rel);
        FILE *ef = fopen(ex, "r");
        cr_assert_not_null(ef, "%s", ex);
        char el[4096];
        int n = 0, correct = 0;
        while (fgets(el, sizeof el, ef)) {
            json_t *e = json_loads(el, 0, NULL);
            cr_assert(json_is_string(json_object_get(e, "id")) && json_is_integer(json_object_get(e, "prediction")) &&
                      json_is_boolean(json_object_get(e, "correct")) && json_array_size(json_object_get(e, "scores")) == 3, "%s", el);
            /* the prediction is the argmax of the scores, and correct means it is the label */
            json_t *sc = json_object_get(e, "scores");
            int best = 0;
            for (int k = 1; k < 3; k++)
                if (json_real_value(json_array_get(sc, k)) > json_real_value(json_array_get(sc, best))) best = k;
            cr_assert_eq(best, json_integer_value(json_object_get(e, "prediction")));
            cr_assert_eq(json_is_true(json_object_get(e, "correct")),
                         json_integer_value(json_object_get(e, "prediction")) == json_integer_value(json_object_get(e, "label")));
            correct += json_is_true(json_object_get(e, "correct"));
            n++;
            json_decref(e);
        }
        fclose(ef);
        json_t *metrics = json_object_get(r, "metrics");
        cr_assert_eq(n, json_integer_value(json_object_get(metrics, "n")));
        cr_assert_float_eq((double)correct / n, json_real_value(json_object_get(metrics, "acc")), 1e-12);
        records++;
        json_decref(r);
    }
    fclose(fp);
    cr_assert_eq(records, 2);
}

/* A profile's heldout_limit: the held-out text keeps that many documents, evenly spaced; each is scored as in
 * the full run (the same NLL at the same document), the cell is a new one, and the table says so. */
Test(run, a_profiles_heldout_limit_scores_evenly_spaced_documents, .timeout = 120)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(path, sizeof path, "%s/held.txt", dir);
    write_text(path, "alpha red\nbeta blue\ngreen alpha\nred red\nblue beta\nalpha\nbeta green red\ngreen\nred blue\nalpha beta\n");
    snprintf(path, sizeof path, "%s/spec.json", dir);
    char spec_text[2048];
    snprintf(spec_text, sizeof spec_text,
             "{\"name\": \"tiny\", \"models\": [\"%s/model\"], \"methods\": [\"zero-shot\"], \"tasks\": [\"%s/tasks.jsonl\"], "
             "\"heldout\": \"%s/held.txt\", \"seeds\": [0], \"threads\": 1, \"profiles\": {\"quick\": {\"heldout_limit\": 4}}}", dir, dir, dir);
    write_text(path, spec_text);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/full && %s run %s --profile quick -o %s/quick && %s report %s/quick -o %s/rep --metric perplexity --no-plots",
             CPET_BINARY, path, dir, CPET_BINARY, path, dir, CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    json_t *rec[2];
    double nll[2][10], tokens[2][10];
    int n[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s/records.jsonl", dir, k ? "quick" : "full");
        json_error_t je;
        rec[k] = json_load_file(path, JSON_DISABLE_EOF_CHECK, &je);
        cr_assert_not_null(rec[k], "%s", je.text);
        snprintf(path, sizeof path, "%s/%s/%s", dir, k ? "quick" : "full", json_string_value(json_object_get(rec[k], "heldout_examples")));
        FILE *fp = fopen(path, "r");
        cr_assert_not_null(fp, "%s", path);
        char line[512];
        while (fgets(line, sizeof line, fp) && n[k] < 10) {
            json_t *d = json_loads(line, 0, NULL);
            nll[k][n[k]] = json_number_value(json_object_get(d, "nll")), tokens[k][n[k]] = json_number_value(json_object_get(d, "tokens"));
            n[k]++;
            json_decref(d);
        }
        fclose(fp);
    }
    cr_assert_eq(n[0], 10);
    cr_assert_eq(n[1], 4, "heldout_limit 4: four documents scored");
    const int at[4] = {0, 2, 5, 7};
    double sum_nll = 0, sum_tok = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(nll[1][i], nll[0][at[i]], 1e-4 * nll[0][at[i]], "document %d is the full text's document %d (%.9g vs %.9g; batches pad differently)", i, at[i], nll[1][i], nll[0][at[i]]);
        cr_assert_float_eq(tokens[1][i], tokens[0][at[i]], 1e-9);
        sum_nll += nll[1][i], sum_tok += tokens[1][i];
    }
    const double ppl = json_number_value(json_object_get(json_object_get(rec[1], "metrics"), "perplexity"));
    cr_assert_float_eq(ppl, exp(sum_nll / sum_tok), 1e-5 * ppl, "the metric is over the kept documents (float loss vs double sums)");
    cr_assert_str_neq(json_string_value(json_object_get(rec[0], "config_hash")), json_string_value(json_object_get(rec[1], "config_hash")),
                      "a limited cell is another cell");
    snprintf(path, sizeof path, "%s/rep/table.md", dir); /* the one metric: table.md */
    char *table = read_all(path, NULL);
    cr_assert(table && strstr(table, "(4 documents of it, evenly spaced)"), "%s", table ? table : path);
    free(table);
    json_decref(rec[0]), json_decref(rec[1]);
}

Test(run, help_lists_every_registered_method_with_its_parameters)
{
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s run --help", CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0);
    for (int i = 0; i < method_registry_size; i++) {
        const method *m = method_registry[i];
        cr_assert(strstr(out, m->name) && strstr(out, m->doc), "%s missing: %s", m->name, out);
        for (int p = 0; p < m->n_params; p++) cr_assert(strstr(out, m->params[p].key) && strstr(out, m->params[p].doc), "%s", m->params[p].key);
    }
    cr_assert(strstr(out, "rank          int"), "types are listed: %s", out);
}

/* one line, nonzero, naming what is wrong, for each bad argument these commands take */
static void expect_cli_error(const char *cmd, const char *part)
{
    char out[4096];
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "expected failure: %s", cmd);
    cr_assert(strstr(out, part), "error should say '%s': %s", part, out);
    cr_assert_eq(count_lines(out), 1, "one line: %s", out);
}

Test(errors, report_scatter_pretrain_decode_and_lm_head_bad_input, .timeout = 60)
{
    char dir[256], cmd[2048], path[600];
    make_temp_dir(dir, sizeof dir);
    write_records(dir);
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --scatter acc", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "--scatter 'acc': expected METRIC,METRIC");
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --scatter acc,bytes", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "no record has the metric 'bytes'");
    snprintf(path, sizeof path, "%s/other.json", dir);
    write_text(path, "{\"bench\": \"engine\"}");
    snprintf(cmd, sizeof cmd, "%s report --pretrain %s -o %s/pre", CPET_BINARY, path, dir);
    expect_cli_error(cmd, "other.json: not a pretrain.json");
    make_tiny_model_dir(dir, 16, 32, 1);
    snprintf(cmd, sizeof cmd, "%s bench decode %s/model --threads 1,x", CPET_BINARY, dir);
    expect_cli_error(cmd, "--threads '1,x'");
    snprintf(cmd, sizeof cmd, "%s bench decode %s/model --prompt-tokens 4000 --gen-tokens 8", CPET_BINARY, dir);
    expect_cli_error(cmd, "exceed max_position_embeddings 64");
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method magnitude --sparsity 0.5 --lm-head -o %s/c", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "quantizing the LM head needs a quantizer");
    snprintf(path, sizeof path, "%s/c", dir);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    /* this session's options */
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method magnitude --sparsity 0.5 --embeddings -o %s/c", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "quantizing the embeddings needs a quantizer");
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    snprintf(cmd, sizeof cmd, "%s bench decode %s/model --adapter %s/no-such-adapter --prompt-tokens 4 --gen-tokens 4", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "no-such-adapter/adapter_config.json: missing file");
    snprintf(cmd, sizeof cmd, "%s bench lora %s/model --rank 0", CPET_BINARY, dir);
    expect_cli_error(cmd, "--rank");
    snprintf(cmd, sizeof cmd, "%s bench lora %s/model --seq 4000 --steps 2", CPET_BINARY, dir);
    expect_cli_error(cmd, "seq 4000 exceeds max_position_embeddings 64");
    snprintf(cmd, sizeof cmd, "%s train-lora %s/model --task %s/none.jsonl --mixer warm -o %s/a", CPET_BINARY, dir, dir, dir);
    expect_cli_error(cmd, "--mixer 'warm': none, trained or frozen");
    snprintf(cmd, sizeof cmd, "%s bench decode %s/model --merge --prompt-tokens 4 --gen-tokens 4", CPET_BINARY, dir);
    expect_cli_error(cmd, "--merge needs --adapter");
    snprintf(cmd, sizeof cmd, "%s bench adapters --base %s/model --compressed %s/model", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "--base, --compressed and --adapter are required");
    snprintf(cmd, sizeof cmd, "%s calora --base %s/model --compressed %s/model --adapter x --task y --init none -o %s/o", CPET_BINARY, dir,
             dir, dir);
    expect_cli_error(cmd, "--init none (recovery modules alone");
    snprintf(cmd, sizeof cmd, "%s report %s -o %s/rep --by method", CPET_BINARY, dir, dir);
    expect_cli_error(cmd, "--by 'method': only 'compression'");
}

Test(bench_compare, flags_regressions_beyond_tolerance)
{
    char dir[256], cmd[2048], out[4096], a[600], b[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/base.json", dir);
    snprintf(b, sizeof b, "%s/cur.json", dir);
    write_text(a, "{\"tokens_per_s\": 1000, \"fraction_of_sgemm\": 0.80, \"forward\": {\"mean_s\": 0.50, \"stddev_s\": 0.01}, \"facts\": {\"threads\": 2}}");
    write_text(b, "{\"tokens_per_s\": 950, \"fraction_of_sgemm\": 0.60, \"forward\": {\"mean_s\": 0.52, \"stddev_s\": 0.05}, \"facts\": {\"threads\": 4}}");
    snprintf(cmd, sizeof cmd, "%s bench-compare %s %s --tolerance 10%% --absolute", CPET_BINARY, a, b);
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

/* DIR/NAME: an "existing" LoRA on q/v of the tiny setup's DIR/model, random A, B ~ N(0, sd) (sd sets its
 * update's size against a quantization step) */
static void make_scaled_adapter(const char *dir, const char *name, float sd)
{
    char path[700];
    cpet_err err;
    model m;
    snprintf(path, sizeof path, "%s/model", dir);
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj", "v_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 2, 4.0f, 0, targets, 2, 3, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, sd, &r);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(lora_save(&ad, path, &err), 0, "%s", err.msg);
    lora_free(&ad);
    model_free(&m);
}

static void make_tiny_adapter(const char *dir) { make_scaled_adapter(dir, "adapter", 0.3f); }

static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j, "%s: %s", path, jerr.text);
    return j;
}

Test(run, report_by_compression_and_the_adapter_bench, .timeout = 300)
{
    char dir[256], path[700], cmd[4096], out[8192];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    make_tiny_adapter(dir);
    snprintf(path, sizeof path, "%s/tasks2.jsonl", dir); /* a second task: the report's average is over two */
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 40; i++)
        fprintf(fp, "{\"prompt\": \"%s\", \"choices\": [\" one\", \" two\"], \"label\": %d, \"split\": \"%s\"}\n", i % 3 ? "gamma" : "delta",
                i % 2, i < 30 ? "train" : "test");
    fclose(fp);
    snprintf(path, sizeof path, "%s/ca.json", dir);
    char spec[3072];
    snprintf(spec, sizeof spec,
             "{\"name\": \"ca\", \"models\": [\"%s/model\"], \"compressions\": [\"none\", \"rtn-int8\"], \"methods\": ["
             "{\"name\": \"calora\", \"label\": \"LLM+LoRA\", \"adapter\": \"%s/adapter\", \"steps\": 0, \"recovery\": false, \"compressions\": [\"none\"]},"
             "{\"name\": \"calora\", \"label\": \"rd\", \"adapter\": \"%s/adapter\", \"init\": \"random\", \"recovery\": false, \"distill\": 0,"
             " \"steps\": 6, \"batch\": 4, \"lr\": 0.01, \"compressions\": [\"rtn-int8\"]},"
             "{\"name\": \"calora\", \"label\": \"i\", \"adapter\": \"%s/adapter\", \"recovery\": false, \"distill\": 0, \"steps\": 6,"
             " \"batch\": 4, \"lr\": 0.01, \"compressions\": [\"rtn-int8\"]}],"
             " \"tasks\": [\"%s/tasks.jsonl\", \"%s/tasks2.jsonl\"], \"seeds\": [0, 1], \"threads\": 1}",
             dir, dir, dir, dir, dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/ca", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s report %s/ca -o %s/rep --by compression --upper LLM+LoRA --baseline rd --highlight i --no-plots",
             CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/rep/rtn-int8/table.json", dir);
    json_t *t = load_json(path), *rows = json_object_get(t, "rows");
    cr_assert_eq(json_array_size(rows), 3, "the reference row, then the compression's two");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "label")), "LLM+LoRA");
    json_t *row_i = json_array_get(rows, 2), *cells = json_object_get(row_i, "cells");
    cr_assert_str_eq(json_string_value(json_object_get(row_i, "label")), "i");
    /* the average's paired difference is the mean of the per-task ones (each a mean over the same seeds) */
    double per_task = 0.5 * (json_number_value(json_object_get(json_object_get(json_object_get(cells, "tasks"), "vs_baseline"), "diff")) +
                             json_number_value(json_object_get(json_object_get(json_object_get(cells, "tasks2"), "vs_baseline"), "diff")));
    json_t *avg = json_object_get(row_i, "average_vs_baseline");
    cr_assert_not_null(avg);
    const double avg_diff = json_number_value(json_object_get(avg, "diff"));
    cr_assert_float_eq(avg_diff, per_task, 1e-12);
    cr_assert_leq(json_number_value(json_object_get(avg, "ci_lo")), avg_diff);
    cr_assert_geq(json_number_value(json_object_get(avg, "ci_hi")), avg_diff);
    snprintf(path, sizeof path, "%s/rep/index.md", dir);
    char *index = read_whole_file(path, NULL);
    cr_assert_not_null(index);
    char want[64];
    snprintf(want, sizeof want, "i vs rd: %+.2f", 100 * avg_diff);
    cr_assert(strstr(index, "- **rtn-int8**") && strstr(index, want), "the finding quotes the table (%s): %s", want, index);
    free(index);
    /* one task: the findings quote that task's paired difference (a one-column table's average is its column) */
    const double one_task = json_number_value(json_object_get(json_object_get(json_object_get(cells, "tasks"), "vs_baseline"), "diff"));
    json_decref(t);
    snprintf(cmd, sizeof cmd, "%s report %s/ca -o %s/one --task tasks --by compression --upper LLM+LoRA --baseline rd --highlight i --no-plots",
             CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/one/index.md", dir);
    index = read_whole_file(path, NULL);
    cr_assert_not_null(index);
    snprintf(want, sizeof want, "i vs rd: %+.2f", 100 * one_task);
    cr_assert(strstr(index, want), "one task (%s): %s", want, index);
    free(index);
    snprintf(cmd, sizeof cmd, "%s report %s/ca -o %s/bad --by compression --upper nobody --baseline rd", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "--upper 'nobody' is no method"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s report %s/ca -o %s/bad --by compression --upper LLM+LoRA --baseline rd --highlight CA-LoRA", CPET_BINARY,
             dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "--highlight 'CA-LoRA' is no method"), "%s", out);

    /* bench adapters on an int8 copy: bytes are the files', and an update far below int8's step is rounded
     * away by a merge while a large one survives it */
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int8 -o %s/c8", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    make_scaled_adapter(dir, "big", 30.0f);
    make_scaled_adapter(dir, "tiny", 1e-6f);
    double lost[2];
    const char *names[2] = {"big", "tiny"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s bench adapters --base %s/model --compressed %s/c8 --adapter %s/%s --task %s/tasks.jsonl "
                 "--max-adapters 5 --threads 1 -o %s/ba.json --csv %s/ba.csv", CPET_BINARY, dir, dir, dir, names[k], dir, dir, dir);
        cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
        snprintf(path, sizeof path, "%s/ba.json", dir);
        json_t *r = load_json(path);
        lost[k] = json_number_value(json_object_get(json_object_get(r, "merge"), "update_lost_to_rounding_mean"));
        json_t *per_n = json_object_get(r, "per_n"), *by = json_object_get(r, "bytes"), *dr = json_object_get(r, "drift");
        cr_assert_eq(json_array_size(per_n), 5);
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/adapter_model.safetensors", dir, names[k]);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_float_eq(json_number_value(json_object_get(by, "adapter_file")), (double)st.st_size, 0.5, "the adapter's file");
        cr_assert_float_eq(json_number_value(json_object_get(json_array_get(per_n, 2), "compressed_plus_adapters")),
                           json_number_value(json_object_get(by, "compressed")) + 3.0 * st.st_size, 0.5, "base + 3 adapters");
        cr_assert_float_eq(json_number_value(json_object_get(json_array_get(per_n, 2), "full_models")),
                           3.0 * json_number_value(json_object_get(by, "base")), 0.5);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "merge"), "requantized_modules")), 2, "q and v, packed");
        const double agree = json_number_value(json_object_get(dr, "prediction_agreement"));
        cr_assert(agree >= 0 && agree <= 1 && json_integer_value(json_object_get(dr, "n")) == 10, "drift on the 10 test examples");
        json_decref(r);
    }
    cr_assert_lt(lost[0], 0.05, "a large update survives re-quantization: %g lost", lost[0]);
    cr_assert_gt(lost[1], 0.5, "an update far below a step is rounded away: %g lost", lost[1]);
    snprintf(path, sizeof path, "%s/ba.csv", dir);
    char *csv = read_whole_file(path, NULL);
    cr_assert_not_null(csv);
    cr_assert_eq(count_lines(csv), 6, "a header and one row per N");
    free(csv);
}

/* the calora method in a matrix: an existing adapter carried onto an int8 model with recovery modules and
 * distillation; and steps 0 (carried over untrained) on the uncompressed model scores what the adapter
 * alone scores */
Test(run, calora_cells_carry_an_adapter_onto_a_compressed_model, .timeout = 300)
{
    char dir[256], path[700], cmd[2048], out[8192];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    make_tiny_adapter(dir);
    snprintf(path, sizeof path, "%s/calora.json", dir);
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"name\": \"ca\", \"models\": [\"%s/model\"], \"compressions\": [\"none\", \"rtn-int8\"], \"methods\": ["
             "{\"name\": \"calora\", \"label\": \"carried\", \"adapter\": \"%s/adapter\", \"steps\": 0, \"recovery\": false},"
             "{\"name\": \"calora\", \"label\": \"i-rc-d\", \"adapter\": \"%s/adapter\", \"steps\": 6, \"batch\": 4, \"lr\": 0.01,"
             " \"recovery_rank\": 2, \"distill\": 0.5}],"
             " \"tasks\": [\"%s/tasks.jsonl\"], \"seeds\": [0], \"threads\": 1}",
             dir, dir, dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/ca", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/ca/records.jsonl", dir);
    json_t *metrics = metrics_by_hash(path);
    cr_assert_eq(json_object_size(metrics), 4, "2 compressions x 2 rows");
    int distilled = 0;
    const char *key;
    json_t *v;
    json_object_foreach(metrics, key, v)
    {
        cr_assert(json_is_number(json_object_get(v, "acc")), "every cell is scored");
        distilled += json_is_number(json_object_get(v, "last_distill_loss"));
    }
    cr_assert_eq(distilled, 2, "the trained rows distil from the uncompressed model");
    json_decref(metrics);
    /* bad input: a missing adapter is named */
    snprintf(path, sizeof path, "%s/bad.json", dir);
    snprintf(spec, sizeof spec,
             "{\"models\": [\"%s/model\"], \"methods\": [{\"name\": \"calora\", \"steps\": 0}], \"tasks\": [\"%s/tasks.jsonl\"],"
             " \"seeds\": [0], \"threads\": 1}", dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/bad", CPET_BINARY, path, dir);
    run_capture(cmd, out, sizeof out);
    cr_assert(strstr(out, "params.adapter"), "%s", out);
}

/* A chain that trains runs once per run: two cells of one QAT compression share one saved model (its
 * training curve beside it), and both score the same weights. */
Test(run, a_trained_compression_is_made_once_and_shared_by_its_cells, .timeout = 300)
{
    char dir[256], path[700], cmd[2048], out[8192];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(path, sizeof path, "%s/calib.jsonl", dir);
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 20; i++) fprintf(fp, "{\"text\": \"alpha beta red blue green alpha beta red %d\"}\n", i);
    fclose(fp);
    snprintf(path, sizeof path, "%s/qat.json", dir);
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"name\": \"qat\", \"models\": [\"%s/model\"], \"compressions\": [{\"chain\": \"qat-int8\", \"label\": \"qat\","
             " \"train\": {\"steps\": 3, \"batch\": 2}}], \"compression_options\": {\"calib\": \"%s/calib.jsonl\", \"calib_rows\": 8,"
             " \"calib_seq\": 8}, \"methods\": [\"zero-shot\"], \"tasks\": [\"%s/tasks.jsonl\"], \"seeds\": [0, 1], \"threads\": 1}",
             dir, dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s --jobs 2 -o %s/run", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/run/records.jsonl", dir);
    json_t *metrics = metrics_by_hash(path);
    cr_assert_eq(json_object_size(metrics), 2);
    const char *key;
    json_t *v;
    json_int_t bytes = -1;
    json_object_foreach(metrics, key, v)
    {
        json_int_t b = json_integer_value(json_object_get(v, "bytes"));
        cr_assert(bytes < 0 || b == bytes, "both cells on one model");
        bytes = b;
    }
    json_decref(metrics);
    snprintf(cmd, sizeof cmd, "ls %s/run/compressed | grep -vc lock", dir);
    run_capture(cmd, out, sizeof out);
    cr_assert_eq(atoi(out), 1, "one compressed model for the run: %s", out);
    snprintf(cmd, sizeof cmd, "cat %s/run/compressed/*/compress.json", dir);
    run_capture(cmd, out, sizeof out);
    json_t *log = json_loads(out, 0, NULL);
    cr_assert(log, "%s", out);
    cr_assert_eq(json_array_size(json_object_get(log, "qat_loss")), 3, "its training curve is kept: %s", out);
    json_decref(log);
}

/* a parameter added to a method after its records existed (lora's mixer) enters the cell hash only when set:
 * the records of plain LoRA stay current; MoSLoRA cells get hashes of their own */
Test(spec, parameters_added_later_leave_old_hashes_alone)
{
    const char *specs[3] = {
        "{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\"}], \"tasks\": [\"t.jsonl\"], \"seeds\": [0]}",
        "{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"mixer\": \"none\"}], \"tasks\": [\"t.jsonl\"], \"seeds\": [0]}",
        "{\"models\": [\"m\"], \"methods\": [{\"name\": \"lora\", \"mixer\": \"trained\"}], \"tasks\": [\"t.jsonl\"], \"seeds\": [0]}",
    };
    char hash[3][80];
    for (int k = 0; k < 3; k++) {
        json_error_t jerr;
        json_t *root = json_loads(specs[k], 0, &jerr);
        spec s;
        cpet_err err;
        cr_assert_eq(spec_parse(&s, root, "spec.json", &err), 0, "%s", err.msg);
        int n;
        cell *c = spec_expand(&s, &n);
        cr_assert_eq(n, 1);
        snprintf(hash[k], sizeof hash[k], "%s", c[0].config_hash);
        json_t *hashed_params = json_object_get(json_object_get(c[0].config, "method"), "params");
        cr_assert_eq(json_object_get(hashed_params, "mixer") != NULL, k == 2, "spec %d: mixer in the hashed config only when set", k);
        cr_assert_str_eq(json_string_value(json_object_get(c[0].method->params, "mixer")), k == 2 ? "trained" : "none",
                         "the method itself still gets the value");
        cells_free(c, n);
        spec_free(&s);
        json_decref(root);
    }
    cr_assert_str_eq(hash[0], hash[1], "the default, given or not: one hash");
    cr_assert_str_neq(hash[0], hash[2], "MoSLoRA is another cell");
}

/* cpet calora: trains, saves LoRA + recovery modules as one directory, logs both accuracies; bad input */
Test(run, calora_command_trains_saves_and_explains_bad_input, .timeout = 300)
{
    char dir[256], cmd[2048], out[8192], path[700];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    make_tiny_adapter(dir);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int8 -o %s/int8", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s calora --base %s/model --compressed %s/int8 --adapter %s/adapter --task %s/tasks.jsonl "
             "--steps 5 --batch 4 --lr 0.01 --recovery-rank 2 --distill 0.5 --threads 1 -o %s/out",
             CPET_BINARY, dir, dir, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "accuracy"), "%s", out);
    snprintf(path, sizeof path, "%s/out/calora.json", dir);
    json_t *log = json_load_file(path, 0, NULL);
    cr_assert_not_null(log);
    cr_assert_eq(json_array_size(json_object_get(log, "curve")), 5);
    cr_assert(json_is_number(json_object_get(log, "acc_after")) && json_is_object(json_object_get(log, "facts")));
    /* cpet eval --adapter runs the directory as calora trained it: LoRA and recovery modules */
    snprintf(cmd, sizeof cmd, "%s eval %s/int8 --task %s/tasks.jsonl --split test --adapter %s/out -o %s/ev.json", CPET_BINARY, dir,
             dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/ev.json", dir);
    json_t *ev = json_load_file(path, 0, NULL);
    json_t *tasks = json_object_get(ev, "tasks");
    cr_assert_eq(json_object_size(tasks), 1);
    double acc = json_number_value(json_object_get(json_object_iter_value(json_object_iter(tasks)), "acc"));
    cr_assert_float_eq(acc, json_number_value(json_object_get(log, "acc_after")), 1e-9, "eval %g vs calora %g", acc,
                       json_number_value(json_object_get(log, "acc_after")));
    json_decref(ev);
    json_decref(log);
    cpet_err err;
    model m;
    lora_adapter ad;
    recovery_set rs;
    snprintf(path, sizeof path, "%s/int8", dir);
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_eq(lora_load(&ad, &m, path, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_load(&rs, &m, path, &err), 0, "%s", err.msg);
    cr_assert_gt(rs.n_mods, 0, "the recovery modules were saved with the adapter");
    recovery_free(&rs);
    lora_free(&ad);
    model_free(&m);
    const char *bad[][2] = {
        {"--distill -1", "must be >= 0"},
        {"--init warm", "inherit, random or none"}, /* the method's choices; none then has its own refusal (below) */
    };
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s calora --base %s/model --compressed %s/int8 --adapter %s/adapter --task %s/tasks.jsonl %s -o %s/bad",
                 CPET_BINARY, dir, dir, dir, dir, bad[i][0], dir);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
        cr_assert(strstr(out, bad[i][1]) && count_lines(out) == 1, "%s: %s", bad[i][0], out);
    }
    snprintf(cmd, sizeof cmd, "%s calora --base %s/model --compressed %s/int8 --adapter %s/model --task %s/tasks.jsonl -o %s/bad",
             CPET_BINARY, dir, dir, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "an adapter directory that is not one: %s", out);
    cr_assert(strstr(out, "adapter_config.json"), "%s", out);
}

/* cpet train-lora --task: the existing adapters a CA-LoRA study starts from (one per task, "{task}" in the
 * calora method's adapter path); the loss on the correct choices falls */
Test(run, train_lora_on_a_task_feeds_calora_cells, .timeout = 300)
{
    char dir[256], cmd[2048], out[8192], path[700];
    make_temp_dir(dir, sizeof dir);
    make_tiny_setup(dir);
    snprintf(cmd, sizeof cmd, "%s train-lora %s/model --task %s/tasks.jsonl --rank 2 --steps 30 --batch 4 --lr 0.01 "
             "--threads 1 --log %s/tl.json -o %s/adapters/tasks", CPET_BINARY, dir, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/tl.json", dir);
    json_t *log = json_load_file(path, 0, NULL);
    json_t *curve = json_object_get(log, "curve");
    cr_assert_eq(json_array_size(curve), 30);
    double first = json_number_value(json_object_get(json_array_get(curve, 0), "loss")),
           last = json_number_value(json_object_get(json_array_get(curve, 29), "loss"));
    cr_assert_lt(last, first, "the loss on the correct choices falls: %g -> %g", first, last);
    json_decref(log);
    snprintf(path, sizeof path, "%s/ca.json", dir);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"models\": [\"%s/model\"], \"compressions\": [\"rtn-int8\"], \"methods\": [{\"name\": \"calora\", \"adapter\": "
             "\"%s/adapters/{task}\", \"steps\": 0}], \"tasks\": [\"%s/tasks.jsonl\"], \"seeds\": [0], \"threads\": 1}",
             dir, dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/ca", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "{task} names the task's adapter: %s", out);
    snprintf(cmd, sizeof cmd, "%s train-lora %s/model --task %s/tasks.jsonl --data x.safetensors -o %s/bad", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "one of --data or --task"), "%s", out);
}
