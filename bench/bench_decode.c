/* cpet bench decode: llama-bench's pp/tg tests on a model directory. Prompt processing runs the prompt as
 * one chunk through the KV cache; generation runs greedy single-token steps. Decode is memory-bound, so
 * each rep is followed by a STREAM copy and a read-only stream, and the figure that travels across machines
 * is the ratio (bytes read per generated token x tokens/s) / bandwidth. Decode only reads, so the read
 * stream is its bound; the copy figure (which decode can exceed) is kept beside it for comparison. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "table_format.h"
#include "blas.h"
#include "compress.h"
#include "ffn_predictor.h"
#include "methods/prosparse.h"
#include "sparse_decode.h"
#include "sparse_ffn.h"
#include "facts.h"
#include "fileio.h"
#include "generate.h"
#include "lora.h"
#include "recovery.h"
#include "gguf.h"
#include "model.h"
#include "tensor.h"

#define STREAM_FLOATS ((size_t)32 << 20) /* 128 MiB a buffer: well past the L3 */

bench_decode_options bench_decode_defaults(void)
{
    return (bench_decode_options){.prompt_tokens = 128, .gen_tokens = 256, .reps = 5, .threads = {1, 2}, .n_threads = 2, .seed = 1};
}

typedef struct {
    size_t bytes;
} bytes_acc;

static void add_linear_bytes(linear *l, const char *name, void *ctx)
{
    (void)name;
    bytes_acc *b = ctx;
    b->bytes += l->qw ? qtensor_bytes(l->qw) : (size_t)l->in * l->out * sizeof(float);
}

/* What one generated token reads besides the KV cache: every linear (the LM head included), the norms and
 * one embedding row. */
static size_t weight_bytes_per_token(model *m)
{
    bytes_acc b = {0};
    model_for_each_linear(m, add_linear_bytes, &b);
    const size_t D = (size_t)m->cfg.hidden_size;
    return b.bytes + (2 * (size_t)m->cfg.n_layers + 1) * D * sizeof(float) + D * sizeof(float);
}

typedef struct {
    int P;
    float *w, *x, *y; /* big enough for the largest linear */
    double seconds, flops;
} sgemm_probe;

static void time_sgemm(linear *l, const char *name, void *ctx)
{
    (void)name;
    sgemm_probe *s = ctx;
    double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->P, l->out, l->in, 1.0f, s->x, l->in, s->w, l->in, 0.0f, s->y, l->out);
    s->seconds += now_seconds() - t0;
    s->flops += 2.0 * s->P * l->out * l->in;
}

typedef struct {
    size_t most_w, most_in, most_out;
} linear_sizes;

static void size_linear(linear *l, const char *name, void *ctx)
{
    (void)name;
    linear_sizes *s = ctx;
    size_t w = (size_t)l->out * l->in;
    s->most_w = w > s->most_w ? w : s->most_w;
    s->most_in = (size_t)l->in > s->most_in ? (size_t)l->in : s->most_in;
    s->most_out = (size_t)l->out > s->most_out ? (size_t)l->out : s->most_out;
}

/* Buffers for timing OpenBLAS sgemm alone on the model's linears with P rows (f32 weights whatever the
 * model's format): the peer of prompt processing. Made once, timed beside every prompt pass. */
static int sgemm_probe_init(sgemm_probe *s, model *m, int P)
{
    linear_sizes sz = {0, 0, 0};
    model_for_each_linear(m, size_linear, &sz);
    *s = (sgemm_probe){P, cpet_alloc_floats(sz.most_w), cpet_alloc_floats((size_t)P * sz.most_in),
                       cpet_alloc_floats((size_t)P * sz.most_out), 0, 0};
    if (!s->w || !s->x || !s->y) return -1;
    for (size_t i = 0; i < sz.most_w; i++) s->w[i] = 0.01f * (float)(i % 97);
    for (size_t i = 0; i < (size_t)P * sz.most_in; i++) s->x[i] = 0.01f * (float)(i % 89);
    return 0;
}

