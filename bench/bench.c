/* cpet bench: dispatch, timing summaries and JSON output shared by the benchmarks. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"

bench_timing bench_summarize(const double *s, int n)
{
    bench_timing t = {0, 0};
    for (int i = 0; i < n; i++) t.mean += s[i];
    t.mean /= n;
    for (int i = 0; i < n; i++) t.stddev += (s[i] - t.mean) * (s[i] - t.mean);
    t.stddev = n > 1 ? sqrt(t.stddev / (n - 1)) : 0;
    return t;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        printf("usage: cpet bench engine|tokenizer|pretrain|gemv [options]   (cpet bench NAME --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "engine") == 0) return bench_engine(argc, argv);
    if (strcmp(argv[1], "tokenizer") == 0) return bench_tokenizer(argc, argv);
    if (strcmp(argv[1], "pretrain") == 0) return bench_pretrain(argc, argv);
    if (strcmp(argv[1], "gemv") == 0) return bench_gemv(argc, argv);
    return cli_error("bench: unknown benchmark '%s' (available: engine, tokenizer, pretrain, gemv)", argv[1]);
}
