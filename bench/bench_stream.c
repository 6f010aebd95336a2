/* STREAM-style memory bandwidth, measured beside a kernel so that the kernel's fraction of the bound is a
 * within-run ratio (this host's bandwidth swings run to run). */
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
