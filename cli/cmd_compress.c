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
    long group = 128, rows = 32, seq = 128, threads = 0, dequantize = 0, lm_head = 0, embeddings = 0;
    double sparsity = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet compress MODEL_DIR --method CHAIN [--group 128|-1] [--sparsity 0.5] [--calib TEXT]\n"
                   "                     [--calib-rows 32] [--calib-seq 128] [--lm-head] [--embeddings] [--dequantize] [--threads N] -o OUT_DIR\n"
                   "       cpet compress --list\n\n"
                   "Writes OUT_DIR/config.json, model.safetensors and compress.json (method, sizes, time, revision).\n"
                   "Packed linears are stored as <name>.qweight with .scales/.zeros/.absmax_q/.absmax_scale as the\n"
                   "format needs, described in the metadata key cpet.quant.<name>.weight; cpet loads them packed.\n"
                   "--lm-head quantizes the LM head too (round-to-nearest in the chain's format), as llama.cpp and\n"
                   "runq.c do; by default it stays f32, as GPTQ tools keep it (untied heads only).\n"
                   "--embeddings quantizes the embedding table the same way (lookups dequantize one row per token;\n"
                   "a tied LM head is that table and runs packed too); by default it stays f32.\n"
                   "--dequantize writes plain f32 weights instead, for transformers. Calibration text is one document\n"
                   "per line, tokenized with MODEL_DIR/tokenizer.json.\n\n");
            list_methods();
            return 0;
        }
        if (!strcmp(a, "--list")) {
            list_methods();
            return 0;
        }
        if (!strcmp(a, "--method")) bad = !(method = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--calib")) bad = !(calib_path = cli_value(argc, argv, &i));
        else if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else if (!strcmp(a, "--group")) bad = cli_int(a, cli_value(argc, argv, &i), -1, 1 << 20, &group); /* -1: per output channel */
        else if (!strcmp(a, "--calib-rows")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1 << 20, &rows);
        else if (!strcmp(a, "--calib-seq")) bad = cli_int(a, cli_value(argc, argv, &i), 2, 1 << 20, &seq);
        else if (!strcmp(a, "--threads")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else if (!strcmp(a, "--sparsity")) bad = cli_float(a, cli_value(argc, argv, &i), &sparsity);
        else if (!strcmp(a, "--dequantize")) dequantize = 1;
        else if (!strcmp(a, "--lm-head")) lm_head = 1;
        else if (!strcmp(a, "--embeddings")) embeddings = 1;
        else if (a[0] == '-') return cli_error("compress: unknown option %s", a);
        else dir = a;
        if (bad) return 1;
    }
    if (!dir || !method || !out) return cli_error("compress: MODEL_DIR, --method and -o are required");
    if (threads) engine_set_threads((int)threads);
    compress_options o = {.group = (int)group, .sparsity = sparsity, .damp = 0.01, .lm_head = (int)lm_head, .embeddings = (int)embeddings};
    cpet_err err;
    if (compress_check_chain(method, &o, calib_path != NULL, &err) != 0) return cli_report(&err);
    model m;
    if (model_load(&m, dir, &err) != 0) return cli_report(&err);
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
    if (model_save_as(&m, staged, (int)dequantize, &err) != 0) goto done;
    snprintf(path, sizeof path, "%s/tokenizer.json", staged);
    if (path_exists(tok_path) && copy_file(tok_path, path, &err) != 0) goto done;
    json_t *rec = json_pack("{s:s, s:s, s:i, s:f, s:s?, s:i, s:i, s:b, s:b, s:b, s:I, s:I, s:f, s:o}", "model", dir, "method", method,
                            "group", (int)group, "sparsity", sparsity, "calibration", calib_path, "calib_rows", n_rows,
                            "calib_seq", calib_path ? (int)seq : 0, "lm_head_quantized", (int)lm_head, "embeddings_quantized", (int)embeddings, "dequantized", (int)dequantize, "bytes_before",
                            (json_int_t)before, "bytes_after", (json_int_t)model_storage_bytes(&m), "seconds", seconds,
                            "facts", run_facts());
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
    model_free(&m);
    return rc;
}
