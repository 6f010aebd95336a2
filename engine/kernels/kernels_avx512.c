/* The AVX-512 level (F, BW, VL, DQ), and with KERNELS_VNNI the AVX512-VNNI one: the int8-activation decode
 * kernels on the decode pack (Q8_0 and the 4-bit formats) on 512-bit registers, two chunks a step. The
 * integer sums are the AVX2 kernels' to the bit (the two chunks of a step are added as integers) and the
 * float steps keep their lanes, so this level gives the scalar level's bits too (kernels.h). The rest
 * comes from the AVX2 level: the f32 GEMV, whose eight-lane order a 16-lane register would change (and
 * memory-bound anyway), and the stored-layout int8 kernels, which decode uses only where a matrix has
 * no pack. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "kernels_x86.h"
#include "qpack_layout.h"

#ifndef KERNELS_TABLE
#define KERNELS_TABLE kernels_avx512
#define KERNELS_ISA ISA_AVX512
#endif

/* 16 int32 sums of 4 adjacent products of unsigned u and signed s (exact: see kernels_avx2.c) */
static inline __m512i dot4_u8s8_512(__m512i acc, __m512i u, __m512i s)
{
#if defined(KERNELS_VNNI)
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* signed w times signed x, 4 products a lane: |w| as u8 times x negated where w < 0 (AVX-512 has no
 * vpsignb; where w = 0 the product is 0 either way) */
static inline __m512i dot4_s8s8_512(__m512i w, __m512i x)
{
    const __m512i sx = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return dot4_u8s8_512(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
}

/* The decode pack (layout in qpack.c), two 8-column chunks a register: lanes 0-7 are the 8 rows for one
 * chunk, lanes 8-15 for the next; each chunk's low nibbles meet x's dword 2c and its high nibbles dword
 * 2c + 1 (permutes of the block's 8 dwords). The halves are added as integers per block. */
static inline __attribute__((always_inline)) void pack_row_group_n(const qtensor *q, int rg, const q8_rows *a,
                                                                 const float (*zsum)[Q8_MAX_BLOCKS], float *y, const int n)
{
    const int g = q->group, per_row = q->cols / g, blocks_per_group = g / 32, hb = pack_header_bytes(q);
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const __m512i sel_lo01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    const __m512i sel_hi01 = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m512i sel_lo23 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
    const __m512i sel_hi23 = _mm512_setr_epi32(5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7);
    __m256 acc[Q8_MAX_INPUTS], gacc[Q8_MAX_INPUTS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    const size_t stride = pack_group_stride(q);
    const uint8_t *p = q->pack + (size_t)rg * per_row * stride;
    for (int k = 0; k < per_row; k++, p += stride) {
        _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES + 64, _MM_HINT_T0);
        const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 zero = hb == 24 ? _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))))
                                     : _mm256_set1_ps(8.0f);
        const uint8_t *codes = p + hb;
        for (int i = 0; i < n; i++) gacc[i] = _mm256_setzero_ps();
        for (int jb = 0; jb < blocks_per_group; jb++, codes += 128) {
            const int b = k * blocks_per_group + jb;
            const __m512i v01 = _mm512_loadu_si512((const void *)codes), v23 = _mm512_loadu_si512((const void *)(codes + 64));
            const __m512i lo01 = _mm512_and_si512(v01, nib), hi01 = _mm512_and_si512(_mm512_srli_epi16(v01, 4), nib);
            const __m512i lo23 = _mm512_and_si512(v23, nib), hi23 = _mm512_and_si512(_mm512_srli_epi16(v23, 4), nib);
            for (int i = 0; i < n; i++) {
                const __m512i xb = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32)));
#if defined(KERNELS_VNNI)
                __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo01, _mm512_permutexvar_epi32(sel_lo01, xb));
                s = _mm512_dpbusd_epi32(s, hi01, _mm512_permutexvar_epi32(sel_hi01, xb));
                s = _mm512_dpbusd_epi32(s, lo23, _mm512_permutexvar_epi32(sel_lo23, xb));
                s = _mm512_dpbusd_epi32(s, hi23, _mm512_permutexvar_epi32(sel_hi23, xb));
