/* The decode GEMV against its scalar reference, and a linear layer's small-n path against sgemm. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "gemv.h"
#include "linear.h"
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
