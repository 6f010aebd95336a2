/* cpet conpet: continual parameter-efficient tuning over a class-incremental task sequence in ConPET's
 * format (datasets/continual.h), with the methods of engine/methods/conpet.h; accuracy after every task
 * on every seen task, forgetting and backward transfer, cost per task. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "continual.h"
#include "fileio.h"
#include "gguf.h"
#include "methods/conpet.h"

/* the name of global class c: DIR/{ds}_tag_names_p{N}.json when there is one (the world writes it), else
 * "tag N" */
static void class_name(const json_t *names, const continual_data *cd, const conpet_data *d, int c, char *buf, size_t n)
{
    int t = 0;
    while (c >= d->offsets[t + 1]) t++;
    const int tag = cd->tags[t][c - d->offsets[t]];
    const char *name = json_string_value(json_array_get(names, (size_t)tag));
    if (name) snprintf(buf, n, "%s", name);
    else snprintf(buf, n, "tag %d", tag);
}

/* --md: the last task's predictions class by class, from the confusion counts */
static int write_class_table(const char *path, const char *tasks, const char *dataset, int p, const char *method, uint64_t seed, const char *split,
                             const continual_data *cd, const conpet_data *d, const conpet_result *r, cpet_err *err)
{
    char names_path[4200], a[256], b[256];
    snprintf(names_path, sizeof names_path, "%s/%s_tag_names_p%d.json", tasks, dataset, p);
    cpet_err ignored;
    json_t *names = path_exists(names_path) ? json_read_file(names_path, &ignored) : NULL;
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) {
        json_decref(names);
        return -1;
    }
    const int C = r->n_classes, T = r->n_tasks;
    fprintf(af.fp, "%s on %s, seed %llu: after the last task, each class's %s samples and what they were predicted as "
                   "(pooled accuracy %.2f%%)\n\n| class | task | %s samples | accuracy | predicted instead, most often |\n|---|---|---|---|---|\n",
            method, dataset, (unsigned long long)seed, split, 100 * r->pooled[T - 1], split);
    for (int c = 0; c < C; c++) {
        long n = 0, worst = -1;
        for (int q = 0; q < C; q++) {
            n += r->confusion[(size_t)c * C + q];
            if (q != c && r->confusion[(size_t)c * C + q] > 0 && (worst < 0 || r->confusion[(size_t)c * C + q] > r->confusion[(size_t)c * C + worst]))
                worst = q;
        }
        int t = 0;
        while (c >= d->offsets[t + 1]) t++;
        class_name(names, cd, d, c, a, sizeof a);
        if (worst >= 0) class_name(names, cd, d, (int)worst, b, sizeof b);
        fprintf(af.fp, "| %s | %d | %ld | ", a, t + 1, n);
        if (n) fprintf(af.fp, "%.1f%% |", 100.0 * r->confusion[(size_t)c * C + c] / n);
        else fprintf(af.fp, "- |");
        if (worst >= 0) fprintf(af.fp, " %s (%.1f%%) |\n", b, 100.0 * r->confusion[(size_t)c * C + worst] / n);
        else fprintf(af.fp, " - |\n");
    }
    json_decref(names);
    return atomic_commit(&af, err);
}

