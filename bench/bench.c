/* Timing summaries shared by the benchmarks. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *v, int n)
{
    double *s = malloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

bench_timing bench_summarize(const double *s, int n)
{
    bench_timing t = {0, 0};
    for (int i = 0; i < n; i++) t.mean += s[i];
    t.mean /= n;
    for (int i = 0; i < n; i++) t.stddev += (s[i] - t.mean) * (s[i] - t.mean);
    t.stddev = n > 1 ? sqrt(t.stddev / (n - 1)) : 0;
    return t;
}

json_t *bench_timing_json(bench_timing t, const double *samples, int n)
{
    json_t *s = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(s, json_real(samples[i]));
    return json_pack("{s:f, s:f, s:o}", "mean_s", t.mean, "stddev_s", t.stddev, "samples_s", s);
}
