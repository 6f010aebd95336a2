/* Shared by the benchmarks: timing summaries and JSON output. */
#ifndef CPET_BENCH_H
#define CPET_BENCH_H

#include <jansson.h>

typedef struct {
    double mean, stddev;
} bench_timing;

bench_timing bench_summarize(const double *samples, int n);
json_t *bench_timing_json(bench_timing t, const double *samples, int n);
/* Writes j to path atomically (or stdout when path is NULL); consumes j; returns an exit status. */
int bench_emit(json_t *j, const char *path);

int bench_engine(int argc, char **argv);
int bench_tokenizer(int argc, char **argv);
int bench_pretrain(int argc, char **argv);
int bench_gemv(int argc, char **argv);

#endif
