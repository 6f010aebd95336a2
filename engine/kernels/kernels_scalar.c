/* The scalar level: plain C for every kernel, and the reference the SIMD levels are held to. Where a
 * kernel's float sums have an order (kernels.h), this file writes that order out lane by lane, with
 * fmaf where the SIMD levels fuse, so that a level which keeps the order gives these bits. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "qpack_layout.h"
#include "quant.h"
#include "tensor.h"

float lanes8_sum(const float l[8])
{
    const float s0 = l[0] + l[4], s1 = l[1] + l[5], s2 = l[2] + l[6], s3 = l[3] + l[7];
    return (s0 + s1) + (s2 + s3);
}

/* ---- f32 ---- */

/* One row against one x in the eight-lane order, 16 columns a step into two lane sets (the second's
 * lanes are added to the first's at the end), then 8 columns a step into the first, then the tail after
 * the lanes are summed. */
static float row16_dot(const float *w, const float *x, int in)
{
    float a[8] = {0}, b[8] = {0};
    int k = 0;
    for (; k + 16 <= in; k += 16)
        for (int l = 0; l < 8; l++) {
            a[l] = fmaf(w[k + l], x[k + l], a[l]);
            b[l] = fmaf(w[k + 8 + l], x[k + 8 + l], b[l]);
        }
    for (; k + 8 <= in; k += 8)
        for (int l = 0; l < 8; l++) a[l] = fmaf(w[k + l], x[k + l], a[l]);
    for (int l = 0; l < 8; l++) a[l] += b[l];
    float s = lanes8_sum(a);
    for (; k < in; k++) s += w[k] * x[k];
    return s;
}

static void gemv_row(const float *w, const float *x, float *y, int n, int in, int out)
{
    for (int j = 0; j < n; j++) y[(size_t)j * out] = row16_dot(w, x + (size_t)j * in, in);
}

static float dot_f32(const float *a, const float *b, int n) { return row16_dot(a, b, n); }

static void dot_f32_rows(const float *a, const float *b, size_t stride, int rows, int len, float *out)
{
    for (int j = 0; j < rows; j++) out[j] = row16_dot(b + (size_t)j * stride, a, len);
}

/* eight rows, 8 columns a step into one lane set each */
static void gemv_rows8(const float *w, const float *x, float *y, int in)
{
    for (int r = 0; r < 8; r++) {
        const float *wr = w + (size_t)r * in;
        float a[8] = {0};
        int k = 0;
        for (; k + 8 <= in; k += 8)
            for (int l = 0; l < 8; l++) a[l] = fmaf(wr[k + l], x[k + l], a[l]);
        float s = lanes8_sum(a);
        for (; k < in; k++) s += wr[k] * x[k];
        y[r] = s;
    }
}

/* ---- int8 activation blocks ---- */

/* lane j of a 32-block: the integer sum of products 4j..4j+3 */
static void block_lanes(const int *w, const int8_t *x, int32_t lanes[8])
{
    for (int j = 0; j < 8; j++) {
        int32_t s = 0;
        for (int t = 0; t < 4; t++) s += w[4 * j + t] * x[4 * j + t];
        lanes[j] = s;
    }
}

/* block b of row r's codes, centred where the format is symmetric (INT4/INT3: raw 0..15) */
static void block_codes(const qtensor *q, int r, int b, int w[32])
{
    const int blocks = q->cols / 32;
    switch (q->format) {
    case QF_Q8_0: {
        const block_q8_0 *blk = (const block_q8_0 *)q->data + (size_t)r * blocks + b;
        for (int j = 0; j < 32; j++) w[j] = blk->qs[j];
        return;
    }
    case QF_Q4_0: {
        const block_q4_0 *blk = (const block_q4_0 *)q->data + (size_t)r * blocks + b;
        for (int j = 0; j < 16; j++) w[j] = (blk->qs[j] & 0x0F) - 8, w[j + 16] = (blk->qs[j] >> 4) - 8;
        return;
    }
    case QF_INT8: case QF_W8A8:
        for (int j = 0; j < 32; j++) w[j] = (int8_t)q->data[(size_t)r * q->cols + b * 32 + j];
        return;
    default: /* INT4 / INT3: nibbles, element 2k low */
        for (int j = 0; j < 32; j++) {
            const size_t e = (size_t)r * q->cols + (size_t)b * 32 + j;
            w[j] = e & 1 ? q->data[e / 2] >> 4 : q->data[e / 2] & 0x0F;
        }
        return;
    }
}

static float block_scale(const qtensor *q, int r, int b)
{
    const int blocks = q->cols / 32;
    if (q->format == QF_Q8_0) return cpet_f16_to_f32(((const block_q8_0 *)q->data)[(size_t)r * blocks + b].d);
    return cpet_f16_to_f32(((const block_q4_0 *)q->data)[(size_t)r * blocks + b].d);
}

