/* The AVX2 level (AVX2 + FMA + F16C), and with KERNELS_VNNI the AVX-VNNI one: the same kernels, the int8
 * dots on vpdpbusd instead of maddubs + madd (the same integers). Compiled with those flags alone
 * (CMakeLists.txt); called only when the CPU has them (isa.c). */
#include <immintrin.h>
#include <string.h>

#include "gemv.h"
#include "kernels.h"
#include "kernels_x86.h"
#include "qpack_layout.h"
#include "quant.h"

#ifndef KERNELS_TABLE
#define KERNELS_TABLE kernels_avx2
#define KERNELS_ISA ISA_AVX2
#endif

/* ---- f32 ---- */

/* One row of W against n inputs: two accumulators per input hide the FMA latency; the weights are
 * loaded once per 16 columns whatever n is. */
static inline void row_dot(const float *w, const float *x, float *y, int n, int in, int out)
{
    __m256 acc[GEMV_MAX_N][2];
    for (int j = 0; j < n; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + k + 8);
        for (int j = 0; j < n; j++) {
            const float *xj = x + (size_t)j * in + k;
            acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xj), acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xj + 8), acc[j][1]);
        }
    }
    for (; k + 8 <= in; k += 8) {
        __m256 w0 = _mm256_loadu_ps(w + k);
        for (int j = 0; j < n; j++) acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)j * in + k), acc[j][0]);
    }
    for (int j = 0; j < n; j++) {
        float s = hsum256(_mm256_add_ps(acc[j][0], acc[j][1]));
        for (int t = k; t < in; t++) s += w[t] * x[(size_t)j * in + t];
        y[(size_t)j * out] = s;
    }
}

/* One input against eight rows at once: eight weight streams in flight keep more cache lines in flight
 * than one, which is what a single core needs to approach the memory bandwidth. The block two ahead (the
 * same thread's, under a static schedule) is prefetched a line per row every 16 columns: on an AMD EPYC
 * host one thread went from 48 to 57-64 tok/s on a d768 f32 model (interleaved runs; same bits). */
static inline void rows8_dot(const float *w, const float *x, float *y, int in)
{
    __m256 a[8];
    for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
        if ((k & 15) == 0)
            for (int r = 0; r < 8; r++) _mm_prefetch((const char *)(w + (size_t)(16 + r) * in + k), _MM_HINT_T0);
        for (int r = 0; r < 8; r++) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (size_t)r * in + k), xv, a[r]);
    }
    for (int r = 0; r < 8; r++) {
        float s = hsum256(a[r]);
        for (int t = k; t < in; t++) s += w[(size_t)r * in + t] * x[t];
        y[r] = s;
    }
}


static void gemv_row(const float *w, const float *x, float *y, int n, int in, int out) { row_dot(w, x, y, n, in, out); }

static float dot_f32_lanes(const float *a, const float *b, int n);

/* a against four rows of b at once (dot_f32's order for each): four independent FMA chains instead of one
 * call per row */
static void dot_f32_rows(const float *a, const float *b, size_t stride, int rows, int len, float *out)
{
    int j = 0;
    for (; j + 4 <= rows; j += 4) {
        const float *r[4] = {b + (size_t)j * stride, b + (size_t)(j + 1) * stride, b + (size_t)(j + 2) * stride, b + (size_t)(j + 3) * stride};
        __m256 acc[4][2];
        for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        int k = 0;
        for (; k + 16 <= len; k += 16) {
            const __m256 a0 = _mm256_loadu_ps(a + k), a1 = _mm256_loadu_ps(a + k + 8);
            for (int i = 0; i < 4; i++) {
                acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i] + k), a0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i] + k + 8), a1, acc[i][1]);
            }
        }
        for (; k + 8 <= len; k += 8) {
            const __m256 a0 = _mm256_loadu_ps(a + k);
            for (int i = 0; i < 4; i++) acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i] + k), a0, acc[i][0]);
        }
        for (int i = 0; i < 4; i++) {
            float s = hsum256(_mm256_add_ps(acc[i][0], acc[i][1]));
            for (int t = k; t < len; t++) s += r[i][t] * a[t];
            out[j + i] = s;
        }
    }
    for (; j < rows; j++) out[j] = dot_f32_lanes(a, b + (size_t)j * stride, len);
}

