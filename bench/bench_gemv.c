/* cpet bench gemv: decode-time matrix-vector products on packed weights, in GB/s of weight bytes read,
 * against f32 sgemv and the machine's memory bandwidth (a STREAM-style copy) measured in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "cli.h"
#include "quant.h"
#include "tensor.h"

static double stream_copy_gbs(size_t n, int reps)
{
    float *a = cpet_alloc_floats(n), *b = cpet_alloc_floats(n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) b[i] = (float)i;
    double best = 0;
    for (int r = 0; r <= reps; r++) {
        double t0 = now_seconds();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i];
        double gbs = 2.0 * n * sizeof(float) / (now_seconds() - t0) / 1e9; /* read + write, as STREAM counts */
        if (r > 0 && gbs > best) best = gbs;
    }
    cpet_free(a);
    cpet_free(b);
    return best;
}

int bench_gemv(int argc, char **argv)
{
    long rows = 16384, cols = 8192, reps = 10, threads = 2;
    const char *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet bench gemv [--rows 16384] [--cols 8192] [--reps 10] [--threads 2] [-o FILE.json]\n"
                   "y = W x for one token with W f32 (sgemv), int8, q8_0, int4 (g128), q4_0, nf4 packed: GB/s of\n"
                   "weight bytes (best of reps), and the fraction of a STREAM-style copy bandwidth. Each packed\n"
                   "format runs with exact float activations and with int8 activation blocks (+q8act, llama.cpp's\n"
                   "scheme).\n");
            return 0;
        }
        if (!strcmp(a, "--rows")) bad = cli_int(a, cli_value(argc, argv, &i), 32, 1 << 20, &rows);
        else if (!strcmp(a, "--cols")) bad = cli_int(a, cli_value(argc, argv, &i), 128, 1 << 20, &cols);
        else if (!strcmp(a, "--reps")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1000, &reps);
        else if (!strcmp(a, "--threads")) bad = cli_int(a, cli_value(argc, argv, &i), 1, 1024, &threads);
        else if (!strcmp(a, "-o")) bad = !(out = cli_value(argc, argv, &i));
        else return cli_error("bench gemv: unknown option %s", a);
        if (bad) return 1;
    }
    if (cols % 128) return cli_error("bench gemv: --cols must be a multiple of 128");
    engine_set_threads((int)threads);
    size_t n = (size_t)rows * cols;
    float *w = cpet_alloc_floats(n), *x = cpet_alloc_floats((size_t)cols), *y = cpet_alloc_floats((size_t)rows);
    cpet_rng rng;
    rng_seed(&rng, 0);
    fill_normal(w, n, 0.02f, &rng);
    fill_normal(x, (size_t)cols, 1.0f, &rng);
    double bw = stream_copy_gbs(n, (int)reps); /* arrays as large as the f32 matrix */
    json_t *results = json_object();
    fprintf(stderr, "STREAM copy: %.1f GB/s\n", bw);
    /* f32 */
    double best = 0;
    for (long r = 0; r <= reps; r++) {
        double t0 = now_seconds();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, w, (int)cols, x, 1, 0.0f, y, 1);
        double gbs = n * 4.0 / (now_seconds() - t0) / 1e9;
        if (r > 0 && gbs > best) best = gbs;
    }
    json_object_set_new(results, "f32", json_pack("{s:f, s:f, s:I}", "gb_s", best, "fraction_of_bandwidth", best / bw,
                                                  "bytes", (json_int_t)(n * 4)));
    fprintf(stderr, "f32 sgemv: %.1f GB/s (%.0f%% of copy bandwidth)\n", best, 100 * best / bw);
    const qformat fs[] = {QF_INT8, QF_Q8_0, QF_INT4, QF_Q4_0, QF_NF4};
    double f32_time_per_token = n * 4.0 / best / 1e9;
    for (int k = 0; k < 5; k++) {
        qtensor q;
        cpet_err err;
        if (quantize_rtn(&q, fs[k], w, (int)rows, (int)cols, 128, &err) != 0) return cli_report(&err);
        size_t bytes = qtensor_bytes(&q);
        for (int mode = 0; mode < 2; mode++) { /* exact float activations, then llama.cpp's int8 blocks */
            if (mode == 1 && fs[k] == QF_NF4) continue;
            q.q8_activations = mode;
            best = 0;
            for (long r = 0; r <= reps; r++) {
                double t0 = now_seconds();
                qmatmul(&q, x, y, 1);
                double gbs = bytes / (now_seconds() - t0) / 1e9;
                if (r > 0 && gbs > best) best = gbs;
            }
            double speedup = f32_time_per_token / (bytes / best / 1e9);
            char key[32];
            snprintf(key, sizeof key, "%s%s", qformat_name(fs[k]), mode ? "+q8act" : "");
            json_object_set_new(results, key,
                                json_pack("{s:f, s:f, s:I, s:f}", "gb_s", best, "fraction_of_bandwidth", best / bw, "bytes",
                                          (json_int_t)bytes, "speedup_vs_f32", speedup));
            fprintf(stderr, "%-11s gemv: %.1f GB/s (%.0f%% of copy bandwidth), %.2fx the f32 token rate\n", key, best,
                    100 * best / bw, speedup);
        }
        qtensor_free(&q);
    }
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o}", "bench", "gemv", "rows", (json_int_t)rows, "cols",
                          (json_int_t)cols, "reps", (json_int_t)reps, "threads", (json_int_t)threads,
                          "stream_copy_gb_s", bw, "formats", results, "facts", run_facts());
    cpet_free(w);
    cpet_free(x);
    cpet_free(y);
    return bench_emit(j, out);
}