static void sgemm_probe_free(sgemm_probe *s)
{
    cpet_free(s->w);
    cpet_free(s->x);
    cpet_free(s->y);
}

/* Seconds sgemm alone takes for one prompt chunk's linears (after a warm-up pass); their flops. */
static double sgemm_seconds(model *m, sgemm_probe *s, double *flops)
{
    model_for_each_linear(m, time_sgemm, s);
    s->seconds = s->flops = 0;
    model_for_each_linear(m, time_sgemm, s);
    *flops = s->flops;
    return s->seconds;
}

static double min_of(const double *v, int n)
{
    double x = v[0];
    for (int i = 1; i < n; i++) x = v[i] < x ? v[i] : x;
    return x;
}

static double max_of(const double *v, int n)
{
    double x = v[0];
    for (int i = 1; i < n; i++) x = v[i] > x ? v[i] : x;
    return x;
}

/* One prompt + generation pass; times in seconds; the generated ids into gen (may be NULL). */
static int one_pass_ffn(model *m, const int *prompt, int P, int G, float *logits, double *t_pp, double *t_tg, double *t_ffn, int *gen,
                        cpet_err *err)
{
    kv_cache c;
    if (kv_cache_init(&c, m, P + G, P, err) != 0) return -1;
    double t0 = now_seconds();
    int rc = model_forward_cached(m, &c, prompt, P, logits, 0, err);
    *t_pp = now_seconds() - t0;
    c.ffn_seconds = 0; /* generation's share only */
    int tok = sample_token(logits, m->cfg.vocab_size, 0.0f, 1.0f, NULL) /* greedy */;
    t0 = now_seconds();
    for (int g = 0; g < G && rc == 0; g++) {
        if (gen) gen[g] = tok;
        rc = model_forward_cached(m, &c, &tok, 1, logits, 0, err);
        tok = sample_token(logits, m->cfg.vocab_size, 0.0f, 1.0f, NULL) /* greedy */;
    }
    *t_tg = now_seconds() - t0;
    if (t_ffn) *t_ffn = c.ffn_seconds;
    kv_cache_free(&c);
    return rc;
}

static int one_pass(model *m, const int *prompt, int P, int G, float *logits, double *t_pp, double *t_tg, int *gen, cpet_err *err)
{
    return one_pass_ffn(m, prompt, P, G, logits, t_pp, t_tg, NULL, gen, err);
}

/* --sparse: the model's sparse FFNs (enabled, crossover measured per layer) and an optional predictor */
typedef struct {
    sparse_decode *sd;
    ffn_predictor pred;
    int have_pred;
    double tg_dense[64], tg_exact[64], tg_pred[64], ffn_dense[64], ffn_exact[64], ffn_pred[64];
    int *gen_exact, *gen_pred;
} sparse_bench;

static int sparse_setup(sparse_bench *sb, model *m, const bench_decode_options *o, int G, cpet_err *err)
{
    memset(sb, 0, sizeof *sb);
    if (o->threshold > 0 && prosparse_set_threshold(m, o->threshold, err) != 0) return cpet_prefix(err, "%s", o->model);
    if (model_sparse_enable(m, 1, err) != 0) return cpet_prefix(err, "%s", o->model);
    sb->sd = m->sparse;
    if (o->predictor) {
        if (ffn_predictor_load(&sb->pred, o->predictor, m->cfg.n_layers, m->cfg.hidden_size, m->cfg.intermediate_size,
                               model_ffn_fingerprint(m), err) != 0)
            return -1;
        sb->have_pred = 1;
    }
    sb->gen_exact = calloc((size_t)G, sizeof(int));
    sb->gen_pred = calloc((size_t)G, sizeof(int));
    if (!sb->gen_exact || !sb->gen_pred) return cpet_fail(err, "bench decode: out of memory");
    m->sparse = NULL; /* dense passes see a dense model; sparse passes put it back */
    return 0;
}

