/* Quantization formats: error bounds, llama.cpp block layouts, kernels against the scalar reference. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gptq.h"
#include "kernels.h"
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
    free(d);
    free(w);
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
    free(d);
    free(w);
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
    free(d);
    free(w);
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
    free(y);
    free(x);
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
    free(ref);
    free(fast);
    free(x);
    free(w);
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
    qtensor_free(&q);
    free(dx);
    free(d);
    free(dy);
    free(w);
}

Test(quant, unsupported_group_sizes_are_errors)
{
    float *w = random_matrix(4, 192, 8);
    qtensor q;
    cpet_err err;
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, 12, &err), 0, "12 is not a multiple of 8");
    cr_assert(strstr(err.msg, "group size 12 is not supported for a 4 x 192 tensor"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_INT3, w, 4, 192, 0, &err), 0);
    cr_assert(strstr(err.msg, "group size 0 is not supported"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, -2, &err), 0, "only -1 means per-channel");
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, 128, &err), 0);
    cr_assert(strstr(err.msg, "group size 128 does not divide the row length 192 of a 4 x 192 tensor"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_INT4, w, 4, 192, 40, &err), 0, "a multiple of 8 that does not divide");
    cr_assert(strstr(err.msg, "does not divide the row length 192"), "%s", err.msg);
    cr_assert_neq(quantize_rtn(&q, QF_Q4_0, w, 4, 40, 0, &err), 0, "Q4_0 needs rows of whole 32-blocks");
    cr_assert_eq(quantize_rtn(&q, QF_INT4, w, 4, 192, 48, &err), 0, "48 divides 192: %s", err.msg);
    cr_assert_eq(q.group, 48);
    qtensor_free(&q);
    free(w);
}

/* ---- groups that are not multiples of 32, and per-channel (group -1) ---- */

typedef struct {
    qformat f;
    int rows, cols, group, expected_group;
} odd_group_case;

/* Error bound of an asymmetric b-bit group with maxq = 2^b - 1 and range [lo, hi] (0 included): codes that
 * are not clamped are off by at most s / 2. A clamped code is off by at most s / 2 + |(hi - lo) - maxq s|,
 * the amount by which rounding s to f16 shrank the grid (z = round(-lo / s) is within 1/2 of exact). So per
 * element |w - deq| <= s / 2 + |(hi - lo) - maxq s|, plus float rounding of w / s (1e-6 relative). */
static void check_group_bound(const odd_group_case *gc, const float *w, const qtensor *q, const float *d)
{
    const int per_row = gc->cols / q->group, maxq = (1 << qformat_bits(gc->f)) - 1;
    for (int r = 0; r < gc->rows; r++)
        for (int k = 0; k < per_row; k++) {
            float lo = 0, hi = 0;
            for (int c = k * q->group; c < (k + 1) * q->group; c++) {
                lo = fminf(lo, w[r * gc->cols + c]);
                hi = fmaxf(hi, w[r * gc->cols + c]);
            }
            const float s = q->scales[r * per_row + k];
            const float bound = s / 2 + fabsf((hi - lo) - maxq * s) + 1e-6f * fmaxf(fabsf(lo), fabsf(hi));
            cr_assert_eq(s, cpet_f16_to_f32(cpet_f32_to_f16(s)), "scales are stored as f16");
            cr_assert_leq(q->zeros[r * per_row + k], maxq);
            for (int c = k * q->group; c < (k + 1) * q->group; c++)
                cr_assert_leq(fabsf(w[r * gc->cols + c] - d[r * gc->cols + c]), bound, "%s g%d %dx%d: (%d, %d) s %g",
                              qformat_name(gc->f), gc->group, gc->rows, gc->cols, r, c, s);
        }
}

