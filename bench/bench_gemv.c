/* cpet bench gemv: decode-time matrix-vector products on packed weights, in GB/s of weight bytes read,
 * against f32 sgemv and the machine's memory bandwidth (STREAM-style copy and read) measured in the same run.
 *
 * The host shares its memory bus with other tenants, so bandwidth swings by 1.5x between seconds. Each
 * round therefore measures the bandwidth and the kernel back to back, and the fraction reported is the
 * median over rounds of their ratio. Each round reads a different copy of the weights, so that no part of
 * a 4-bit matrix is still in the 32 MiB L3 from the round before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "facts.h"
#include "quant.h"
#include "tensor.h"

#define MIN_WORKING_SET (256u << 20) /* bytes of weight copies cycled through: 8x the L3 */

typedef struct {
    float *a, *b; /* stream buffers */
    size_t n;
} stream_buffers;

static double stream_copy_gbs(const stream_buffers *s) { return bench_stream_copy_gbs(s->a, s->b, s->n); }

/* read-only streaming (a sum), which is what a GEMV does with its weights */
static double stream_read_gbs(const stream_buffers *s)
{
    float sink;
    return bench_stream_read_gbs(s->b, s->n, &sink);
}

/* what one format's rounds measured */
typedef struct {
    double best_gbs, median_gbs, copy_fraction, read_fraction;
} gemv_result;

typedef struct {
    const float *w; /* f32 weights (sgemv) */
    qtensor *copies;
    int n_copies, rows, cols;
    const float *x;
    float *y;
} gemv_target;

static void run_kernel(const gemv_target *t, int round)
{
    if (t->copies) qmatmul(&t->copies[round % t->n_copies], t->x, t->y, 1);
    else cblas_sgemv(CblasRowMajor, CblasNoTrans, t->rows, t->cols, 1.0f, t->w, t->cols, t->x, 1, 0.0f, t->y, 1);
}

/* rounds of (copy, read, kernel); round 0 warms up and is not counted */
static gemv_result measure(const gemv_target *t, size_t bytes, const stream_buffers *s, int reps)
{
    double *gbs = malloc(sizeof(double) * (size_t)reps * 3), *copy_ratio = gbs + reps, *read_ratio = gbs + 2 * reps;
    gemv_result r = {0, 0, 0, 0};
    for (int round = 0; round <= reps; round++) {
        double copy = stream_copy_gbs(s), read = stream_read_gbs(s);
        double t0 = now_seconds();
        run_kernel(t, round);
        double g = (double)bytes / (now_seconds() - t0) / 1e9;
        if (round == 0) continue;
        gbs[round - 1] = g;
        copy_ratio[round - 1] = g / copy;
        read_ratio[round - 1] = g / read;
        if (g > r.best_gbs) r.best_gbs = g;
    }
    r.median_gbs = bench_median(gbs, reps);
    r.copy_fraction = bench_median(copy_ratio, reps);
    r.read_fraction = bench_median(read_ratio, reps);
    free(gbs);
    return r;
}

/* independent copies of q (codes, scales and decode pack) so that rounds read different memory */
static qtensor *clone_qtensor(const qtensor *q, int n)
{
    qtensor *c = calloc((size_t)n, sizeof *c);
    size_t groups = (size_t)q->rows * q->cols / (size_t)q->group;
    for (int i = 0; i < n; i++) {
        c[i] = *q;
        c[i].data = cpet_alloc(q->data_bytes);
        memcpy(c[i].data, q->data, q->data_bytes);
        if (q->pack) {
            c[i].pack = cpet_alloc(q->pack_bytes);
            memcpy(c[i].pack, q->pack, q->pack_bytes);
        }
        size_t scale_count = q->format == QF_INT8 || q->format == QF_W8A8 ? (size_t)q->rows : groups;
        if (q->scales) c[i].scales = memcpy(malloc(scale_count * sizeof(float)), q->scales, scale_count * sizeof(float));
        if (q->zeros) c[i].zeros = memcpy(malloc(groups), q->zeros, groups);
        if (q->absmax_q) c[i].absmax_q = memcpy(malloc(groups), q->absmax_q, groups);
        if (q->absmax_scale) {
            size_t k = (groups + 255) / 256 * sizeof(float);
            c[i].absmax_scale = memcpy(malloc(k), q->absmax_scale, k);
        }
    }
    return c;
}

/* f32_seconds: the f32 GEMV's time per token (0: this is the f32 entry) */
static double speedup(gemv_result r, size_t bytes, double f32_seconds) { return f32_seconds / ((double)bytes / r.median_gbs / 1e9); }

static json_t *result_json(gemv_result r, size_t bytes, double f32_seconds)
{
    json_t *j = json_pack("{s:f, s:f, s:f, s:f, s:I}", "gb_s", r.best_gbs, "median_gb_s", r.median_gbs,
                          "fraction_of_bandwidth", r.copy_fraction, "fraction_of_read_bandwidth", r.read_fraction,
                          "bytes", (json_int_t)bytes);
    if (f32_seconds > 0) json_object_set_new(j, "speedup_vs_f32", json_real(speedup(r, bytes, f32_seconds)));
    return j;
}

bench_gemv_options bench_gemv_defaults(void) { return (bench_gemv_options){.rows = 16384, .cols = 8192, .reps = 10, .threads = 2}; }

