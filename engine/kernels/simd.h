/* AVX2 helpers the kernels share. */
#ifndef CPET_SIMD_H
#define CPET_SIMD_H

#include <immintrin.h>

/* The sum of the eight lanes. */
static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    return _mm_cvtss_f32(s);
}

#endif
