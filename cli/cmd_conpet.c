/* cpet conpet: the harness method conpet (harness/methods/conpet.c) on the command line: continual
 * parameter-efficient tuning over a class-incremental task sequence in ConPET's format (datasets/continual.h).
 * Its options are the method's parameters; OUT.json gets the run's record (accuracy after every task on
 * every seen task, forgetting, backward transfer, cost per task, the confusion counts) and --md a table of
 * each class's accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "continual.h"
#include "fileio.h"
#include "method_door.h"

extern const method method_conpet;

/* the name of global class c: DIR/{ds}_tag_names_p{N}.json when there is one (the world writes it), else
 * "tag N" */
static int task_of(const continual_data *cd, int c, int *first)
{
    int t = 0, offset = 0;
    while (t < cd->n_tasks - 1 && c >= offset + cd->n_tags[t]) offset += cd->n_tags[t++];
    *first = offset;
    return t;
}

static void class_name(const json_t *names, const continual_data *cd, int c, char *buf, size_t n)
{
    int first;
    const int t = task_of(cd, c, &first);
    const int tag = cd->tags[t][c - first];
    const char *name = json_string_value(json_array_get(names, (size_t)tag));
    if (name) snprintf(buf, n, "%s", name);
    else snprintf(buf, n, "tag %d", tag);
}

/* the record's example entry `id` (its "rows") */
static json_t *entry(const json_t *record, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(record, "examples"), i, e)
    if (!strcmp(json_string_value(json_object_get(e, "id")) ?: "", id)) return json_object_get(e, "rows");
    return NULL;
}

static long confusion_at(const json_t *conf, int a, int b) { return (long)json_integer_value(json_array_get(json_array_get(conf, (size_t)a), (size_t)b)); }

/* --md: the last task's predictions class by class, from the confusion counts */
static int write_class_table(const char *path, const char *tasks, const char *dataset, int p, const char *method, uint64_t seed, const char *split,
                             const continual_data *cd, const json_t *record, cpet_err *err)
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
    const json_t *conf = entry(record, "confusion");
    const int C = (int)json_array_size(conf);
    fprintf(af.fp, "%s on %s, seed %llu: after the last task, each class's %s samples and what they were predicted as "
                   "(pooled accuracy %.2f%%)\n\n| class | task | %s samples | accuracy | predicted instead, most often |\n|---|---|---|---|---|\n",
            method, dataset, (unsigned long long)seed, split, 100 * json_number_value(json_object_get(json_object_get(record, "metrics"), "pooled_accuracy")),
            split);
    for (int c = 0; c < C; c++) {
        long n = 0, worst = -1;
        for (int q = 0; q < C; q++) {
            n += confusion_at(conf, c, q);
            if (q != c && confusion_at(conf, c, q) > 0 && (worst < 0 || confusion_at(conf, c, q) > confusion_at(conf, c, (int)worst))) worst = q;
        }
        int first;
        const int t = task_of(cd, c, &first);
        class_name(names, cd, c, a, sizeof a);
        if (worst >= 0) class_name(names, cd, (int)worst, b, sizeof b);
        fprintf(af.fp, "| %s | %d | %ld | ", a, t + 1, n);
        if (n) fprintf(af.fp, "%.1f%% |", 100.0 * confusion_at(conf, c, c) / n);
        else fprintf(af.fp, "- |");
        if (worst >= 0) fprintf(af.fp, " %s (%.1f%%) |\n", b, 100.0 * confusion_at(conf, c, (int)worst) / n);
        else fprintf(af.fp, " - |\n");
    }
    json_decref(names);
    return atomic_commit(&af, err);
}

