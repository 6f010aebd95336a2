/* Quantization formats: error bounds, llama.cpp block layouts, kernels against the scalar reference. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "tensor.h"

static float *random_matrix(int rows, int cols, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    float *w = malloc((size_t)rows * cols * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = 0.05f * rng_normal(&r) + (i % 97 == 0 ? 0.4f : 0.0f);
    return w;
}

Test(quant, int8_per_channel_error_within_half_a_step)
{
    float *w = random_matrix(16, 96, 1);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_INT8, w, 16, 96, 0, &err), 0, "%s", err.msg);
    float *d = malloc(16 * 96 * sizeof(float));
    qtensor_dequantize(&q, d);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 96; c++) {
            float e = fabsf(w[r * 96 + c] - d[r * 96 + c]);
            cr_assert_leq(e, q.scales[r] * 0.5f * (1 + 1e-5f), "row %d col %d: error %g > s/2 = %g", r, c, e, q.scales[r] / 2);
        }
    cr_assert_eq(qtensor_bytes(&q), 16 * 96 + 16 * 4);
    qtensor_free(&q);
}

typedef struct {
    qformat f;
    int group;
} grouped_case;

ParameterizedTestParameters(quant, grouped_int_error_within_half_a_step)
{
    static grouped_case cases[] = {{QF_INT4, 32}, {QF_INT4, 64}, {QF_INT4, 128}, {QF_INT3, 32}, {QF_INT3, 64}, {QF_INT3, 128}};
    return cr_make_param_array(grouped_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(grouped_case *gc, quant, grouped_int_error_within_half_a_step)
{
    const int rows = 8, cols = 256, per_row = cols / gc->group;
    float *w = random_matrix(rows, cols, 2);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, gc->f, w, rows, cols, gc->group, &err), 0, "%s", err.msg);
    float *d = malloc((size_t)rows * cols * sizeof(float));
    qtensor_dequantize(&q, d);
    int maxq = (1 << qformat_bits(gc->f)) - 1;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float s = q.scales[r * per_row + c / gc->group];
            cr_assert_leq(fabsf(w[r * cols + c] - d[r * cols + c]), s * 0.5f * (1 + 1e-5f), "%s g%d: (%d, %d)",
                          qformat_name(gc->f), gc->group, r, c);
            cr_assert_leq(q.zeros[r * per_row + c / gc->group], maxq);
            cr_assert_eq(s, cpet_f16_to_f32(cpet_f32_to_f16(s)), "scales are stored as f16");
        }
    size_t groups = (size_t)rows * per_row;
    cr_assert_eq(qtensor_bytes(&q), (size_t)rows * cols / 2 + groups * 2 + (groups + 1) / 2);
    qtensor_free(&q);
}

Test(quant, nf4_double_quant_error_bound)
{
    const int rows = 4, cols = 512;
    float *w = random_matrix(rows, cols, 3);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_NF4, w, rows, cols, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(q.group, 64);
    float *d = malloc((size_t)rows * cols * sizeof(float));
    qtensor_dequantize(&q, d);
    float max_gap = 0;
    for (int i = 0; i + 1 < 16; i++) max_gap = fmaxf(max_gap, nf4_levels[i + 1] - nf4_levels[i]);
    for (int b = 0; b < rows * cols / 64; b++) {
        float amax = 0;
        for (int c = 0; c < 64; c++) amax = fmaxf(amax, fabsf(w[b * 64 + c]));
        float amax_dq = q.absmax_mean + (float)(int8_t)q.absmax_q[b] * q.absmax_scale[b / 256];
        cr_assert_leq(fabsf(amax - amax_dq), q.absmax_scale[b / 256] * 0.5f * 1.0001f, "second-level error");
        for (int c = 0; c < 64; c++)
            cr_assert_leq(fabsf(w[b * 64 + c] - d[b * 64 + c]), max_gap / 2 * amax_dq + fabsf(amax - amax_dq) + 1e-6f);
    }
    qtensor_free(&q);
}

/* ggml's reference rules, worked by hand */
Test(quant, q8_0_and_q4_0_blocks_match_ggml)
{
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_Q8_0, x, 1, 32, 0, &err), 0, "%s", err.msg);
    uint16_t d16;
    memcpy(&d16, q.data, 2);
    cr_assert_eq(d16, cpet_f32_to_f16(16.0f / 127.0f), "d = amax / 127 as f16");
    cr_assert_eq((int8_t)q.data[2 + 0], -127);                           /* -16 * 127/16 */
    cr_assert_eq((int8_t)q.data[2 + 17], (int8_t)roundf(1 * 127.0f / 16)); /* 8 */
    cr_assert_eq(q.data_bytes, 34);
    qtensor_free(&q);
    for (int j = 0; j < 32; j++) x[j] = 0.5f * (float)(j - 16);
    cr_assert_eq(quantize_rtn(&q, QF_Q4_0, x, 1, 32, 0, &err), 0, "%s", err.msg);
    memcpy(&d16, q.data, 2);
    cr_assert_eq(d16, cpet_f32_to_f16(1.0f), "d = max / -8 with max = -8");
    /* q = min(15, (int8)(x / d + 8.5)): x = -8 -> 0, x = 0 -> 8, x = 7.5 -> 16 -> 15; byte j = q(j) | q(j+16) << 4 */
    cr_assert_eq(q.data[2 + 0], 0 | (8 << 4));
    cr_assert_eq(q.data[2 + 15], (uint8_t)((int)(-0.5f + 8.5f) | (15 << 4)));
    cr_assert_eq(q.data_bytes, 18);
    float back[32];
    qtensor_dequantize(&q, back);
    cr_assert_float_eq(back[0], -8.0f, 0);
    cr_assert_float_eq(back[31], 7.0f, 0, "the clamped top value");
    qtensor_free(&q);
}

