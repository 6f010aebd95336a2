/* STREAM-style memory bandwidth, measured beside a kernel so that the kernel's fraction of the bound is a
 * within-run ratio (this host's bandwidth swings run to run). */
#include <omp.h>
#include <stddef.h>

#include "bench.h"
#include "facts.h"
#include "kernels.h"

double bench_stream_copy_gbs(float *dst, const float *src, size_t n)
{
    double t0 = now_seconds();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
    return 2.0 * n * sizeof(float) / (now_seconds() - t0) / 1e9; /* read + write, as STREAM counts */
}

/* Read-only bandwidth. Decode only reads its weights, and a copy also writes (and, with write-allocate,
 * reads the destination first), so a read stream is the tighter bound. Each thread reads eight segments
 * of its share at once, as the decode kernels do (eight weight rows per step): a single stream per core
 * leaves the bus idle between prefetches, and decode beat it by a third. The sum goes to *sink so the
 * loads cannot be dropped. */
#define READ_STREAMS 8
double bench_stream_read_gbs(const float *src, size_t n, float *sink)
{
    double t0 = now_seconds(), bytes = 0;
    float total = 0;
    const kernel_table *kt = kernels(); /* the widest loads this CPU has */
#pragma omp parallel reduction(+ : total, bytes)
    {
        const size_t nt = (size_t)omp_get_num_threads(), seg = n / (nt * READ_STREAMS) / 16 * 16;
        total += kt->read_sum8(src + (size_t)omp_get_thread_num() * READ_STREAMS * seg, seg);
        bytes += (double)(READ_STREAMS * seg) * sizeof(float);
    }
    double seconds = now_seconds() - t0;
    *sink = total;
    return bytes / seconds / 1e9;
}