static float dot_f32_lanes(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    for (; k + 8 <= n; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* ---- quantized rows ---- */

/* 8 int8 -> 8 floats times d */
static inline __m256 i8x8_to_ps(const void *p, __m256 d)
{
    __m128i v = _mm_loadl_epi64((const __m128i *)p);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d);
}

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

static void pack_dequant_row(const qtensor *q, int r, float *out);

/* AVX2 dequantization of one row; formats without a fast path use the scalar one. */
static void dequant_row(const qtensor *q, int r, float *out)
{
    if (qtensor_is_pack_only(q)) {
        pack_dequant_row(q, r, out);
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
static inline __attribute__((always_inline)) void fused_row_n(const qtensor *q, int r, const float *x, float *y, const int n)
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


static void fused_row(const qtensor *q, int r, const float *x, float *y, int n)
{
    CALL_WITH_N(n, fused_row_n, q, r, x, y);
}

/* ---- int8 activation blocks (llama.cpp's vec_dot_*_q8_0) ---- */

/* The 8 int32 sums of 4 adjacent products of unsigned u and signed s (lane j: bytes 4j..4j+3). maddubs
 * pairs them in int16 first: exact while a pair stays below 32768, which the callers' codes keep (|w| and
 * |x| <= 127, or 4-bit codes). */
static inline __m256i dot4_u8s8(__m256i u, __m256i s)
{
#if defined(KERNELS_VNNI)
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* the 8 sums of (signed w) * (signed x) as floats: ggml's sign trick, |w| as u8 times sign(x, w); kept as a
 * vector so a block costs no horizontal reduction */
static inline __m256 dot32_s8(__m256i w, __m256i x)
{
    return _mm256_cvtepi32_ps(dot4_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)));
}

/* the same for unsigned codes (0..15) times signed x */
static inline __m256 dot32_u8(__m256i w, __m256i x) { return _mm256_cvtepi32_ps(dot4_u8s8(w, x)); }

/* 32 codes of a nibble-packed run (element 2k low, 2k+1 high), as bytes in element order */
static inline __m256i nibbles_sequential(const uint8_t *b)
{
    __m128i first, next;
    nibbles_in_order(b, &first, &next);
    return _mm256_set_m128i(next, first);
}

static inline __attribute__((always_inline)) void q8act_row_n(const qtensor *q, int r, const q8_rows *a, float *y,
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


static void q8act_row(const qtensor *q, int r, const q8_rows *a, float *y, int n)
{
    CALL_WITH_N(n, q8act_row_n, q, r, a, y);
}

/* Q8_0 decode (n = 1), four rows a step (each x block loaded once), even and odd blocks into two
 * accumulators per row (q8act_row's order, and two FMA chains), each row's block 1 KB ahead prefetched:
 * one row at a time, the core waited on its loads at 40% of the read bandwidth. */
static void q8_0_rows4(const qtensor *q, int r0, const q8_rows *a, float *y)
{
    const int blocks = q->cols / 32;
    const block_q8_0 *w[4];
    __m256 acc[4], acc2[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (const block_q8_0 *)q->data + (size_t)(r0 + i) * blocks;
        acc[i] = acc2[i] = _mm256_setzero_ps();
    }
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(a->q[0] + b * 32)), x1 = _mm256_loadu_si256((const __m256i *)(a->q[0] + b * 32 + 32));
        const float d0 = a->d[0][b], d1 = a->d[0][b + 1];
        for (int i = 0; i < 4; i++) _mm_prefetch((const char *)(w[i] + b + 32), _MM_HINT_T0);
        for (int i = 0; i < 4; i++) {
            acc[i] = _mm256_fmadd_ps(dot32_s8(_mm256_loadu_si256((const __m256i *)w[i][b].qs), x0), _mm256_set1_ps(half_scale(w[i][b].d) * d0), acc[i]);
            acc2[i] = _mm256_fmadd_ps(dot32_s8(_mm256_loadu_si256((const __m256i *)w[i][b + 1].qs), x1),
                                      _mm256_set1_ps(half_scale(w[i][b + 1].d) * d1), acc2[i]);
        }
    }
    for (; b < blocks; b++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(a->q[0] + b * 32));
        for (int i = 0; i < 4; i++)
            acc[i] = _mm256_fmadd_ps(dot32_s8(_mm256_loadu_si256((const __m256i *)w[i][b].qs), xv), _mm256_set1_ps(half_scale(w[i][b].d) * a->d[0][b]), acc[i]);
    }
    for (int i = 0; i < 4; i++) y[r0 + i] = hsum256(_mm256_add_ps(acc[i], acc2[i]));
}

/* W8A8's int32 dot */
static int32_t dot_i8(const int8_t *a, const int8_t *b, int n)
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