static void sparse_counters_reset(sparse_decode *sd)
{
    for (int l = 0; l < sd->n_layers; l++) sd->layers[l].calls = 0, sd->layers[l].active_sum = 0, sd->layers[l].predicted_sum = 0;
}

/* decode's sparsity per layer (1 - computed neurons / F per call) and, with a predictor, the predicted sparsity */
static json_t *sparse_layers_json(const sparse_decode *sd, int predicted)
{
    json_t *a = json_array();
    for (int l = 0; l < sd->n_layers; l++) {
        const sparse_ffn *s = &sd->layers[l];
        const double calls = s->calls ? (double)s->calls : 1;
        json_t *row = json_pack("{s:i, s:f, s:f}", "layer", l, "sparsity", 1 - s->active_sum / (calls * s->F), "crossover_active_fraction",
                                s->dense_above);
        if (predicted) json_object_set_new(row, "predicted_sparsity", json_real(1 - s->predicted_sum / (calls * s->F)));
        json_array_append_new(a, row);
    }
    return a;
}

/* The passes of one rep with sparse FFNs, right after its dense pass. */
static int sparse_rep(sparse_bench *sb, model *m, const int *prompt, int P, int G, float *logits, int r, int first, json_t *layers_out,
                      cpet_err *err)
{
    double a, b, f;
    m->sparse = sb->sd;
    sparse_counters_reset(sb->sd);
    int rc = one_pass_ffn(m, prompt, P, G, logits, &a, &b, &f, first ? sb->gen_exact : NULL, err);
    sb->tg_exact[r] = G / b, sb->ffn_exact[r] = f / G;
    if (rc == 0 && first) json_object_set_new(layers_out, "exact", sparse_layers_json(sb->sd, 0));
    if (rc == 0 && sb->have_pred) {
        sb->sd->predictor = &sb->pred;
        sparse_counters_reset(sb->sd);
        rc = one_pass_ffn(m, prompt, P, G, logits, &a, &b, &f, first ? sb->gen_pred : NULL, err);
        sb->tg_pred[r] = G / b, sb->ffn_pred[r] = f / G;
        if (rc == 0 && first) json_object_set_new(layers_out, "predictor", sparse_layers_json(sb->sd, 1));
        sb->sd->predictor = NULL;
    }
    m->sparse = NULL;
    return rc;
}

/* the summary of one thread count: tokens/s, ratios per rep (medians), the FFN's share and Amdahl's bound */
static json_t *sparse_summary(const sparse_bench *sb, int R, const int *gen_dense, int G)
{
    double ratio[64], share[64], ffn_speed[64], amdahl[64], pr[64], pffn[64], pamdahl[64];
    for (int r = 0; r < R; r++) {
        const double tok_dense = 1 / sb->tg_dense[r], tok_exact = 1 / sb->tg_exact[r]; /* seconds per token */
        ratio[r] = sb->tg_exact[r] / sb->tg_dense[r];
        share[r] = sb->ffn_dense[r] / tok_dense;
        ffn_speed[r] = sb->ffn_dense[r] / sb->ffn_exact[r];
        amdahl[r] = 1 / ((1 - share[r]) + share[r] / ffn_speed[r]);
        (void)tok_exact;
        if (sb->have_pred) {
            pr[r] = sb->tg_pred[r] / sb->tg_dense[r];
            pffn[r] = sb->ffn_dense[r] / sb->ffn_pred[r];
            pamdahl[r] = 1 / ((1 - share[r]) + share[r] / pffn[r]);
        }
    }
    int same = 1, agree = 0;
    for (int g = 0; g < G; g++) same &= sb->gen_exact[g] == gen_dense[g], agree += sb->gen_pred[g] == gen_dense[g];
    json_t *j = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "tg_dense_tokens_per_s", bench_median(sb->tg_dense, R),
                          "tg_exact_tokens_per_s", bench_median(sb->tg_exact, R), "exact_speedup", bench_median(ratio, R), "ffn_share_of_dense",
                          bench_median(share, R), "ffn_speedup_exact", bench_median(ffn_speed, R), "amdahl_bound_exact", bench_median(amdahl, R),
                          "exact_of_amdahl", bench_median(ratio, R) / bench_median(amdahl, R), "exact_same_greedy_ids", same);
    if (sb->have_pred) {
        json_object_set_new(j, "tg_predictor_tokens_per_s", json_real(bench_median(sb->tg_pred, R)));
        json_object_set_new(j, "predictor_speedup", json_real(bench_median(pr, R)));
        json_object_set_new(j, "ffn_speedup_predictor", json_real(bench_median(pffn, R)));
        json_object_set_new(j, "amdahl_bound_predictor", json_real(bench_median(pamdahl, R)));
        json_object_set_new(j, "predictor_greedy_agreement", json_real((double)agree / G));
    }
    return j;
}

