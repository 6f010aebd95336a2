/* cpet method NAME: any registered harness method on one model and one task, outside a matrix. Its options
 * are the method's schema (cpet method NAME --help); the record a matrix cell would append goes to
 * OUT/record.json, and what the method makes (an adapter) into OUT. A method added to the registry is a
 * command here without a line of CLI code. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "method_door.h"

static void list_methods(FILE *f)
{
    fprintf(f, "usage: cpet method NAME --model MODEL --task TASKS.jsonl -o OUT [options]   (cpet method NAME --help)\n\nmethods:\n");
    for (int i = 0; i < method_registry_size; i++) fprintf(f, "  %-12s %s\n", method_registry[i]->name, method_registry[i]->doc);
}

int cmd_method(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1]) || !strcmp(argv[1], "--list")) {
        list_methods(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const method *m = method_find(argv[1]);
    if (!m) return cli_error("method: no method '%s' (cpet method --list)", argv[1]);
    door_inputs in = {.train_split = "train", .eval_split = "test"};
    const opt own[] = {
        OPT_REQUIRED("--model", &in.model, "MODEL", "the model the method runs on"),
        OPT_REQUIRED("--task", &in.task, m->takes_sequence ? "DIR|FILE" : "TASKS.jsonl",
                     m->takes_sequence ? "what the method reads (a task sequence's directory, an editing file)" : "a multiple-choice task"),
        OPT_STRING("--dataset", &in.task_name, "NAME", "the task's name (a sequence's dataset); default: the --task path"),
        OPT_STRING("--base", &in.model_path, "MODEL", "the model before compression, for methods that read it (CA-LoRA's teacher)"),
        OPT_STRING("--train-split", &in.train_split, "SPLIT", "the split trained on"),
        OPT_STRING("--eval-split", &in.eval_split, "SPLIT", "the split scored"),
        OPT_SEED(&in.seed),
        OPT_THREADS(&in.threads),
        OPT_OUT(&in.out_dir),
        OPT_END};
    char name[96];
    snprintf(name, sizeof name, "method %s", m->name);
    const opt_command cmd = {.name = name, .about = m->doc, .after = "\nOUT/record.json: the record a matrix cell would write (params, metrics, curves, examples, facts).\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(m, &cmd, own, argc - 1, argv + 1, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    json_t *record = NULL;
    int rc = make_dirs(in.out_dir, &err);
    if (rc == 0) rc = method_door_run(m, &in, params, &record, &err);
    if (rc == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/record.json", in.out_dir);
        rc = json_write_file(path, record, &err);
        const json_t *metrics = json_object_get(record, "metrics");
        const char *key;
        json_t *v;
        if (rc == 0) {
            printf("%s on %s:", m->name, in.task);
            json_object_foreach((json_t *)metrics, key, v) if (json_is_number(v)) printf(" %s %.4g", key, json_number_value(v));
            printf(" -> %s\n", path);
        }
    }
    json_decref(record);
    json_decref(params);
    return rc != 0 ? cli_report(&err) : 0;
}
