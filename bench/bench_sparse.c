/* cpet bench sparse-ffn: the exact sparse FFN (engine/model/sparse_ffn.h) against cpet's dense FFN on one
 * synthetic layer (random weights of a chosen shape and format), at sparsities 0..99%. The pattern at
 * each level comes from a FATReLU threshold set to that quantile of the gate's outputs, so the work is
 * real and the neurons are a random subset. Dense is timed as decode runs it (gate and up in one parallel
 * region, then down; packed formats with int8 activation blocks and the decode pack, cpet's fastest decode
 * kernels; the sparse rows use exact float activations). Back to back with each level: a read-bandwidth
 * probe (the bound of the dense FFN).
 *   ideal 1/(1 - s): every skipped neuron costs nothing, the gate included (a perfect predictor);
 *   Amdahl with the dense gate: 3 / (1 + 2 (1 - s)), what the exact kernel can reach;
 *   up+down: the sparse part alone against dense up+down, which the ideal line applies to;
 *   predictor: the gate rows skipped too, given an oracle mask (the true active set, recall 100%) and paying
 *   for a predictor of the reference's shape (Linear(d, H) -> ReLU -> Linear(H, d_ff), random weights):
 *   the most a predictor variant can gain on this CPU at that sparsity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "facts.h"
#include "ffn_predictor.h"
#include "fileio.h"
#include "gnuplot.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "tensor.h"

#define STREAM_FLOATS ((size_t)32 << 20)

bench_sparse_options bench_sparse_defaults(void)
{
    return (bench_sparse_options){.dim = 4096, .ffn = 11008, .format = "f32", .group = 64, .rows = {1, 4}, .n_rows = 2, .reps = 7, .predictor_hidden = 1024,
                                  .threads = 2, .seed = 1};
}

static const double levels[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99};
#define N_LEVELS (int)(sizeof levels / sizeof levels[0])

typedef struct {
    linear gate, up, down;
    qtensor q[3];
    float *w[3];
    int D, F;
} synthetic_layer;

static void layer_free(synthetic_layer *y)
{
    for (int i = 0; i < 3; i++) {
        cpet_free(y->w[i]);
        if (y->q[i].format != QF_COUNT) qtensor_free(&y->q[i]);
    }
}

static int layer_make(synthetic_layer *y, const bench_sparse_options *o, cpet_err *err)
{
    memset(y, 0, sizeof *y);
    for (int i = 0; i < 3; i++) y->q[i].format = QF_COUNT;
    const int D = o->dim, F = o->ffn;
    y->D = D, y->F = F;
    linear *ls[3] = {&y->gate, &y->up, &y->down};
    const int outs[3] = {F, F, D}, ins[3] = {D, D, F};
    qformat f = QF_COUNT;
    if (strcmp(o->format, "f32") != 0 && (qformat_parse(o->format, &f) != 0 || (f != QF_INT8 && f != QF_INT4)))
        return cpet_fail(err, "bench sparse-ffn: --format '%s': f32, int8 or int4", o->format);
    cpet_rng r;
    rng_seed(&r, (uint64_t)o->seed);
    for (int i = 0; i < 3; i++) {
        const size_t n = (size_t)outs[i] * ins[i];
        if (!(y->w[i] = cpet_alloc(n * sizeof(float)))) return cpet_fail(err, "bench sparse-ffn: out of memory for a %dx%d matrix", outs[i], ins[i]);
        fill_normal(y->w[i], n, 0.02f, &r);
        *ls[i] = (linear){.in = ins[i], .out = outs[i], .w = y->w[i]};
        if (f != QF_COUNT) {
            if (quantize_rtn(&y->q[i], f, y->w[i], outs[i], ins[i], o->group, err) != 0) return -1;
            y->q[i].q8_activations = 1; /* the dense baseline is cpet's fastest decode kernel for the format */
            if (qtensor_pack_supported(&y->q[i]) && qtensor_pack_decode(&y->q[i]) != 0) return cpet_fail(err, "bench sparse-ffn: out of memory");
            ls[i]->qw = &y->q[i];
            cpet_free(y->w[i]); /* the packed matrix replaces it, as in a compressed model */
            y->w[i] = NULL;
            ls[i]->w = NULL;
        }
    }
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* cpet's dense FFN as decode runs it */
static void dense_ffn(const synthetic_layer *y, const float *x, float *g, float *u, float *h, float *out, int n, float t, float *lin)
{
    const linear *gu[2] = {&y->gate, &y->up};
    float *gu_out[2] = {g, u};
    linear_forward_shared(gu, 2, x, gu_out, n, lin);
    gated_act_forward(h, g, u, (size_t)n * y->F, ACT_FATRELU, t);
    linear_forward(&y->down, h, out, n, lin);
}