int cmd_conpet(int argc, char **argv)
{
    const char *method = NULL, *tasks = NULL, *dataset = NULL, *model_dir = NULL, *out = NULL, *md = NULL, *eval_split = "test";
    long p = 1, batches = 200, batch = 8, rank = 4, seed = 0, threads = 0, max_words = 50, top_k = 1, emr_k = 5, replay_memory = 0;
    double lr = 1e-3, wd = 0.0, alpha = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet conpet --method sequential|joint|static|dynamic|emr|ea-emr --tasks DIR --dataset NAME --model MODEL -o OUT.json\n"
                   "                   [--p 1] [--batches 200] [--batch 8] [--lr 1e-3] [--rank 4] [--alpha 8] [--top-k 1] [--emr-k 5]\n"
                   "                   [--replay-memory N] [--seed 0] [--md FILE.md] [--eval-split test|valid|train]\n\n"
                   "Class-incremental tuning over DIR/NAME_* in ConPET's format (cpet world --continual writes world_typing\n"
                   "and world_relation; FewNERD / FewRel files work as they are). A LoRA on q and k and a linear head over\n"
                   "the last hidden state at the [MASK] position (the prompt's end), the base frozen; every task gets the\n"
                   "same --batches batches. sequential: the new task only; joint: every seen task (the upper bound);\n"
                   "static: Static ConPET's dynamic replay, half new and half old samples; dynamic: Dynamic ConPET, a\n"
                   "LoRA and head per task, frozen after it, and a selector (LoRA + task-id head growing a row per task)\n"
                   "routing each sample to its --top-k tasks; emr: EMR, a K-means memory of --emr-k samples per class\n"
                   "replayed at the reference's frequency; ea-emr: EA-EMR, EMR plus an alignment layer before the head,\n"
                   "fitted by MSE after each task to map the memory's current features to the stored ones\n"
                   "(--replay-memory N: replay keeps N samples per finished task, not all of them). After each task every seen\n"
                   "task's test set is scored by the argmax over all seen classes (no task id). OUT.json holds the\n"
                   "accuracy matrix, average and pooled accuracy, forgetting, backward transfer, steps and seconds per\n"
                   "task, tunable parameters, the confusion counts after the last task, the seed, git revision and\n"
                   "threads; --md FILE.md a table of each class's accuracy and what it is most often mistaken for.\n"
                   "--eval-split valid|train scores that split instead of test (train: does the method fit what it saw?).\n");
            return 0;
        }
        if (!strcmp(a, "--method")) bad = !(method = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--md")) bad = !(md = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--eval-split")) bad = !(eval_split = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--tasks")) bad = !(tasks = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--dataset")) bad = !(dataset = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--model")) bad = !(model_dir = cli_value(argc, argv, &i));
        else if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--p")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 1000, &p);
        else if (!strcmp(a, "--batches")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 10000000, &batches);
        else if (!strcmp(a, "--batch")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 4096, &batch);
        else if (!strcmp(a, "--rank")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 4096, &rank);
        else if (!strcmp(a, "--replay-memory")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 100000000, &replay_memory);
        else if (!strcmp(a, "--emr-k")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 100000, &emr_k);
        else if (!strcmp(a, "--top-k")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 64, &top_k);
        else if (!strcmp(a, "--max-words")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 100000, &max_words);
        else if (!strcmp(a, "--alpha")) bad = cli_float(a, cli_value(argc, argv, &i), &alpha);
        else if (!strcmp(a, "--lr")) bad = cli_float(a, cli_value(argc, argv, &i), &lr);
        else if (!strcmp(a, "--weight-decay")) bad = cli_float(a, cli_value(argc, argv, &i), &wd);
        else if (!strcmp(a, "--seed")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "--threads")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else return cli_error("conpet: unknown option %s", a);
        if (bad) return 1;
    }
    conpet_config c = {.batches = (int)batches, .batch = (int)batch, .lr = (float)lr, .weight_decay = (float)wd, .lora_rank = (int)rank,
                       .lora_alpha = (float)alpha, .seed = (uint64_t)seed, .top_k = (int)top_k, .emr_k = (int)emr_k, .replay_memory = (int)replay_memory};
    if (!method || !tasks || !dataset || !model_dir || !out) return cli_error("conpet: --method, --tasks, --dataset, --model and -o are required");
    if (strcmp(eval_split, "test") && strcmp(eval_split, "valid") && strcmp(eval_split, "train"))
        return cli_error("conpet: --eval-split '%s': test, valid or train", eval_split);
    if (conpet_method_parse(method, &c.method) != 0) return cli_error("conpet: --method '%s': sequential, joint, static, dynamic, emr or ea-emr", method);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    continual_data cd;
    if (continual_read(&cd, tasks, dataset, (int)p, (int)max_words, &err) != 0) return cli_report(&err);
    model m;
    tokenizer tok;
    if (model_load(&m, model_dir, &err) != 0) {
        continual_free(&cd);
        return cli_report(&err);
    }
    int rc = tokenizer_load_for(&tok, model_dir, NULL, &err), have_tok = rc == 0;
    const int T = cd.n_tasks;
    conpet_data d = {0};
    if (rc == 0) rc = continual_tokenize(&cd, &tok, m.cfg.bos_token_id, m.cfg.max_position_embeddings, &d, &err);
    conpet_result r = {0};
    conpet_set *test_sets = d.test; /* --eval-split scores another split in the test set's place */
    if (!strcmp(eval_split, "valid")) d.test = d.valid;
    if (!strcmp(eval_split, "train")) d.test = d.train;
    if (rc == 0) rc = conpet_run(&m, &d, &c, &r, &err);
    d.test = test_sets;
    if (rc == 0) {
        json_t *matrix = json_array(), *per_task = json_array();
        for (int t = 0; t < T; t++) {
            json_t *row = json_array();
            for (int u = 0; u < T; u++) json_array_append_new(row, isnan(r.acc[t * T + u]) ? json_null() : json_real(r.acc[t * T + u]));
            json_array_append_new(matrix, row);
            json_t *row_t = json_pack("{s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:f}", "task", t, "classes", cd.n_tags[t], "train", d.train[t].n,
                                      "steps", (json_int_t)r.steps[t], "seconds", r.seconds[t], "loss", r.loss[t], "average_accuracy",
                                      conpet_average_accuracy(&r, t), "pooled_accuracy", r.pooled[t]);
            if (c.method == CONPET_DYNAMIC) {
                json_object_set_new(row_t, "selector_accuracy", json_real(r.selector_acc[t]));
                json_object_set_new(row_t, "oracle_selector_pooled_accuracy", json_real(r.oracle_acc[t]));
            }
            json_array_append_new(per_task, row_t);
        }
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:{s:i, s:i, s:f, s:f, s:i, s:f}, s:I, s:f, s:f, s:f, s:f, s:o, s:o, s:i, s:o}",
                              "command", "conpet", "method", conpet_method_name(c.method), "tasks", tasks, "dataset", dataset, "p", (int)p,
                              "n_tasks", T, "seed", (json_int_t)seed, "config", "batches", c.batches, "batch", c.batch, "lr", lr,
                              "weight_decay", wd, "lora_rank", c.lora_rank, "lora_alpha", alpha, "tunable_params", (json_int_t)r.tunable,
                              "average_accuracy", conpet_average_accuracy(&r, T - 1), "pooled_accuracy", r.pooled[T - 1], "forgetting",
                              conpet_forgetting(&r), "backward_transfer", conpet_backward_transfer(&r), "accuracy_matrix", matrix,
                              "per_task", per_task, "dropped_long_train_samples", cd.dropped_long, "facts", run_facts());
        json_object_set_new(j, "model", json_string(model_dir));
        json_object_set_new(j, "top_k", json_integer(c.top_k));
        json_object_set_new(j, "replay_memory", json_integer(c.replay_memory));
        json_object_set_new(j, "eval_split", json_string(eval_split));
        json_t *conf = json_array();
        for (int a = 0; a < r.n_classes; a++) {
            json_t *row = json_array();
            for (int b = 0; b < r.n_classes; b++) json_array_append_new(row, json_integer(r.confusion[(size_t)a * r.n_classes + b]));
            json_array_append_new(conf, row);
        }
        json_object_set_new(j, "confusion", conf);
        if (c.method == CONPET_DYNAMIC) {
            json_object_set_new(j, "selector_accuracy", json_real(r.selector_acc[T - 1]));
            json_object_set_new(j, "oracle_selector_pooled_accuracy", json_real(r.oracle_acc[T - 1]));
        }
        rc = md ? write_class_table(md, tasks, dataset, (int)p, conpet_method_name(c.method), c.seed, eval_split, &cd, &d, &r, &err) : 0;
        if (rc == 0) rc = json_write_file(out, j, &err);
        json_decref(j);
        if (rc == 0)
            printf("conpet %s on %s (%d tasks): average accuracy %.2f%%, pooled %.2f%%, forgetting %.2f, BWT %+.2f points, %ld tunable -> %s\n",
                   conpet_method_name(c.method), dataset, T, 100 * conpet_average_accuracy(&r, T - 1), 100 * r.pooled[T - 1],
                   100 * conpet_forgetting(&r), 100 * conpet_backward_transfer(&r), r.tunable, out);
    }
    conpet_result_free(&r);
    continual_tokens_free(&d);
    if (have_tok) tokenizer_free(&tok);
    model_free(&m);
    continual_free(&cd);
    return rc != 0 ? cli_report(&err) : 0;
}
