/* The ARM64 levels: Advanced SIMD (NEON), and with KERNELS_DOTPROD the ARMv8.2 dot-product instructions
 * (sdot) for the int8 sums. Eight float lanes are two float32x4 registers (lanes 0-3 and 4-7), and the
 * int8 sums come out in the x86 kernels' lanes (lane j: products 4j..4j+3), so every kernel here keeps the
 * order kernels.h writes down and gives the scalar level's bits. */
#include <arm_neon.h>
#include <string.h>

#include "kernels.h"
#include "qpack_layout.h"
#include "quant.h"
#include "tensor.h"

#ifndef KERNELS_TABLE
#define KERNELS_TABLE kernels_neon
#define KERNELS_ISA ISA_NEON
#endif

/* (l0+l4 + l1+l5) + (l2+l6 + l3+l7) of lanes lo = l0..l3, hi = l4..l7 */
static inline float hsum8(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t s = vaddq_f32(lo, hi), p = vpaddq_f32(s, s);
    return vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1);
}

/* ---- f32 ---- */

static inline float row16_dot(const float *w, const float *x, int in)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, b0 = a0, b1 = a0;
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + k), vld1q_f32(x + k));
        a1 = vfmaq_f32(a1, vld1q_f32(w + k + 4), vld1q_f32(x + k + 4));
        b0 = vfmaq_f32(b0, vld1q_f32(w + k + 8), vld1q_f32(x + k + 8));
        b1 = vfmaq_f32(b1, vld1q_f32(w + k + 12), vld1q_f32(x + k + 12));
    }
    for (; k + 8 <= in; k += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + k), vld1q_f32(x + k));
        a1 = vfmaq_f32(a1, vld1q_f32(w + k + 4), vld1q_f32(x + k + 4));
    }
    float s = hsum8(vaddq_f32(a0, b0), vaddq_f32(a1, b1));
    for (; k < in; k++) s += w[k] * x[k];
    return s;
}

static void gemv_row(const float *w, const float *x, float *y, int n, int in, int out)
{
    for (int j = 0; j < n; j++) y[(size_t)j * out] = row16_dot(w, x + (size_t)j * in, in);
}

static float dot_f32_lanes(const float *a, const float *b, int n) { return row16_dot(a, b, n); }

static void dot_f32_rows(const float *a, const float *b, size_t stride, int rows, int len, float *out)
{
    for (int j = 0; j < rows; j++) out[j] = row16_dot(b + (size_t)j * stride, a, len);
}

static void gemv_rows8(const float *w, const float *x, float *y, int in)
{
    float32x4_t lo[8], hi[8];
    for (int r = 0; r < 8; r++) lo[r] = hi[r] = vdupq_n_f32(0);
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        const float32x4_t x0 = vld1q_f32(x + k), x1 = vld1q_f32(x + k + 4);
        for (int r = 0; r < 8; r++) {
            lo[r] = vfmaq_f32(lo[r], vld1q_f32(w + (size_t)r * in + k), x0);
            hi[r] = vfmaq_f32(hi[r], vld1q_f32(w + (size_t)r * in + k + 4), x1);
        }
    }
    for (int r = 0; r < 8; r++) {
        float s = hsum8(lo[r], hi[r]);
        for (int t = k; t < in; t++) s += w[(size_t)r * in + t] * x[t];
        y[r] = s;
    }
}

/* ---- int8 sums ---- */

/* 4 int32 lanes, lane j the sum of products 4j..4j+3 of 16 signed bytes (|products| < 2^15) */
static inline int32x4_t dot4_s8(int8x16_t w, int8x16_t x)
{
#if defined(KERNELS_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), w, x);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(w), vget_low_s8(x)), p1 = vmull_high_s8(w, x);
    return vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));
#endif
}

