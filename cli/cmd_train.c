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
#include "gguf.h"
#include "method_door.h"
#include "train.h"

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

/* --data: LoRA as a language model on token rows, batches walking the rows in order; the adapter saved to out */
static int train_on_rows(const char *dir, const char *data, const json_t *params, schedule_kind sched, long warmup, double min_lr, long seed,
                         const char *out_dir, json_t *curve, cpet_err *err)
{
    int *rows = NULL, n_rows = 0, seq = 0;
    if (read_rows(data, &rows, &n_rows, &seq, err) != 0) return -1;
    model m;
    if (model_load(&m, dir, err) != 0) return free(rows), -1;
    const long steps = (long)json_integer_value(json_object_get(params, "steps")), batch = (long)json_integer_value(json_object_get(params, "batch"));
    const double lr = json_number_value(json_object_get(params, "lr")), clip = json_number_value(json_object_get(params, "clip"));
    lora_adapter ad;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    int *batch_ids = malloc((size_t)batch * seq * sizeof(int)), rc = -1;
    if (method_lora_create(params, &m, (uint64_t)seed, &ad, err) != 0) {
        memset(&ad, 0, sizeof ad);
        goto done;
    }
    adamw_config oc = adamw_defaults();
    oc.weight_decay = (float)json_number_value(json_object_get(params, "weight_decay"));
    if (lora_set_trainable(&ad, 1, err) || adamw_init(&opt, oc, err) || adamw_add(&opt, ad.tensors, ad.n_tensors, err)) goto done;
    lr_schedule s = {sched, (float)lr, (float)min_lr, warmup, steps};
    const double t0 = now_seconds();
    for (long step = 0; step < steps; step++) {
        for (long b = 0; b < batch; b++) /* batches walk the rows in order, wrapping around */
            memcpy(batch_ids + b * seq, rows + ((step * batch + b) % n_rows) * seq, (size_t)seq * sizeof(int));
        step_result r;
        if (train_step(&m, &opt, batch_ids, NULL, (int)batch, seq, lr_at(&s, step), clip, &r, err) != 0) goto done;
        json_array_append_new(curve, json_pack("{s:I, s:f, s:f, s:f}", "step", (json_int_t)step + 1, "loss", (double)r.loss, "grad_norm",
                                               r.grad_norm, "lr", (double)r.lr));
        double el = now_seconds() - t0;
        if (stderr_is_tty() || step + 1 == steps)
            fprintf(stderr, "\rstep %ld/%ld  loss %.4f  |g| %.3f  lr %.2e  %.0f tok/s  ETA %.0fs   %s", step + 1, steps, (double)r.loss, r.grad_norm,
                    (double)r.lr, (double)(step + 1) * batch * seq / el, el / (step + 1) * (steps - step - 1), step + 1 == steps ? "\n" : "");
    }
    rc = lora_save(&ad, out_dir, err);
done:
    free(batch_ids);
    adamw_free(&opt);
    lora_free(&ad);
    model_free(&m);
    free(rows);
    return rc;
}

extern const method method_lora;

/* cpet train-lora: the harness method lora's parameters as flags. --task runs the method itself (the LoRA
 * recipe, method_run_lora: the adapter saved to -o, then scored on the split it trained on); --data trains
 * the same adapter as a language model on token rows. */
