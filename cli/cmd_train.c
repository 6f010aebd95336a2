/* cpet train-lora: LoRA on a frozen base with AdamW; the loss curve and the run facts go to a JSON log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "fileio.h"
#include "lora.h"
#include "model.h"
#include "safetensors.h"
#include "finetune.h"
#include "gguf.h"
#include "train.h"

static int split_targets(char *list, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

/* token rows from a safetensors file with input_ids [rows, seq] (I32 or I64) */
static int read_rows(const char *path, int **rows, int *n_rows, int *seq, cpet_err *err)
{
    st_file f;
    if (st_open(&f, path, err) != 0) return -1;
    const st_tensor *t = st_find(&f, "input_ids");
    if (!t || t->ndim != 2 || (t->dtype != ST_I32 && t->dtype != ST_I64) || t->numel == 0) {
        st_close(&f);
        return cpet_fail(err, "%s: needs a non-empty I32/I64 tensor input_ids [rows, seq]", path);
    }
    *n_rows = (int)t->shape[0];
    *seq = (int)t->shape[1];
    *rows = malloc(t->numel * sizeof(int));
    st_to_int(&f, t, *rows, err);
    st_close(&f);
    return 0;
}

int cmd_train_lora(int argc, char **argv)
{
    const char *dir = NULL, *data = NULL, *out_dir = NULL, *log_path = NULL, *task = NULL, *split = "train", *mixer = "none",
               *targets_arg = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", *sched_arg = "cosine";
    char targets_buf[512];
    long rank = 8, steps = 100, batch = 4, warmup = 0, seed = 0, threads = 0;
    int rslora = 0;
    double alpha = 16, lr = 1e-3, clip = 1.0, wd = 0.0, min_lr = 0.0;
    schedule_kind sched = SCHED_COSINE;
    opt output = OPT_REQUIRED("-o", &out_dir, "ADAPTER_DIR", "the adapter, in PEFT format (PeftModel.from_pretrained loads it)");
    output.alias = "--output";
    const opt opts[] = {
        OPT_POSITIONAL(&dir, "MODEL_DIR", "the frozen base"),
        OPT_STRING("--data", &data, "IDS.safetensors", "input_ids [rows, seq]; batches cycle over the rows"),
        OPT_STRING("--task", &task, "TASKS.jsonl", "multiple-choice examples: the loss on the correct choice's tokens, cosine with 10% warmup"),
        OPT_STRING("--split", &split, "S", "with --task: the split trained on"),
        OPT_STRING("--mixer", &mixer, "none|trained|frozen", "MoSLoRA's r x r mixer between A and B"),
        OPT_INT("--rank", &rank, 1, 4096, "LoRA rank r"),
        OPT_NUMBER("--alpha", &alpha, "LoRA alpha (scaling alpha/r)"),
        OPT_SWITCH("--rslora", &rslora, "scaling alpha/sqrt(r)"),
        OPT_STRING("--targets", &targets_arg, "A,B,...", "modules adapted"),
        OPT_INT("--steps", &steps, 1, 100000000, "optimizer steps"),
        OPT_INT("--batch", &batch, 1, 65536, "rows or examples per step"),
        OPT_NUMBER("--lr", &lr, "peak learning rate"),
        OPT_NUMBER("--min-lr", &min_lr, "with --data: the schedule's floor"),
        OPT_NUMBER("--weight-decay", &wd, "AdamW weight decay"),
        OPT_STRING("--schedule", &sched_arg, "constant|linear|cosine", "with --data: the learning-rate schedule"),
        OPT_INT("--warmup", &warmup, 0, 100000000, "with --data: warmup steps"),
        OPT_NUMBER("--clip", &clip, "gradient norm clip (0: off)"),
        OPT_SEED(&seed),
        OPT_THREADS(&threads),
        OPT_STRING("--log", &log_path, "FILE.json", "loss curve, seed and git revision"),
        output,
        OPT_END};
    const opt_command cmd = {.name = "train-lora",
                             .usage = "MODEL_DIR --data IDS.safetensors | --task TASKS.jsonl -o ADAPTER_DIR [options]",
                             .about = "LoRA on a frozen base with AdamW.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    snprintf(targets_buf, sizeof targets_buf, "%s", targets_arg);
    if (schedule_parse(sched_arg, &sched) != 0) return cli_error("--schedule: '%s' is not constant, linear or cosine", sched_arg);
    if (!dir || !out_dir || !data == !task) return cli_error("train-lora: MODEL_DIR, -o and one of --data or --task are required");
    const int mix = !strcmp(mixer, "trained") ? LORA_MIXER_TRAINED : !strcmp(mixer, "frozen") ? LORA_MIXER_FROZEN : LORA_MIXER_NONE;
    if (mix == LORA_MIXER_NONE && strcmp(mixer, "none") != 0) return cli_error("train-lora: --mixer '%s': none, trained or frozen", mixer);
    if (threads) engine_set_threads((int)threads);

    cpet_err err;
    int *rows = NULL, n_rows = 0, seq = 0;
    task_set examples = {0};
    if (data && read_rows(data, &rows, &n_rows, &seq, &err) != 0) return cli_report(&err);
    if (task && tasks_read(&examples, task, split, &err) != 0) return cli_report(&err);
    if (task && examples.n == 0) return cli_error("train-lora: %s: no examples in split '%s'", task, split);
    model m;
    tokenizer tok;
    int have_tok = 0;
    if (model_load(&m, dir, &err) != 0) {
        free(rows);
        tasks_free(&examples);
        return cli_report(&err);
    }
    const char *targets[LORA_MAX_TARGETS];
    int n_targets = split_targets(targets_buf, targets, LORA_MAX_TARGETS);
    lora_adapter ad;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    int rc = 1;
    int *batch_ids = data ? malloc((size_t)batch * seq * sizeof(int)) : NULL;
    json_t *curve = json_array();
    if (lora_create_mixed(&ad, &m, (int)rank, (float)alpha, rslora, mix, targets, n_targets, (unsigned long long)seed,
                          &err) != 0) {
        memset(&ad, 0, sizeof ad);
        goto done;
    }
    adamw_config oc = adamw_defaults();
    oc.weight_decay = (float)wd;
    if (lora_set_trainable(&ad, 1, &err) || adamw_init(&opt, oc, &err) || adamw_add(&opt, ad.tensors, ad.n_tensors, &err))
        goto done;
    lr_schedule s = {sched, (float)lr, (float)min_lr, warmup, steps};
    double t0 = now_seconds();
    if (task) { /* multiple choice: the loss on the correct choice (eval/finetune.c) */
        if (tokenizer_load_for(&tok, dir, NULL, &err) != 0) goto done;
        have_tok = 1;
        finetune_config fc = {.steps = (int)steps, .batch = (int)batch, .lr = (float)lr, .weight_decay = (float)wd,
                              .clip = (float)clip, .seed = (uint64_t)seed, .bos_id = m.cfg.bos_token_id};
        json_t *pairs = json_array();
        long tokens = 0;
        int frc = finetune_multiple_choice(&m, &opt, &tok, &examples, &fc, pairs, &tokens, &err);
        size_t k;
        json_t *p;
        json_array_foreach(pairs, k, p) /* [step, loss] -> the --data log's {step, loss} */
            json_array_append_new(curve, json_pack("{s:O, s:O}", "step", json_array_get(p, 0), "loss", json_array_get(p, 1)));
        json_decref(pairs);
        if (frc != 0) goto done;
        fprintf(stderr, "%ld steps on %s (%d examples of split %s), last loss %.4f\n", steps, task, examples.n, split,
                json_number_value(json_object_get(json_array_get(curve, json_array_size(curve) - 1), "loss")));
    }
    for (long step = 0; data && step < steps; step++) {
        for (long b = 0; b < batch; b++) /* batches walk the rows in order, wrapping around */
            memcpy(batch_ids + b * seq, rows + ((step * batch + b) % n_rows) * seq, (size_t)seq * sizeof(int));
        step_result r;
        if (train_step(&m, &opt, batch_ids, NULL, (int)batch, seq, lr_at(&s, step), clip, &r, &err) != 0) goto done;
        json_array_append_new(curve, json_pack("{s:I, s:f, s:f, s:f}", "step", (json_int_t)step + 1, "loss",
                                               (double)r.loss, "grad_norm", r.grad_norm, "lr", (double)r.lr));
        double el = now_seconds() - t0;
        if (stderr_is_tty() || step + 1 == steps)
            fprintf(stderr, "\rstep %ld/%ld  loss %.4f  |g| %.3f  lr %.2e  %.0f tok/s  ETA %.0fs   %s", step + 1, steps,
                    (double)r.loss, r.grad_norm, (double)r.lr, (double)(step + 1) * batch * seq / el,
                    el / (step + 1) * (steps - step - 1), step + 1 == steps ? "\n" : "");
    }
    if (lora_save(&ad, out_dir, &err) != 0) goto done;
    if (log_path) {
        json_t *log = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:f, s:s, s:I, s:f, s:o, s:o}", "command",
                                "train-lora", "model", dir, "data", data ? data : task, "seed", (json_int_t)seed, "rank",
                                (json_int_t)rank, "alpha", alpha, "steps", (json_int_t)steps, "batch",
                                (json_int_t)batch, "lr", lr, "schedule",
                                sched == SCHED_COSINE ? "cosine" : sched == SCHED_LINEAR ? "linear" : "constant",
                                "warmup", (json_int_t)warmup, "wall_seconds", now_seconds() - t0, "facts", run_facts(),
                                "curve", json_incref(curve));
        int wrc = json_write_file(log_path, log, &err);
        json_decref(log);
        if (wrc != 0) goto done;
    }
    rc = 0;
done:
    if (rc != 0) cli_report(&err);
    json_decref(curve);
    free(batch_ids);
    adamw_free(&opt);
    lora_free(&ad);
    model_free(&m);
    if (have_tok) tokenizer_free(&tok);
    tasks_free(&examples);
    free(rows);
    return rc;
}
