/* The kernels that have a version per instruction set: one table per level (kernels_scalar.c,
 * kernels_avx2.c, kernels_avx512.c, kernels_neon.c), the dispatchers (gemv.c, qmatmul.c, qpack.c) call
 * through kernels(). A NULL entry in a level's own table means "the level below does it as well as this
 * one could" (isa.c fills it from there); the scalar table has every entry.
 *
 * Reduction orders. Where a kernel's sums are integers (int8 dots, dequantization) every level gives the
 * same bits. The float sums follow one order per kernel, written down beside the scalar version, and the
 * SIMD levels that keep it give the scalar path's bits too: f32 GEMV and the int8-activation kernels in
 * eight lanes (lane j takes columns j, j+8, ...; the lanes are added as (l0+l4 + l1+l5) + (l2+l6 + l3+l7)),
 * so a decode's numbers do not depend on the CPU. The float-activation fused kernels are the exception:
 * each level keeps its own order, held to the double-precision reference by a tolerance. */
#ifndef CPET_KERNELS_H
#define CPET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"
#include "q8act.h"
#include "qtensor.h"

typedef struct {
    cpu_isa isa;
    /* f32 decode GEMV: 8 rows of W (row stride `in`) against one x; one row against n inputs (x row
     * stride `in`, y stride `out`); a dot product */
    void (*gemv_rows8)(const float *w, const float *x, float *y, int in);
    void (*gemv_row)(const float *w, const float *x, float *y, int n, int in, int out);
    float (*dot_f32)(const float *a, const float *b, int n);
    /* out[j] = dot_f32(a, b + j stride, len) for j < rows, the same bits (attention's scores at decode) */
    void (*dot_f32_rows)(const float *a, const float *b, size_t stride, int rows, int len, float *out);
    /* row r of a stored-layout tensor dequantized (exact: code times scale, the same bits on every level) */
    void (*dequant_row)(const qtensor *q, int r, float *out);
    /* y[i, r] = x_i . row r for n <= 4 float inputs, codes expanded in registers; NULL on a level that has
     * none (the dispatcher dequantizes and dots instead) */
    void (*fused_row)(const qtensor *q, int r, const float *x, float *y, int n);
    /* y[i, r] for n <= 4 int8 activation rows on the stored layout (INT8, Q8_0, Q4_0, INT4/INT3 groups of 32k) */
    void (*q8act_row)(const qtensor *q, int r, const q8_rows *a, float *y, int n);
    /* Q8_0, n = 1, rows r0..r0+3: the decode hot path (the same sums as q8act_row) */
    void (*q8_0_rows4)(const qtensor *q, int r0, const q8_rows *a, float *y);
    /* W8A8's int32 dot of two int8 vectors */
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, int n);
    /* the decode pack (qpack.c): row r dequantized; y[i, 8 rows of group rg] for n <= 4 int8 rows, zsum
     * being x's scale times code sum per weight group */
    void (*pack_dequant_row)(const qtensor *q, int r, float *out);
    void (*pack_row_group)(const qtensor *q, int rg, const q8_rows *a, const float (*zsum)[Q8_MAX_BLOCKS], float *y, int n);
    /* the sum of 8 segments of seg floats each (seg a multiple of 16), read side by side as fast as one
     * core can: the read-bandwidth probe (bench/) */
    float (*read_sum8)(const float *base, size_t seg);
} kernel_table;

/* the table of the level in use, every entry filled */
const kernel_table *kernels(void);

/* each level's own table (NULL entries fall through); the levels a build lacks are not linked */
extern const kernel_table kernels_scalar;
extern const kernel_table kernels_avx2, kernels_avx2_vnni, kernels_avx512, kernels_avx512_vnni;
extern const kernel_table kernels_neon, kernels_neon_dotprod;

/* The scalar versions, for the tests and for other levels' tails. */
float lanes8_sum(const float l[8]);

#endif
