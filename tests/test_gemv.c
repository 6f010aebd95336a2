/* The decode GEMV against its scalar reference, and a linear layer's small-n path against sgemm. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "gemv.h"
#include "linear.h"
#include "quant.h"
#include "tensor.h"

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((float)(*s >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

/* n = 1..4 against odd and aligned sizes: the tail loops and the 16/8-column loops all run */
Test(gemv, f32_matches_the_scalar_reference)
{
    const int outs[] = {1, 3, 17, 64}, ins[] = {1, 5, 8, 15, 16, 17, 33, 100, 257};
    unsigned seed = 7;
    for (int n = 1; n <= GEMV_MAX_N; n++)
        for (size_t a = 0; a < sizeof outs / sizeof *outs; a++)
            for (size_t b = 0; b < sizeof ins / sizeof *ins; b++) {
                int out = outs[a], in = ins[b];
                float *W = malloc(sizeof(float) * (size_t)out * in), *x = malloc(sizeof(float) * (size_t)n * in);
                float *y = malloc(sizeof(float) * (size_t)n * out), *r = malloc(sizeof(float) * (size_t)n * out);
                for (int i = 0; i < out * in; i++) W[i] = frand(&seed);
                for (int i = 0; i < n * in; i++) x[i] = frand(&seed);
                gemv_f32(W, x, y, n, out, in);
                gemv_f32_ref(W, x, r, n, out, in);
                for (int i = 0; i < n * out; i++) {
                    /* float accumulation of `in` products of magnitude <= 1: error <= in * 2^-23 */
                    cr_assert(fabsf(y[i] - r[i]) <= 1e-6f * (float)in + 1e-6f, "n=%d out=%d in=%d [%d]: %g vs %g", n, out, in, i,
                              y[i], r[i]);
                }
                free(W), free(x), free(y), free(r);
            }
}

/* A linear layer's decode path gives what its sgemm path gives. */
Test(gemv, linear_small_n_equals_the_sgemm_path)
{
    const int in = 96, out = 40;
    unsigned seed = 3;
    float *w = malloc(sizeof(float) * in * out), *x = malloc(sizeof(float) * 8 * in), *y = malloc(sizeof(float) * 8 * out);
    for (int i = 0; i < in * out; i++) w[i] = frand(&seed);
    for (int i = 0; i < 8 * in; i++) x[i] = frand(&seed);
    linear l = {.in = in, .out = out, .w = w};
    linear_forward(&l, x, y, 8, NULL); /* n = 8 > GEMV_MAX_N: sgemm */
    for (int n = 1; n <= GEMV_MAX_N; n++) {
        float yn[GEMV_MAX_N * 40];
        linear_forward(&l, x, yn, n, NULL);
        for (int i = 0; i < n * out; i++) cr_assert_float_eq(yn[i], y[i], 1e-4, "n=%d [%d]", n, i);
    }
    free(w), free(x), free(y);
}

Test(gemv, dot_matches_a_double_sum)
{
    unsigned seed = 11;
    for (int n = 1; n <= 100; n++) {
        float a[100], b[100];
        double ref = 0;
        for (int i = 0; i < n; i++) a[i] = frand(&seed), b[i] = frand(&seed), ref += (double)a[i] * b[i];
        cr_assert(fabs(dot_f32(a, b, n) - ref) <= 1e-6 * n + 1e-6, "n=%d: %g vs %g", n, dot_f32(a, b, n), ref);
    }
}

/* Linears that share x (q/k/v, gate/up) in one parallel region: bit for bit what separate calls give,
 * f32 (row counts that leave rows outside the blocks of 8) and int8-activation packs (x quantized once) */
