/* The decode pack: a row-interleaved copy of 4-bit codes (INT4, INT3, Q4_0) or of Q8_0's int8 codes, for
 * llama.cpp-style decode (int8 activation blocks). On the stored layout a row's codes sit together, so each
 * output needs a horizontal reduction and 32 codes cost ~19 instructions. Here one 32-byte load holds 8
 * (4-bit) or 4 (8-bit) columns of 8 rows, every lane of an integer dot belongs to one output row, and the
 * activation bytes are broadcast: 256 weights cost ~45 instructions, which leaves two cores waiting on
 * memory instead of the reverse. Q8_0's stored 34-byte blocks also split half their 32-byte loads across
 * cache lines; in the pack every code load is one line's half.
 *
 * Groups: Q4_0's and Q8_0's 32, INT4 / INT3 groups that are multiples of 32 (per-channel too, when the row
 * is). Other groups have no pack: their weight groups cut across the 32-blocks of x, and qmatmul_select
 * runs them with float activations (the fused kernel) instead.
 *
 * Layout, per group of 8 rows, per weight group of g columns (Q4_0, Q8_0: g = 32), in memory order:
 *   the 8 rows' f16 scales, then for INT4 / INT3 their 8 u8 zero points (the header),
 *   then 4-bit: g / 8 chunks of 32 bytes: byte 4i + j of the chunk for columns c..c+7 holds row i's code
 *   for column c + j in its low nibble and for column c + 4 + j in its high nibble;
 *   Q8_0: g / 4 chunks of 32 bytes: byte 4i + j of the chunk for columns c..c+3 is row i's code for c + j.
 * Headers sit in the stream beside the codes they scale: kept apart (aligning the codes), every header
 * line was a demand miss that stalled the core, and 4-bit decode ran at half the memory bandwidth.
 * The pack reads as many bytes as the stored layout (Q4_0: 144 per 256 weights, Q8_0: 272, both ways).
 *
 * It also holds every scale, zero and code of the stored layout, so for inference it replaces it
 * (qtensor_pack_only): the other kernels (prompt tiles, float activations, adapter backward) dequantize
 * rows from the pack, and a model decodes in the bytes of its file instead of twice them. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "q8act.h"
#include "qpack_layout.h"
#include "tensor.h"


int qtensor_pack_supported(const qtensor *q)
{
    return (q->format == QF_INT4 || q->format == QF_INT3 || q->format == QF_Q4_0 || q->format == QF_Q8_0) && q->rows % PACK_ROWS == 0 &&
           q->group % 32 == 0 && q->cols % 32 == 0 && q->cols / 32 <= Q8_MAX_BLOCKS;
}

/* the f16 scale of row r, group k, as stored */
static uint16_t stored_scale_f16(const qtensor *q, int r, int k)
{
    uint16_t h;
    if (q->format == QF_Q4_0) h = ((const block_q4_0 *)q->data)[(size_t)r * (q->cols / QK4_0) + k].d;
    else if (q->format == QF_Q8_0) h = ((const block_q8_0 *)q->data)[(size_t)r * (q->cols / QK8_0) + k].d;
    else h = cpet_f32_to_f16(q->scales[(size_t)r * (q->cols / q->group) + k]); /* exact: scales are f16 values */
    return h;
}

int qtensor_pack_decode(qtensor *q)
{
    if (!qtensor_pack_supported(q)) return -1;
    const int g = q->group, per_row = q->cols / g, hb = pack_header_bytes(q);
    const size_t stride = pack_group_stride(q);
    q->pack_bytes = (size_t)(q->rows / PACK_ROWS) * per_row * stride;
    cpet_free(q->pack);
    q->pack = cpet_alloc(q->pack_bytes);
    if (!q->pack) return -1;
    for (int rg = 0; rg < q->rows / PACK_ROWS; rg++)
        for (int k = 0; k < per_row; k++) {
            uint8_t *p = q->pack + ((size_t)rg * per_row + k) * stride, *codes = p + hb;
            for (int i = 0; i < PACK_ROWS; i++) {
                int r = rg * PACK_ROWS + i;
                uint16_t h = stored_scale_f16(q, r, k);
                memcpy(p + 2 * i, &h, 2);
                if (hb == 24) p[16 + i] = q->zeros[(size_t)r * per_row + k];
            }
            if (q->format == QF_Q8_0) { /* chunks of 4 columns: byte 4i + j is row i's code for column 4 chunk + j */
                for (int chunk = 0; chunk < g / 4; chunk++)
                    for (int i = 0; i < PACK_ROWS; i++)
                        for (int j = 0; j < 4; j++)
                            codes[chunk * 32 + 4 * i + j] =
                                (uint8_t)((const block_q8_0 *)q->data)[(size_t)(rg * PACK_ROWS + i) * per_row + k].qs[chunk * 4 + j];
                continue;
            }
            for (int chunk = 0; chunk < g / 8; chunk++)
                for (int i = 0; i < PACK_ROWS; i++)
                    for (int j = 0; j < 4; j++) {
                        int r = rg * PACK_ROWS + i, c = k * g + chunk * 8 + j;
                        codes[chunk * 32 + 4 * i + j] = (uint8_t)(qtensor_code(q, r, c) | qtensor_code(q, r, c + 4) << 4);
                    }
        }
    return 0;
}

int qtensor_pack_only(qtensor *q)
{
    if (!q->pack && qtensor_pack_decode(q) != 0) return -1;
    cpet_free(q->data);
    free(q->scales);
    free(q->zeros);
    q->data = NULL, q->scales = NULL, q->zeros = NULL; /* data_bytes stays: the bytes the format stores */
    return 0;
}

void qtensor_pack_dequant_row(const qtensor *q, int r, float *out) { kernels()->pack_dequant_row(q, r, out); }

void qpack_matmul_q8(const qtensor *q, const q8_rows *a, float *y, int n) { qpack_matmul_q8_shared(&q, 1, a, &y, n); }

void qpack_matmul_q8_shared(const qtensor *const *qs, int k, const q8_rows *a, float *const *ys, int n)
{
    float zsum[Q8_MAX_SHARED][Q8_MAX_INPUTS][Q8_MAX_BLOCKS]; /* 16 KiB per matrix, on the stack: a decode hot path */
    const kernel_table *kt = kernels();
    int groups[Q8_MAX_SHARED], total = 0;
    for (int m = 0; m < k; m++) {
        const qtensor *q = qs[m];
        const int per_row = q->cols / q->group, blocks_per_group = q->group / 32;
        total += groups[m] = q->rows / PACK_ROWS;
        for (int i = 0; i < n; i++) /* per weight group: sum over its blocks of x scale * x code sum */
            for (int g = 0; g < per_row; g++) {
                float s = 0;
                for (int j = 0; j < blocks_per_group; j++) s += a->d[i][g * blocks_per_group + j] * (float)a->sum[i][g * blocks_per_group + j];
                zsum[m][i][g] = s;
            }
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < total; t++) { /* row groups of every matrix in one loop */
        int rg = t, m = 0;
        while (m < k - 1 && rg >= groups[m]) rg -= groups[m++];
        const float(*z)[Q8_MAX_BLOCKS] = (const float(*)[Q8_MAX_BLOCKS])zsum[m];
        kt->pack_row_group(qs[m], rg, a, z, ys[m], n);
    }
}