/* 32 codes of block b of row r (centred for Q8_0/Q4_0, raw 0..15 for INT4/INT3) as two int8x16 */
static inline void block_codes(const qtensor *q, int r, int b, int8x16_t *c0, int8x16_t *c1)
{
    const int blocks = q->cols / 32;
    switch (q->format) {
    case QF_Q8_0: {
        const block_q8_0 *blk = (const block_q8_0 *)q->data + (size_t)r * blocks + b;
        *c0 = vld1q_s8(blk->qs), *c1 = vld1q_s8(blk->qs + 16);
        return;
    }
    case QF_Q4_0: {
        const block_q4_0 *blk = (const block_q4_0 *)q->data + (size_t)r * blocks + b;
        const uint8x16_t v = vld1q_u8(blk->qs);
        const int8x16_t eight = vdupq_n_s8(8);
        *c0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), eight);
        *c1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
        return;
    }
    case QF_INT8: case QF_W8A8:
        *c0 = vld1q_s8((const int8_t *)q->data + (size_t)r * q->cols + b * 32);
        *c1 = vld1q_s8((const int8_t *)q->data + (size_t)r * q->cols + b * 32 + 16);
        return;
    default: { /* INT4 / INT3 nibbles, element 2k low: interleave low and high nibbles back into order */
        const uint8x16_t v = vld1q_u8(q->data + ((size_t)r * q->cols + (size_t)b * 32) / 2);
        const uint8x16x2_t z = vzipq_u8(vandq_u8(v, vdupq_n_u8(0x0F)), vshrq_n_u8(v, 4));
        *c0 = vreinterpretq_s8_u8(z.val[0]), *c1 = vreinterpretq_s8_u8(z.val[1]);
        return;
    }
    }
}

/* the scalar level's q8act_row, lane for lane */
static void q8act_row(const qtensor *q, int r, const q8_rows *a, float *y, int n)
{
    const int blocks = q->cols / 32, rows = q->rows;
    for (int i = 0; i < n; i++) {
        float32x4_t lo = vdupq_n_f32(0), hi = lo, lo2 = lo, hi2 = lo;
        float offset = 0;
        for (int b = 0; b < blocks; b++) {
            int8x16_t c0, c1;
            block_codes(q, r, b, &c0, &c1);
            const int8_t *x = a->q[i] + b * 32;
            const float32x4_t l0 = vcvtq_f32_s32(dot4_s8(c0, vld1q_s8(x))), l1 = vcvtq_f32_s32(dot4_s8(c1, vld1q_s8(x + 16)));
            float sd;
            switch (q->format) {
            case QF_INT8: case QF_W8A8: sd = a->d[i][b]; break;
            case QF_Q8_0: sd = cpet_f16_to_f32(((const block_q8_0 *)q->data)[(size_t)r * blocks + b].d) * a->d[i][b]; break;
            case QF_Q4_0: sd = cpet_f16_to_f32(((const block_q4_0 *)q->data)[(size_t)r * blocks + b].d) * a->d[i][b]; break;
            default: {
                const int per_row = q->cols / q->group, k = b * 32 / q->group;
                const int z = q->zeros[(size_t)r * per_row + k];
                sd = q->scales[(size_t)r * per_row + k] * a->d[i][b];
                offset += sd * (float)(z * a->sum[i][b]);
            }
            }
            const float32x4_t d = vdupq_n_f32(sd);
            if (q->format == QF_Q8_0 && b % 2 == 1 && b < blocks / 2 * 2) lo2 = vfmaq_f32(lo2, l0, d), hi2 = vfmaq_f32(hi2, l1, d);
            else lo = vfmaq_f32(lo, l0, d), hi = vfmaq_f32(hi, l1, d);
        }
        if (q->format == QF_Q8_0) lo = vaddq_f32(lo, lo2), hi = vaddq_f32(hi, hi2);
        float s = hsum8(lo, hi);
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
    int32x4_t acc = vdupq_n_s32(0);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8x16_t x = vld1q_s8(a + i), w = vld1q_s8(b + i);
        acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
        acc = vpadalq_s16(acc, vmull_high_s8(x, w));
    }
    int32_t total = vaddvq_s32(acc);
    for (; i < n; i++) total += (int32_t)a[i] * b[i];
    return total;
}

/* ---- the decode pack ---- */

/* rows 0-3 and 4-7 of an 8-column chunk: their 4 code bytes times x's 4 bytes, per row (exact) */
static inline int32x4_t pack_dot(uint8x16_t codes, int8x16_t x4)
{
#if defined(KERNELS_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(codes), x4);
#else
    return dot4_s8(vreinterpretq_s8_u8(codes), x4);
#endif
}

static inline int8x16_t broadcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

