/* Matmuls on packed quantized weights. Small batches (decode): each output row is dequantized into a
 * thread-local buffer with AVX2 and dotted with the inputs. Large batches: tiles of 64 rows are
 * dequantized and multiplied with sgemm. Neither materialises the whole f32 matrix. W8A8 multiplies
 * int8 activations with int8 weights in int32, as CA-LoRA's quantized T5 does. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "gemv.h"
#include "q8act.h"
#include "simd.h"
#include "quant.h"
#include "tensor.h"

#define TILE_ROWS 64
#define SGEMM_MIN_BATCH 16


/* 8 int8 -> 8 floats times d */
static inline __m256 i8x8_to_ps(const void *p, __m256 d)
{
    __m128i v = _mm_loadl_epi64((const __m128i *)p);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d);
}

/* a ggml block's f16 scale d as a float */
static inline float half_scale(uint16_t d) { return _cvtsh_ss(d); }

/* Q4_0: 16 bytes -> elements 0..15 (low nibbles) and 16..31 (high nibbles), centred on 0 */
static inline void q4_0_codes(const uint8_t *qs, __m128i *lo, __m128i *hi)
{
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    *lo = _mm_sub_epi8(_mm_and_si128(v, mask), eight);
    *hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), mask), eight);
}

/* NF4: 8 codes (bytes 0..15) -> their levels, a 16-entry table lookup as two 8-lane permutes and a blend
 * on bit 3 */
static inline __m256 nf4_lookup8(__m128i codes8)
{
    const __m256 low = _mm256_loadu_ps(nf4_levels), high = _mm256_loadu_ps(nf4_levels + 8);
    __m256i idx = _mm256_cvtepu8_epi32(codes8);
    __m256 from_low = _mm256_permutevar8x32_ps(low, idx), from_high = _mm256_permutevar8x32_ps(high, idx);
    return _mm256_blendv_ps(from_low, from_high, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* 16 bytes of nibbles (element 2k low, 2k+1 high) -> 32 codes as bytes in element order */
static inline void nibbles_in_order(const uint8_t *b, __m128i *first16, __m128i *next16)
{
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)b);
    __m128i lo = _mm_and_si128(v, mask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    *first16 = _mm_unpacklo_epi8(lo, hi);
    *next16 = _mm_unpackhi_epi8(lo, hi);
}

/* INT4 / INT3 group k of row r: its codes (nibbles), scale and zero point */
static inline const uint8_t *int_group(const qtensor *q, int r, int k, float *scale, int *zero)
{
    size_t index = (size_t)r * (q->cols / q->group) + (size_t)k;
    *scale = q->scales[index];
    *zero = q->zeros[index];
    return q->data + ((size_t)r * q->cols + (size_t)k * q->group) / 2;
}

/* 4 bytes of nibbles (element 2k low, 2k+1 high) -> 8 codes as the low 8 bytes, in element order: the
 * step of the generic INT4 / INT3 kernels for groups that are multiples of 8 but not of 32 */
static inline __m128i nibbles8_in_order(const uint8_t *b)
{
    int32_t v;
    memcpy(&v, b, 4);
    const __m128i mask = _mm_set1_epi8(0x0F), x = _mm_cvtsi32_si128(v);
    return _mm_unpacklo_epi8(_mm_and_si128(x, mask), _mm_and_si128(_mm_srli_epi16(x, 4), mask));
}

/* INT4 / INT3 codes of every group start on a byte (even nibble index) and run in whole 8-code steps:
 * the AVX2 kernels apply. Otherwise (a per-channel group over a row that is not a multiple of 8) only
 * the scalar dequantization does. */
static inline int int_runs_of_8(const qtensor *q) { return q->group % 8 == 0; }

/* 16 int8 codes times d, stored as 16 floats */
static inline void store16(float *o, __m128i c, __m256 d)
{
    _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c)), d));
    _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(c, 8))), d));
}