int cmd_conpet(int argc, char **argv)
{
    door_inputs in = {0};
    const char *out = NULL, *md = NULL;
    const opt own[] = {
        OPT_REQUIRED("--tasks", &in.task, "DIR", "the sequence's directory (cpet world --continual writes world_typing and world_relation)"),
        OPT_REQUIRED("--dataset", &in.task_name, "NAME", "the dataset: DIR/NAME_* files (FewNERD / FewRel files work as they are)"),
        OPT_REQUIRED("--model", &in.model, "MODEL", "the frozen base model"),
        OPT_STRING("--md", &md, "FILE.md", "also a table of each class's accuracy and what it is most often mistaken for"),
        OPT_SEED(&in.seed),
        OPT_THREADS(&in.threads),
        OPT_REQUIRED("-o", &out, "OUT.json", "the run's record"),
        OPT_END};
    const opt_command cmd = {
        .name = "conpet",
        .usage = "--method METHOD --tasks DIR --dataset NAME --model MODEL -o OUT.json [options]",
        .about = "Class-incremental tuning over DIR/NAME_* in ConPET's format. A LoRA on q and k and a linear head over the\n"
                 "last hidden state at the [MASK] position (the prompt's end), the base frozen; every task gets the same\n"
                 "--batches batches. sequential: the new task only; joint: every seen task (the upper bound); static:\n"
                 "Static ConPET's dynamic replay, half new and half old samples; dynamic: Dynamic ConPET, a LoRA and head\n"
                 "per task, frozen after it, and a selector (LoRA + task-id head growing a row per task) routing each sample\n"
                 "to its --top-k tasks; emr: EMR, a K-means memory of --emr-k samples per class replayed at the reference's\n"
                 "frequency; ea-emr: EA-EMR, EMR plus an alignment layer before the head, fitted by MSE after each task.\n"
                 "After each task every seen task's test set is scored by the argmax over all seen classes (no task id).\n",
        .after = "OUT.json is the run's record: parameters, metrics (average and pooled accuracy, forgetting, backward transfer,\n"
                 "tunable parameters), curves per task, and as examples the accuracy matrix, per-task rows (classes, steps,\n"
                 "seconds, loss) and the confusion counts after the last task; seed, git revision and threads. The matrix runs\n"
                 "the same method (`cpet run --help`).\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(&method_conpet, &cmd, own, argc, argv, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    json_t *record = NULL;
    continual_data cd = {0};
    const int split_p = (int)json_integer_value(json_object_get(params, "p"));
    /* the sequence is read first: a missing file is named before any model is loaded */
    int rc = continual_read(&cd, in.task, in.task_name, split_p, (int)json_integer_value(json_object_get(params, "max_words")), &err),
        have_cd = rc == 0;
    if (rc == 0) rc = method_door_run(&method_conpet, &in, params, &record, &err);
    if (rc == 0) {
        /* the fields cpet conpet's file has always had, at the top beside the record's own */
        json_object_update(record, json_object_get(record, "metrics"));
        static const char *const entries[] = {"accuracy_matrix", "per_task", "confusion"};
        for (int i = 0; i < 3; i++) json_object_set(record, entries[i], entry(record, entries[i]));
        json_object_set_new(record, "command", json_string("conpet"));
        json_object_set_new(record, "tasks", json_string(in.task));
        json_object_set_new(record, "dataset", json_string(in.task_name));
        json_object_set_new(record, "n_tasks", json_integer(cd.n_tasks));
        json_object_set(record, "eval_split", json_object_get(params, "eval_split"));
        const char *method = json_string_value(json_object_get(params, "method")), *split = json_string_value(json_object_get(params, "eval_split"));
        rc = md ? write_class_table(md, in.task, in.task_name, split_p, method, (uint64_t)in.seed, split, &cd, record, &err) : 0;
        if (rc == 0) rc = json_write_file(out, record, &err);
        const json_t *m = json_object_get(record, "metrics");
        if (rc == 0)
            printf("conpet %s on %s (%d tasks): average accuracy %.2f%%, pooled %.2f%%, forgetting %.2f, BWT %+.2f points, %lld tunable -> %s\n",
                   method, in.task_name, cd.n_tasks, 100 * json_number_value(json_object_get(m, "average_accuracy")),
                   100 * json_number_value(json_object_get(m, "pooled_accuracy")), 100 * json_number_value(json_object_get(m, "forgetting")),
                   100 * json_number_value(json_object_get(m, "backward_transfer")), (long long)json_integer_value(json_object_get(m, "tunable_params")), out);
    }
    if (have_cd) continual_free(&cd);
    json_decref(record);
    json_decref(params);
    return rc != 0 ? cli_report(&err) : 0;
}
