/* cpet bench tokenizer / pretrain: throughput of the embedded default's tokenizer and of a pretraining
 * step at the default model size, as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "corpus.h"
#include "facts.h"
#include "model.h"
#include "tensor.h"
#include "tokenizer.h"
#include "train.h"

bench_tokenizer_options bench_tokenizer_defaults(void) { return (bench_tokenizer_options){.reps = 5}; }

/* one pass over the corpus: encode and decode seconds, tokens */
static int tokenizer_pass(const tokenizer *t, const corpus *c, double *te, double *td, long *tokens, cpet_err *err)
{
    *te = *td = 0, *tokens = 0;
    for (int d = 0; d < c->n; d++) {
        int *ids, n;
        char *text;
        size_t len;
        const double t0 = now_seconds();
        if (tokenizer_encode(t, c->docs[d], c->lens[d], &ids, &n, err) != 0) return -1;
        const double t1 = now_seconds();
        if (tokenizer_decode(t, ids, n, &text, &len, err) != 0) return free(ids), -1;
        *td += now_seconds() - t1;
        *te += t1 - t0;
        *tokens += n;
        free(ids), free(text);
    }
    return 0;
}

int bench_tokenizer_run(const bench_tokenizer_options *o, json_t **result, cpet_err *err)
{
    const char *paths[2] = {o->tokenizer, o->against}, *corpus_path = o->corpus;
    const long reps = o->reps;
    const int n_tok = o->against ? 2 : 1;
    *result = NULL;
    if (!paths[0] || !corpus_path) return cpet_fail(err, "bench tokenizer: a tokenizer and a corpus are required");
    if (reps < 1) return cpet_fail(err, "bench tokenizer: reps must be >= 1");
    tokenizer t[2];
    corpus c;
    for (int k = 0; k < n_tok; k++)
        if (tokenizer_load(&t[k], paths[k], err) != 0) {
            if (k) tokenizer_free(&t[0]);
            return -1;
        }
    if (corpus_read(&c, corpus_path, err) != 0) {
        for (int k = 0; k < n_tok; k++) tokenizer_free(&t[k]);
        return -1;
    }
    size_t bytes = 0;
    for (int d = 0; d < c.n; d++) bytes += c.lens[d];
    double *enc[2], *dec[2], *ratio = calloc((size_t)reps, sizeof(double));
    for (int k = 0; k < 2; k++) enc[k] = calloc((size_t)reps, sizeof(double)), dec[k] = calloc((size_t)reps, sizeof(double));
    long tokens[2] = {0};
    int rc = 0;
    for (long r = -1; rc == 0 && r < reps; r++) /* rep -1 warms up */
        for (int k = 0; rc == 0 && k < n_tok; k++) {
            double te, td;
            rc = tokenizer_pass(&t[k], &c, &te, &td, &tokens[k], err);
            if (r >= 0) enc[k][r] = te, dec[k][r] = td;
        }
    if (rc == 0) {
        const double mb = (double)bytes / 1e6;
        json_t *figures[2] = {NULL, NULL};
        for (int k = 0; k < n_tok; k++) {
            bench_timing te = bench_summarize(enc[k], (int)reps), td = bench_summarize(dec[k], (int)reps);
            if (o->log)
                fprintf(o->log, "%s: %.2f MB, %ld tokens: encode %.2f MB/s, decode %.2f MB/s\n", paths[k], mb, tokens[k], mb / te.mean, mb / td.mean);
            figures[k] = json_pack("{s:s, s:I, s:f, s:f, s:f, s:o, s:o}", "tokenizer", paths[k], "tokens", (json_int_t)tokens[k], "bytes_per_token",
                                   (double)bytes / tokens[k], "encode_mb_per_s", mb / te.mean, "decode_mb_per_s", mb / td.mean, "encode",
                                   bench_timing_json(te, enc[k], (int)reps), "decode", bench_timing_json(td, dec[k], (int)reps));
        }
        *result = json_pack("{s:s, s:s, s:I, s:I}", "bench", "tokenizer", "corpus", corpus_path, "bytes", (json_int_t)bytes, "reps", (json_int_t)reps);
        json_object_update(*result, figures[0]);
        json_decref(figures[0]);
        if (n_tok == 2) {
            for (long r = 0; r < reps; r++) ratio[r] = enc[0][r] / enc[1][r];
            bench_timing tr = bench_summarize(ratio, (int)reps);
            json_object_set_new(*result, "against", figures[1]);
            json_t *samples = json_array();
            for (long r = 0; r < reps; r++) json_array_append_new(samples, json_real(ratio[r]));
            json_object_set_new(*result, "encode_time_ratio", json_pack("{s:f, s:f, s:o}", "mean", tr.mean, "stddev", tr.stddev, "samples", samples));
            if (o->log) fprintf(o->log, "encode time ratio %s / %s: %.2f\n", paths[0], paths[1], tr.mean);
        }
        json_object_set_new(*result, "facts", run_facts());
    }
    for (int k = 0; k < 2; k++) free(enc[k]), free(dec[k]);
    free(ratio);
    corpus_free(&c);
    for (int k = 0; k < n_tok; k++) tokenizer_free(&t[k]);
    return rc;
}