Test(gemv, shared_linears_equal_separate_calls)
{
    const int in = 96, outs[3] = {40, 21, 16};
    unsigned seed = 11;
    float *W[3], *x = malloc(sizeof(float) * 4 * in), *sep[3], *shared[3];
    qtensor q[3];
    linear lin[3], lq[3];
    for (int j = 0; j < 3; j++) {
        W[j] = malloc(sizeof(float) * (size_t)outs[j] * in);
        for (int i = 0; i < outs[j] * in; i++) W[j][i] = frand(&seed);
        sep[j] = malloc(sizeof(float) * 4 * 40); /* the widest, whichever matrix lands in slot j */
        shared[j] = malloc(sizeof(float) * 4 * 40);
        lin[j] = (linear){.in = in, .out = outs[j], .w = W[j]};
        cpet_err err;
        cr_assert_eq(quantize_rtn(&q[j], j == 1 ? QF_INT4 : QF_Q4_0, W[j], outs[j], in, 32, &err), 0, "%s", err.msg);
        q[j].q8_activations = 1;
        qtensor_pack_decode(&q[j]); /* 21 rows: no pack, so that matrix runs on its own */
        lq[j] = (linear){.in = in, .out = outs[j], .qw = &q[j]};
    }
    for (int i = 0; i < 4 * in; i++) x[i] = frand(&seed);
    const linear *fl[3] = {&lin[0], &lin[1], &lin[2]}, *pl[3] = {&lq[0], &lq[2], &lq[1]};
    for (int n = 1; n <= GEMV_MAX_N; n++) {
        for (int j = 0; j < 3; j++) linear_forward(fl[j], x, sep[j], n, NULL);
        linear_forward_shared(fl, 3, x, shared, n, NULL);
        for (int j = 0; j < 3; j++)
            cr_assert_eq(memcmp(sep[j], shared[j], sizeof(float) * n * outs[j]), 0, "f32 n=%d matrix %d", n, j);
        for (int k = 2; k <= 3; k++) { /* two packs fuse; with the unpacked one all run separately */
            for (int j = 0; j < k; j++) linear_forward(pl[j], x, sep[j], n, NULL);
            float *ys[3] = {shared[0], shared[1], shared[2]};
            linear_forward_shared(pl, k, x, ys, n, NULL);
            for (int j = 0; j < k; j++)
                cr_assert_eq(memcmp(sep[j], shared[j], sizeof(float) * n * pl[j]->out), 0, "packed n=%d k=%d matrix %d", n, k, j);
        }
        const qtensor *qs[2] = {&q[0], &q[2]};
        float *ys[2] = {shared[0], shared[1]};
        cr_assert_eq(qmatmul_shared(qs, 2, x, ys, n), 0, "two packs at n=%d fuse", n);
    }
    const qtensor *mixed[2] = {&q[0], &q[1]};
    float *ys[2] = {shared[0], shared[1]};
    cr_assert_eq(qmatmul_shared(mixed, 2, x, ys, 1), -1, "a matrix without a pack is not fused");
    for (int j = 0; j < 3; j++) {
        free(W[j]);
        free(sep[j]);
        free(shared[j]);
        qtensor_free(&q[j]);
    }
    free(x);
}

/* The decode kernels split output rows across threads: 1, 2 and 3 threads give the same outputs bit for bit,
 * f32 and every packed format (exact and int8-activation decode), for row counts the threads divide
 * unevenly and n = 1..GEMV_MAX_N. */
Test(gemv, one_thread_and_several_give_the_same_outputs)
{
    const int in = 128, out = 67;
    unsigned seed = 21;
    float *W = malloc(sizeof(float) * out * in), *x = malloc(sizeof(float) * GEMV_MAX_N * in);
    float *ref = malloc(sizeof(float) * GEMV_MAX_N * out), *y = malloc(sizeof(float) * GEMV_MAX_N * out);
    for (int i = 0; i < out * in; i++) W[i] = frand(&seed);
    for (int i = 0; i < GEMV_MAX_N * in; i++) x[i] = frand(&seed);
    const int threads_before = engine_threads();
    const qformat formats[] = {QF_INT8, QF_INT4, QF_INT3, QF_Q8_0, QF_Q4_0, QF_NF4};
    for (int f = -1; f < (int)(sizeof formats / sizeof *formats); f++)
        for (int q8 = 0; q8 <= (f >= 0); q8++) {
            qtensor q;
            linear l = {.in = in, .out = out, .w = W};
            if (f >= 0) {
                cpet_err err;
                cr_assert_eq(quantize_rtn(&q, formats[f], W, out, in, 32, &err), 0, "%s", err.msg);
                q.q8_activations = q8;
                if (q8) qtensor_pack_decode(&q);
                l = (linear){.in = in, .out = out, .qw = &q};
            }
            for (int n = 1; n <= GEMV_MAX_N; n++) {
                engine_set_threads(1);
                linear_forward(&l, x, ref, n, NULL);
                for (int t = 2; t <= 3; t++) {
                    engine_set_threads(t);
                    linear_forward(&l, x, y, n, NULL);
                    cr_assert_eq(memcmp(ref, y, sizeof(float) * n * out), 0, "format %d, q8 activations %d, n %d: %d threads differ from 1",
                                 f, q8, n, t);
                }
            }
            if (f >= 0) qtensor_free(&q);
        }
    engine_set_threads(threads_before);
    free(W), free(x), free(ref), free(y);
}
