/* cpet export: a model into other runtimes' formats (llama.cpp GGUF, karpathy/llama2.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fileio.h"
#include "gguf.h"
#include "llama2c.h"
#include "model.h"
#include "tokenizer.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cmd_export(int argc, char **argv)
{
    const char *src = NULL, *format = NULL, *type_s = NULL, *out = NULL, *tok_path = NULL;
    long group = 64;
    int requantize = 0, quant_emb = 0, no_tok = 0;
    const opt opts[] = {
        OPT_POSITIONAL(&src, "MODEL", "a model directory (packed or not) or a .gguf file"),
        OPT_STRING("--format", &format, "gguf|llama2c", "the runtime's format (required)"),
        OPT_STRING("--type", &type_s, "TYPE", "gguf: f32, f16, q8_0 or q4_0 for the layer linears; llama2c: f32 or int8 (default f32)"),
        OPT_INT("--group", &group, 2, 1 << 20, "llama2c int8: group size, halved until it divides dim and hidden_dim"),
        OPT_SWITCH("--requantize", &requantize, "a model packed in another format is dequantized and requantized"),
        OPT_STRING("--tokenizer", &tok_path, "tokenizer.json", "gguf: the tokenizer written as tokenizer.ggml.* (default MODEL's own)"),
        OPT_SWITCH("--no-tokenizer", &no_tok, "gguf: none (for a runtime given the vocabulary elsewhere)"),
        OPT_SWITCH("--quantize-embeddings", &quant_emb, "gguf: token_embd and output in --type too"),
        OPT_STRING("-o", &out, "FILE", "the file, written atomically (required)"),
        OPT_END};
    const opt_command cmd = {
        .name = "export",
        .usage = "MODEL --format gguf|llama2c [--type TYPE] -o FILE [options]",
        .about = "  gguf     llama.cpp's llama architecture, GGUF v3, alignment 32: ggml blocks, bit-exact; norms stay f32,\n"
                 "           token_embd/output stay f32 unless --quantize-embeddings. q/k rows are permuted to llama.cpp's\n"
                 "           interleaved RoPE order. The tokenizer becomes tokenizer.ggml.* (gpt2 byte-level BPE); llama.cpp\n"
                 "           refuses a GGUF without one, so a model without a tokenizer is refused unless --no-tokenizer.\n"
                 "  llama2c  karpathy/llama2.c: f32 (run.c's legacy file) or int8 (runq.c's version 2). llama2.c holds only\n"
                 "           head_dim = dim / n_heads, silu, rope_theta 10000 and rms_norm_eps 1e-5; other models are\n"
                 "           refused, naming what does not fit.\n",
        .after = "A model already packed in another format (cpet compress) is refused unless --requantize. On failure\n"
                 "nothing is left at FILE.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    if (!src || !format || !out) return cli_error("export: MODEL, --format and -o are required (cpet export --help)");
    int is_gguf = !strcmp(format, "gguf"), is_l2c = !strcmp(format, "llama2c");
    if (!is_gguf && !is_l2c) return cli_error("export: unknown --format '%s' (gguf or llama2c)", format);
    uint32_t gtype = GGML_T_F32;
    int int8 = 0;
    if (type_s) {
        if (is_gguf) {
            if (!strcmp(type_s, "f32")) gtype = GGML_T_F32;
            else if (!strcmp(type_s, "f16")) gtype = GGML_T_F16;
            else if (!strcmp(type_s, "q8_0")) gtype = GGML_T_Q8_0;
            else if (!strcmp(type_s, "q4_0")) gtype = GGML_T_Q4_0;
            else return cli_error("export: --type '%s' is not a GGUF type cpet writes (f32, f16, q8_0, q4_0)", type_s);
        } else if (!strcmp(type_s, "int8")) int8 = 1;
        else if (strcmp(type_s, "f32") != 0 && strcmp(type_s, "fp32") != 0)
            return cli_error("export: --type '%s' is not a llama2.c type (f32 or int8)", type_s);
    }
    if (is_dir(out)) return cli_error("export: %s is a directory; -o names the output file", out);
    cpet_err err;
    model m;
    int from_gguf = gguf_is_file(src);
    if (from_gguf ? gguf_load_model(&m, src, &err) : model_load(&m, src, &err)) return cli_report(&err);
    tokenizer tok;
    int have_tok = 0, rc = 1;
    char tpath[4200];
    if (is_gguf) {
        if (tok_path) snprintf(tpath, sizeof tpath, "%s", tok_path);
        else if (!from_gguf) snprintf(tpath, sizeof tpath, "%s/tokenizer.json", src);
        else tpath[0] = '\0';
        if (!no_tok && tpath[0] && (tok_path || path_exists(tpath))) {
            if (tokenizer_load(&tok, tpath, &err) != 0) goto done;
            have_tok = 1;
        } else if (!no_tok && from_gguf && gguf_load_tokenizer(&tok, src, &err) == 0) /* re-export: its own */
            have_tok = 1;
        if (!have_tok && !no_tok) {
            cpet_fail(&err, "%s: no tokenizer (%s): llama.cpp refuses a GGUF without tokenizer.ggml.*; pass --tokenizer "
                            "tokenizer.json, or --no-tokenizer for a runtime given the vocabulary elsewhere",
                      src, from_gguf ? "none in the file" : "no tokenizer.json beside the model");
            goto done;
        }
        gguf_export_options o = {gtype, requantize, quant_emb};
        if (gguf_export_model(&m, have_tok ? &tok : NULL, &o, src, out, &err) != 0) goto done;
        fprintf(stderr, "export %s: gguf %s%s -> %s\n", src, ggml_type_name(gtype), have_tok ? " + tokenizer" : "", out);
    } else {
        llama2c_options o = {int8, (int)group, requantize};
        if (llama2c_export(&m, &o, src, out, &err) != 0) goto done;
        fprintf(stderr, "export %s: llama2.c %s -> %s\n", src, int8 ? "int8 (version 2)" : "fp32 (legacy)", out);
    }
    rc = 0;
done:
    if (rc) cli_report(&err);
    if (have_tok) tokenizer_free(&tok);
    model_free(&m);
    return rc;
}
