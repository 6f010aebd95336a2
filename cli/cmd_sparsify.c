/* cpet sparsify: ProSparse (engine/methods/prosparse.h) as a command. SiLU -> ReLU, continued training
 * with the L1 regulariser on lambda(t) from a schedule file, optionally the FATReLU threshold; writes the
 * sparse model with a log of loss, lambda and sparsity per step (sparsify.json). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "corpus.h"
#include "fileio.h"
#include "gguf.h"
#include "methods/prosparse.h"

typedef struct {
    json_t *rows;
    long steps;
    double t0;
} progress;

static int on_step(const prosparse_step_log *s, void *ctx)
{
    progress *p = ctx;
    json_array_append_new(p->rows, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)s->step, "loss", s->loss, "l1",
                                             s->l1, "lambda", s->lambda, "sparsity", s->sparsity, "lr", (double)s->lr));
    if (stderr_is_tty()) {
        double el = now_seconds() - p->t0;
        fprintf(stderr, "\rstep %ld/%ld  loss %.4f  lambda %.3g  sparsity %.1f%%  ETA %.0fs   ", s->step, p->steps, s->loss, s->lambda,
                100 * s->sparsity, el / s->step * (p->steps - s->step));
    }
    return 0;
}

/* Sparsity of the trained model over a held-out text, per layer, and its perplexity from the same forwards. */
static json_t *heldout_sparsity(model *m, const tokenizer *tok, const char *path, int seq, cpet_err *err)
{
    corpus text;
    int *stream = NULL;
    long n = 0;
    if (corpus_read(&text, path, err) != 0) return NULL;
    int rc = corpus_tokenize(&text, tok, m->cfg.bos_token_id, &stream, &n, err);
    corpus_free(&text);
    prosparse_counts c;
    prosparse_counts_init(&c, m);
    double nll = 0;
    if (rc == 0) rc = prosparse_measure(m, stream, n, seq, 8, &c, &nll, err);
    free(stream);
    if (rc != 0) return cpet_prefix(err, "%s", path), NULL;
    json_t *layers = json_array();
    for (int l = 0; l < c.n_layers; l++) json_array_append_new(layers, json_real(prosparse_sparsity_of(&c, l)));
    return json_pack("{s:s, s:f, s:o, s:I, s:f, s:s}", "file", path, "sparsity", prosparse_sparsity_of(&c, -1), "per_layer", layers,
                     "tokens", (json_int_t)(c.entries / m->cfg.intermediate_size), "perplexity", exp(nll), "perplexity_over",
                     "windows of --seq tokens tiling the text");
}