/* AVX2 dequantization of one row; formats without a fast path use the scalar one. */
static void dequant_row_fast(const qtensor *q, int r, float *out)
{
    if (qtensor_is_pack_only(q)) {
        qtensor_pack_dequant_row(q, r, out);
        return;
    }
    const int cols = q->cols, per_row = cols / q->group;
    switch (q->format) {
    case QF_INT8: case QF_W8A8: {
        const uint8_t *src = q->data + (size_t)r * cols;
        __m256 s = _mm256_set1_ps(q->scales[r]);
        int c = 0;
        for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(out + c, i8x8_to_ps(src + c, s));
        for (; c < cols; c++) out[c] = (float)(int8_t)src[c] * q->scales[r];
        return;
    }
    case QF_Q8_0:
        for (int k = 0; k < per_row; k++) {
            const block_q8_0 *b = (const block_q8_0 *)q->data + (size_t)r * per_row + k;
            __m256 d = _mm256_set1_ps(half_scale(b->d));
            for (int j = 0; j < QK8_0; j += 8) _mm256_storeu_ps(out + k * QK8_0 + j, i8x8_to_ps(b->qs + j, d));
        }
        return;
    case QF_Q4_0: {
        for (int k = 0; k < per_row; k++) {
            const block_q4_0 *b = (const block_q4_0 *)q->data + (size_t)r * per_row + k;
            __m256 d = _mm256_set1_ps(half_scale(b->d));
            __m128i lo, hi;
            q4_0_codes(b->qs, &lo, &hi);
            store16(out + k * QK4_0, lo, d);
            store16(out + k * QK4_0 + 16, hi, d);
        }
        return;
    }
    case QF_INT4: case QF_INT3: {
        if (!int_runs_of_8(q)) break;
        const int g = q->group;
        for (int k = 0; k < per_row; k++) {
            float scale;
            int zero;
            const uint8_t *b = int_group(q, r, k, &scale, &zero);
            __m256 s = _mm256_set1_ps(scale);
            __m128i z = _mm_set1_epi8((char)zero);
            int j = 0;
            for (; j + 32 <= g; j += 32) { /* 16 bytes -> 32 codes, even index in the low nibble */
                __m128i c0, c1;
                nibbles_in_order(b + j / 2, &c0, &c1);
                store16(out + k * g + j, _mm_sub_epi8(c0, z), s);
                store16(out + k * g + j + 16, _mm_sub_epi8(c1, z), s);
            }
            for (; j < g; j += 8) /* groups of 8 * odd: the tail in 4-byte steps */
                _mm256_storeu_ps(out + k * g + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_sub_epi8(nibbles8_in_order(b + j / 2), z))), s));
        }
        return;
    }
    case QF_NF4:
        for (int k = 0; k < per_row; k++) {
            size_t block = (size_t)r * per_row + k;
            __m256 a = _mm256_set1_ps(qtensor_nf4_absmax(q, block));
            for (int j = 0; j < 64; j += 32) {
                __m128i c[2];
                nibbles_in_order(q->data + (block * 64 + j) / 2, &c[0], &c[1]);
                for (int h = 0; h < 2; h++) {
                    float *o = out + k * 64 + j + h * 16;
                    _mm256_storeu_ps(o, _mm256_mul_ps(nf4_lookup8(c[h]), a));
                    _mm256_storeu_ps(o + 8, _mm256_mul_ps(nf4_lookup8(_mm_srli_si128(c[h], 8)), a));
                }
            }
        }
        return;
    default: break;
    }
    qtensor_dequant_row(q, r, out);
}

/* ---- fused decode kernels: codes expanded in registers straight into FMAs, for up to 4 inputs ---- */

#define FUSED_MAX Q8_MAX_INPUTS


/* 16 int8 codes in c (already centred) times x, accumulated into acc for each of n inputs */
static inline __attribute__((always_inline)) void fma16(__m128i c, const float *x, int stride, int n, __m256 *acc)
{
    __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c)), w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(c, 8)));
    for (int i = 0; i < n; i++) {
        acc[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)i * stride), acc[i]);
        acc[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (size_t)i * stride + 8), acc[i]);
    }
}