int bench_gemv_run(const bench_gemv_options *o, json_t **result, cpet_err *err)
{
    const long rows = o->rows, cols = o->cols, reps = o->reps, threads = o->threads;
    *result = NULL;
    if (cols < 128 || cols % 128) return cpet_fail(err, "bench gemv: cols %ld is not a positive multiple of 128", cols);
    if (rows < 1 || reps < 1 || threads < 1) return cpet_fail(err, "bench gemv: rows, reps and threads must be >= 1");
    engine_set_threads((int)threads);
    size_t n = (size_t)rows * cols;
    float *w = cpet_alloc_floats(n), *x = cpet_alloc_floats((size_t)cols), *y = cpet_alloc_floats((size_t)rows);
    cpet_rng rng;
    rng_seed(&rng, 0);
    fill_normal(w, n, 0.02f, &rng);
    fill_normal(x, (size_t)cols, 1.0f, &rng);
    stream_buffers s = {.n = (MIN_WORKING_SET / 2) / sizeof(float)}; /* two 128 MiB arrays */
    s.a = cpet_alloc_floats(s.n);
    s.b = cpet_alloc_floats(s.n);
    for (size_t i = 0; i < s.n; i++) s.b[i] = 1.0f;
    json_t *results = json_object();
    int rc = -1;
    gemv_target t = {.w = w, .rows = (int)rows, .cols = (int)cols, .x = x, .y = y};
    gemv_result f32 = measure(&t, n * 4, &s, (int)reps);
    json_object_set_new(results, "f32", result_json(f32, n * 4, 0));
    if (o->log)
        fprintf(o->log, "%-19s gemv: %5.1f GB/s (median %5.1f), %3.0f%% of copy, %3.0f%% of read bandwidth\n", "f32",
                f32.best_gbs, f32.median_gbs, 100 * f32.copy_fraction, 100 * f32.read_fraction);
    const double f32_seconds = (double)(n * 4) / f32.median_gbs / 1e9;
    const qformat fs[] = {QF_INT8, QF_Q8_0, QF_INT4, QF_Q4_0, QF_NF4};
    for (int k = 0; k < 5; k++) {
        qtensor q;
        if (quantize_rtn(&q, fs[k], w, (int)rows, (int)cols, 128, err) != 0) goto done;
        size_t bytes = qtensor_bytes(&q);
        /* exact float activations; llama.cpp's int8 blocks on the stored layout; the same on the decode pack.
         * The int8 modes also record their speed over the exact one's (same run): the int8 path is never to be
         * the slower one on a host (bench/gate/figures.txt) */
        double exact_seconds = 0;
        for (int mode = 0; mode < 3; mode++) {
            if (mode >= 1 && fs[k] == QF_NF4) continue;
            if (mode == 2 && (!qtensor_pack_supported(&q) || qtensor_pack_decode(&q) != 0)) continue;
            q.q8_activations = mode >= 1;
            size_t copies = (MIN_WORKING_SET + bytes - 1) / bytes;
            t.n_copies = copies < 1024 ? (int)copies : 1024; /* small matrices: cache speed, whatever we do */
            t.copies = clone_qtensor(&q, t.n_copies);
            gemv_result r = measure(&t, bytes, &s, (int)reps);
            for (int c = 0; c < t.n_copies; c++) qtensor_free(&t.copies[c]);
            free(t.copies);
            t.copies = NULL;
            char key[32];
            snprintf(key, sizeof key, "%s%s", qformat_name(fs[k]),
                     mode == 0 ? "" : mode == 1 && qtensor_pack_supported(&q) ? "+q8act-rowwise" : "+q8act");
            json_t *entry = result_json(r, bytes, f32_seconds);
            if (mode == 0) exact_seconds = (double)bytes / r.median_gbs / 1e9;
            else json_object_set_new(entry, "speedup_vs_exact", json_real(exact_seconds / ((double)bytes / r.median_gbs / 1e9)));
            json_object_set_new(results, key, entry);
            if (o->log)
                fprintf(o->log,
                        "%-19s gemv: %5.1f GB/s (median %5.1f), %3.0f%% of copy, %3.0f%% of read bandwidth, %.2fx the f32 token rate\n",
                        key, r.best_gbs, r.median_gbs, 100 * r.copy_fraction, 100 * r.read_fraction,
                        speedup(r, bytes, f32_seconds));
        }
        qtensor_free(&q);
    }
    /* the bandwidths themselves, for the record */
    double copy[64], read[64];
    int m = reps < 64 ? (int)reps : 64;
    for (int i = 0; i < m; i++) copy[i] = stream_copy_gbs(&s), read[i] = stream_read_gbs(&s);
    *result = json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:O, s:o}", "bench", "gemv", "rows", (json_int_t)rows,
                        "cols", (json_int_t)cols, "reps", (json_int_t)reps, "threads", (json_int_t)threads,
                        "stream_copy_gb_s", bench_median(copy, m), "stream_read_gb_s", bench_median(read, m), "target_fraction", 0.6,
                        "formats", results, "facts", run_facts());
    rc = 0;
done:
    json_decref(results);
    cpet_free(w);
    cpet_free(x);
    cpet_free(y);
    cpet_free(s.a);
    cpet_free(s.b);
    return rc;
}
