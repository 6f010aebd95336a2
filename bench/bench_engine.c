/* cpet bench engine: forward+backward time per token of a LLaMA block stack, against the sgemm rate that
 * OpenBLAS reaches on the very GEMM shapes of that step, measured in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "cli.h"
#include "fileio.h"
#include "model.h"
#include "tensor.h"

/* The three GEMMs a linear layer costs in a training step: y = x W^T, dx = dy W, dW = dy^T x */
static double time_linear_gemms(int n, int in, int out, float *x, float *w, float *y)
{
    double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, y, out, w, in, 0.0f, x, in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, y, out, x, in, 1.0f, w, in);
    return now_seconds() - t0;
}

json_t *bench_timing_json(bench_timing t, const double *samples, int n)
{
    json_t *s = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(s, json_real(samples[i]));
    return json_pack("{s:f, s:f, s:o}", "mean_s", t.mean, "stddev_s", t.stddev, "samples_s", s);
}

int bench_emit(json_t *j, const char *path)
{
    cpet_err err;
    int rc = 0;
    if (path) {
        rc = json_write_file(path, j, &err) != 0;
        if (rc) cli_report(&err);
    } else {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    }
    json_decref(j);
    return rc;
}

int bench_engine(int argc, char **argv)
{
    long dim = 512, layers = 8, seq = 256, batch = 4, reps = 5, vocab = 4096, threads = 2, seed = 0;
    const char *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench engine [--dim 512] [--layers 8] [--seq 256] [--batch 4] [--vocab 4096]\n"
                   "                        [--reps 5] [--threads 2] [--seed 0] [-o FILE.json]\n"
                   "Times forward+backward of a random LLaMA (all weights trainable) and the same step's GEMMs\n"
                   "alone through OpenBLAS; reports seconds per token and the fraction of the sgemm rate.\n");
            return 0;
        }
        if (strcmp(a, "--dim") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 64, 65536, &dim);
        else if (strcmp(a, "--layers") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &layers);
        else if (strcmp(a, "--seq") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 2, 65536, &seq);
        else if (strcmp(a, "--batch") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 65536, &batch);
        else if (strcmp(a, "--vocab") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 2, 1 << 20, &vocab);
        else if (strcmp(a, "--reps") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1000, &reps);
        else if (strcmp(a, "--threads") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else if (strcmp(a, "--seed") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, &seed);
        else if (strcmp(a, "-o") == 0) bad = !(out = cli_value(argc, argv, &i));
        else return cli_error("bench engine: unknown option %s", a);
        if (bad) return 1;
    }
    if (dim % 64 != 0) return cli_error("bench engine: --dim must be a multiple of 64 (head_dim 64)");
    engine_set_threads((int)threads);
    model_config c = {0};
    c.vocab_size = (int)vocab;
    c.hidden_size = (int)dim;
    c.intermediate_size = (int)((dim * 8 / 3 + 63) / 64 * 64);
    c.n_layers = (int)layers;
    c.n_heads = (int)dim / 64;
    c.n_kv_heads = c.n_heads;
    c.head_dim = 64;
    c.max_position_embeddings = (int)seq;
    c.rms_norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.hidden_act = ACT_SILU;
    model m;
    cpet_err err;
    if (model_create(&m, &c, &err) != 0 || model_set_trainable(&m, NULL, 1, &err) != 0) return cli_report(&err);
    model_init_random(&m, 0.02f, (unsigned long long)seed);
    const int B = (int)batch, T = (int)seq, N = B * T;
    int *ids = malloc((size_t)N * sizeof(int));
    cpet_rng rng;
    rng_seed(&rng, (unsigned long long)seed);
    for (int i = 0; i < N; i++) ids[i] = (int)(rng_next(&rng) % (uint64_t)vocab);

    double *fwd = calloc((size_t)reps, sizeof(double)), *step = calloc((size_t)reps, sizeof(double)),
           *gemm = calloc((size_t)reps, sizeof(double));
    for (long r = -1; r < reps; r++) { /* r = -1 warms up */
        model_zero_grad(&m);
        double t0 = now_seconds();
        if (model_forward(&m, ids, NULL, B, T, &err) != 0) return cli_report(&err);
        double t1 = now_seconds();
        if (model_backward(&m, &err) != 0) return cli_report(&err);
        double t2 = now_seconds();
        if (r >= 0) {
            fwd[r] = t1 - t0;
            step[r] = t2 - t0;
        }
    }
    /* the same step's linear GEMMs, alone */
    const int D = c.hidden_size, F = c.intermediate_size, QD = c.n_heads * c.head_dim;
    const int shapes[8][2] = {{D, QD}, {D, QD}, {D, QD}, {QD, D}, {D, F}, {D, F}, {F, D}, {D, (int)vocab}};
    size_t maxw = (size_t)(F > vocab ? F : vocab) * (size_t)(D > F ? D : F);
    float *x = cpet_alloc_floats((size_t)N * (F > D ? F : D)), *w = cpet_alloc_floats(maxw),
          *y = cpet_alloc_floats((size_t)N * (F > vocab ? F : vocab));
    fill_uniform(x, (size_t)N * (F > D ? F : D), -1, 1, &rng);
    fill_uniform(w, maxw, -0.05f, 0.05f, &rng);
    double linear_flops = 0;
    for (int s = 0; s < 8; s++) linear_flops += 6.0 * N * shapes[s][0] * shapes[s][1] * (s < 7 ? layers : 1);
    for (long r = -1; r < reps; r++) {
        double t = 0;
        for (int l = 0; l < layers; l++)
            for (int s = 0; s < 7; s++) t += time_linear_gemms(N, shapes[s][0], shapes[s][1], x, w, y);
        t += time_linear_gemms(N, shapes[7][0], shapes[7][1], x, w, y);
        if (r >= 0) gemm[r] = t;
    }
    /* attention: QK^T and PV, forward 2 GEMMs and backward 4, each 2*T*T*hd per head (full square) */
    double attn_flops = 6.0 * 2.0 * 2.0 * B * c.n_heads * (double)T * T * c.head_dim * layers;
    bench_timing ts = bench_summarize(step, (int)reps), tf = bench_summarize(fwd, (int)reps),
                 tg = bench_summarize(gemm, (int)reps);
    double step_flops = linear_flops + attn_flops;
    double sgemm_rate = linear_flops / tg.mean, step_rate = step_flops / ts.mean;
    double fraction = step_rate / sgemm_rate;
    fprintf(stderr,
            "d=%ld L=%ld seq=%ld batch=%ld threads=%ld: fwd+bwd %.3f s/step, %.1f us/token, %.0f tok/s\n"
            "  step %.1f GFLOP/s vs sgemm on the same shapes %.1f GFLOP/s -> %.0f%% of sgemm\n",
            dim, layers, seq, batch, threads, ts.mean, 1e6 * ts.mean / N, N / ts.mean, step_rate / 1e9,
            sgemm_rate / 1e9, 100 * fraction);
    json_t *j = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:o}",
                          "bench", "engine_train_step", "model", "dim", (json_int_t)dim, "layers", (json_int_t)layers,
                          "heads", (json_int_t)c.n_heads, "ffn", (json_int_t)F, "vocab", (json_int_t)vocab, "seq",
                          (json_int_t)seq, "batch", (json_int_t)batch, "seed", (json_int_t)seed, "reps",
                          (json_int_t)reps, "forward", bench_timing_json(tf, fwd, (int)reps), "forward_backward",
                          bench_timing_json(ts, step, (int)reps), "sgemm_same_shapes", bench_timing_json(tg, gemm, (int)reps),
                          "us_per_token_fwd_bwd", 1e6 * ts.mean / N, "tokens_per_s_fwd_bwd", N / ts.mean,
                          "step_gflops", step_rate / 1e9, "sgemm_gflops", sgemm_rate / 1e9,
                          "fraction_of_sgemm", fraction, "attention_flop_share", attn_flops / step_flops, "facts",
                          run_facts());
    int rc = bench_emit(j, out);
    cpet_free(x);
    cpet_free(w);
    cpet_free(y);
    free(fwd);
    free(step);
    free(gemm);
    free(ids);
    model_free(&m);
    return rc;
}
