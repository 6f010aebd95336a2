/* What the x86 kernel files share (each compiles it with its own level's flags, all of them AVX2 or more). */
#ifndef CPET_KERNELS_X86_H
#define CPET_KERNELS_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The sum of the eight lanes in the order kernels.h names: (l0+l4 + l1+l5) + (l2+l6 + l3+l7). */
static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    return _mm_cvtss_f32(s);
}

/* How far ahead the decode-pack kernels prefetch (bytes; the pack is one sequential stream per thread).
 * Eight groups (1.1 KB of Q4_0) left one EPYC core at 46-50% of the read bandwidth on a d768 Q4_0 model,
 * 4 KB at 54-64% (215-282 -> 271-325 tok/s, interleaved); 8 KB gained nothing more. */
#define PACK_PREFETCH_BYTES 4096

/* a ggml block's f16 scale d as a float */
static inline float half_scale(uint16_t d) { return _cvtsh_ss(d); }

/* 4 activation bytes in every dword */
static inline __m256i broadcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The decode pack's float steps for 8 rows (one weight group): the integer block sums times x's scale
 * (gacc, fused), then acc += scale x (gacc - zero x zsum), both fused -- the scalar level's order. */
static inline __m256 pack_group_step(__m256 acc, __m256 scale, __m256 zero, float zsum, __m256 gacc)
{
    return _mm256_fmadd_ps(scale, _mm256_fnmadd_ps(zero, _mm256_set1_ps(zsum), gacc), acc);
}

/* f(args..., n) with n a constant 1..4 (the kernels are always inlined per n, so their per-input
 * accumulators stay in registers) */
#define CALL_WITH_N(n, f, ...)                  \
    do {                                        \
        switch (n) {                            \
        case 1: f(__VA_ARGS__, 1); break;       \
        case 2: f(__VA_ARGS__, 2); break;       \
        case 3: f(__VA_ARGS__, 3); break;       \
        default: f(__VA_ARGS__, 4); break;      \
        }                                       \
    } while (0)

#endif