/* Per input: lanes += block lanes times (weight scale x x scale), fused; Q8_0 puts odd blocks in a second
 * lane set (its two accumulators), added lane-wise at the end; INT8 scales the sum by the row's scale,
 * INT4/INT3 subtract the zero-point term (zero x scale x x scale x x code sum, per block, unfused). */
static void q8act_row(const qtensor *q, int r, const q8_rows *a, float *y, int n)
{
    const int blocks = q->cols / 32, rows = q->rows;
    for (int i = 0; i < n; i++) {
        float acc[8] = {0}, acc2[8] = {0}, offset = 0;
        int w[32];
        int32_t lanes[8];
        for (int b = 0; b < blocks; b++) {
            block_codes(q, r, b, w);
            block_lanes(w, a->q[i] + b * 32, lanes);
            float sd;
            switch (q->format) {
            case QF_INT8: case QF_W8A8: sd = a->d[i][b]; break;
            case QF_Q8_0: case QF_Q4_0: sd = block_scale(q, r, b) * a->d[i][b]; break;
            default: {
                const int g = q->group, per_row = q->cols / g, k = b * 32 / g;
                const float s = q->scales[(size_t)r * per_row + k];
                const int z = q->zeros[(size_t)r * per_row + k];
                sd = s * a->d[i][b];
                offset += sd * (float)(z * a->sum[i][b]);
            }
            }
            float *into = q->format == QF_Q8_0 && b % 2 == 1 && b < blocks / 2 * 2 ? acc2 : acc;
            for (int j = 0; j < 8; j++) into[j] = fmaf((float)lanes[j], sd, into[j]);
        }
        for (int j = 0; j < 8; j++) acc[j] += acc2[j];
        float s = lanes8_sum(acc);
        if (q->format == QF_INT8 || q->format == QF_W8A8) s *= q->scales[r];
        y[(size_t)i * rows + r] = s - offset;
    }
}

static void q8_0_rows4(const qtensor *q, int r0, const q8_rows *a, float *y)
{
    for (int i = 0; i < 4; i++) q8act_row(q, r0 + i, a, y, 1);
}

static int32_t dot_i8(const int8_t *a, const int8_t *b, int n)
{
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += (int32_t)a[i] * b[i];
    return s;
}

/* ---- the decode pack ---- */

/* Per row of the group: per block the integer sum of code x x, times x's scale into the group sum
 * (fused); per weight group acc += scale x (group sum - zero x zsum), both fused. */
static void pack_row_group(const qtensor *q, int rg, const q8_rows *a, const float (*zsum)[Q8_MAX_BLOCKS], float *y, int n)
{
    const int g = q->group, per_row = q->cols / g, blocks_per_group = g / 32;
    for (int i = 0; i < PACK_ROWS; i++) {
        const int r = rg * PACK_ROWS + i;
        for (int t = 0; t < n; t++) {
            float acc = 0;
            for (int k = 0; k < per_row; k++) {
                float scale;
                int zero;
                qtensor_pack_grid(q, r, k, &scale, &zero);
                float gacc = 0;
                for (int jb = 0; jb < blocks_per_group; jb++) {
                    const int b = k * blocks_per_group + jb;
                    int32_t s = 0;
                    for (int c = 0; c < 32; c++) s += qtensor_pack_code(q, r, b * 32 + c) * a->q[t][b * 32 + c];
                    gacc = fmaf((float)s, a->d[t][b], gacc);
                }
                acc = fmaf(scale, fmaf(-(float)zero, zsum[t][k], gacc), acc);
            }
            y[(size_t)t * q->rows + r] = acc;
        }
    }
}

/* ---- the read probe ---- */

static float read_sum8(const float *base, size_t seg)
{
    float acc[8][8] = {{0}};
    for (size_t i = 0; i < seg; i += 8)
        for (int s = 0; s < 8; s++)
            for (int l = 0; l < 8; l++) acc[s][l] += base[(size_t)s * seg + i + l];
    float total = 0;
    for (int s = 0; s < 8; s++) total += lanes8_sum(acc[s]);
    return total;
}

const kernel_table kernels_scalar = {
    .isa = ISA_SCALAR,
    .gemv_rows8 = gemv_rows8,
    .gemv_row = gemv_row,
    .dot_f32 = dot_f32,
    .dot_f32_rows = dot_f32_rows,
    .dequant_row = qtensor_dequant_row,
    .fused_row = NULL, /* the dispatcher dequantizes and dots */
    .q8act_row = q8act_row,
    .q8_0_rows4 = q8_0_rows4,
    .dot_i8 = dot_i8,
    .pack_dequant_row = qtensor_pack_dequant_row_reference,
    .pack_row_group = pack_row_group,
    .read_sum8 = read_sum8,
};