/* y[i, r] for one row r: per block, sum codes * x, then scale (so the scale costs one FMA per block).
 * Always inlined into callers with a constant n, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void fused_row(const qtensor *q, int r, const float *x, float *y, const int n)
{
    const int cols = q->cols, per_row = cols / q->group, rows = q->rows;
    __m256 total[FUSED_MAX], blk[FUSED_MAX];
    for (int i = 0; i < n; i++) total[i] = _mm256_setzero_ps();
    switch (q->format) {
    case QF_INT8: case QF_W8A8: {
        const uint8_t *src = q->data + (size_t)r * cols;
        for (int c = 0; c < cols; c += 16) fma16(_mm_loadu_si128((const __m128i *)(src + c)), x + c, cols, n, total);
        for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = hsum256(total[i]) * q->scales[r];
        return;
    }
    case QF_Q8_0:
        for (int k = 0; k < per_row; k++) {
            const block_q8_0 *b = (const block_q8_0 *)q->data + (size_t)r * per_row + k;
            __m256 d = _mm256_set1_ps(half_scale(b->d));
            for (int i = 0; i < n; i++) blk[i] = _mm256_setzero_ps();
            fma16(_mm_loadu_si128((const __m128i *)b->qs), x + k * 32, cols, n, blk);
            fma16(_mm_loadu_si128((const __m128i *)(b->qs + 16)), x + k * 32 + 16, cols, n, blk);
            for (int i = 0; i < n; i++) total[i] = _mm256_fmadd_ps(blk[i], d, total[i]);
        }
        break;
    case QF_Q4_0: {
        for (int k = 0; k < per_row; k++) {
            const block_q4_0 *b = (const block_q4_0 *)q->data + (size_t)r * per_row + k;
            __m256 d = _mm256_set1_ps(half_scale(b->d));
            __m128i lo, hi;
            q4_0_codes(b->qs, &lo, &hi);
            for (int i = 0; i < n; i++) blk[i] = _mm256_setzero_ps();
            fma16(lo, x + k * 32, cols, n, blk);
            fma16(hi, x + k * 32 + 16, cols, n, blk);
            for (int i = 0; i < n; i++) total[i] = _mm256_fmadd_ps(blk[i], d, total[i]);
        }
        break;
    }
    case QF_INT4: case QF_INT3: {
        const int g = q->group;
        for (int k = 0; k < per_row; k++) {
            float scale;
            int zero;
            const uint8_t *b = int_group(q, r, k, &scale, &zero);
            __m256 s = _mm256_set1_ps(scale);
            __m128i z = _mm_set1_epi8((char)zero);
            for (int i = 0; i < n; i++) blk[i] = _mm256_setzero_ps();
            int j = 0;
            for (; j + 32 <= g; j += 32) {
                __m128i c0, c1;
                nibbles_in_order(b + j / 2, &c0, &c1);
                fma16(_mm_sub_epi8(c0, z), x + k * g + j, cols, n, blk);
                fma16(_mm_sub_epi8(c1, z), x + k * g + j + 16, cols, n, blk);
            }
            for (; j < g; j += 8) { /* groups of 8 * odd: the tail in 8-code steps */
                __m256 wv = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_sub_epi8(nibbles8_in_order(b + j / 2), z)));
                for (int i = 0; i < n; i++) blk[i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + (size_t)i * cols + k * g + j), blk[i]);
            }
            for (int i = 0; i < n; i++) total[i] = _mm256_fmadd_ps(blk[i], s, total[i]);
        }
        break;
    }
    case QF_NF4:
        for (int k = 0; k < per_row; k++) {
            size_t block = (size_t)r * per_row + k;
            for (int i = 0; i < n; i++) blk[i] = _mm256_setzero_ps();
            for (int j = 0; j < 64; j += 32) {
                __m128i c[2];
                nibbles_in_order(q->data + (block * 64 + j) / 2, &c[0], &c[1]);
                for (int h = 0; h < 2; h++) {
                    __m256 w0 = nf4_lookup8(c[h]), w1 = nf4_lookup8(_mm_srli_si128(c[h], 8));
                    const float *xc = x + k * 64 + j + h * 16;
                    for (int i = 0; i < n; i++) {
                        blk[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + (size_t)i * cols), blk[i]);
                        blk[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + (size_t)i * cols + 8), blk[i]);
                    }
                }
            }
            __m256 a = _mm256_set1_ps(qtensor_nf4_absmax(q, block));
            for (int i = 0; i < n; i++) total[i] = _mm256_fmadd_ps(blk[i], a, total[i]);
        }
        break;
    default: return;
    }
    for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = hsum256(total[i]);
}