#else /* int16 pairs: 4 maddubs lanes of at most 2 x 15 x 127 each stay inside int16 */
                __m512i s16 = _mm512_add_epi16(_mm512_maddubs_epi16(lo01, _mm512_permutexvar_epi32(sel_lo01, xb)),
                                               _mm512_maddubs_epi16(hi01, _mm512_permutexvar_epi32(sel_hi01, xb)));
                s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(lo23, _mm512_permutexvar_epi32(sel_lo23, xb)));
                s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(hi23, _mm512_permutexvar_epi32(sel_hi23, xb)));
                const __m512i s = _mm512_madd_epi16(s16, _mm512_set1_epi16(1));
#endif
                const __m256i rows8 = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
                gacc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows8), _mm256_set1_ps(a->d[i][b]), gacc[i]);
            }
        }
        for (int i = 0; i < n; i++)
            acc[i] = pack_group_step(acc[i], scale, zero, zsum[i][k], gacc[i]);
    }
    for (int i = 0; i < n; i++) _mm256_storeu_ps(y + (size_t)i * q->rows + (size_t)rg * PACK_ROWS, acc[i]);
}

/* Q8_0 in the pack, chunks 2c and 2c + 1 (4 columns each) a register: their x dwords are 2c and 2c + 1.
 * VNNI: codes + 128 as unsigned, 128 x the block's code sum of x subtracted once (kernels_avx2.c). */
static inline __attribute__((always_inline)) void pack8_row_group_n(const qtensor *q, int rg, const q8_rows *a,
                                                                  const float (*zsum)[Q8_MAX_BLOCKS], float *y, const int n)
{
    const int blocks = q->cols / 32;
    const size_t stride = pack_group_stride(q);
    const __m512i sel[4] = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                            _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
                            _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5),
                            _mm512_setr_epi32(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)};
    __m256 acc[Q8_MAX_INPUTS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    const uint8_t *p = q->pack + (size_t)rg * blocks * stride;
    for (int b = 0; b < blocks; b++, p += stride) {
        for (int l = 0; l < 5; l++) _mm_prefetch((const char *)p + PACK_PREFETCH_BYTES + 64 * l, _MM_HINT_T0);
        const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const uint8_t *codes = p + 16;
        __m512i isum[Q8_MAX_INPUTS], xb[Q8_MAX_INPUTS];
        for (int i = 0; i < n; i++) {
            isum[i] = _mm512_setzero_si512();
            xb[i] = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a->q[i] + b * 32)));
        }
        for (int pc = 0; pc < 4; pc++) {
            const __m512i v = _mm512_loadu_si512((const void *)(codes + pc * 64));
#if defined(KERNELS_VNNI)
            const __m512i u = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
            for (int i = 0; i < n; i++) isum[i] = _mm512_dpbusd_epi32(isum[i], u, _mm512_permutexvar_epi32(sel[pc], xb[i]));
#else
            for (int i = 0; i < n; i++) isum[i] = _mm512_add_epi32(isum[i], dot4_s8s8_512(v, _mm512_permutexvar_epi32(sel[pc], xb[i])));
#endif
        }
        for (int i = 0; i < n; i++) {
            __m256i rows8 = _mm256_add_epi32(_mm512_castsi512_si256(isum[i]), _mm512_extracti64x4_epi64(isum[i], 1));
#if defined(KERNELS_VNNI)
            rows8 = _mm256_sub_epi32(rows8, _mm256_set1_epi32(128 * a->sum[i][b]));
#endif
            const __m256 gacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows8), _mm256_set1_ps(a->d[i][b]), _mm256_setzero_ps());
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

static float read_sum8(const float *base, size_t seg)
{
    __m512 acc[8];
    for (int s = 0; s < 8; s++) acc[s] = _mm512_setzero_ps();
    for (size_t i = 0; i < seg; i += 16)
        for (int s = 0; s < 8; s++) acc[s] = _mm512_add_ps(acc[s], _mm512_loadu_ps(base + (size_t)s * seg + i));
    for (int s = 1; s < 8; s++) acc[0] = _mm512_add_ps(acc[0], acc[s]);
    return _mm512_reduce_add_ps(acc[0]);
}

const kernel_table KERNELS_TABLE = {
    .isa = KERNELS_ISA,
    .pack_row_group = pack_row_group,
    .read_sum8 = read_sum8,
};