static void pack_row_group(const qtensor *q, int rg, const q8_rows *a, const float (*zsum)[Q8_MAX_BLOCKS], float *y, int n)
{
    const int g = q->group, per_row = q->cols / g, blocks_per_group = g / 32, hb = pack_header_bytes(q);
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    const size_t stride = pack_group_stride(q);
    for (int i = 0; i < n; i++) {
        float32x4_t acc_lo = vdupq_n_f32(0), acc_hi = acc_lo;
        const uint8_t *p = q->pack + (size_t)rg * per_row * stride;
        for (int k = 0; k < per_row; k++, p += stride) {
            float sc[8], zr[8];
            for (int j = 0; j < 8; j++) sc[j] = pack_scale(p, j), zr[j] = (float)pack_zero(q, p, j);
            float32x4_t g_lo = vdupq_n_f32(0), g_hi = g_lo;
            const uint8_t *codes = p + hb;
            for (int jb = 0; jb < blocks_per_group; jb++, codes += 32 * 4 * pack_code_bits(q) / 4) {
                const int b = k * blocks_per_group + jb;
                int32x4_t s_lo = vdupq_n_s32(0), s_hi = s_lo;
                if (q->format == QF_Q8_0) /* 8 chunks of 4 columns: signed codes times x's dword */
                    for (int chunk = 0; chunk < 8; chunk++) {
                        const int8x16_t xc = broadcast4(a->q[i] + b * 32 + chunk * 4);
                        s_lo = vaddq_s32(s_lo, dot4_s8(vld1q_s8((const int8_t *)codes + chunk * 32), xc));
                        s_hi = vaddq_s32(s_hi, dot4_s8(vld1q_s8((const int8_t *)codes + chunk * 32 + 16), xc));
                    }
                else
                for (int chunk = 0; chunk < 4; chunk++) {
                    const int8_t *x = a->q[i] + b * 32 + chunk * 8;
                    const uint8x16_t v0 = vld1q_u8(codes + chunk * 32), v1 = vld1q_u8(codes + chunk * 32 + 16);
                    const int8x16_t xl = broadcast4(x), xh = broadcast4(x + 4);
                    s_lo = vaddq_s32(s_lo, vaddq_s32(pack_dot(vandq_u8(v0, nib), xl), pack_dot(vshrq_n_u8(v0, 4), xh)));
                    s_hi = vaddq_s32(s_hi, vaddq_s32(pack_dot(vandq_u8(v1, nib), xl), pack_dot(vshrq_n_u8(v1, 4), xh)));
                }
                const float32x4_t d = vdupq_n_f32(a->d[i][b]);
                g_lo = vfmaq_f32(g_lo, vcvtq_f32_s32(s_lo), d);
                g_hi = vfmaq_f32(g_hi, vcvtq_f32_s32(s_hi), d);
            }
            const float32x4_t zs = vdupq_n_f32(zsum[i][k]);
            /* acc += scale (gacc - zero zsum), both fused: vfmsq(a, b, c) = a - b c */
            acc_lo = vfmaq_f32(acc_lo, vld1q_f32(sc), vfmsq_f32(g_lo, vld1q_f32(zr), zs));
            acc_hi = vfmaq_f32(acc_hi, vld1q_f32(sc + 4), vfmsq_f32(g_hi, vld1q_f32(zr + 4), zs));
        }
        vst1q_f32(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS, acc_lo);
        vst1q_f32(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS + 4, acc_hi);
    }
}

/* ---- the read probe ---- */

static float read_sum8(const float *base, size_t seg)
{
    float32x4_t acc[8];
    for (int s = 0; s < 8; s++) acc[s] = vdupq_n_f32(0);
    for (size_t i = 0; i < seg; i += 4)
        for (int s = 0; s < 8; s++) acc[s] = vaddq_f32(acc[s], vld1q_f32(base + (size_t)s * seg + i));
    for (int s = 1; s < 8; s++) acc[0] = vaddq_f32(acc[0], acc[s]);
    return vaddvq_f32(acc[0]);
}

const kernel_table KERNELS_TABLE = {
    .isa = KERNELS_ISA,
    .gemv_rows8 = gemv_rows8,
    .gemv_row = gemv_row,
    .dot_f32 = dot_f32_lanes,
    .dot_f32_rows = dot_f32_rows,
    .q8act_row = q8act_row,
    .q8_0_rows4 = q8_0_rows4,
    .dot_i8 = dot_i8,
    .pack_row_group = pack_row_group,
    .read_sum8 = read_sum8,
};