/* ---- decode with int8 activation blocks (llama.cpp's vec_dot_*_q8_0) ---- */

void quantize_q8_rows(const float *x, int n, int cols, int8_t *codes, q8_rows *a)
{
    for (int i = 0; i < n; i++) {
        a->q[i] = codes + (size_t)i * cols;
        for (int b = 0; b < cols / 32; b++) {
            const float *xb = x + (size_t)i * cols + b * 32;
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
            float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            int32_t s = 0;
            for (int j = 0; j < 32; j++) {
                int8_t c = (int8_t)roundf(xb[j] * id);
                a->q[i][b * 32 + j] = c;
                s += c;
            }
            a->d[i][b] = d;
            a->sum[i][b] = s;
        }
    }
}

/* the 8 int32 partial sums of (signed w) * (signed x) over 32 lanes: ggml's sign trick, |w| as u8 times
 * sign(x, w); kept as a vector so a block costs no horizontal reduction */
static inline __m256 dot32_s8(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* the same for unsigned codes (0..15) times signed x */
static inline __m256 dot32_u8(__m256i w, __m256i x)
{
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}

/* 32 codes of a nibble-packed run (element 2k low, 2k+1 high), as bytes in element order */
static inline __m256i nibbles_sequential(const uint8_t *b)
{
    __m128i first, next;
    nibbles_in_order(b, &first, &next);
    return _mm256_set_m128i(next, first);
}

static inline __attribute__((always_inline)) void q8act_row(const qtensor *q, int r, const q8_rows *a, float *y,
                                                              const int n)
{
    const int cols = q->cols, per_row = cols / q->group, rows = q->rows, blocks = cols / 32;
    __m256 acc[FUSED_MAX];
    float offset[FUSED_MAX] = {0}; /* asymmetric formats: the zero-point term, sum over blocks of z s d sum(x) */
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    switch (q->format) {
    case QF_INT8: case QF_W8A8: {
        const int8_t *w = (const int8_t *)q->data + (size_t)r * cols;
        for (int b = 0; b < blocks; b++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(w + b * 32));
            for (int i = 0; i < n; i++)
                acc[i] = _mm256_fmadd_ps(dot32_s8(wv, _mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32))),
                                         _mm256_set1_ps(a->d[i][b]), acc[i]);
        }
        for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = hsum256(acc[i]) * q->scales[r];
        return;
    }
    case QF_Q8_0: { /* two blocks a step into two accumulators: one FMA chain would bound a core at ~8 B/cycle */
        __m256 acc2[FUSED_MAX];
        for (int i = 0; i < n; i++) acc2[i] = _mm256_setzero_ps();
        const block_q8_0 *blk = (const block_q8_0 *)q->data + (size_t)r * blocks;
        int b = 0;
        for (; b + 2 <= blocks; b += 2) {
            const float d0 = half_scale(blk[b].d), d1 = half_scale(blk[b + 1].d);
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)blk[b].qs), w1 = _mm256_loadu_si256((const __m256i *)blk[b + 1].qs);
            for (int i = 0; i < n; i++) {
                const int8_t *x = a->q[i] + b * 32;
                acc[i] = _mm256_fmadd_ps(dot32_s8(w0, _mm256_loadu_si256((const __m256i *)x)), _mm256_set1_ps(d0 * a->d[i][b]), acc[i]);
                acc2[i] = _mm256_fmadd_ps(dot32_s8(w1, _mm256_loadu_si256((const __m256i *)(x + 32))),
                                          _mm256_set1_ps(d1 * a->d[i][b + 1]), acc2[i]);
            }
        }
        for (; b < blocks; b++) {
            const float d = half_scale(blk[b].d);
            __m256i wv = _mm256_loadu_si256((const __m256i *)blk[b].qs);
            for (int i = 0; i < n; i++)
                acc[i] = _mm256_fmadd_ps(dot32_s8(wv, _mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32))),
                                         _mm256_set1_ps(d * a->d[i][b]), acc[i]);
        }
        for (int i = 0; i < n; i++) acc[i] = _mm256_add_ps(acc[i], acc2[i]);
        break;
    }
    case QF_Q4_0:
        for (int b = 0; b < blocks; b++) {
            const block_q4_0 *blk = (const block_q4_0 *)q->data + (size_t)r * blocks + b;
            float d = half_scale(blk->d);
            __m128i lo, hi;
            q4_0_codes(blk->qs, &lo, &hi);
            __m256i wv = _mm256_set_m128i(hi, lo);
            for (int i = 0; i < n; i++)
                acc[i] = _mm256_fmadd_ps(dot32_s8(wv, _mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32))),
                                         _mm256_set1_ps(d * a->d[i][b]), acc[i]);
        }
        break;
    case QF_INT4: case QF_INT3: {
        const int g = q->group, per_group = g / 32;
        for (int k = 0; k < per_row; k++) {
            float s;
            int z;
            const uint8_t *codes = int_group(q, r, k, &s, &z);
            for (int j = 0; j < per_group; j++) {
                __m256i wv = nibbles_sequential(codes + j * 16);
                int b = k * per_group + j;
                for (int i = 0; i < n; i++) { /* sum (c - z) x = sum c x - z sum x */
                    float sd = s * a->d[i][b];
                    acc[i] = _mm256_fmadd_ps(dot32_u8(wv, _mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32))),
                                             _mm256_set1_ps(sd), acc[i]);
                    offset[i] += sd * (float)(z * a->sum[i][b]);
                }
            }
        }
        break;
    }
    default: return;
    }
    for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = hsum256(acc[i]) - offset[i];
}


