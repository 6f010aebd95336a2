/* STREAM-style memory bandwidth, measured beside a kernel so that the kernel's fraction of the bound is a
 * within-run ratio (this host's bandwidth swings run to run). */
#include <immintrin.h>
#include <stddef.h>

#include "bench.h"
#include "facts.h"

double bench_stream_copy_gbs(float *dst, const float *src, size_t n)
{
    double t0 = now_seconds();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
    return 2.0 * n * sizeof(float) / (now_seconds() - t0) / 1e9; /* read + write, as STREAM counts */
}

/* Read-only bandwidth: a sum over src in four AVX2 accumulators. Decode only reads its weights, and a copy
 * also writes (and, with write-allocate, reads the destination first), so a read stream is the tighter
 * bound: decode can exceed the copy figure but not this one. The sum is returned through *sink so the
 * loads cannot be dropped. */
double bench_stream_read_gbs(const float *src, size_t n, float *sink)
{
    double t0 = now_seconds();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#pragma omp for schedule(static)
        for (size_t i = 0; i < n / 32; i++) {
            const float *p = src + i * 32;
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p));
            a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + 16));
            a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + 24));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (int j = 0; j < 8; j++) total += lanes[j];
    }
    double seconds = now_seconds() - t0;
    *sink = total;
    return (double)(n / 32 * 32) * sizeof(float) / seconds / 1e9;
}