ParameterizedTestParameters(quant, odd_and_per_channel_groups_within_the_bound)
{
    static odd_group_case cases[] = {
        {QF_INT4, 8, 256, -1, 256}, {QF_INT4, 8, 256, 16, 16}, {QF_INT4, 6, 48, 24, 24}, {QF_INT4, 6, 48, -1, 48},
        {QF_INT4, 5, 48, 16, 16},   {QF_INT4, 3, 40, 8, 8},    {QF_INT3, 7, 48, 24, 24}, {QF_INT3, 4, 256, -1, 256},
        {QF_INT4, 5, 44, -1, 44},   {QF_INT4, 4, 44, 44, 44},
    };
    return cr_make_param_array(odd_group_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(odd_group_case *gc, quant, odd_and_per_channel_groups_within_the_bound)
{
    float *w = random_matrix(gc->rows, gc->cols, 20 + (uint64_t)gc->group);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, gc->f, w, gc->rows, gc->cols, gc->group, &err), 0, "%s", err.msg);
    cr_assert_eq(q.group, gc->expected_group, "per-channel is one group per row");
    float *d = malloc((size_t)gc->rows * gc->cols * sizeof(float));
    qtensor_dequantize(&q, d);
    check_group_bound(gc, w, &q, d);
    size_t groups = (size_t)gc->rows * gc->cols / (size_t)q.group;
    cr_assert_eq(qtensor_bytes(&q), ((size_t)gc->rows * gc->cols + 1) / 2 + groups * 2 + (groups + 1) / 2);
    /* a saved tensor records group = cols for per-channel, and that group loads back */
    qtensor back;
    cr_assert_eq(qtensor_alloc(&back, gc->f, gc->rows, gc->cols, q.group, &err), 0, "%s", err.msg);
    cr_assert_eq(back.group, q.group);
    qtensor_free(&back);
    qtensor_free(&q);
    free(w);
    free(d);
}

/* GPTQ takes the same groups: its packed codes are the weights it computed, within the same kind of bound */
Test(quant, gptq_odd_and_per_channel_groups)
{
    const int rows = 16, cols = 48, n = 64;
    float *x = random_matrix(n, cols, 30);
    double *H = calloc((size_t)cols * cols, sizeof(double));
    gptq_accumulate(H, x, n, cols);
    for (size_t i = 0; i < (size_t)cols * cols; i++) H[i] *= 2.0 / n;
    const int groups[] = {24, 16, -1};
    for (int k = 0; k < 3; k++) {
        float *w = random_matrix(rows, cols, 31), *packed = malloc((size_t)rows * cols * sizeof(float));
        qtensor q;
        cpet_err err;
        cr_assert_eq(gptq_quantize(&q, QF_INT4, w, rows, cols, groups[k], H, 0.01, &err), 0, "%s", err.msg);
        cr_assert_eq(q.group, groups[k] > 0 ? groups[k] : cols);
        qtensor_dequantize(&q, packed);
        cr_assert_lt(vec_max_rel_diff(packed, w, (size_t)rows * cols), 1e-6, "g%d: the packed codes are what GPTQ computed", groups[k]);
        qtensor_free(&q);
        free(w);
        free(packed);
    }
    float *w = random_matrix(rows, cols, 31);
    qtensor q;
    cpet_err err;
    cr_assert_neq(gptq_quantize(&q, QF_INT4, w, rows, cols, 20, H, 0.01, &err), 0);
    cr_assert(strstr(err.msg, "group size 20 is not supported for a 16 x 48 tensor"), "%s", err.msg);
    cr_assert_neq(gptq_quantize(&q, QF_INT3, w, rows, cols, 32, H, 0.01, &err), 0);
    cr_assert(strstr(err.msg, "does not divide the row length 48"), "%s", err.msg);
    free(w);
    free(H);
    free(x);
}

/* what the dispatcher runs where a fused float kernel applies: the scalar level has none */
static qkernel fused_kind(void) { return kernels()->fused_row ? QK_FUSED : QK_DEQUANT_DOT; }

/* The packed kernels on such groups, every decode batch (n = 1..4) and the wider paths (7: dequant-dot,
 * 17: tiled sgemm), odd row counts, with and without int8 activations: against x times the dequantized
 * matrix (double sums). With q8_activations the groups that are not multiples of 32 have no int8 kernel,
 * so the dispatcher keeps float activations: the result is the exact one and the pack is refused. */
typedef struct {
    int rows, cols, group;
    qkernel decode; /* what qmatmul_select picks for n <= 4 with q8_activations on */
} odd_kernel_case;