/* Q8_0 decode (n = 1), four rows a step (each x block loaded once), each row's block 1 KB ahead prefetched:
 * one row at a time, the core waited on its loads at 40% of the read bandwidth; the prefetch took a d768
 * model from 51 to 62 tok/s on one thread and from 92 to 123 on two (interleaved runs) */
static void q8_0_rows4(const qtensor *q, int r0, const q8_rows *a, float *y)
{
    const int blocks = q->cols / 32;
    const block_q8_0 *w[4];
    __m256 acc[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (const block_q8_0 *)q->data + (size_t)(r0 + i) * blocks;
        acc[i] = _mm256_setzero_ps();
    }
    for (int b = 0; b < blocks; b++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(a->q[0] + b * 32));
        const float dx = a->d[0][b];
        for (int i = 0; i < 4; i++) _mm_prefetch((const char *)(w[i] + b + 32), _MM_HINT_T0);
        for (int i = 0; i < 4; i++)
            acc[i] = _mm256_fmadd_ps(dot32_s8(_mm256_loadu_si256((const __m256i *)w[i][b].qs), xv),
                                     _mm256_set1_ps(half_scale(w[i][b].d) * dx), acc[i]);
    }
    for (int i = 0; i < 4; i++) y[r0 + i] = hsum256(acc[i]);
}

/* ---- W8A8: int8 activations (absmax / 127 per row) times int8 weights, int32 sums ---- */

static void quantize_activations(const float *x, int n, int cols, int8_t *qx, float *sx)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) amax = fabsf(row[c]) > amax ? fabsf(row[c]) : amax;
        sx[i] = amax > 0 ? amax / 127.0f : 1.0f;
        for (int c = 0; c < cols; c++) qx[(size_t)i * cols + c] = (int8_t)roundf(row[c] / sx[i]);
    }
}

static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, int n)
{
    __m256i acc = _mm256_setzero_si256();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, acc);
    int32_t total = 0;
    for (int k = 0; k < 8; k++) total += lanes[k];
    for (; i < n; i++) total += (int32_t)a[i] * b[i];
    return total;
}

static void w8a8_matmul(const qtensor *q, const float *x, float *y, int n, int fast)
{
    int8_t *qx = malloc((size_t)n * q->cols);
    float *sx = malloc((size_t)n * sizeof(float));
    quantize_activations(x, n, q->cols, qx, sx);
#pragma omp parallel for schedule(static) if (fast)
    for (int r = 0; r < q->rows; r++) {
        const int8_t *w = (const int8_t *)q->data + (size_t)r * q->cols;
        for (int i = 0; i < n; i++) {
            int32_t acc = 0;
            if (fast) acc = dot_i8_avx2(qx + (size_t)i * q->cols, w, q->cols);
            else
                for (int c = 0; c < q->cols; c++) acc += (int32_t)qx[(size_t)i * q->cols + c] * w[c];
            y[(size_t)i * q->rows + r] = (float)acc * sx[i] * q->scales[r];
        }
    }
    free(qx);
    free(sx);
}