/* ggml's test-quantize-fns data, 0.1 + 2 cos(i) (amplitude A = 2.1): a uniform quantizer with step s has
 * an RMSE of s / sqrt(12). (ggml's own "rmse" is sqrt(sum d^2) / n, a different normalisation.) */
Test(quant, round_trip_rmse_matches_the_step_size)
{
    const int n = 4096;
    const double A = 2.1;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) x[i] = 0.1f + 2.0f * cosf((float)i);
    const qformat fs[] = {QF_Q8_0, QF_INT8, QF_Q4_0, QF_INT4, QF_INT3};
    const double step[] = {A / 127, A / 127, A / 8, 2 * A / 15, 2 * A / 7};
    for (int k = 0; k < 5; k++) {
        qtensor q;
        cpet_err err;
        cr_assert_eq(quantize_rtn(&q, fs[k], x, 1, n, 32, &err), 0, "%s", err.msg);
        qtensor_dequantize(&q, y);
        double se = 0;
        for (int i = 0; i < n; i++) se += (x[i] - y[i]) * (x[i] - y[i]);
        double rmse = sqrt(se / n), expected = step[k] / sqrt(12.0);
        cr_expect(rmse < 1.1 * expected && rmse > 0.7 * expected, "%s: rmse %g, step/sqrt(12) = %g", qformat_name(fs[k]),
                  rmse, expected);
        qtensor_free(&q);
    }
}

typedef struct {
    qformat f;
    int n;
} kernel_case;

ParameterizedTestParameters(quant, packed_kernel_matches_scalar_reference)
{
    static kernel_case cases[] = {{QF_INT8, 1}, {QF_INT8, 20}, {QF_INT4, 1}, {QF_INT4, 3}, {QF_INT4, 33},
                                  {QF_INT3, 2}, {QF_INT3, 20}, {QF_Q8_0, 1}, {QF_Q8_0, 17}, {QF_Q4_0, 1},
                                  {QF_Q4_0, 24}, {QF_NF4, 1}, {QF_NF4, 4}, {QF_NF4, 8}, {QF_NF4, 16}, {QF_W8A8, 1}, {QF_W8A8, 20}};
    return cr_make_param_array(kernel_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(kernel_case *kc, quant, packed_kernel_matches_scalar_reference)
{
    const int rows = 136, cols = 384;
    float *w = random_matrix(rows, cols, 4), *x = random_matrix(kc->n, cols, 5);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, kc->f, w, rows, cols, 64, &err), 0, "%s", err.msg);
    float *fast = malloc((size_t)kc->n * rows * sizeof(float)), *ref = malloc((size_t)kc->n * rows * sizeof(float));
    qmatmul(&q, x, fast, kc->n);
    qmatmul_reference(&q, x, ref, kc->n);
    double rel = vec_max_rel_diff(fast, ref, (size_t)kc->n * rows);
    if (kc->f == QF_W8A8) cr_assert_eq(memcmp(fast, ref, (size_t)kc->n * rows * sizeof(float)), 0, "integer math is exact");
    else cr_assert_lt(rel, 1e-5, "%s n=%d: %.3g", qformat_name(kc->f), kc->n, rel);
    /* and the reference is x times the dequantized matrix */
    if (kc->f != QF_W8A8) {
        float *d = malloc((size_t)rows * cols * sizeof(float));
        qtensor_dequantize(&q, d);
        for (int i = 0; i < kc->n; i++)
            for (int r = 0; r < rows; r += 17) {
                double s = 0;
                for (int c = 0; c < cols; c++) s += (double)x[i * cols + c] * d[r * cols + c];
                cr_assert_float_eq(ref[i * rows + r], s, 1e-5 * (fabs(s) + 1e-3));
            }
        free(d);
    } else {
        /* W8A8 stays close to float: within a few activation and weight steps */
        float *d = malloc((size_t)rows * cols * sizeof(float)), *exact = malloc((size_t)kc->n * rows * sizeof(float));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) d[r * cols + c] = w[r * cols + c];
        for (int i = 0; i < kc->n; i++)
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int c = 0; c < cols; c++) s += (double)x[i * cols + c] * d[r * cols + c];
                exact[i * rows + r] = (float)s;
            }
        cr_assert_lt(vec_max_rel_diff(fast, exact, (size_t)kc->n * rows), 0.05);
        free(d);
        free(exact);
    }
    qtensor_free(&q);
}