int cmd_sparsify(int argc, char **argv)
{
    const char *model_dir = NULL, *corpus_path = NULL, *schedule_path = NULL, *out = NULL, *heldout = NULL, *act = "relu",
               *sched_name = "cosine";
    long batch = 16, seq = 128, steps = 0, warmup = 20, seed = 0, threads = 0;
    double lr = 3e-4, min_lr = 3e-5, clip = 1.0, wd = 0.0, lambda = -1, threshold = 0, lambda_scale = 1;
    const opt opts[] = {
        OPT_POSITIONAL(&model_dir, "MODEL", "the model made sparse"),
        OPT_REQUIRED("--corpus", &corpus_path, "TEXT", "the training text"),
        OPT_STRING("--schedule", &schedule_path, "FILE", "lambda's stages as JSON {\"stages\": [{\"lambda\": 0, \"until_step\": 200}, ...]}"),
        OPT_NUMBER("--lambda", &lambda, "a constant lambda instead, with --steps (the paper's ablation; -1: none)"),
        OPT_NUMBER("--lambda-scale", &lambda_scale, "multiply every lambda by K (the schedule's shape kept, its strength chosen)"),
        OPT_STRING("--activation", &act, "relu|keep", "relu (the swap) or keep (the model's own activation: a dense control)"),
        OPT_NUMBER("--threshold", &threshold, "after training, FATReLU: keep x >= T (the paper's shift uses 0.01); 0: ReLU"),
        OPT_INT("--steps", &steps, 0, 100000000L, "train N steps (0: the schedule's last until_step)"),
        OPT_INT("--batch", &batch, 1, 65536, "sequences per step"),
        OPT_INT("--seq", &seq, 2, 1 << 20, "sequence length"),
        OPT_NUMBER("--lr", &lr, "peak learning rate"),
        OPT_NUMBER("--min-lr", &min_lr, "the schedule's floor"),
        OPT_INT("--warmup", &warmup, 0, 100000000L, "warmup steps"),
        OPT_STRING("--schedule-lr", &sched_name, "constant|linear|cosine", "the learning-rate schedule"),
        OPT_NUMBER("--clip", &clip, "gradient norm clip (0: off)"),
        OPT_NUMBER("--weight-decay", &wd, "AdamW weight decay"),
        OPT_SEED(&seed),
        OPT_THREADS(&threads),
        OPT_STRING("--heldout", &heldout, "TEXT", "also the final model's sparsity (per layer) and perplexity on this text"),
        OPT_REQUIRED("-o", &out, "OUT", "the sparse model and OUT/sparsify.json"),
        OPT_END};
    const opt_command cmd = {
        .name = "sparsify",
        .usage = "MODEL --corpus TEXT (--schedule FILE | --lambda L --steps N) -o OUT [options]",
        .about = "ProSparse (arXiv 2402.13516): the FFN activation becomes ReLU, then all weights train on the corpus with\n"
                 "loss = LM loss + lambda(t) * sum over layers of mean over tokens of ||x1||_1 (x1 = act(gate) * up), lambda(t)\n"
                 "from the schedule's stages (Algorithm 1: half-sine ramps between stages; the paper's are in\n"
                 "reports/specs/schedules/). A schedule of zeros is the ReLU-only baseline.\n",
        .after = "Writes OUT/ (config.json, model.safetensors, tokenizer.json) and OUT/sparsify.json: the arguments, seed,\n"
                 "git revision and threads, and per step loss, L1 term, lambda, lr and the batch's sparsity.\n"};
    const int parsed = cli_options(&cmd, opts, argc, argv);
    if (parsed != OPT_OK) return cli_exit_status(parsed);
    if (!schedule_path == !(lambda >= 0)) return cli_error("sparsify: give either --schedule FILE or --lambda L (with --steps N)");
    if (lambda >= 0 && !steps) return cli_error("sparsify: --lambda needs --steps");
    if (strcmp(act, "relu") != 0 && strcmp(act, "keep") != 0) return cli_error("sparsify: --activation '%s': relu or keep", act);
    if (threshold < 0) return cli_error("sparsify: --threshold %g: must be >= 0", threshold);
    if (!(lambda_scale >= 0) || !isfinite(lambda_scale)) return cli_error("sparsify: --lambda-scale %g: must be a finite number >= 0", lambda_scale);
    prosparse_train_config tc = {.steps = steps, .batch = (int)batch, .seq = (int)seq, .clip = clip, .weight_decay = wd, .seed = (uint64_t)seed};
    cpet_err err;
    if (schedule_path ? prosparse_schedule_load(&tc.schedule, schedule_path, &err) != 0 : 0) return cli_report(&err);
    if (!schedule_path) tc.schedule = prosparse_constant(lambda, steps);
    prosparse_schedule_scale(&tc.schedule, lambda_scale);
    if (schedule_parse(sched_name, &tc.lr.kind) != 0) return cli_error("sparsify: --schedule-lr '%s': constant, linear or cosine", sched_name);
    const long total = steps ? steps : tc.schedule.until[tc.schedule.n - 1];
    tc.lr = (lr_schedule){tc.lr.kind, (float)lr, (float)min_lr, warmup, total};
    if (threads) engine_set_threads((int)threads);

    model m;
    tokenizer tok;
    corpus text;
    int *stream = NULL;
    long n_tokens = 0;
    if (model_load(&m, model_dir, &err) != 0) return cli_report(&err);
    if (tokenizer_load_for(&tok, model_dir, NULL, &err) != 0) {
        model_free(&m);
        return cli_report(&err);
    }
    int rc = corpus_read(&text, corpus_path, &err);
    if (rc == 0) {
        rc = corpus_tokenize(&text, &tok, m.cfg.bos_token_id, &stream, &n_tokens, &err);
        if (rc != 0) cpet_prefix(&err, "%s", corpus_path);
        corpus_free(&text);
    }
    const char *act_before = activation_name(m.cfg.hidden_act);
    if (rc == 0 && !strcmp(act, "relu")) prosparse_relu_swap(&m);
    if (rc == 0 && threshold > 0 && m.cfg.hidden_act != ACT_RELU && m.cfg.hidden_act != ACT_FATRELU)
        rc = cpet_fail(&err, "sparsify: --threshold needs a ReLU model, and --activation keep leaves %s's %s", model_dir, act_before);
    progress p = {json_array(), total, now_seconds()};
    if (rc == 0) rc = prosparse_train(&m, stream, n_tokens, &tc, on_step, &p, &err);
    const double train_seconds = now_seconds() - p.t0;
    if (stderr_is_tty()) fputc('\n', stderr);
    if (rc == 0 && threshold > 0) rc = prosparse_set_threshold(&m, (float)threshold, &err);
    json_t *held = NULL;
    if (rc == 0 && heldout && !(held = heldout_sparsity(&m, &tok, heldout, (int)seq, &err))) rc = -1;
    char staged[4200], path[4400];
    if (rc == 0) rc = cli_stage_model(&m, &tok, out, staged, sizeof staged, &err);
    json_t *stages = json_array();
    for (int i = 0; i < tc.schedule.n; i++)
        json_array_append_new(stages, json_pack("{s:f, s:I}", "lambda", tc.schedule.lambda[i], "until_step", (json_int_t)tc.schedule.until[i]));
    json_t *log = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:f, s:f, s:o, s:{s:I, s:I, s:I, s:f, s:f, s:I, s:s, s:f, s:f}, s:I, s:f, "
                            "s:I, s:o, s:o?, s:o}",
                            "command", "sparsify", "model", model_dir, "corpus", corpus_path, "schedule", schedule_path, "activation_before",
                            act_before, "activation", activation_name(m.cfg.hidden_act), "threshold", threshold, "lambda_scale", lambda_scale, "stages", stages, "train",
                            "steps", (json_int_t)total, "batch", (json_int_t)batch, "seq", (json_int_t)seq, "lr", lr, "min_lr", min_lr,
                            "warmup", (json_int_t)warmup, "lr_schedule", sched_name, "clip", clip, "weight_decay", wd, "seed",
                            (json_int_t)seed, "train_seconds", train_seconds, "corpus_tokens", (json_int_t)n_tokens, "log", p.rows,
                            "heldout", held, "facts", run_facts());
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/sparsify.json", staged);
        rc = json_write_file(path, log, &err);
    }
    if (rc == 0) rc = replace_dir(staged, out, &err);
    if (rc == 0) {
        const json_t *last = json_array_get(p.rows, json_array_size(p.rows) - 1);
        printf("sparsify %s -> %s: %s, %ld steps, final loss %.4f, train-batch sparsity %.2f%%", model_dir, out, activation_name(m.cfg.hidden_act),
               total, json_number_value(json_object_get(last, "loss")), 100 * json_number_value(json_object_get(last, "sparsity")));
        if (held) printf(", %s sparsity %.2f%%", heldout, 100 * json_number_value(json_object_get(held, "sparsity")));
        printf("\n");
    }
    json_decref(log);
    free(stream);
    tokenizer_free(&tok);
    model_free(&m);
    return rc != 0 ? cli_report(&err) : 0;
}

