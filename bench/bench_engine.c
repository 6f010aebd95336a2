/* cpet bench engine: forward+backward time per token of a LLaMA block stack, against the sgemm rate that
 * OpenBLAS reaches on the very GEMM shapes of that step, measured in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "facts.h"
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

bench_engine_options bench_engine_defaults(void)
{
    return (bench_engine_options){.dim = 512, .layers = 8, .seq = 256, .batch = 4, .vocab = 4096, .reps = 5, .threads = 2};
}

int bench_engine_run(const bench_engine_options *o, json_t **result, cpet_err *err)
{
    const long dim = o->dim, layers = o->layers, seq = o->seq, batch = o->batch, reps = o->reps, vocab = o->vocab,
               threads = o->threads, seed = o->seed;
    *result = NULL;
    if (dim < 64 || dim % 64 != 0) return cpet_fail(err, "bench engine: dim %ld is not a positive multiple of 64 (head_dim 64)", dim);
    if (layers < 1 || seq < 2 || batch < 1 || vocab < 2 || reps < 1 || threads < 1 || seed < 0)
        return cpet_fail(err, "bench engine: layers, batch, reps, threads must be >= 1, seq and vocab >= 2, seed >= 0");
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
    if (model_create(&m, &c, err) != 0) return -1;
    if (model_set_trainable(&m, NULL, 1, err) != 0) {
        model_free(&m);
        return -1;
    }
    model_init_random(&m, 0.02f, (unsigned long long)seed);
    const int B = (int)batch, T = (int)seq, N = B * T;
    int *ids = malloc((size_t)N * sizeof(int));
    cpet_rng rng;
    rng_seed(&rng, (unsigned long long)seed);
    for (int i = 0; i < N; i++) ids[i] = (int)(rng_next(&rng) % (uint64_t)vocab);

    double *fwd = calloc((size_t)reps, sizeof(double)), *step = calloc((size_t)reps, sizeof(double)),
           *gemm = calloc((size_t)reps, sizeof(double));
    float *x = NULL, *w = NULL, *y = NULL;
    int rc = -1;
    for (long r = -1; r < reps; r++) { /* r = -1 warms up */
        model_zero_grad(&m);
        double t0 = now_seconds();
        if (model_forward(&m, ids, NULL, B, T, err) != 0) goto done;
        double t1 = now_seconds();
        if (model_backward(&m, err) != 0) goto done;
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
    x = cpet_alloc_floats((size_t)N * (F > D ? F : D));
    w = cpet_alloc_floats(maxw);
    y = cpet_alloc_floats((size_t)N * (F > vocab ? F : vocab));
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
    if (o->log)
        fprintf(o->log,
                "d=%ld L=%ld seq=%ld batch=%ld threads=%ld: fwd+bwd %.3f s/step, %.1f us/token, %.0f tok/s\n"
                "  step %.1f GFLOP/s vs sgemm on the same shapes %.1f GFLOP/s -> %.0f%% of sgemm\n",
                dim, layers, seq, batch, threads, ts.mean, 1e6 * ts.mean / N, N / ts.mean, step_rate / 1e9,
                sgemm_rate / 1e9, 100 * fraction);
    *result = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:o}",
                        "bench", "engine_train_step", "model", "dim", (json_int_t)dim, "layers", (json_int_t)layers,
                        "heads", (json_int_t)c.n_heads, "ffn", (json_int_t)F, "vocab", (json_int_t)vocab, "seq",
                        (json_int_t)seq, "batch", (json_int_t)batch, "seed", (json_int_t)seed, "reps",
                        (json_int_t)reps, "forward", bench_timing_json(tf, fwd, (int)reps), "forward_backward",
                        bench_timing_json(ts, step, (int)reps), "sgemm_same_shapes", bench_timing_json(tg, gemm, (int)reps),
                        "us_per_token_fwd_bwd", 1e6 * ts.mean / N, "tokens_per_s_fwd_bwd", N / ts.mean,
                        "step_gflops", step_rate / 1e9, "sgemm_gflops", sgemm_rate / 1e9,
                        "fraction_of_sgemm", fraction, "attention_flop_share", attn_flops / step_flops, "facts",
                        run_facts());
    rc = 0;
done:
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