static json_t *samples_json(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

int bench_decode_run(const bench_decode_options *o, json_t **result, cpet_err *err)
{
    *result = NULL;
    const int P = o->prompt_tokens, G = o->gen_tokens, R = o->reps;
    if (!o->model) return cpet_fail(err, "bench decode: a model directory is required");
    if (P < 1 || G < 1 || R < 1 || R > 64 || o->n_threads < 1)
        return cpet_fail(err, "bench decode: prompt and generation tokens >= 1, reps in 1..64 and a thread count are required");
    if (o->merge && !o->adapter) return cpet_fail(err, "bench decode: --merge needs --adapter");
    model m; /* merging writes the weights: then a private copy, not the mapped checkpoint */
    if ((o->merge ? model_load(&m, o->model, err) : model_load_for_inference(&m, o->model, err)) != 0) return -1;
    if (P + G > m.cfg.max_position_embeddings) {
        const int max = m.cfg.max_position_embeddings; /* read before model_free clears it */
        model_free(&m);
        return cpet_fail(err, "%s: %d prompt + %d generated tokens exceed max_position_embeddings %d", o->model, P, G, max);
    }
    lora_adapter ad = {0}; /* unmerged: its branches (and a CA-LoRA adapter's recovery modules) run beside */
    recovery_set rec = {0};
    if (o->adapter && (lora_load(&ad, &m, o->adapter, err) != 0 || recovery_load_if_present(&rec, &m, o->adapter, err) != 0 ||
                       (o->merge && lora_merge_requantize(&ad, &m, err) != 0))) {
        recovery_free(&rec);
        lora_free(&ad);
        model_free(&m);
        return -1;
    }
    const size_t adapter_params = o->merge ? rec.n_params : ad.n_params + rec.n_params; /* what still runs beside the base */
    if (o->q8_activations) {
        model_keep_decode_packs_only(&m); /* one tensor at a time: codes are never held twice */
        model_set_q8_activations(&m, 1);
    }
    sparse_bench sb = {0};
    if (o->sparse && sparse_setup(&sb, &m, o, G, err) != 0) {
        if (sb.sd) m.sparse = sb.sd;
        ffn_predictor_free(&sb.pred);
        free(sb.gen_exact), free(sb.gen_pred);
        recovery_free(&rec);
        lora_free(&ad);
        model_free(&m);
        return -1;
    }
    json_t *sparse_rows = json_array();
    const int V = m.cfg.vocab_size;
    int *prompt = malloc((size_t)P * sizeof(int)), *gen = malloc((size_t)G * sizeof(int));
    float *logits = malloc((size_t)V * sizeof(float));
    uint64_t s = (uint64_t)o->seed;
    for (int i = 0; i < P; i++) prompt[i] = (int)(splitmix64(&s) % (unsigned long long)V);
    const size_t KVD = (size_t)m.cfg.n_kv_heads * m.cfg.head_dim, L = (size_t)m.cfg.n_layers;
    const double weights = (double)weight_bytes_per_token(&m) + (double)adapter_params * sizeof(float),
                 kv = 2.0 * L * KVD * sizeof(float) * (P + (G - 1) / 2.0), /* K and V read at the mean position */
        per_token = weights + kv;
    /* warm-up (not timed): page in the weights, size the caches */
    double a, b;
    int rc = one_pass(&m, prompt, P, G < 8 ? G : 8, logits, &a, &b, NULL, err);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_rss_mb = (double)ru.ru_maxrss / 1024.0; /* before the bandwidth buffers */
    float *src = rc == 0 ? cpet_alloc(STREAM_FLOATS * sizeof(float)) : NULL, *dst = src ? cpet_alloc(STREAM_FLOATS * sizeof(float)) : NULL;
    if (rc == 0 && !dst) rc = cpet_fail(err, "bench decode: out of memory for the bandwidth buffers");
    if (src) memset(src, 1, STREAM_FLOATS * sizeof(float));
    sgemm_probe probe = {0};
    if (rc == 0 && sgemm_probe_init(&probe, &m, P) != 0) rc = cpet_fail(err, "bench decode: out of memory for the sgemm probe");
    json_t *rows = json_array(), *summary = json_object(); /* summary: the figures bench-compare gates on */
    for (int ti = 0; ti < o->n_threads && rc == 0; ti++) {
        engine_set_threads(o->threads[ti]);
        double pp[64], tg[64], bw[64], frac[64], rbw[64], rfrac[64], pp_frac[64], flops = 0;
        float sink = 0;
        one_pass(&m, prompt, P, G < 8 ? G : 8, logits, &a, &b, NULL, err); /* warm this thread count */
        json_t *sparse_layers = json_object();
        for (int r = 0; r < R && rc == 0; r++) {
            double ffn_seconds = 0;
            rc = one_pass_ffn(&m, prompt, P, G, logits, &a, &b, &ffn_seconds, ti == 0 && r == 0 ? gen : NULL, err);
            if (rc == 0 && o->sparse) {
                sb.tg_dense[r] = G / b, sb.ffn_dense[r] = ffn_seconds / G;
                rc = sparse_rep(&sb, &m, prompt, P, G, logits, r, r == 0, sparse_layers, err);
            }
            double sg = sgemm_seconds(&m, &probe, &flops);
            pp_frac[r] = sg > 0 ? sg / a : NAN; /* the prompt's GEMMs alone / the whole prompt pass */
            pp[r] = P / a;
            tg[r] = G / b;
            bw[r] = bench_stream_copy_gbs(dst, src, STREAM_FLOATS);
            frac[r] = per_token * tg[r] / (bw[r] * 1e9);
            rbw[r] = bench_stream_read_gbs(src, STREAM_FLOATS, &sink);
            rfrac[r] = per_token * tg[r] / (rbw[r] * 1e9);
            if (o->log)
                fprintf(o->log, "decode: %d threads, rep %d: pp%d %.1f tok/s, tg%d %.1f tok/s, %.0f%% of read bandwidth (%.0f%% of copy)\n",
                        o->threads[ti], r + 1, P, pp[r], G, tg[r], 100 * rfrac[r], 100 * frac[r]);
        }
        if (rc != 0) {
            json_decref(sparse_layers);
            break;
        }
        if (o->sparse) {
            json_t *sum = sparse_summary(&sb, R, gen, G);
            json_object_set_new(sum, "n_threads", json_integer(o->threads[ti]));
            json_object_set_new(sum, "layers", sparse_layers);
            if (o->log)
                fprintf(o->log, "decode sparse: %d threads: dense %.1f tok/s, exact sparse %.1f tok/s (%.2fx; FFN %.0f%% of dense, %.2fx faster: "
                                "Amdahl allows %.2fx)\n", o->threads[ti], json_number_value(json_object_get(sum, "tg_dense_tokens_per_s")),
                        json_number_value(json_object_get(sum, "tg_exact_tokens_per_s")), json_number_value(json_object_get(sum, "exact_speedup")),
                        100 * json_number_value(json_object_get(sum, "ffn_share_of_dense")),
                        json_number_value(json_object_get(sum, "ffn_speedup_exact")), json_number_value(json_object_get(sum, "amdahl_bound_exact")));
            json_array_append_new(sparse_rows, sum);
        } else {
            json_decref(sparse_layers);
        }
        bench_timing tp = bench_summarize(pp, R), tt = bench_summarize(tg, R);
        char name[32];
        snprintf(name, sizeof name, "pp%d", P);
        json_array_append_new(rows, json_pack("{s:i, s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "n_threads",
                                              o->threads[ti], "test", name, "n_prompt", P, "n_gen", 0, "fraction_of_sgemm",
                                              bench_median(pp_frac, R), "linear_gflop", flops / 1e9, "median_ts", bench_median(pp, R),
                                              "avg_ts", tp.mean,
                                              "stddev_ts", tp.stddev, "min_ts", min_of(pp, R), "max_ts", max_of(pp, R), "samples_ts",
                                              samples_json(pp, R)));
        snprintf(name, sizeof name, "tg%d", G);
        json_array_append_new(rows, json_pack("{s:i, s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o}", "n_threads",
                                              o->threads[ti], "test", name, "n_prompt", 0, "n_gen", G, "median_ts", bench_median(tg, R),
                                              "avg_ts", tt.mean, "stddev_ts", tt.stddev, "min_ts", min_of(tg, R), "max_ts", max_of(tg, R),
                                              "copy_gb_s_median", bench_median(bw, R),
                                              "fraction_of_copy_bandwidth", bench_median(frac, R), "read_bw_gb_s_median",
                                              bench_median(rbw, R), "fraction_of_read_bandwidth", bench_median(rfrac, R),
                                              "read_gb_s_median", per_token * bench_median(tg, R) / 1e9, "samples_ts", samples_json(tg, R),
                                              "samples_fraction", samples_json(frac, R), "samples_fraction_of_read", samples_json(rfrac, R)));
        char key[16];
        snprintf(key, sizeof key, "t%d", o->threads[ti]);
        json_object_set_new(summary, key, json_pack("{s:f, s:f, s:f, s:f, s:f}", "pp_tokens_per_s", bench_median(pp, R),
                                                    "pp_fraction_of_sgemm", bench_median(pp_frac, R), "tg_tokens_per_s",
                                                    bench_median(tg, R), "tg_fraction_of_copy_bandwidth", bench_median(frac, R),
                                                    "tg_fraction_of_read_bandwidth", bench_median(rfrac, R)));
    }
    if (rc == 0) {
        json_t *ids = json_array();
        for (int g = 0; g < G; g++) json_array_append_new(ids, json_integer(gen[g]));
        const double kv_cache_bytes = 2.0 * L * KVD * sizeof(float) * (P + G), size = (double)model_storage_bytes(&m);
        size_t n_params = 0; /* every weight, packed or not (m.n_params counts only the f32 storage) */
        for (int i = 0; i < m.n_tensors; i++) n_params += m.tensors[i].n;
        *result = json_pack("{s:s, s:s, s:s?, s:b, s:I, s:I, s:I, s:i, s:i, s:i, s:b, s:I, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o, s:o}",
                            "bench", "decode", "model", o->model, "adapter", o->adapter, "merged", o->merge, "adapter_params",
                            (json_int_t)adapter_params, "model_bytes", (json_int_t)size, "model_n_params", (json_int_t)n_params,
                            "n_prompt", P, "n_gen", G, "reps", R, "q8_activations", o->q8_activations, "seed", (json_int_t)o->seed,
                            "bytes_per_token", per_token, "weight_bytes_per_token", weights, "peak_rss_mb", peak_rss_mb,
                            "kv_cache_mb", kv_cache_bytes / 1048576.0, "rss_over_size_plus_kv",
                            peak_rss_mb * 1048576.0 / (size + kv_cache_bytes), "rows",
                            rows, "summary", summary, "greedy_ids", ids, "facts", run_facts());
        if (o->sparse) {
            json_object_set_new(*result, "sparse", sparse_rows);
            json_object_set_new(*result, "activation", json_string(activation_name(m.cfg.hidden_act)));
            json_object_set_new(*result, "fatrelu_threshold", json_real(m.cfg.act_threshold));
            if (o->predictor) json_object_set_new(*result, "predictor", json_string(o->predictor));
            sparse_rows = NULL;
        }
    } else {
        json_decref(rows);
        json_decref(summary);
    }
    json_decref(sparse_rows);
    if (sb.sd) m.sparse = sb.sd; /* model_free frees it */
    ffn_predictor_free(&sb.pred);
    free(sb.gen_exact), free(sb.gen_pred);
    sgemm_probe_free(&probe);
    cpet_free(src);
    cpet_free(dst);
    free(prompt);
    free(gen);
    free(logits);
    recovery_free(&rec);
    lora_free(&ad);
    model_free(&m);
    return rc;
}

void bench_decode_bound_text(const json_t *row, char *out, size_t n)
{
    json_t *frac = json_object_get(row, "fraction_of_read_bandwidth");
    if (!frac) frac = json_object_get(row, "fraction_of_copy_bandwidth"); /* records from before the read probe */
    if (!frac) frac = json_object_get(row, "fraction_of_sgemm");
    if (frac && json_is_number(frac)) snprintf(out, n, "%.0f%%", 100 * json_number_value(frac));
    else if (n) out[0] = '\0';
}

void bench_decode_markdown(const json_t *r, FILE *out)
{
    fprintf(out, "| model | size | params | threads | test | t/s (median ± sd) | of bound (tg: read bandwidth, pp: sgemm alone) |\n"
                 "|---|---:|---:|---:|---|---:|---:|\n");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "rows"), i, row)
    {
        char f[16];
        bench_decode_bound_text(row, f, sizeof f);
        fprintf(out, "| %s | %.1f MiB | %.2f M | %lld | %s | %.1f ± %.1f | %s |\n", path_base(json_string_value(json_object_get(r, "model")) ?: ""),
                json_number_value(json_object_get(r, "model_bytes")) / 1048576.0,
                json_number_value(json_object_get(r, "model_n_params")) / 1e6, (long long)json_integer_value(json_object_get(row, "n_threads")),
                json_string_value(json_object_get(row, "test")), json_number_value(json_object_get(row, "median_ts")),
                json_number_value(json_object_get(row, "stddev_ts")), f);
    }
    const json_t *sparse = json_object_get(r, "sparse");
    if (!json_array_size(sparse)) return;
    const int pred = json_object_get(r, "predictor") != NULL;
    fprintf(out, "\nSparse FFN decode (%s%s), tg tokens/s, each rep dense then sparse back to back (medians of per-rep ratios):\n\n"
                 "| threads | dense | exact sparse | speedup | FFN share of dense | FFN speedup | Amdahl bound | of bound | same greedy ids |%s\n"
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---|%s\n",
            json_string_value(json_object_get(r, "activation")) ?: "", pred ? ", with the activation predictor" : "",
            pred ? " predictor | speedup | FFN speedup | Amdahl bound | greedy agreement |" : "", pred ? "---:|---:|---:|---:|---:|" : "");
    json_array_foreach(sparse, i, row)
    {
        const double share = json_number_value(json_object_get(row, "ffn_share_of_dense"));
        fprintf(out, "| %lld | %.1f | %.1f | %.2fx | %.0f%% | %.2fx | %.2fx | %.2f | %s |", (long long)json_integer_value(json_object_get(row, "n_threads")),
                json_number_value(json_object_get(row, "tg_dense_tokens_per_s")), json_number_value(json_object_get(row, "tg_exact_tokens_per_s")),
                json_number_value(json_object_get(row, "exact_speedup")), 100 * share, json_number_value(json_object_get(row, "ffn_speedup_exact")),
                json_number_value(json_object_get(row, "amdahl_bound_exact")), json_number_value(json_object_get(row, "exact_of_amdahl")),
                json_is_true(json_object_get(row, "exact_same_greedy_ids")) ? "yes" : "NO");
        if (pred)
            fprintf(out, " %.1f | %.2fx | %.2fx | %.2fx | %.0f%% |", json_number_value(json_object_get(row, "tg_predictor_tokens_per_s")),
                    json_number_value(json_object_get(row, "predictor_speedup")), json_number_value(json_object_get(row, "ffn_speedup_predictor")),
                    json_number_value(json_object_get(row, "amdahl_bound_predictor")),
                    100 * json_number_value(json_object_get(row, "predictor_greedy_agreement")));
        fprintf(out, "\n");
    }
    const json_t *layers = json_object_get(json_array_get(sparse, 0), "layers");
    fprintf(out, "\nPer layer (first thread count): decode sparsity, crossover (dense above this active share)%s\n\n| layer | sparsity | crossover |%s\n|---:|---:|---:|%s\n",
            pred ? ", predicted sparsity" : "", pred ? " predicted sparsity |" : "", pred ? "---:|" : "");
    json_array_foreach(json_object_get(layers, "exact"), i, row)
    {
        fprintf(out, "| %lld | %.1f%% | %.0f%% |", (long long)json_integer_value(json_object_get(row, "layer")),
                100 * json_number_value(json_object_get(row, "sparsity")), 100 * json_number_value(json_object_get(row, "crossover_active_fraction")));
        if (pred) fprintf(out, " %.1f%% |", 100 * json_number_value(json_object_get(json_array_get(json_object_get(layers, "predictor"), i), "predicted_sparsity")));
        fprintf(out, "\n");
    }
}

