/* cpet calora: CA-LoRA on the command line (engine/methods/calora.h): an existing LoRA, trained on the
 * uncompressed model, carried onto a compressed one and trained on a task's train split; the adapter and
 * its recovery modules are saved as one PEFT directory and both splits' accuracy go into OUT/calora.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "calora.h"
#include "cli.h"
#include "evaluate.h"
#include "facts.h"
#include "fileio.h"
#include "finetune.h"
#include "gguf.h"

static void usage(void)
{
    printf("usage: cpet calora --base MODEL --compressed CMODEL --adapter LORA --task TASKS.jsonl -o OUT [options]\n\n"
           "  --init inherit|random   the adapter's A/B copied (default) or fresh (A ~ U(+-1/sqrt(in)), B = 0: rd)\n"
           "  --recovery on|off       recovery modules GELU(x a1^T) a2^T beside every projection (on): the reference's,\n"
           "                          on v, o and the FFN, and on q and k summed with the LoRA\n"
           "  --recovery-rank 8 --recovery-alpha 16\n"
           "  --distill W             weight of the MSE to the teacher's final hidden states (1.0; 0 = off); the\n"
           "                          teacher is --base with the same adapter, frozen, read in place\n"
           "  --steps 100 --batch 8 --lr 1e-3 --weight-decay 0.01 --seed 0 --threads N\n"
           "  --train-split train --eval-split test\n"
           "OUT gets adapter_config.json + adapter_model.safetensors (PEFT loads the LoRA; the recovery tensors beside\n"
           "it are for cpet), recovery_config.json, and calora.json: options, seed, loss curve, accuracy before and\n"
           "after training on the eval split, git revision.\n");
}

int cmd_calora(int argc, char **argv)
{
    const char *base = NULL, *comp = NULL, *adapter = NULL, *task = NULL, *out = NULL, *init = "inherit", *recovery = "on",
               *train_split = "train", *eval_split = "test";
    long steps = 100, batch = 8, rrank = 8, seed = 0, threads = 0;
    double distill = 1.0, lr = 1e-3, wd = 0.01, ralpha = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--base")) bad = !(base = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--compressed")) bad = !(comp = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--adapter")) bad = !(adapter = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--task")) bad = !(task = cli_value(argc, argv, &i));
        else if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--init")) bad = !(init = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--recovery")) bad = !(recovery = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--train-split")) bad = !(train_split = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--eval-split")) bad = !(eval_split = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--recovery-rank")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 4096, &rrank);
        else if (!strcmp(a, "--recovery-alpha")) bad = cli_float(a, cli_value(argc, argv, &i), &ralpha);
        else if (!strcmp(a, "--distill")) bad = cli_float(a, cli_value(argc, argv, &i), &distill);
        else if (!strcmp(a, "--steps")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 1 << 24, &steps);
        else if (!strcmp(a, "--batch")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &batch);
        else if (!strcmp(a, "--lr")) bad = cli_float(a, cli_value(argc, argv, &i), &lr);
        else if (!strcmp(a, "--weight-decay")) bad = cli_float(a, cli_value(argc, argv, &i), &wd);
        else if (!strcmp(a, "--seed")) bad = cli_int(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "--threads")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else return cli_error("calora: unknown option %s", a);
        if (bad) return 1;
    }
    if (!base || !comp || !adapter || !task || !out)
        return cli_error("calora: --base, --compressed, --adapter, --task and -o are required (cpet calora --help)");
    if (!strcmp(init, "none"))
        return cli_error("calora: --init none (recovery modules alone, the reference's rc rows) runs only as the harness method "
                         "calora's init \"none\": the saved format (PEFT's) needs a LoRA beside them");
    if (strcmp(init, "inherit") != 0 && strcmp(init, "random") != 0) return cli_error("calora: --init '%s': inherit or random", init);
    if (strcmp(recovery, "on") != 0 && strcmp(recovery, "off") != 0) return cli_error("calora: --recovery '%s': on or off", recovery);
    if (distill < 0) return cli_error("calora: --distill %g: the weight must be >= 0", distill);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    model student, teacher;
    tokenizer tok;
    task_set train = {0}, eval = {0};
    const int use_teacher = distill > 0 && steps > 0;
    if (model_load(&student, comp, &err) != 0) return cli_report(&err);
    if (tokenizer_load_for(&tok, comp, NULL, &err) != 0) {
        model_free(&student);
        return cli_report(&err);
    }
    int rc = use_teacher ? model_load_for_inference(&teacher, base, &err) : 0, have_teacher = use_teacher && rc == 0;
    if (rc == 0) rc = tasks_read(&train, task, train_split, &err);
    if (rc == 0) rc = tasks_read(&eval, task, eval_split, &err);
    if (rc == 0 && (train.n == 0 || eval.n == 0))
        rc = cpet_fail(&err, "%s: splits '%s' (%d examples) and '%s' (%d) must both have examples", task, train_split, train.n,
                       eval_split, eval.n);
    calora ca;
    memset(&ca, 0, sizeof ca);
    calora_options o = {.init = !strcmp(init, "random") ? CALORA_INIT_RANDOM : CALORA_INIT_INHERIT, .recovery = !strcmp(recovery, "on"),
                        .recovery_rank = (int)rrank, .recovery_alpha = (float)ralpha, .distill = use_teacher ? (float)distill : 0.0f,
                        .seed = (uint64_t)seed};
    if (rc == 0) rc = calora_setup(&ca, &student, have_teacher ? &teacher : NULL, adapter, &o, &err);
    mc_result before = {0}, after = {0};
    const int bos = student.cfg.bos_token_id;
    if (rc == 0) rc = eval_multiple_choice(&student, &tok, &eval, bos, 8, &before, NULL, NULL, &err);
    adamw opt;
    memset(&opt, 0, sizeof opt);
    json_t *curve = json_array();
    long tokens = 0;
    if (rc == 0 && steps > 0) {
        adamw_config oc = adamw_defaults();
        oc.lr = (float)lr;
        oc.weight_decay = (float)wd;
        finetune_config fc = {.steps = (int)steps, .batch = (int)batch, .lr = oc.lr, .weight_decay = oc.weight_decay, .clip = 1.0f,
                              .seed = (uint64_t)seed, .bos_id = bos, .hook = calora_step_hook, .hook_ctx = &ca};
        rc = adamw_init(&opt, oc, &err) || calora_add_trainable(&ca, &opt, &err) ||
             finetune_multiple_choice(&student, &opt, &tok, &train, &fc, curve, &tokens, &err);
    }
    student.taps.d_final_hidden = NULL;
    if (rc == 0) rc = eval_multiple_choice(&student, &tok, &eval, bos, 8, &after, NULL, NULL, &err);
    if (rc == 0) rc = calora_save(&ca, out, &err);
    if (rc == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/calora.json", out);
        json_t *log = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:f, s:f, s:I, s:I, s:f, s:I, s:f, s:f, s:I, s:o, s:o}",
                                "base", base, "compressed", comp, "adapter", adapter, "task", task, "eval_split", eval_split,
                                "init", init, "recovery", o.recovery, "recovery_rank", o.recovery_rank, "recovery_alpha", ralpha,
                                "distill", distill, "steps", (json_int_t)steps, "batch", (json_int_t)batch, "lr", lr, "seed",
                                (json_int_t)seed, "acc_before", before.acc, "acc_after", after.acc, "tokens", (json_int_t)tokens,
                                "curve", curve, "facts", run_facts());
        curve = NULL;
        rc = json_write_file(path, log, &err);
        json_decref(log);
        if (rc == 0)
            printf("calora %s on %s: %s accuracy %.4f -> %.4f (n=%d) -> %s\n", init, comp, eval_split, before.acc, after.acc, after.n, out);
    }
    json_decref(curve);
    adamw_free(&opt);
    calora_free(&ca);
    if (have_teacher) model_free(&teacher);
    tasks_free(&train);
    tasks_free(&eval);
    tokenizer_free(&tok);
    model_free(&student);
    return rc != 0 ? cli_report(&err) : 0;
}
