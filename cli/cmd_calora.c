/* cpet calora: the harness method calora (harness/methods/calora.c) on the command line: an existing LoRA,
 * trained on the uncompressed model, carried onto a compressed one and trained on a task's train split.
 * Its options are the method's parameters; OUT gets the adapter with its recovery modules (one PEFT
 * directory) and calora.json (parameters, accuracy before and after, loss curve, run facts). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "method_door.h"

extern const method method_calora;

int cmd_calora(int argc, char **argv)
{
    door_inputs in = {.train_split = "train", .eval_split = "test"};
    const opt own[] = {
        OPT_REQUIRED("--base", &in.model_path, "MODEL", "the uncompressed model the adapter was trained on (the distillation teacher)"),
        OPT_REQUIRED("--compressed", &in.model, "CMODEL", "the compressed model the adapter is carried onto, and trained on"),
        OPT_REQUIRED("--task", &in.task, "TASKS.jsonl", "a multiple-choice task"),
        OPT_STRING("--train-split", &in.train_split, "SPLIT", "the split trained on"),
        OPT_STRING("--eval-split", &in.eval_split, "SPLIT", "the split scored, before and after training"),
        OPT_SEED(&in.seed),
        OPT_THREADS(&in.threads),
        OPT_OUT(&in.out_dir),
        OPT_END};
    const opt_command cmd = {
        .name = "calora",
        .usage = "--base MODEL --compressed CMODEL --adapter LORA --task TASKS.jsonl -o OUT [options]",
        .about = "CA-LoRA: the --adapter LORA (a PEFT LoRA of MODEL) carried onto CMODEL (inherited, or fresh with --init random:\n"
                 "the rd baseline), recovery modules GELU(x a1^T) a2^T beside the projections, and the MSE to MODEL's final\n"
                 "hidden states (same adapter, frozen) added to the task loss; only LoRA and recovery parameters train.\n",
        .after = "OUT gets adapter_config.json + adapter_model.safetensors (PEFT loads the LoRA; the recovery tensors beside\n"
                 "it are for cpet), recovery_config.json, and calora.json: parameters, seed, loss curve, accuracy before and\n"
                 "after training on the eval split, git revision. The matrix runs the same method (`cpet run --help`).\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(&method_calora, &cmd, own, argc, argv, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    const char *adapter = json_string_value(json_object_get(params, "adapter"));
    if (!adapter || !adapter[0]) {
        json_decref(params);
        return cli_error("calora: --adapter is required (cpet calora --help)");
    }
    if (!strcmp(json_string_value(json_object_get(params, "init")), "none")) {
        json_decref(params);
        return cli_error("calora: --init none (recovery modules alone, the reference's rc rows) runs only in the matrix (harness "
                         "method calora, init \"none\"): the saved format, PEFT's, needs a LoRA beside them");
    }
    in.score_before = 1;
    json_t *record = NULL;
    int rc = method_door_run(&method_calora, &in, params, &record, &err);
    if (rc == 0) {
        json_t *metrics = json_object_get(record, "metrics");
        json_object_set_new(record, "base", json_string(in.model_path)); /* the names calora.json has always had */
        json_object_set_new(record, "compressed", json_string(in.model));
        json_object_set_new(record, "eval_split", json_string(in.eval_split));
        json_object_set(record, "acc_before", json_object_get(metrics, "acc_before"));
        json_object_set(record, "acc_after", json_object_get(metrics, "acc"));
        json_object_set(record, "curve", json_object_get(json_object_get(record, "curves"), "train_loss"));
        json_object_del(record, "examples"); /* per-example outputs are the matrix's; the accuracy is here */
        char path[4200];
        snprintf(path, sizeof path, "%s/calora.json", in.out_dir);
        rc = json_write_file(path, record, &err);
        if (rc == 0)
            printf("calora %s on %s: %s accuracy %.4f -> %.4f (n=%lld) -> %s\n", json_string_value(json_object_get(params, "init")), in.model,
                   in.eval_split, json_number_value(json_object_get(metrics, "acc_before")), json_number_value(json_object_get(metrics, "acc")),
                   (long long)json_integer_value(json_object_get(metrics, "n")), in.out_dir);
    }
    json_decref(record);
    json_decref(params);
    return rc != 0 ? cli_report(&err) : 0;
}
