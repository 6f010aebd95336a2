/* The decode pack: a row-interleaved copy of 4-bit codes (INT4, INT3, Q4_0) for llama.cpp-style decode
 * (int8 activation blocks). On the stored layout a row's codes sit together, so each output needs a
 * horizontal reduction and 32 codes cost ~19 instructions. Here one 32-byte load holds 8 columns of 8
 * rows, every lane of a maddubs belongs to one output row, and the activation bytes are broadcast:
 * 256 weights cost ~45 instructions, which leaves two cores waiting on memory instead of the reverse.
 *
 * Groups: Q4_0's 32, INT4 / INT3 groups that are multiples of 32 (per-channel too, when the row is). Other
 * groups have no pack: their weight groups cut across the 32-blocks of x, and qmatmul_select runs them with
 * float activations (the fused kernel) instead.
 *
 * Layout, per group of 8 rows, per weight group of g columns (Q4_0: g = 32), in memory order:
 *   the 8 rows' f16 scales, then for INT4 / INT3 their 8 u8 zero points (the header),
 *   then g / 8 chunks of 32 bytes: byte 4i + j of the chunk for columns c..c+7 holds row i's code for
 *   column c + j in its low nibble and for column c + 4 + j in its high nibble.
 * Headers sit in the stream beside the codes they scale: kept apart (aligning the codes), every header
 * line was a demand miss that stalled the core, and 4-bit decode ran at half the memory bandwidth.
 * The pack reads as many bytes as the stored layout (Q4_0: 144 per 256 weights, both ways).
 *
 * It also holds every scale, zero and code of the stored layout, so for inference it replaces it
 * (qtensor_pack_only): the other kernels (prompt tiles, float activations, adapter backward) dequantize
 * rows from the pack, and a 4-bit model decodes in the bytes of its file instead of twice them. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "q8act.h"
#include "qpack_layout.h"
#include "tensor.h"


int qtensor_pack_supported(const qtensor *q)
{
    return (q->format == QF_INT4 || q->format == QF_INT3 || q->format == QF_Q4_0) && q->rows % PACK_ROWS == 0 &&
           q->group % 32 == 0 && q->cols % 32 == 0 && q->cols / 32 <= Q8_MAX_BLOCKS;
}

/* the f16 scale of row r, group k, as stored */
static uint16_t stored_scale_f16(const qtensor *q, int r, int k)
{
    uint16_t h;
    if (q->format == QF_Q4_0) h = ((const block_q4_0 *)q->data)[(size_t)r * (q->cols / QK4_0) + k].d;
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

/* Per 8 columns, row i's 4 bytes of the chunk: low nibbles are columns 0..3, high nibbles 4..7. */
void qtensor_pack_dequant_row(const qtensor *q, int r, float *out)
{
    const int g = q->group, hb = pack_header_bytes(q);
    const __m128i nib = _mm_set1_epi8(0x0F);
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

static inline __m256i broadcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* y[i, 8 rows of group rg] for n inputs. Per 32-column block the int16 lanes add 8 products of a code
 * (<= 15) and an activation (|x| <= 127): at most 8 * 2 * 15 * 127 = 30480, inside int16. */
static inline __attribute__((always_inline)) void pack_row_group(const qtensor *q, int rg, const q8_rows *a,
                                                                 const float (*zsum)[Q8_MAX_BLOCKS], float *y, const int n)
{
    const int g = q->group, per_row = q->cols / g, blocks_per_group = g / 32, hb = pack_header_bytes(q);
    const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[Q8_MAX_INPUTS], gacc[Q8_MAX_INPUTS];
    __m256i isum[Q8_MAX_INPUTS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    const size_t stride = pack_group_stride(q);
    const uint8_t *p = q->pack + (size_t)rg * per_row * stride;
    for (int k = 0; k < per_row; k++, p += stride) {
        /* the group 8 steps ahead: the hardware prefetcher alone left one core at 55% of the read
         * bandwidth (a d768 Q4_0 model: 119-131 -> 198-224 tok/s on one thread, +5-13% on two) */
        _mm_prefetch((const char *)p + 8 * stride, _MM_HINT_T0);
        _mm_prefetch((const char *)p + 8 * stride + 64, _MM_HINT_T0);
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
                    __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(x)),
                                                 _mm256_maddubs_epi16(hi, broadcast4(x + 4)));
                    isum[i] = _mm256_add_epi16(isum[i], s);
                }
            }
            for (int i = 0; i < n; i++) /* lane r: sum over the block of code * x, then times x's scale */
                gacc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(isum[i], ones)),
                                          _mm256_set1_ps(a->d[i][b]), gacc[i]);
        }
        for (int i = 0; i < n; i++) /* (code - zero) x = code x - zero sum(x): the zero term once per group */
            acc[i] = _mm256_fmadd_ps(scale, _mm256_fnmadd_ps(zero, _mm256_set1_ps(zsum[i][k]), gacc[i]), acc[i]);
    }
    for (int i = 0; i < n; i++) _mm256_storeu_ps(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS, acc[i]);
}

void qpack_matmul_q8(const qtensor *q, const q8_rows *a, float *y, int n) { qpack_matmul_q8_shared(&q, 1, a, &y, n); }

void qpack_matmul_q8_shared(const qtensor *const *qs, int k, const q8_rows *a, float *const *ys, int n)
{
    _Static_assert(Q8_MAX_INPUTS == 4, "the switch below instantiates n = 1..4");
    float zsum[Q8_MAX_SHARED][Q8_MAX_INPUTS][Q8_MAX_BLOCKS]; /* 16 KiB per matrix, on the stack: a decode hot path */
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
        switch (n) {
        case 1: pack_row_group(qs[m], rg, a, z, ys[m], 1); break;
        case 2: pack_row_group(qs[m], rg, a, z, ys[m], 2); break;
        case 3: pack_row_group(qs[m], rg, a, z, ys[m], 3); break;
        default: pack_row_group(qs[m], rg, a, z, ys[m], 4); break;
        }
    }
}