/* ---- the dispatcher ---- */

/* What a format's layout allows: the int8-activation decode needs integer codes whose scale groups hold
 * whole 32-blocks of x; the fused float kernels need codes in whole 16-runs (8-runs for INT4 / INT3). */
typedef struct {
    int q8act, fused;
} qformat_caps;

static qformat_caps int8_caps(const qtensor *q) { return (qformat_caps){1, q->cols % 16 == 0}; }
static qformat_caps block32_caps(const qtensor *q) { (void)q; return (qformat_caps){1, 1}; } /* Q8_0, Q4_0 */
static qformat_caps int_grouped_caps(const qtensor *q) { return (qformat_caps){q->group % 32 == 0, int_runs_of_8(q)}; }
static qformat_caps nf4_caps(const qtensor *q) { (void)q; return (qformat_caps){0, 1}; } /* levels are not integers */
static qformat_caps no_caps(const qtensor *q) { (void)q; return (qformat_caps){0, 0}; }

static qformat_caps (*const format_caps[QF_COUNT])(const qtensor *) = {
    [QF_INT8] = int8_caps, [QF_INT4] = int_grouped_caps, [QF_INT3] = int_grouped_caps, [QF_Q8_0] = block32_caps,
    [QF_Q4_0] = block32_caps, [QF_NF4] = nf4_caps, [QF_W8A8] = no_caps,
};

qkernel qmatmul_select(const qtensor *q, int n)
{
    if (q->format == QF_W8A8) return QK_W8A8;
    qformat_caps caps = q->format < QF_COUNT ? format_caps[q->format](q) : no_caps(q);
    if (q->q8_activations && n <= FUSED_MAX && caps.q8act && q->cols % 32 == 0 && q->cols / 32 <= Q8_MAX_BLOCKS)
        return q->pack ? QK_Q8ACT_PACK : QK_Q8ACT;
    if (n <= FUSED_MAX && caps.fused && q->data) return QK_FUSED; /* pack-only tensors dequantize from the pack */
    return n < SGEMM_MIN_BATCH ? QK_DEQUANT_DOT : QK_TILED_SGEMM;
}

const char *qkernel_name(qkernel k)
{
    static const char *const kn[] = {"w8a8", "q8act-pack", "q8act", "fused", "dequant-dot", "tiled-sgemm"};
    return (unsigned)k < sizeof kn / sizeof kn[0] ? kn[k] : "?";
}

void qmatmul(const qtensor *q, const float *x, float *y, int n)
{
    const int rows = q->rows, cols = q->cols;
    const qkernel kind = qmatmul_select(q, n);
    if (kind == QK_W8A8) {
        w8a8_matmul(q, x, y, n, 1);
        return;
    }
    if (kind == QK_Q8ACT || kind == QK_Q8ACT_PACK) {
        q8_rows *a = malloc(sizeof *a);
        int8_t *codes = malloc((size_t)n * cols);
        quantize_q8_rows(x, n, cols, codes, a);
        if (kind == QK_Q8ACT_PACK) qpack_matmul_q8(q, a, y, n);
        else if (q->format == QF_Q8_0 && n == 1) {
#pragma omp parallel for schedule(static)
            for (int g = 0; g < rows / 4; g++) q8_0_rows4(q, 4 * g, a, y);
            for (int r = rows / 4 * 4; r < rows; r++) q8act_row(q, r, a, y, 1);
        } else
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            switch (n) {
            case 1: q8act_row(q, r, a, y, 1); break;
            case 2: q8act_row(q, r, a, y, 2); break;
            case 3: q8act_row(q, r, a, y, 3); break;
            default: q8act_row(q, r, a, y, 4); break;
            }
        }
        free(codes);
        free(a);
        return;
    }
    if (kind == QK_FUSED) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            switch (n) {
            case 1: fused_row(q, r, x, y, 1); break;
            case 2: fused_row(q, r, x, y, 2); break;
            case 3: fused_row(q, r, x, y, 3); break;
            default: fused_row(q, r, x, y, 4); break;
            }
        }
        return;
    }
    if (kind == QK_DEQUANT_DOT) {
#pragma omp parallel
        {
            float *buf = cpet_alloc_floats((size_t)cols);
#pragma omp for schedule(static)
            for (int r = 0; r < rows; r++) {
                dequant_row_fast(q, r, buf);
                for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = dot_f32(x + (size_t)i * cols, buf, cols);
            }
            cpet_free(buf);
        }
        return;
    }
    /* tiles of rows -> sgemm into the matching columns of y */
    int tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel
    {
        float *tile = cpet_alloc_floats((size_t)TILE_ROWS * cols);
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++) {
            int r0 = t * TILE_ROWS, nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
            for (int k = 0; k < nr; k++) dequant_row_fast(q, r0 + k, tile + (size_t)k * cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, cols, 1.0f, x, cols, tile, cols, 0.0f, y + r0, rows);
        }
        cpet_free(tile);
    }
}