ParameterizedTestParameters(quant, odd_group_kernels_match_the_dequantized_matmul)
{
    static odd_kernel_case cases[] = {
        {13, 48, 24, QK_FUSED}, {13, 48, 16, QK_FUSED}, {9, 120, 8, QK_FUSED},   {13, 120, -1, QK_FUSED},
        {5, 44, -1, QK_DEQUANT_DOT}, {16, 96, -1, QK_Q8ACT_PACK}, {11, 96, -1, QK_Q8ACT}, {24, 72, 24, QK_FUSED},
    };
    return cr_make_param_array(odd_kernel_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(odd_kernel_case *kc, quant, odd_group_kernels_match_the_dequantized_matmul)
{
    const int rows = kc->rows, cols = kc->cols, ns[] = {1, 2, 3, 4, 7, 17};
    float *w = random_matrix(rows, cols, 40), *x = random_matrix(17, cols, 41);
    float *d = malloc((size_t)rows * cols * sizeof(float)), *fast = malloc((size_t)17 * rows * sizeof(float)),
          *ref = malloc((size_t)17 * rows * sizeof(float));
    for (int f = 0; f < 2; f++) {
        const qformat fmt = f ? QF_INT3 : QF_INT4;
        qtensor q;
        cpet_err err;
        cr_assert_eq(quantize_rtn(&q, fmt, w, rows, cols, kc->group, &err), 0, "%s", err.msg);
        qtensor_dequantize(&q, d);
        for (int q8 = 0; q8 < 2; q8++) {
            q.q8_activations = q8;
            if (q8 && kc->decode == QK_Q8ACT_PACK) cr_assert_eq(qtensor_pack_decode(&q), 0, "rows %d g%d", rows, kc->group);
            if (q8 && kc->decode != QK_Q8ACT_PACK) cr_assert_eq(qtensor_pack_decode(&q), -1, "rows %d g%d: no pack", rows, kc->group);
            for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
                const int n = ns[t];
                qkernel kind = qmatmul_select(&q, n);
                const qkernel want = q8 ? kc->decode : (kc->decode == QK_DEQUANT_DOT ? QK_DEQUANT_DOT : QK_FUSED);
                if (n <= 4) cr_assert_eq(kind, want == QK_FUSED ? fused_kind() : want,
                                         "%s %dx%d g%d n=%d q8=%d: %s", qformat_name(fmt), rows, cols, kc->group, n, q8, qkernel_name(kind));
                else cr_assert_eq(kind, n < 16 ? QK_DEQUANT_DOT : QK_TILED_SGEMM);
                qmatmul(&q, x, fast, n);
                qmatmul_reference(&q, x, ref, n);
                cr_assert_lt(vec_max_rel_diff(fast, ref, (size_t)n * rows), 1e-5, "%s %dx%d g%d n=%d q8=%d (%s): fast vs reference",
                             qformat_name(fmt), rows, cols, kc->group, n, q8, qkernel_name(kind));
                const int int8_acts = kind == QK_Q8ACT || kind == QK_Q8ACT_PACK;
                for (int i = 0; i < n; i++)
                    for (int r = 0; r < rows; r++) {
                        double s = 0, mag = 0, step = 0;
                        for (int c = 0; c < cols; c++) {
                            float amax = 0; /* of x's 32-block holding c */
                            for (int j = c / 32 * 32; j < c / 32 * 32 + 32 && j < cols; j++) amax = fmaxf(amax, fabsf(x[i * cols + j]));
                            s += (double)x[i * cols + c] * d[r * cols + c];
                            mag += fabs((double)x[i * cols + c] * d[r * cols + c]);
                            step += fabs((double)d[r * cols + c]) * amax / 254.0;
                        }
                        /* float activations: f32 sums, 1e-5 of the magnitude; int8 activations: each x moves
                         * by at most half a step, absmax / 254 of its 32-block, times |w| */
                        double tol = int8_acts ? step * (1 + 1e-4) + 1e-5 * mag : 1e-5 * mag + 1e-7;
                        cr_assert_leq(fabs(fast[i * rows + r] - s), tol, "%s %dx%d g%d n=%d q8=%d (%s): y[%d, %d] %g vs %g",
                                      qformat_name(fmt), rows, cols, kc->group, n, q8, qkernel_name(kind), i, r,
                                      (double)fast[i * rows + r], s);
                    }
            }
        }
        qtensor_free(&q);
    }
    free(w);
    free(x);
    free(d);
    free(fast);
    free(ref);
}

/* ggml's block layouts as structs: the byte sizes and offsets llama.cpp files use */
Test(quant, ggml_block_structs_have_ggml_layout)
{
    cr_assert_eq(sizeof(block_q8_0), 34);
    cr_assert_eq(sizeof(block_q4_0), 18);
    cr_assert_eq(offsetof(block_q8_0, qs), 2);
    cr_assert_eq(offsetof(block_q4_0, qs), 2);
    float x[64];
    for (int j = 0; j < 64; j++) x[j] = 0.25f * (float)(j % 32 - 16);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_Q4_0, x, 1, 64, 0, &err), 0, "%s", err.msg);
    const block_q4_0 *b = (const block_q4_0 *)q.data;
    cr_assert_eq(q.data_bytes, 2 * sizeof(block_q4_0));
    cr_assert_eq(b[1].d, cpet_f32_to_f16(0.5f), "block 1 of the row: d = max / -8 with max = -4");
    for (int c = 0; c < 64; c++) cr_assert_eq(qtensor_code(&q, 0, c), c % 32 < 16 ? b[c / 32].qs[c % 16] & 15 : b[c / 32].qs[c % 16] >> 4);
    qtensor_free(&q);
}

