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
#include "method_door.h"
#include "methods/prosparse.h"

extern const method method_prosparse;

/* cpet sparsify: the harness method prosparse with no model given, i.e. trained here from MODEL; its options
 * are the method's parameters */
int cmd_sparsify(int argc, char **argv)
{
    door_inputs in = {0};
    const opt own[] = {OPT_POSITIONAL(&in.model, "MODEL", "the model made sparse"),
                       OPT_SEED(&in.seed),
                       OPT_THREADS(&in.threads),
                       OPT_REQUIRED("-o", &in.out_dir, "OUT", "the sparse model and OUT/sparsify.json"),
                       OPT_END};
    const opt_command cmd = {
        .name = "sparsify",
        .usage = "MODEL --corpus TEXT (--schedule FILE | --lambda L --steps N) -o OUT [options]",
        .about = "ProSparse (arXiv 2402.13516): the FFN activation becomes ReLU, then all weights train on the corpus with\n"
                 "loss = LM loss + lambda(t) * sum over layers of mean over tokens of ||x1||_1 (x1 = act(gate) * up), lambda(t)\n"
                 "from the schedule's stages (Algorithm 1: half-sine ramps between stages; the paper's are in\n"
                 "reports/specs/schedules/). A schedule of zeros is the ReLU-only baseline. The options are the harness\n"
                 "method prosparse's parameters; --model and --sparsity-text belong to its evaluation in a matrix.\n",
        .after = "Writes OUT/ (config.json, model.safetensors, tokenizer.json) and OUT/sparsify.json: the arguments, seed,\n"
                 "git revision and threads, and per step loss, L1 term, lambda, lr and the batch's sparsity.\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(&method_prosparse, &cmd, own, argc, argv, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    const char *given = json_string_value(json_object_get(params, "model"));
    if (given && given[0]) {
        json_decref(params);
        return cli_error("sparsify: --model names a model trained before; sparsify trains one from MODEL");
    }
    json_t *record = NULL;
    int rc = method_door_run(&method_prosparse, &in, params, &record, &err);
    if (rc == 0) {
        const json_t *m = json_object_get(record, "metrics");
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", in.out_dir);
        json_t *cfg = json_load_file(path, 0, NULL);
        printf("sparsify %s -> %s: %s, final loss %.4f, train-batch sparsity %.2f%%", in.model, in.out_dir,
               json_string_value(json_object_get(cfg, "hidden_act")) ?: "?", json_number_value(json_object_get(m, "train_loss")),
               100 * json_number_value(json_object_get(m, "train_sparsity")));
        if (json_object_get(m, "heldout_sparsity"))
            printf(", %s sparsity %.2f%%", json_string_value(json_object_get(params, "heldout")),
                   100 * json_number_value(json_object_get(m, "heldout_sparsity")));
        printf("\n");
        json_decref(cfg);
    }
    json_decref(record);
    json_decref(params);
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