static json_t *counts_json(const predict_counts *c)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "recall", predict_recall(c), "precision", predict_precision(c), "predicted_sparsity",
                     predict_sparsity(c), "true_sparsity", (c->tn + c->fp) / (c->tp + c->fp + c->fn + c->tn));
}

/* cpet predictor: the activation predictor of a ReLU model (engine/model/ffn_predictor.h), trained on a corpus. */
int cmd_predictor(int argc, char **argv)
{
    const char *model_dir = NULL, *corpus_path = NULL, *out = NULL, *heldout = NULL, *gating = "threshold";
    long hidden = 64, epochs = 10, batch = 256, max_tokens = 20000, seq = 128, top_k = 0, seed = 0, threads = 0;
    double lr = 1e-3, wd = 0.01, prob = 0.5;
    const opt opts[] = {
        OPT_POSITIONAL(&model_dir, "MODEL", "a ReLU model"),
        OPT_REQUIRED("--corpus", &corpus_path, "TEXT", "the text the (input, active neurons) pairs are recorded on"),
        OPT_STRING("--gating", &gating, "threshold|top_k", "threshold: active when sigmoid(logit) >= --p; top_k: the --top-k largest logits"),
        OPT_NUMBER("--p", &prob, "the threshold gating's probability (the reference's 0.5)"),
        OPT_INT("--top-k", &top_k, 0, 1 << 24, "the top_k gating's K"),
        OPT_INT("--hidden", &hidden, 1, 1 << 16, "the predictor's hidden size"),
        OPT_INT("--epochs", &epochs, 1, 1000, "passes, the best-recall epoch kept"),
        OPT_INT("--batch", &batch, 1, 1 << 16, "pairs per step"),
        OPT_NUMBER("--lr", &lr, "AdamW learning rate"),
        OPT_NUMBER("--weight-decay", &wd, "AdamW weight decay"),
        OPT_INT("--max-tokens", &max_tokens, 1, 1L << 30, "tokens recorded"),
        OPT_INT("--seq", &seq, 2, 1 << 20, "sequence length"),
        OPT_STRING("--heldout", &heldout, "TEXT", "also recall, precision and predicted sparsity on this text, token by token"),
        OPT_SEED(&seed),
        OPT_THREADS(&threads),
        OPT_REQUIRED("-o", &out, "DIR", "predictor.safetensors, predictor.json and predictor_eval.json"),
        OPT_END};
    const opt_command cmd = {
        .name = "predictor",
        .about = "Trains a per-layer activation predictor (Linear(d, H) -> ReLU -> Linear(H, d_ff), as ProSparse's\n"
                 "DejaVu_predictor) on (residual stream before the FFN norm, x1 != 0) pairs recorded from MODEL on TEXT:\n"
                 "weighted BCE (negatives weighted mean(y) + 0.005), AdamW, 5% held out, the best-recall epoch kept.\n",
        .after = "predictor.json holds the gating, the model's shape and weight fingerprint: loading it for another model is\n"
                 "an error. Use it with cpet bench decode --sparse --predictor DIR.\n"};
    const int parsed = cli_options(&cmd, opts, argc, argv);
    if (parsed != OPT_OK) return cli_exit_status(parsed);
    const int topk_gating = !strcmp(gating, "top_k");
    if (!topk_gating && strcmp(gating, "threshold") != 0) return cli_error("predictor: --gating '%s': threshold or top_k", gating);
    if (topk_gating && !top_k) return cli_error("predictor: --gating top_k needs --top-k K");
    if (!(prob > 0 && prob < 1)) return cli_error("predictor: --p %g: a probability in (0, 1)", prob);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    model m;
    tokenizer tok;
    if (model_load(&m, model_dir, &err) != 0) return cli_report(&err);
    if (m.cfg.hidden_act != ACT_RELU && m.cfg.hidden_act != ACT_FATRELU) {
        cpet_fail(&err, "%s: a predictor of x1 != 0 needs a ReLU model; this one uses %s (make it sparse with cpet sparsify)", model_dir,
                  activation_name(m.cfg.hidden_act));
        model_free(&m);
        return cli_report(&err);
    }
    if (tokenizer_load_for(&tok, model_dir, NULL, &err) != 0) {
        model_free(&m);
        return cli_report(&err);
    }
    const int L = m.cfg.n_layers;
    predict_counts *valid = calloc((size_t)L, sizeof *valid), *held = calloc((size_t)L, sizeof *held);
    int *stream = NULL;
    long n = 0;
    corpus text;
    int rc = valid && held ? corpus_read(&text, corpus_path, &err) : cpet_fail(&err, "predictor: out of memory");
    if (rc == 0) {
        rc = corpus_tokenize(&text, &tok, m.cfg.bos_token_id, &stream, &n, &err);
        corpus_free(&text);
    }
    ffn_predictor p = {0};
    ffn_predictor_train_config tc = {.hidden = (int)hidden, .epochs = (int)epochs, .batch = (int)batch, .lr = (float)lr,
                                     .weight_decay = (float)wd, .valid_fraction = 0.05f, .seed = (uint64_t)seed};
    const double t0 = now_seconds();
    if (rc == 0) rc = prosparse_train_predictor(&m, stream, n, (int)seq, max_tokens, &tc, &p, valid, &err); /* validated at p = 0.5 */
    const double train_seconds = now_seconds() - t0;
    if (rc == 0) {
        p.gating = topk_gating ? PREDICT_TOP_K : PREDICT_THRESHOLD, p.p = (float)prob, p.top_k = (int)top_k;
    }
    if (rc == 0 && heldout) {
        int *hs = NULL;
        long hn = 0;
        if ((rc = corpus_read(&text, heldout, &err)) == 0) {
            rc = corpus_tokenize(&text, &tok, m.cfg.bos_token_id, &hs, &hn, &err);
            corpus_free(&text);
        }
        if (rc == 0) rc = prosparse_eval_predictor(&m, &p, hs, hn, (int)seq, held, &err);
        free(hs);
    }
    char staged[4200], path[4400];
    snprintf(staged, sizeof staged, "%s.partial", out);
    if (rc == 0) rc = ffn_predictor_save(&p, staged, &err);
    if (rc == 0) {
        json_t *layers = json_array();
        predict_counts all_v = {0}, all_h = {0};
        for (int l = 0; l < L; l++) {
            json_t *row = json_pack("{s:i, s:o}", "layer", l, "validation", counts_json(&valid[l]));
            if (heldout) json_object_set_new(row, "heldout", counts_json(&held[l]));
            json_array_append_new(layers, row);
            all_v.tp += valid[l].tp, all_v.fp += valid[l].fp, all_v.fn += valid[l].fn, all_v.tn += valid[l].tn;
            all_h.tp += held[l].tp, all_h.fp += held[l].fp, all_h.fn += held[l].fn, all_h.tn += held[l].tn;
        }
        json_t *log = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:f, s:I, s:{s:I, s:I, s:I, s:f, s:f, s:I, s:I}, s:I, s:f, s:o, s:o, s:o?, s:o}",
                                "command", "predictor", "model", model_dir, "corpus", corpus_path, "heldout", heldout, "gating", gating, "p", prob,
                                "top_k", (json_int_t)top_k, "train", "hidden", (json_int_t)hidden, "epochs", (json_int_t)epochs, "batch",
                                (json_int_t)batch, "lr", lr, "weight_decay", wd, "max_tokens", (json_int_t)max_tokens, "seq", (json_int_t)seq,
                                "seed", (json_int_t)seed, "train_seconds", train_seconds, "layers", layers, "validation",
                                counts_json(&all_v), "heldout_all", heldout ? counts_json(&all_h) : NULL, "facts", run_facts());
        snprintf(path, sizeof path, "%s/predictor_eval.json", staged);
        rc = json_write_file(path, log, &err);
        if (rc == 0) rc = replace_dir(staged, out, &err);
        if (rc == 0) {
            const predict_counts *c = heldout ? &all_h : &all_v;
            printf("predictor %s -> %s: %s recall %.2f%%, precision %.2f%%, predicted sparsity %.2f%% (true %.2f%%)\n", model_dir, out,
                   heldout ? "held-out" : "validation", 100 * predict_recall(c), 100 * predict_precision(c), 100 * predict_sparsity(c),
                   100 * (c->tn + c->fp) / (c->tp + c->fp + c->fn + c->tn));
        }
        json_decref(log);
    }
    ffn_predictor_free(&p);
    free(valid), free(held), free(stream);
    tokenizer_free(&tok);
    model_free(&m);
    return rc != 0 ? cli_report(&err) : 0;
}
