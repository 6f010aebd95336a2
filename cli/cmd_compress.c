/* cpet compress: quantize and/or prune a model into a checkpoint cpet loads again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "compress.h"
#include "corpus.h"
#include "fileio.h"
#include "model.h"
#include "tokenizer.h"

static void list_methods(void)
{
    printf("compression methods (chain with '+', pruning first: e.g. wanda+gptq-int4):\n");
    for (int i = 0; i < compress_n_methods; i++)
        printf("  %-11s %s%s\n", compress_methods[i].name, compress_methods[i].summary,
               compress_methods[i].needs_calibration ? " [needs --calib]" : "");
}

int cmd_compress(int argc, char **argv)
{
    const char *dir = NULL, *method = NULL, *calib_path = NULL, *out = NULL;
    long group = 128, rows = 32, seq = 128, threads = 0;
    int dequantize = 0, lm_head = 0, embeddings = 0, list = 0;
    double sparsity = 0.5;
    const compress_training td = compress_training_defaults();
    long train_steps = td.steps, train_batch = td.batch;
    long seed = 0;
    double train_lr = td.lr, method_lr = td.method_lr, contrastive = td.contrastive, tau = td.tau, distill = td.distill, l1 = td.l1;
    int fixed_scaling = 0;
    opt model_arg = OPT_POSITIONAL(&dir, "MODEL_DIR", "the f32 model (required)");
    model_arg.required = 0; /* --list alone is a command line too */
    const opt opts[] = {
        model_arg,
        OPT_STRING("--method", &method, "CHAIN", "methods joined by '+', pruning first (e.g. wanda+gptq-int4; --list) (required)"),
        OPT_INT("--group", &group, -1, 1 << 20, "INT4 / INT3 group size (-1: one per output channel)"),
        OPT_RANGE("--sparsity", &sparsity, 0, 1, "the share pruned (magnitude, wanda, struct-ffn, struct-heads)"),
        OPT_STRING("--calib", &calib_path, "TEXT", "calibration text, one document per line (GPTQ, Wanda, structured pruning, the trained methods)"),
        OPT_INT("--calib-rows", &rows, 1, 1 << 20, "calibration windows"),
        OPT_INT("--calib-seq", &seq, 2, 1 << 20, "tokens per calibration window"),
        OPT_INT("--train-steps", &train_steps, 0, 1 << 24, "qat-*, simple, wid: optimizer steps on the calibration rows"),
        OPT_INT("--train-batch", &train_batch, 1, 4096, "qat-*, simple, wid: calibration rows per step"),
        OPT_RANGE("--train-lr", &train_lr, 0, 1, "qat-*, simple: the weights' peak learning rate (cosine, 10% warmup)"),
        OPT_RANGE("--method-lr", &method_lr, 0, 10, "qat-*, simple, wid: the masks', compactors' or clipping factors' peak learning rate"),
        OPT_RANGE("--contrastive", &contrastive, 0, 1e6, "qat-*: weight of the token-level contrastive distillation (0: off)"),
        OPT_RANGE("--tau", &tau, 1e-6, 1e6, "qat-*: the contrastive temperature"),
        OPT_SWITCH("--fixed-scaling", &fixed_scaling, "qat-*: no learned clipping (every module's factor stays 1)"),
        OPT_RANGE("--distill", &distill, 0, 1e6, "simple: weight of the hidden-state distillation from the unpruned model (0: off)"),
        OPT_RANGE("--l1", &l1, 0, 1e6, "simple: weight of the masks' L1 penalty"),
        OPT_SEED(&seed),
        OPT_SWITCH("--lm-head", &lm_head, "quantize the LM head too, round-to-nearest in the chain's format"),
        OPT_SWITCH("--embeddings", &embeddings, "quantize the embedding table the same way"),
        OPT_SWITCH("--dequantize", &dequantize, "write plain f32 weights (for transformers)"),
        OPT_SWITCH("--list", &list, "list the methods"),
        OPT_THREADS(&threads),
        OPT_STRING("-o", &out, "OUT_DIR", "the compressed checkpoint (required)"),
        OPT_END};
    const opt_command cmd = {
        .name = "compress",
        .usage = "MODEL_DIR --method CHAIN -o OUT_DIR [options]   |   cpet compress --list",
        .about = "Writes OUT_DIR/config.json, model.safetensors and compress.json (method, sizes, time, revision).\n"
                 "Packed linears are stored as <name>.qweight with .scales/.zeros/.absmax_q/.absmax_scale as the\n"
                 "format needs, described in the metadata key cpet.quant.<name>.weight; cpet loads them packed.\n"
                 "--lm-head follows llama.cpp and runq.c; by default the head stays f32, as GPTQ tools keep it (untied\n"
                 "heads only). With --embeddings, lookups dequantize one row per token, and a tied LM head is that\n"
                 "table and runs packed too. Calibration text is tokenized with MODEL_DIR/tokenizer.json.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p == OPT_HELP) {
        putchar('\n');
        list_methods();
    }
    if (p != OPT_OK) return cli_exit_status(p);
    if (list) {
        list_methods();
        return 0;
    }
    if (!dir || !method || !out) return cli_error("compress: MODEL_DIR, --method and -o are required");
    if (threads) engine_set_threads((int)threads);
    json_t *train_log = json_object();
    compress_options o = {.group = (int)group, .sparsity = sparsity, .damp = 0.01, .lm_head = lm_head, .embeddings = embeddings,
                          .train = {.steps = (int)train_steps, .batch = (int)train_batch, .lr = (float)train_lr, .method_lr = (float)method_lr, .contrastive = (float)contrastive,
                                    .tau = (float)tau, .dynamic_scaling = !fixed_scaling, .distill = (float)distill, .l1 = (float)l1,
                                    .seed = (uint64_t)seed},
                          .log = train_log};
    cpet_err err;
    model m;
    if (compress_check_chain(method, &o, calib_path != NULL, &err) != 0 || model_load(&m, dir, &err) != 0) {
        json_decref(train_log);
        return cli_report(&err);
    }
    char tok_path[4200], staged[4200], path[4400];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", dir);
    int *ids = NULL, n_rows = 0, rc = 1;
    calib_data calib = {0};
    tokenizer t;
    int have_tok = 0;
    if (calib_path) {
        if (!path_exists(calib_path)) {
            cpet_fail(&err, "%s: calibration file is missing", calib_path);
            goto done;
        }
        if (tokenizer_load(&t, tok_path, &err) != 0) goto done;
        have_tok = 1;
        if (seq > m.rope_len) seq = m.rope_len;
        if (corpus_windows(calib_path, &t, m.cfg.bos_token_id >= 0 ? m.cfg.bos_token_id : 0, (int)rows, (int)seq, &ids,
                           &n_rows, &err) != 0)
            goto done;
        calib = (calib_data){ids, n_rows, (int)seq};
    }
    size_t before = model_storage_bytes(&m);
    double t0 = now_seconds();
    if (compress_model(&m, method, &o, calib_path ? &calib : NULL, &err) != 0) goto done;
    double seconds = now_seconds() - t0;
    snprintf(staged, sizeof staged, "%s.partial", out);
    remove_flat_dir(staged);
    if (model_save_as(&m, staged, dequantize, &err) != 0) goto done;
    snprintf(path, sizeof path, "%s/tokenizer.json", staged);
    if (path_exists(tok_path) && copy_file(tok_path, path, &err) != 0) goto done;
    json_t *rec = json_pack("{s:s, s:s, s:i, s:f, s:s?, s:i, s:i, s:b, s:b, s:b, s:I, s:I, s:f, s:o}", "model", dir, "method", method,
                            "group", (int)group, "sparsity", sparsity, "calibration", calib_path, "calib_rows", n_rows,
                            "calib_seq", calib_path ? (int)seq : 0, "lm_head_quantized", lm_head, "embeddings_quantized", embeddings, "dequantized", dequantize, "bytes_before",
                            (json_int_t)before, "bytes_after", (json_int_t)model_storage_bytes(&m), "seconds", seconds,
                            "facts", run_facts());
    if (compress_chain_trains(method)) {
        json_object_set_new(rec, "training", compress_training_json(&o.train));
        json_object_update(rec, train_log);
    }
    snprintf(path, sizeof path, "%s/compress.json", staged);
    int wrc = json_write_file(path, rec, &err);
    json_decref(rec);
    if (wrc != 0 || replace_dir(staged, out, &err) != 0) goto done;
    fprintf(stderr, "compress %s: %.2f MB -> %.2f MB in %.1fs -> %s\n", method, before / 1e6, model_storage_bytes(&m) / 1e6,
            seconds, out);
    rc = 0;
done:
    if (rc) cli_report(&err);
    if (have_tok) tokenizer_free(&t);
    free(ids);
    json_decref(train_log);
    model_free(&m);
    return rc;
}
