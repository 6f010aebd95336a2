/* cpet bench tokenizer / pretrain: throughput of the embedded default's tokenizer and of a pretraining
 * step at the default model size, as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "cli.h"
#include "corpus.h"
#include "fileio.h"
#include "model.h"
#include "tensor.h"
#include "tokenizer.h"
#include "train.h"

int bench_tokenizer(int argc, char **argv)
{
    const char *tok_path = NULL, *corpus_path = NULL, *out = NULL;
    long reps = 5;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench tokenizer --tokenizer FILE --corpus TEXT [--reps 5] [-o FILE.json]\n"
                   "Encode and decode throughput (MB/s of UTF-8 text, single thread) over the whole corpus.\n");
            return 0;
        }
        if (strcmp(a, "--tokenizer") == 0) bad = !(tok_path = cli_value(argc, argv, &i));
        else if (strcmp(a, "--corpus") == 0) bad = !(corpus_path = cli_value(argc, argv, &i));
        else if (strcmp(a, "--reps") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1000, &reps);
        else if (strcmp(a, "-o") == 0) bad = !(out = cli_value(argc, argv, &i));
        else return cli_error("bench tokenizer: unknown option %s", a);
        if (bad) return 1;
    }
    if (!tok_path || !corpus_path) return cli_error("bench tokenizer: --tokenizer and --corpus are required");
    tokenizer t;
    corpus c;
    cpet_err err;
    if (tokenizer_load(&t, tok_path, &err) != 0) return cli_report(&err);
    if (corpus_read(&c, corpus_path, &err) != 0) {
        tokenizer_free(&t);
        return cli_report(&err);
    }
    size_t bytes = 0;
    for (int d = 0; d < c.n; d++) bytes += c.lens[d];
    double *enc = calloc((size_t)reps, sizeof(double)), *dec = calloc((size_t)reps, sizeof(double));
    long tokens = 0;
    for (long r = -1; r < reps; r++) {
        double te = 0, td = 0;
        tokens = 0;
        for (int d = 0; d < c.n; d++) {
            int *ids, n;
            char *text;
            size_t len;
            double t0 = now_seconds();
            tokenizer_encode(&t, c.docs[d], c.lens[d], &ids, &n, &err);
            double t1 = now_seconds();
            tokenizer_decode(&t, ids, n, &text, &len, &err);
            td += now_seconds() - t1;
            te += t1 - t0;
            tokens += n;
            free(ids);
            free(text);
        }
        if (r >= 0) {
            enc[r] = te;
            dec[r] = td;
        }
    }
    bench_timing te = bench_summarize(enc, (int)reps), td = bench_summarize(dec, (int)reps);
    double mb = (double)bytes / 1e6;
    fprintf(stderr, "tokenizer: %.2f MB, %ld tokens: encode %.2f MB/s, decode %.2f MB/s\n", mb, tokens, mb / te.mean,
            mb / td.mean);
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:o, s:o, s:o}", "bench", "tokenizer",
                          "tokenizer", tok_path, "corpus", corpus_path, "bytes", (json_int_t)bytes, "tokens",
                          (json_int_t)tokens, "reps", (json_int_t)reps, "bytes_per_token", (double)bytes / tokens,
                          "encode_mb_per_s", mb / te.mean, "decode_mb_per_s", mb / td.mean, "encode",
                          bench_timing_json(te, enc, (int)reps), "decode", bench_timing_json(td, dec, (int)reps),
                          "facts", run_facts());
    int rc = bench_emit(j, out);
    free(enc);
    free(dec);
    corpus_free(&c);
    tokenizer_free(&t);
    return rc;
}

/* Steps of the default pretraining configuration on random tokens: tokens/s of forward+backward+AdamW. */
int bench_pretrain(int argc, char **argv)
{
    long dim = 256, layers = 6, heads = 8, kv_heads = 4, seq = 128, batch = 16, vocab = 2048, reps = 5, threads = 2;
    const char *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench pretrain [--dim 256 --layers 6 --heads 8 --kv-heads 4 --seq 128 --batch 16\n"
                   "                           --vocab 2048 --reps 5 --threads 2] [-o FILE.json]\n"
                   "Times full training steps (forward, backward, clipping, AdamW) of the default tiny model.\n");
            return 0;
        }
        if (strcmp(a, "--dim") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 8, 65536, &dim);
        else if (strcmp(a, "--layers") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &layers);
        else if (strcmp(a, "--heads") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &heads);
        else if (strcmp(a, "--kv-heads") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &kv_heads);
        else if (strcmp(a, "--seq") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 2, 65536, &seq);
        else if (strcmp(a, "--batch") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 65536, &batch);
        else if (strcmp(a, "--vocab") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 2, 1 << 20, &vocab);
        else if (strcmp(a, "--reps") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1000, &reps);
        else if (strcmp(a, "--threads") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else if (strcmp(a, "-o") == 0) bad = !(out = cli_value(argc, argv, &i));
        else return cli_error("bench pretrain: unknown option %s", a);
        if (bad) return 1;
    }
    engine_set_threads((int)threads);
    model_config c = {.vocab_size = (int)vocab, .hidden_size = (int)dim, .intermediate_size = (int)((dim * 8 / 3 + 63) / 64 * 64),
                      .n_layers = (int)layers, .n_heads = (int)heads, .n_kv_heads = (int)kv_heads,
                      .head_dim = (int)(dim / heads), .max_position_embeddings = (int)seq, .rms_norm_eps = 1e-5f,
                      .rope_theta = 10000.0f, .hidden_act = ACT_SILU, .bos_token_id = -1, .eos_token_id = -1};
    model m;
    adamw o;
    cpet_err err;
    if (model_create(&m, &c, &err) || model_set_trainable(&m, NULL, 1, &err) || adamw_init(&o, adamw_defaults(), &err) ||
        adamw_add(&o, m.tensors, m.n_tensors, &err))
        return cli_report(&err);
    model_init_random(&m, 0.02f, 0);
    size_t N = (size_t)batch * seq;
    int *ids = malloc(N * sizeof(int));
    cpet_rng rng;
    rng_seed(&rng, 0);
    for (size_t i = 0; i < N; i++) ids[i] = (int)(rng_next(&rng) % (uint64_t)vocab);
    double *t = calloc((size_t)reps, sizeof(double));
    for (long r = -1; r < reps; r++) {
        step_result res;
        double t0 = now_seconds();
        if (train_step(&m, &o, ids, NULL, (int)batch, (int)seq, 1e-4f, 1.0, &res, &err) != 0) return cli_report(&err);
        if (r >= 0) t[r] = now_seconds() - t0;
    }
    bench_timing s = bench_summarize(t, (int)reps);
    fprintf(stderr, "pretrain step (d=%ld L=%ld seq=%ld batch=%ld, %zu params): %.3f s, %.0f tokens/s\n", dim, layers,
            seq, batch, m.n_params, s.mean, (double)N / s.mean);
    json_t *j = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:f, s:o, s:o}", "bench",
                          "pretrain_step", "model", "dim", (json_int_t)dim, "layers", (json_int_t)layers, "heads",
                          (json_int_t)heads, "kv_heads", (json_int_t)kv_heads, "vocab", (json_int_t)vocab, "parameters",
                          (json_int_t)m.n_params, "seq", (json_int_t)seq, "batch", (json_int_t)batch, "reps",
                          (json_int_t)reps, "tokens_per_s", (double)N / s.mean, "step", bench_timing_json(s, t, (int)reps),
                          "facts", run_facts());
    int rc = bench_emit(j, out);
    free(t);
    free(ids);
    adamw_free(&o);
    model_free(&m);
    return rc;
}