/* ---- the decode pack (qpack.c has its layout) ---- */

/* Per 8 columns, row i's 4 bytes of the chunk: low nibbles are columns 0..3, high nibbles 4..7. */
static void pack_dequant_row(const qtensor *q, int r, float *out)
{
    const int g = q->group, hb = pack_header_bytes(q);
    const __m128i nib = _mm_set1_epi8(0x0F);
    if (q->format == QF_Q8_0) { /* row i's 32 codes: 4 bytes at 4i of each of the 8 chunks, a gather of dwords */
        const __m256i chunks = _mm256_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56);
        for (int k = 0; k < q->cols / 32; k++) {
            int i;
            const uint8_t *p = pack_group(q, r, k, &i);
            const __m256i c = _mm256_i32gather_epi32((const int *)(p + hb + 4 * i), chunks, 4);
            store16(out + k * 32, _mm256_castsi256_si128(c), _mm256_set1_ps(pack_scale(p, i)));
            store16(out + k * 32 + 16, _mm256_extracti128_si256(c, 1), _mm256_set1_ps(pack_scale(p, i)));
        }
        return;
    }
    for (int k = 0; k < q->cols / g; k++) {
        int i;
        const uint8_t *p = pack_group(q, r, k, &i), *codes = p + hb + 4 * i;
        const __m256 s = _mm256_set1_ps(pack_scale(p, i));
        const __m128i z = _mm_set1_epi8((char)pack_zero(q, p, i));
        for (int chunk = 0; chunk < g / 8; chunk++) {
            int32_t v;
            memcpy(&v, codes + chunk * 32, 4);
            __m128i b = _mm_cvtsi32_si128(v);
            __m128i c = _mm_unpacklo_epi32(_mm_and_si128(b, nib), _mm_and_si128(_mm_srli_epi16(b, 4), nib));
            __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_sub_epi8(c, z)));
            _mm256_storeu_ps(out + k * g + chunk * 8, _mm256_mul_ps(w, s));
        }
    }
}

/* the int32 per row of a block's sums: VNNI accumulates in int32 already, maddubs in int16 pairs */
#if defined(KERNELS_VNNI)
#define ISUM32(v) (v)
#else
#define ISUM32(v) _mm256_madd_epi16((v), ones)
#endif

/* y[i, 8 rows of group rg] for n inputs. Per 32-column block the int16 lanes add 8 products of a code
 * (<= 15) and an activation (|x| <= 127): at most 8 * 2 * 15 * 127 = 30480, inside int16. */
static inline __attribute__((always_inline)) void pack_row_group_n(const qtensor *q, int rg, const q8_rows *a,
                                                                 const float (*zsum)[Q8_MAX_BLOCKS], float *y, const int n)
{
    const int g = q->group, per_row = q->cols / g, blocks_per_group = g / 32, hb = pack_header_bytes(q);
    const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    (void)ones; /* ISUM32 uses it without VNNI */
    __m256 acc[Q8_MAX_INPUTS], gacc[Q8_MAX_INPUTS];
    __m256i isum[Q8_MAX_INPUTS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    const size_t stride = pack_group_stride(q);
    const uint8_t *p = q->pack + (size_t)rg * per_row * stride;
    for (int k = 0; k < per_row; k++, p += stride) {
        /* ahead in the stream: the hardware prefetcher alone left one core at 55% of the read bandwidth
         * (a d768 Q4_0 model: 119-131 -> 198-224 tok/s on one thread, +5-13% on two, 8 groups ahead) */
        _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES + 64, _MM_HINT_T0);
        __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 zero = hb == 24 ? _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))))
                               : _mm256_set1_ps(8.0f);
        const uint8_t *codes = p + hb;
        for (int i = 0; i < n; i++) gacc[i] = _mm256_setzero_ps();
        for (int jb = 0; jb < blocks_per_group; jb++, codes += 128) {
            const int b = k * blocks_per_group + jb;
            for (int i = 0; i < n; i++) isum[i] = _mm256_setzero_si256();
            for (int chunk = 0; chunk < 4; chunk++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(codes + chunk * 32));
                __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
                for (int i = 0; i < n; i++) {
                    const int8_t *x = a->q[i] + b * 32 + chunk * 8;
#if defined(KERNELS_VNNI)
                    isum[i] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(isum[i], lo, broadcast4(x)), hi, broadcast4(x + 4));
#else
                    __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(x)),
                                                 _mm256_maddubs_epi16(hi, broadcast4(x + 4)));
                    isum[i] = _mm256_add_epi16(isum[i], s);