static json_t *level_row(double s, double measured, double union_frac, const double *dense, const double *sparse, const double *ud_dense,
                         const double *ud_sparse, const double *pred, const double *bw, double bytes, int R)
{
    double sp[64], ud[64], frac[64], ps[64];
    for (int r = 0; r < R; r++)
        sp[r] = dense[r] / sparse[r], ud[r] = ud_dense[r] / ud_sparse[r], frac[r] = bytes / dense[r] / (bw[r] * 1e9), ps[r] = pred ? dense[r] / pred[r] : NAN;
    json_t *row = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "sparsity_target", s, "sparsity", measured,
                     "union_active_fraction", union_frac, "dense_us", 1e6 * bench_median(dense, R), "sparse_us", 1e6 * bench_median(sparse, R),
                     "speedup", bench_median(sp, R), "updown_dense_us", 1e6 * bench_median(ud_dense, R), "updown_sparse_us",
                     1e6 * bench_median(ud_sparse, R), "updown_speedup", bench_median(ud, R), "ideal", 1.0 / (1.0 - fmin(s, 0.999)),
                     "amdahl_dense_gate", 3.0 / (1.0 + 2.0 * (1.0 - s)), "dense_fraction_of_read_bandwidth", bench_median(frac, R),
                     "read_bw_gb_s", bench_median(bw, R));
    if (pred) json_object_set_new(row, "predictor_us", json_real(1e6 * bench_median(pred, R))), json_object_set_new(row, "predictor_speedup", json_real(bench_median(ps, R)));
    return row;
}