/* the engine's own matmul and the reference take their kind from one dispatcher */
Test(quant, dispatcher_picks_the_kernels_the_engine_runs)
{
    float *w = random_matrix(16, 256, 50);
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_INT4, w, 16, 256, 128, &err), 0, "%s", err.msg);
    cr_assert_eq(qmatmul_select(&q, 1), fused_kind());
    cr_assert_eq(qmatmul_select(&q, 5), QK_DEQUANT_DOT);
    cr_assert_eq(qmatmul_select(&q, 16), QK_TILED_SGEMM);
    q.q8_activations = 1;
    cr_assert_eq(qmatmul_select(&q, 4), QK_Q8ACT);
    cr_assert_eq(qmatmul_select(&q, 5), QK_DEQUANT_DOT, "int8 activations are for decode batches only");
    cr_assert_eq(qtensor_pack_decode(&q), 0);
    cr_assert_eq(qmatmul_select(&q, 1), QK_Q8ACT_PACK);
    cr_assert_str_eq(qkernel_name(QK_Q8ACT_PACK), "q8act-pack");
    qtensor_free(&q);
    cr_assert_eq(quantize_rtn(&q, QF_W8A8, w, 16, 256, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(qmatmul_select(&q, 1), QK_W8A8);
    qtensor_free(&q);
    cr_assert_eq(quantize_rtn(&q, QF_NF4, w, 16, 256, 0, &err), 0, "%s", err.msg);
    q.q8_activations = 1;
    cr_assert_eq(qmatmul_select(&q, 2), fused_kind(), "NF4 levels are not integers: no int8 kernel");
    qtensor_free(&q);
    free(w);
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
    const int rows = 74, cols = 256; /* Q8_0 decodes four rows a step: 74 leaves two on their own */
    float *w = random_matrix(rows, cols, 10), *x = random_matrix(4, cols, 11);
    const qformat fs[] = {QF_INT8, QF_Q8_0, QF_Q4_0, QF_INT4, QF_INT3};
    for (int k = 0; k < 5; k++)
        for (int n = 1; n <= 4; n += 3) {
            qtensor q;
            cpet_err err;
            cr_assert_eq(quantize_rtn(&q, fs[k], w, rows, cols, 128, &err), 0, "%s", err.msg);
            float exact[4 * 74], fast[4 * 74], ref[4 * 74];
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
    free(x);
    free(w);
}

/* A pack-only tensor (the stored layout freed for inference) reads its codes, rows and every kernel's
 * products from the pack: bitwise what the stored layout gave, for every packed format and group */
Test(quant, pack_only_tensor_computes_bitwise_as_the_stored_layout)
{
    const int rows = 24, cols = 192;
    float *w = random_matrix(rows, cols, 14), *x = random_matrix(20, cols, 15);
    const struct {
        qformat f;
        int group;
    } cases[] = {{QF_Q4_0, 32}, {QF_INT4, 32}, {QF_INT4, 64}, {QF_INT3, 96}, {QF_INT4, QGROUP_PER_CHANNEL}, {QF_Q8_0, 32}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qtensor q;
        cpet_err err;
        cr_assert_eq(quantize_rtn(&q, cases[k].f, w, rows, cols, cases[k].group, &err), 0, "%s", err.msg);
        const char *name = qformat_name(cases[k].f);
        float *before = malloc((size_t)rows * cols * sizeof(float)), *after = malloc((size_t)rows * cols * sizeof(float));
        float y_before[3][20 * 24], y_after[3][20 * 24];
        const int ns[3] = {1, 7, 20}; /* int8-activation decode, dequant-dot, tiled sgemm */
        int *codes = malloc((size_t)rows * cols * sizeof(int));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) codes[r * cols + c] = qtensor_code(&q, r, c);
        qtensor_dequantize(&q, before);
        q.q8_activations = 1;
        cr_assert_eq(qtensor_pack_decode(&q), 0, "%s", name); /* the pack beside the stored layout, as decode had it */
        for (int i = 0; i < 3; i++) qmatmul(&q, x, y_before[i], ns[i]);
        const size_t stored = qtensor_bytes(&q);
        cr_assert_eq(qtensor_pack_only(&q), 0, "%s g%d", name, cases[k].group);
        cr_assert(qtensor_is_pack_only(&q) && !q.data && !q.scales && !q.zeros, "%s: the stored layout is freed", name);
        cr_expect_eq(qtensor_bytes(&q), stored, "%s: the format's size does not change", name);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                cr_assert_eq(qtensor_code(&q, r, c), codes[r * cols + c], "%s code (%d,%d)", name, r, c);
        qtensor_dequantize(&q, after); /* the scalar reading of the pack */
        cr_expect_eq(memcmp(before, after, (size_t)rows * cols * sizeof(float)), 0, "%s: reference rows from the pack", name);
        for (int r = 0; r < rows; r++) { /* the AVX2 reading, held to the scalar one */
            float row[192];
            qtensor_pack_dequant_row(&q, r, row);
            cr_assert_eq(memcmp(row, before + (size_t)r * cols, sizeof row), 0, "%s row %d: fast pack rows", name, r);
        }
        for (int i = 0; i < 3; i++) {
            qmatmul(&q, x, y_after[i], ns[i]);
            cr_expect_eq(memcmp(y_before[i], y_after[i], (size_t)ns[i] * rows * sizeof(float)), 0, "%s n=%d (%s)", name,
                         ns[i], qkernel_name(qmatmul_select(&q, ns[i])));
        }
        q.q8_activations = 0; /* float activations too: the fused kernel needs the stored layout, so dequant-dot */
        cr_expect_eq(qmatmul_select(&q, 1), QK_DEQUANT_DOT, "%s", name);
        float dx[192] = {0}, dy[24];
        for (int r = 0; r < rows; r++) dy[r] = x[r];
        qmatmul_backward_dx(&q, dy, dx, 1); /* adapters on a pack-only base */
        for (int c = 0; c < cols; c += 37) {
            double want = 0;
            for (int r = 0; r < rows; r++) want += (double)dy[r] * before[(size_t)r * cols + c];
            cr_expect(fabs(dx[c] - want) < 1e-4 * (1 + fabs(want)), "%s dx[%d] %g vs %g", name, c, dx[c], want);
        }
        free(codes);
        free(before);
        free(after);
        qtensor_free(&q);
    }
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, QF_INT8, w, rows, cols, 0, &err), 0, "%s", err.msg);
    cr_expect_eq(qtensor_pack_only(&q), -1, "per-row INT8 has no pack");
    cr_expect_not_null(q.data, "a tensor without a pack keeps its stored layout");
    qtensor_free(&q);
    free(w);
    free(x);
}