int cmd_train_lora(int argc, char **argv)
{
    const char *dir = NULL, *data = NULL, *out_dir = NULL, *log_path = NULL, *task = NULL, *split = "train", *sched_arg = "cosine";
    long warmup = 0, seed = 0, threads = 0;
    double min_lr = 0.0;
    opt output = OPT_REQUIRED("-o", &out_dir, "ADAPTER_DIR", "the adapter, in PEFT format (PeftModel.from_pretrained loads it)");
    output.alias = "--output";
    opt model_arg = OPT_POSITIONAL(&dir, "MODEL_DIR", "the frozen base");
    model_arg.required = 0; /* named in the one error below, with --data / --task */
    output.required = 0;
    const opt own[] = {
        model_arg,
        OPT_STRING("--data", &data, "IDS.safetensors", "input_ids [rows, seq]; batches cycle over the rows"),
        OPT_STRING("--task", &task, "TASKS.jsonl", "multiple-choice examples: the loss on the correct choice's tokens, cosine with 10% warmup"),
        OPT_STRING("--split", &split, "S", "with --task: the split trained on"),
        OPT_STRING("--schedule", &sched_arg, "constant|linear|cosine", "with --data: the learning-rate schedule"),
        OPT_INT("--warmup", &warmup, 0, 100000000, "with --data: warmup steps"),
        OPT_NUMBER("--min-lr", &min_lr, "with --data: the schedule's floor"),
        OPT_SEED(&seed),
        OPT_THREADS(&threads),
        OPT_STRING("--log", &log_path, "FILE.json", "loss curve, seed and git revision"),
        output,
        OPT_END};
    const opt_command cmd = {.name = "train-lora",
                             .usage = "MODEL_DIR --data IDS.safetensors | --task TASKS.jsonl -o ADAPTER_DIR [options]",
                             .about = "LoRA on a frozen base with AdamW; the options after -o are the harness method lora's parameters.\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(&method_lora, &cmd, own, argc, argv, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    schedule_kind sched;
    int rc = 0;
    if (!dir || !out_dir || !data == !task) rc = cli_error("train-lora: MODEL_DIR, -o and one of --data or --task are required");
    else if (schedule_parse(sched_arg, &sched) != 0) rc = cli_error("--schedule: '%s' is not constant, linear or cosine", sched_arg);
    if (rc != 0) return json_decref(params), rc;
    if (threads) engine_set_threads((int)threads);
    json_t *curve = json_array();
    const double t0 = now_seconds();
    if (task) {
        /* the method scores the split it trained on: the adapter's fit, and a split every task file has */
        door_inputs in = {.model = dir, .task = task, .train_split = split, .eval_split = split, .seed = seed, .threads = threads, .out_dir = out_dir};
        json_t *record = NULL;
        rc = method_door_run(&method_lora, &in, params, &record, &err);
        size_t k;
        json_t *pair;
        json_array_foreach(json_object_get(json_object_get(record, "curves"), "train_loss"), k, pair) /* [step, loss] -> {step, loss} */
            json_array_append_new(curve, json_pack("{s:O, s:O}", "step", json_array_get(pair, 0), "loss", json_array_get(pair, 1)));
        if (rc == 0)
            fprintf(stderr, "%lld steps on %s (split %s), last loss %.4f, accuracy on it %.4f\n",
                    (long long)json_integer_value(json_object_get(params, "steps")), task, split,
                    json_number_value(json_object_get(json_array_get(curve, json_array_size(curve) - 1), "loss")),
                    json_number_value(json_object_get(json_object_get(record, "metrics"), "acc")));
        json_decref(record);
    } else
        rc = train_on_rows(dir, data, params, sched, warmup, min_lr, seed, out_dir, curve, &err);
    if (rc == 0 && log_path) {
        json_t *log = json_pack("{s:s, s:s, s:s, s:I, s:O, s:O, s:O, s:O, s:O, s:s, s:I, s:f, s:O, s:o, s:O}", "command", "train-lora", "model", dir,
                                "data", data ? data : task, "seed", (json_int_t)seed, "rank", json_object_get(params, "rank"), "alpha",
                                json_object_get(params, "alpha"), "steps", json_object_get(params, "steps"), "batch",
                                json_object_get(params, "batch"), "lr", json_object_get(params, "lr"), "schedule",
                                task ? "cosine, 10% warmup" : sched_arg, "warmup", (json_int_t)warmup, "wall_seconds", now_seconds() - t0,
                                "params", params, "facts", run_facts(), "curve", curve);
        rc = json_write_file(log_path, log, &err);
        json_decref(log);
    }
    json_decref(curve);
    json_decref(params);
    return rc != 0 ? cli_report(&err) : 0;
}