void bench_decode_csv(const json_t *r, FILE *out)
{
    const char *head[] = {"model_filename", "model_size", "model_n_params", "n_threads", "n_prompt", "n_gen", "median_ts", "avg_ts",
                          "stddev_ts", "fraction_of_copy_bandwidth", "fraction_of_read_bandwidth"};
    csv_row(out, head, 11);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "rows"), i, row)
    {
        char v[10][32];
        json_t *frac = json_object_get(row, "fraction_of_copy_bandwidth"), *rfrac = json_object_get(row, "fraction_of_read_bandwidth");
        snprintf(v[0], 32, "%lld", (long long)json_integer_value(json_object_get(r, "model_bytes")));
        snprintf(v[1], 32, "%lld", (long long)json_integer_value(json_object_get(r, "model_n_params")));
        snprintf(v[2], 32, "%lld", (long long)json_integer_value(json_object_get(row, "n_threads")));
        snprintf(v[3], 32, "%lld", (long long)json_integer_value(json_object_get(row, "n_prompt")));
        snprintf(v[4], 32, "%lld", (long long)json_integer_value(json_object_get(row, "n_gen")));
        snprintf(v[5], 32, "%.6g", json_number_value(json_object_get(row, "median_ts")));
        snprintf(v[6], 32, "%.6g", json_number_value(json_object_get(row, "avg_ts")));
        snprintf(v[7], 32, "%.6g", json_number_value(json_object_get(row, "stddev_ts")));
        if (frac) snprintf(v[8], 32, "%.6g", json_number_value(frac));
        else v[8][0] = 0;
        if (rfrac) snprintf(v[9], 32, "%.6g", json_number_value(rfrac));
        else v[9][0] = 0;
        const char *f[11] = {json_string_value(json_object_get(r, "model")) ?: "", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
        csv_row(out, f, 11);
    }
}