/* Steps of the default pretraining configuration on random tokens: tokens/s of forward+backward+AdamW. */
bench_pretrain_options bench_pretrain_defaults(void)
{
    return (bench_pretrain_options){.dim = 256, .layers = 6, .heads = 8, .kv_heads = 4, .seq = 128, .batch = 16,
                                    .vocab = 2048, .reps = 5, .threads = 2};
}

int bench_pretrain_run(const bench_pretrain_options *o, json_t **result, cpet_err *err)
{
    const long dim = o->dim, layers = o->layers, heads = o->heads, kv_heads = o->kv_heads, seq = o->seq, batch = o->batch,
               vocab = o->vocab, reps = o->reps, threads = o->threads;
    *result = NULL;
    if (dim < 8 || layers < 1 || heads < 1 || kv_heads < 1 || seq < 2 || batch < 1 || vocab < 2 || reps < 1 || threads < 1)
        return cpet_fail(err, "bench pretrain: dim >= 8, seq and vocab >= 2, the other sizes >= 1 are required");
    engine_set_threads((int)threads);
    model_config c = {.vocab_size = (int)vocab, .hidden_size = (int)dim, .intermediate_size = (int)((dim * 8 / 3 + 63) / 64 * 64),
                      .n_layers = (int)layers, .n_heads = (int)heads, .n_kv_heads = (int)kv_heads,
                      .head_dim = (int)(dim / heads), .max_position_embeddings = (int)seq, .rms_norm_eps = 1e-5f,
                      .rope_theta = 10000.0f, .hidden_act = ACT_SILU, .bos_token_id = -1, .eos_token_id = -1};
    model m;
    adamw opt;
    if (model_create(&m, &c, err) != 0) return -1;
    adamw_init(&opt, adamw_defaults(), err); /* cannot fail; adamw_free is then safe */
    int *ids = NULL;
    double *t = NULL;
    int rc = -1;
    if (model_set_trainable(&m, NULL, 1, err) != 0 || adamw_add(&opt, m.tensors, m.n_tensors, err) != 0) goto done;
    model_init_random(&m, 0.02f, 0);
    size_t N = (size_t)batch * seq;
    ids = malloc(N * sizeof(int));
    cpet_rng rng;
    rng_seed(&rng, 0);
    for (size_t i = 0; i < N; i++) ids[i] = (int)(rng_next(&rng) % (uint64_t)vocab);
    t = calloc((size_t)reps, sizeof(double));
    for (long r = -1; r < reps; r++) {
        step_result res;
        double t0 = now_seconds();
        if (train_step(&m, &opt, ids, NULL, (int)batch, (int)seq, 1e-4f, 1.0, &res, err) != 0) goto done;
        if (r >= 0) t[r] = now_seconds() - t0;
    }
    bench_timing s = bench_summarize(t, (int)reps);
    if (o->log)
        fprintf(o->log, "pretrain step (d=%ld L=%ld seq=%ld batch=%ld, %zu params): %.3f s, %.0f tokens/s\n", dim, layers,
                seq, batch, m.n_params, s.mean, (double)N / s.mean);
    *result = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:f, s:o, s:o}", "bench",
                        "pretrain_step", "model", "dim", (json_int_t)dim, "layers", (json_int_t)layers, "heads",
                        (json_int_t)heads, "kv_heads", (json_int_t)kv_heads, "vocab", (json_int_t)vocab, "parameters",
                        (json_int_t)m.n_params, "seq", (json_int_t)seq, "batch", (json_int_t)batch, "reps",
                        (json_int_t)reps, "tokens_per_s", (double)N / s.mean, "step", bench_timing_json(s, t, (int)reps),
                        "facts", run_facts());
    rc = 0;
done:
    free(t);
    free(ids);
    adamw_free(&opt);
    model_free(&m);
    return rc;
}