#endif
                }
            }
            for (int i = 0; i < n; i++) /* lane r: sum over the block of code * x, then times x's scale */
                gacc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ISUM32(isum[i])),
                                          _mm256_set1_ps(a->d[i][b]), gacc[i]);
        }
        for (int i = 0; i < n; i++) /* (code - zero) x = code x - zero sum(x): the zero term once per group */
            acc[i] = pack_group_step(acc[i], scale, zero, zsum[i][k], gacc[i]);
    }
    for (int i = 0; i < n; i++) _mm256_storeu_ps(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS, acc[i]);
}

/* Q8_0 in the pack: per block 8 chunks of 4 columns x 8 rows. VNNI takes the codes as unsigned (code +
 * 128, an xor) and subtracts 128 x the block's code sum of x once; without it, the sign trick. The float
 * steps are the 4-bit kernel's with one block a group and a zero point of 0. */
static inline __attribute__((always_inline)) void pack8_row_group_n(const qtensor *q, int rg, const q8_rows *a,
                                                                  const float (*zsum)[Q8_MAX_BLOCKS], float *y, const int n)
{
    const int blocks = q->cols / 32;
    const size_t stride = pack_group_stride(q);
    __m256 acc[Q8_MAX_INPUTS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    const uint8_t *p = q->pack + (size_t)rg * blocks * stride;
    for (int b = 0; b < blocks; b++, p += stride) {
        for (int l = 0; l < 5; l++) _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES + 64 * l, _MM_HINT_T0);
        const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const uint8_t *codes = p + 16;
        __m256i isum[Q8_MAX_INPUTS];
        for (int i = 0; i < n; i++) isum[i] = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 8; chunk++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(codes + chunk * 32));
#if defined(KERNELS_VNNI)
            const __m256i u = _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80));
            for (int i = 0; i < n; i++) isum[i] = _mm256_dpbusd_avx_epi32(isum[i], u, broadcast4(a->q[i] + b * 32 + chunk * 4));
#else
            const __m256i u = _mm256_sign_epi8(v, v);
            for (int i = 0; i < n; i++)
                isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(broadcast4(a->q[i] + b * 32 + chunk * 4), v)),
                                                                      _mm256_set1_epi16(1)));
#endif
        }
        for (int i = 0; i < n; i++) {
#if defined(KERNELS_VNNI)
            isum[i] = _mm256_sub_epi32(isum[i], _mm256_set1_epi32(128 * a->sum[i][b]));
#endif
            const __m256 gacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_set1_ps(a->d[i][b]), _mm256_setzero_ps());
            acc[i] = pack_group_step(acc[i], scale, _mm256_setzero_ps(), zsum[i][b], gacc);
        }
    }
    for (int i = 0; i < n; i++) _mm256_storeu_ps(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS, acc[i]);
}

static void pack_row_group(const qtensor *q, int rg, const q8_rows *a, const float (*zsum)[Q8_MAX_BLOCKS], float *y, int n)
{
    if (q->format == QF_Q8_0) {
        CALL_WITH_N(n, pack8_row_group_n, q, rg, a, zsum, y);
        return;
    }
    CALL_WITH_N(n, pack_row_group_n, q, rg, a, zsum, y);
}

/* ---- the read probe ---- */

static float read_sum8(const float *base, size_t seg)
{
    __m256 acc[8];
    for (int s = 0; s < 8; s++) acc[s] = _mm256_setzero_ps();
    for (size_t i = 0; i < seg; i += 8)
        for (int s = 0; s < 8; s++) acc[s] = _mm256_add_ps(acc[s], _mm256_loadu_ps(base + (size_t)s * seg + i));
    for (int s = 1; s < 8; s++) acc[0] = _mm256_add_ps(acc[0], acc[s]);
    return hsum256(acc[0]);
}

const kernel_table KERNELS_TABLE = {
    .isa = KERNELS_ISA,
    .gemv_rows8 = rows8_dot,
    .gemv_row = gemv_row,
    .dot_f32 = dot_f32_lanes,
    .dot_f32_rows = dot_f32_rows,
    .dequant_row = dequant_row,
    .fused_row = fused_row,
    .q8act_row = q8act_row,
    .q8_0_rows4 = q8_0_rows4,
    .dot_i8 = dot_i8,
    .pack_dequant_row = pack_dequant_row,
    .pack_row_group = pack_row_group,
    .read_sum8 = read_sum8,
};