int bench_sparse_run(const bench_sparse_options *o, json_t **result, cpet_err *err)
{
    *result = NULL;
    const int R = o->reps;
    if (o->dim < 32 || o->ffn < 32 || R < 2 || R > 64 || o->n_rows < 1)
        return cpet_fail(err, "bench sparse-ffn: --dim and --ffn >= 32, reps in 2..64 and row counts are required");
    int max_n = 0;
    for (int i = 0; i < o->n_rows; i++) {
        if (o->rows[i] < 1 || o->rows[i] > SPARSE_DECODE_MAX_ROWS)
            return cpet_fail(err, "bench sparse-ffn: --rows %d: 1..%d (decode and small batches)", o->rows[i], SPARSE_DECODE_MAX_ROWS);
        max_n = o->rows[i] > max_n ? o->rows[i] : max_n;
    }
    engine_set_threads(o->threads);
    synthetic_layer y;
    if (layer_make(&y, o, err) != 0) {
        layer_free(&y);
        return -1;
    }
    const int D = y.D, F = y.F;
    sparse_ffn s;
    if (sparse_ffn_init(&s, &y.gate, &y.up, &y.down, ACT_FATRELU, 0, err) != 0) {
        layer_free(&y);
        return -1;
    }
    const double crossover_calibrated = sparse_ffn_calibrate(&s);
    s.dense_above = 2; /* the sparse kernels at every level: the sweep measures the crossover itself */
    const size_t lin = (size_t)max_n * (linear_scratch_per_row(&y.gate) + linear_scratch_per_row(&y.down) + 16);
    float *x = malloc((size_t)max_n * D * sizeof(float)), *g = malloc((size_t)max_n * F * sizeof(float)),
          *u = malloc((size_t)max_n * F * sizeof(float)), *h = malloc((size_t)max_n * F * sizeof(float)),
          *out = malloc((size_t)max_n * D * sizeof(float)), *sorted = malloc((size_t)max_n * F * sizeof(float)),
          *scratch = malloc((sparse_ffn_scratch(&s, max_n) + lin) * sizeof(float)), *lin_scratch = malloc(lin * sizeof(float));
    int *active = malloc((size_t)F * sizeof(int));
    uint8_t *oracle = malloc((size_t)F), *mask = malloc((size_t)F);
    ffn_predictor pred = {0};
    float *pred_scratch = NULL;
    if (o->predictor_hidden > 0) {
        if (ffn_predictor_alloc(&pred, 1, D, o->predictor_hidden, F, err) != 0) {
            sparse_ffn_free(&s);
            layer_free(&y);
            free(active), free(oracle), free(mask);
            return -1;
        }
        cpet_rng pr;
        rng_seed(&pr, 99);
        fill_normal(pred.layers[0].w1, (size_t)o->predictor_hidden * D, 0.02f, &pr);
        fill_normal(pred.layers[0].w2, (size_t)F * o->predictor_hidden, 0.02f, &pr);
        pred_scratch = malloc(ffn_predictor_scratch(&pred, max_n) * sizeof(float));
    }
    float *src = cpet_alloc(STREAM_FLOATS * sizeof(float)), sink = 0;
    int rc = x && g && u && h && out && sorted && scratch && lin_scratch && active && src && oracle && mask && (!pred.layers || pred_scratch)
                 ? 0 : cpet_fail(err, "bench sparse-ffn: out of memory");
    if (src) memset(src, 1, STREAM_FLOATS * sizeof(float));
    cpet_rng r;
    rng_seed(&r, (uint64_t)o->seed + 7);
    if (x) fill_normal(x, (size_t)max_n * D, 1.0f, &r);
    size_t bytes = 0; /* what the dense FFN reads per call */
    const linear *ls[3] = {&y.gate, &y.up, &y.down};
    for (int i = 0; i < 3; i++) bytes += ls[i]->qw ? qtensor_bytes(ls[i]->qw) : (size_t)ls[i]->in * ls[i]->out * sizeof(float);
    json_t *per_rows = json_array();
    for (int ri = 0; ri < o->n_rows && rc == 0; ri++) {
        const int n = o->rows[ri];
        json_t *rows = json_array();
        double speedups[N_LEVELS];
        for (int li = 0; li < N_LEVELS; li++) {
            const double lv = levels[li];
            /* the threshold: the lv-quantile of the rows' gate outputs (lv = 0: below all of them) */
            linear_forward(&y.gate, x, g, n, lin_scratch);
            memcpy(sorted, g, (size_t)n * F * sizeof(float));
            qsort(sorted, (size_t)n * F, sizeof(float), cmp_float);
            const float t = lv <= 0 ? -INFINITY : sorted[(size_t)(lv * (double)n * F)];
            s.threshold = t;
            double dense[64], sparse[64], ud_dense[64], ud_sparse[64], pred_t[64], bw[64];
            int k = 0, zeros = 0;
            for (size_t i = 0; i < (size_t)n * F; i++) zeros += act_value(ACT_FATRELU, g[i], t) == 0.0f;
            for (int rep = -1; rep < R; rep++) { /* rep -1 warms the caches */
                double t0 = now_seconds();
                dense_ffn(&y, x, g, u, h, out, n, t, lin_scratch);
                const double td = now_seconds() - t0;
                t0 = now_seconds();
                k = sparse_ffn_forward(&s, x, out, n, NULL, scratch);
                const double ts = now_seconds() - t0;
                /* the up + down parts alone: dense up and down against the row-wise kernels on the same active list */
                for (size_t i = 0; i < (size_t)n * F; i++) g[i] = act_value(ACT_FATRELU, g[i], t);
                int kk = 0;
                for (int f = 0; f < F; f++) {
                    int on = 0;
                    for (int q = 0; q < n && !on; q++) on = g[(size_t)q * F + f] != 0.0f;
                    if (on) active[kk++] = f;
                }
                t0 = now_seconds();
                linear_forward(&y.up, x, u, n, lin_scratch);
                for (size_t i = 0; i < (size_t)n * F; i++) h[i] = g[i] * u[i];
                linear_forward(&y.down, h, out, n, lin_scratch);
                const double tud = now_seconds() - t0;
                t0 = now_seconds();
                sparse_ffn_updown(&s, x, g, active, kk, out, n, scratch);
                const double tus = now_seconds() - t0;
                double tp = 0;
                if (pred.layers) { /* the predictor's own time, then the FFN over the oracle mask (the true active set) */
                    for (int f = 0; f < F; f++) oracle[f] = 0;
                    for (int q = 0; q < kk; q++) oracle[active[q]] = 1;
                    t0 = now_seconds();
                    ffn_predictor_mask(&pred, 0, x, n, mask, pred_scratch);
                    sparse_ffn_forward(&s, x, out, n, oracle, scratch);
                    tp = now_seconds() - t0;
                }
                if (rep < 0) continue;
                dense[rep] = td, sparse[rep] = ts, ud_dense[rep] = tud, ud_sparse[rep] = tus, pred_t[rep] = tp;
                bw[rep] = bench_stream_read_gbs(src, STREAM_FLOATS, &sink);
                linear_forward(&y.gate, x, g, n, lin_scratch); /* g was activated in place: the raw gate again */
            }
            json_t *row = level_row(lv, (double)zeros / ((double)n * F), (double)k / F, dense, sparse, ud_dense, ud_sparse, pred.layers ? pred_t : NULL, bw,
                                    (double)bytes, R);
            const double speedup = speedups[li] = json_number_value(json_object_get(row, "speedup"));
            if (o->log)
                fprintf(o->log, "sparse-ffn %s %dx%d, %d row(s), sparsity %2.0f%%: dense %.0f us, sparse %.0f us, %.2fx (ideal %.2fx, Amdahl %.2fx)\n",
                        o->format, D, F, n, 100 * lv, json_number_value(json_object_get(row, "dense_us")),
                        json_number_value(json_object_get(row, "sparse_us")), speedup, 1 / (1 - fmin(lv, 0.999)), 3 / (1 + 2 * (1 - lv)));
            json_array_append_new(rows, row);
        }
        /* the crossover: from the lowest level on which sparse stays faster at every higher level, interpolated
         * linearly with the level below (a noisy win below it does not count) */
        int from = N_LEVELS;
        while (from > 0 && speedups[from - 1] >= 1) from--;
        const double crossover = from == N_LEVELS ? NAN
                                 : from == 0      ? 0
                                                  : levels[from - 1] + (levels[from] - levels[from - 1]) * (1 - speedups[from - 1]) /
                                                                         (speedups[from] - speedups[from - 1]);
        json_array_append_new(per_rows, json_pack("{s:i, s:o, s:o}", "rows", n, "levels", rows, "crossover_sparsity",
                                                  isnan(crossover) ? json_null() : json_real(crossover)));
    }
    if (rc == 0)
        *result = json_pack("{s:s, s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:o, s:o}", "bench", "sparse_ffn", "dim", D, "ffn", F, "format",
                            o->format, "group", o->group, "threads", o->threads, "reps", R, "predictor_hidden", o->predictor_hidden, "seed",
                            (json_int_t)o->seed, "dense_bytes_per_call",
                            (json_int_t)bytes, "calibrated_crossover_active_fraction", crossover_calibrated, "per_rows", per_rows, "facts",
                            run_facts());
    else
        json_decref(per_rows);
    free(x), free(g), free(u), free(h), free(out), free(sorted), free(scratch), free(lin_scratch), free(active), free(oracle), free(mask), free(pred_scratch);
    ffn_predictor_free(&pred);
    cpet_free(src);
    sparse_ffn_free(&s);
    layer_free(&y);
    return rc;
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

void bench_sparse_markdown(const json_t *r, FILE *out)
{
    fprintf(out, "Sparse FFN (%s, d %lld, d_ff %lld, %lld threads): time per call, median of %lld reps\n\n", json_string_value(json_object_get(r, "format")),
            (long long)json_integer_value(json_object_get(r, "dim")), (long long)json_integer_value(json_object_get(r, "ffn")),
            (long long)json_integer_value(json_object_get(r, "threads")), (long long)json_integer_value(json_object_get(r, "reps")));
    size_t i, j;
    json_t *pr, *row;
    json_array_foreach(json_object_get(r, "per_rows"), i, pr)
    {
        const json_t *c = json_object_get(pr, "crossover_sparsity");
        fprintf(out, "%lld row(s) per call: ", (long long)json_integer_value(json_object_get(pr, "rows")));
        if (json_is_number(c)) fprintf(out, "the sparse FFN is faster from %.0f%% sparsity on (the crossover)\n\n", 100 * json_number_value(c));
        else fprintf(out, "the sparse FFN is never faster (no crossover)\n\n");
        fprintf(out, "| sparsity | union active | dense µs | sparse µs | speedup | ideal 1/(1-s) | of ideal | Amdahl (dense gate) | of Amdahl | "
                     "up+down speedup | of ideal | oracle predictor (cost included) | dense of read bw |\n"
                     "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        json_array_foreach(json_object_get(pr, "levels"), j, row)
        fprintf(out, "| %.0f%% | %.1f%% | %.0f | %.0f | %.2fx | %.2fx | %.2f | %.2fx | %.2f | %.2fx | %.2f | %.2fx | %.0f%% |\n", 100 * num(row, "sparsity"),
                100 * num(row, "union_active_fraction"), num(row, "dense_us"), num(row, "sparse_us"), num(row, "speedup"), num(row, "ideal"),
                num(row, "speedup") / num(row, "ideal"), num(row, "amdahl_dense_gate"), num(row, "speedup") / num(row, "amdahl_dense_gate"),
                num(row, "updown_speedup"), num(row, "updown_speedup") / num(row, "ideal"), num(row, "predictor_speedup"),
                100 * num(row, "dense_fraction_of_read_bandwidth"));
        fprintf(out, "\n");
    }
}

int bench_sparse_plot(const json_t *r, const char *dir, const char *name, cpet_err *err)
{
    if (make_dirs(dir, err) != 0) return -1;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    size_t i, j;
    json_t *pr, *row;
    int blocks = 0;
    double cross1 = NAN;
    json_array_foreach(json_object_get(r, "per_rows"), i, pr)
    {
        const int n = (int)json_integer_value(json_object_get(pr, "rows"));
        if (i == 0 && json_is_number(json_object_get(pr, "crossover_sparsity"))) cross1 = json_number_value(json_object_get(pr, "crossover_sparsity"));
        fprintf(af.fp, "# rows %d\n# sparsity_pct\tspeedup\tupdown_speedup\tideal\tamdahl\tpredictor_speedup\n", n);
        json_array_foreach(json_object_get(pr, "levels"), j, row)
        fprintf(af.fp, "%.2f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", 100 * num(row, "sparsity_target"), num(row, "speedup"), num(row, "updown_speedup"),
                num(row, "ideal"), num(row, "amdahl_dense_gate"), num(row, "predictor_speedup"));
        fprintf(af.fp, "\n\n");
        blocks++;
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!gnuplot_available()) return 0;
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    if (atomic_open(&af, path, err) != 0) return -1;
    char plot[2048];
    int o = snprintf(plot, sizeof plot,
                     "plot '%s.dat' index 0 using 1:4 with lines lw 2 dt 2 lc rgb '#7f7f7f' title 'ideal 1/(1-s) (gate skipped too)', \\\n"
                     "  '' index 0 using 1:5 with lines lw 2 dt 3 lc rgb '#000000' title 'Amdahl with the dense gate: 3/(1+2(1-s))', \\\n"
                     "  '' index 0 using 1:3 with linespoints lw 2 pt 6 lc rgb '#ff7f0e' title 'up+down only (1 row) vs dense up+down', \\\n"
                     "  '' index 0 using 1:6 with linespoints lw 2 pt 4 lc rgb '#9467bd' title 'oracle predictor + its cost (1 row)', \\\n"
                     "  '' index 0 using 1:2 with linespoints lw 3 pt 7 lc rgb '#1f77b4' title 'exact sparse FFN, 1 row (decode)'",
                     name);
    json_t *last = json_array_get(json_object_get(r, "per_rows"), 1);
    if (blocks > 1 && last)
        o += snprintf(plot + o, sizeof plot - (size_t)o, ", \\\n  '' index 1 using 1:2 with linespoints lw 2 pt 5 lc rgb '#2ca02c' title 'exact sparse FFN, %lld rows (union)'",
                      (long long)json_integer_value(json_object_get(last, "rows")));
    o += snprintf(plot + o, sizeof plot - (size_t)o, ", \\\n  1 with lines lw 1 lc rgb '#d62728' title 'dense (1x)'");
    fprintf(af.fp, "# cpet bench sparse-ffn: speedup over cpet's dense FFN against sparsity, from %s.dat\n"
                   "set datafile separator \"\\t\"\nset grid lc rgb '#dddddd'\nset border 3\nset xtics nomirror\nset ytics nomirror\n"
                   "set logscale y\nset xrange [0:100]\nset xlabel 'activation sparsity s (%% of FFN neurons inactive)'\n"
                   "set ylabel 'speedup over the dense FFN (log scale)'\nset key left top\n"
                   "set title 'Exact sparse FFN on %s weights, d %lld x d_{ff} %lld, %lld threads'\n",
            name, json_string_value(json_object_get(r, "format")), (long long)json_integer_value(json_object_get(r, "dim")),
            (long long)json_integer_value(json_object_get(r, "ffn")), (long long)json_integer_value(json_object_get(r, "threads")));
    if (!isnan(cross1))
        fprintf(af.fp, "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead lw 1 dt 4 lc rgb '#d62728'\n"
                       "set label 'crossover %.0f%%' at %.2f, graph 0.06 offset 0.5,0 tc rgb '#d62728'\n",
                100 * cross1, 100 * cross1, 100 * cross1, 100 * cross1);
    gnuplot_terminals(af.fp, 900, 560, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(dir, name, err);
}
