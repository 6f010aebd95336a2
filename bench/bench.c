/* Timing summaries shared by the benchmarks. */
#include "bench.h"

#include <math.h>

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