Test(quant, backward_dx_through_packed_weights)
{
    const int rows = 130, cols = 128, n = 5;
    float *w = random_matrix(rows, cols, 6), *dy = random_matrix(n, rows, 7);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_Q4_0, w, rows, cols, 0, &err), 0, "%s", err.msg);
    float *d = malloc((size_t)rows * cols * sizeof(float)), *dx = calloc((size_t)n * cols, sizeof(float));
    qtensor_dequantize(&q, d);
    qmatmul_backward_dx(&q, dy, dx, n);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < cols; c++) {
            double s = 0;
            for (int r = 0; r < rows; r++) s += (double)dy[i * rows + r] * d[r * cols + c];
            cr_assert_float_eq(dx[i * cols + c], s, 1e-5 * (fabs(s) + 1e-3));
        }
}

Test(quant, unsupported_group_sizes_are_errors)
{
    float *w = random_matrix(4, 192, 8);
    qtensor q;
    cpet_err err;
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, 48, &err), 0);
    cr_assert(strstr(err.msg, "group size 48 is not supported"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, 128, &err), 0);
    cr_assert(strstr(err.msg, "does not divide the row length 192"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_Q4_0, w, 4, 40, 0, &err), 0, "Q4_0 needs rows of whole 32-blocks");
}

/* The row-interleaved decode pack gives the stored layout's integer sums: every 4-bit format and group,
 * every decode batch size, against the scalar reference */
Test(quant, decode_pack_matches_the_reference)
{
    const int rows = 48, cols = 384;
    float *w = random_matrix(rows, cols, 12), *x = random_matrix(4, cols, 13);
    const struct {
        qformat f;
        int group;
    } cases[] = {{QF_Q4_0, 32}, {QF_INT4, 32}, {QF_INT4, 64}, {QF_INT4, 128}, {QF_INT3, 64}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qtensor q;
        cpet_err err;
        cr_assert_eq(quantize_rtn(&q, cases[k].f, w, rows, cols, cases[k].group, &err), 0, "%s", err.msg);
        q.q8_activations = 1;
        float rowwise[4 * 48], packed[4 * 48], ref[4 * 48];
        for (int n = 1; n <= 4; n++) {
            qmatmul(&q, x, rowwise, n);
            cr_assert_eq(qtensor_pack_decode(&q), 0);
            qmatmul(&q, x, packed, n);
            qmatmul_reference(&q, x, ref, n);
            double rel = vec_max_rel_diff(packed, ref, (size_t)n * rows);
            cr_expect_lt(rel, 1e-5, "%s g%d n=%d: pack vs reference %.3g", qformat_name(cases[k].f), cases[k].group, n, rel);
            cr_expect_lt(vec_max_rel_diff(rowwise, ref, (size_t)n * rows), 1e-5);
            cpet_free(q.pack); /* next n starts from the stored layout again */
            q.pack = NULL;
        }
        qtensor_free(&q);
    }
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_INT4, w, 44, cols, 64, &err), 0, "%s", err.msg);
    cr_expect_eq(qtensor_pack_decode(&q), -1, "44 rows are not whole groups of 8: the decode reads the stored layout");
    cr_expect_null(q.pack);
    qtensor_free(&q);
    cr_assert_eq(quantize_rtn(&q, QF_INT8, w, rows, cols, 0, &err), 0, "%s", err.msg);
    cr_expect_eq(qtensor_pack_decode(&q), -1, "8-bit codes have no pack");
    qtensor_free(&q);
    free(w);
    free(x);
}

/* llama.cpp-style decode: int8 activation blocks and integer dot products */
Test(quant, q8_activation_decode_matches_its_reference)
{
    const int rows = 72, cols = 256;
    float *w = random_matrix(rows, cols, 10), *x = random_matrix(4, cols, 11);
    const qformat fs[] = {QF_INT8, QF_Q8_0, QF_Q4_0, QF_INT4, QF_INT3};
    for (int k = 0; k < 5; k++)
        for (int n = 1; n <= 4; n += 3) {
            qtensor q;
            cpet_err err;
            cr_assert_eq(quantize_rtn(&q, fs[k], w, rows, cols, 128, &err), 0, "%s", err.msg);
            float exact[4 * 72], fast[4 * 72], ref[4 * 72];
            qmatmul(&q, x, exact, n);
            q.q8_activations = 1;
            qmatmul(&q, x, fast, n);
            qmatmul_reference(&q, x, ref, n);
            double rel = vec_max_rel_diff(fast, ref, (size_t)n * rows), drift = vec_max_rel_diff(fast, exact, (size_t)n * rows);
            cr_expect_lt(rel, 1e-5, "%s n=%d: fast vs reference %.3g", qformat_name(fs[k]), n, rel);
            cr_expect_lt(drift, 2e-2, "%s n=%d: activation quantization moved the result by %.3g", qformat_name(fs[k]), n, drift);
            cr_expect_gt(drift, 0.0, "%s: the activations really were quantized", qformat_name(fs[k]));
            qtensor_free(&q);
        }
}