int qmatmul_shared(const qtensor *const *qs, int k, const float *x, float *const *ys, int n)
{
    if (k < 1 || k > Q8_MAX_SHARED) return -1;
    for (int j = 0; j < k; j++)
        if (qmatmul_select(qs[j], n) != QK_Q8ACT_PACK || qs[j]->cols != qs[0]->cols) return -1;
    q8_rows *a = malloc(sizeof *a);
    int8_t *codes = malloc((size_t)n * qs[0]->cols);
    if (!a || !codes) {
        free(a);
        free(codes);
        return -1;
    }
    quantize_q8_rows(x, n, qs[0]->cols, codes, a); /* once for all of them */
    qpack_matmul_q8_shared(qs, k, a, ys, n);
    free(codes);
    free(a);
    return 0;
}

/* The q8-activation decode in plain C: x blocks quantized the same way, dot products of the codes. */
static void q8act_reference(const qtensor *q, const float *x, float *y, int n)
{
    const int cols = q->cols, blocks = cols / 32;
    q8_rows *a = malloc(sizeof *a);
    int8_t *codes = malloc((size_t)n * cols);
    quantize_q8_rows(x, n, cols, codes, a);
    float *w = malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < q->rows; r++) {
        qtensor_dequant_row(q, r, w); /* codes times scale: the products below regroup the same sums */
        for (int i = 0; i < n; i++) {
            double acc = 0;
            for (int b = 0; b < blocks; b++) {
                double s = 0;
                for (int j = 0; j < 32; j++) s += (double)w[b * 32 + j] * a->q[i][b * 32 + j];
                acc += s * a->d[i][b];
            }
            y[(size_t)i * q->rows + r] = (float)acc;
        }
    }
    free(w);
    free(codes);
    free(a);
}

/* The scalar computation of the kind qmatmul_select picks: int8 activation blocks (stored layout or pack:
 * the same sums), W8A8's int32 sums, or for every float-activation kernel x times the dequantized rows. */
void qmatmul_reference(const qtensor *q, const float *x, float *y, int n)
{
    switch (qmatmul_select(q, n)) {
    case QK_Q8ACT: case QK_Q8ACT_PACK: q8act_reference(q, x, y, n); return;
    case QK_W8A8: w8a8_matmul(q, x, y, n, 0); return;
    default: break;
    }
    float *row = malloc((size_t)q->cols * sizeof(float));
    for (int r = 0; r < q->rows; r++) {
        qtensor_dequant_row(q, r, row);
        for (int i = 0; i < n; i++) {
            double acc = 0.0;
            for (int c = 0; c < q->cols; c++) acc += (double)x[(size_t)i * q->cols + c] * row[c];
            y[(size_t)i * q->rows + r] = (float)acc;
        }
    }
    free(row);
}

void qmatmul_backward_dx(const qtensor *q, const float *dy, float *dx, int n)
{
    const int rows = q->rows, cols = q->cols;
    float *tile = cpet_alloc_floats((size_t)TILE_ROWS * cols);
    for (int r0 = 0; r0 < rows; r0 += TILE_ROWS) { /* serial over tiles: every tile adds into all of dx */
        int nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
        for (int k = 0; k < nr; k++) dequant_row_fast(q, r0 + k, tile + (size_t)k * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cols, nr, 1.0f, dy + r0, rows, tile, cols, 1.0f, dx, cols);
    }
    cpet_free(tile);
}
