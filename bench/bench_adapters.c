/* cpet bench adapters: what a personal-device user of CA-LoRA asks before deploying task adapters on a
 * compressed model.
 *   bytes   the compressed base plus N task adapters (LoRA + recovery modules, as saved) against N full
 *           models and N compressed models, N = 1..max
 *   merge   merging the adapter's LoRA into the packed base re-quantizes it (lora_merge_requantize): the
 *           share of the adapter's update W' - W that rounding loses, per module, ||Q(W + dW) - (W + dW)||
 *           / ||dW||
 *   drift   the merged model against the unmerged adapter on a task's eval split, paired: accuracy of each,
 *           McNemar's p, prediction agreement and the change of every choice's log-likelihood
 * Recovery modules are nonlinear and cannot be merged: they run unmerged on both sides. Decode speed and
 * peak RSS, merged or not, are `cpet bench decode --adapter DIR [--merge]` (one process each). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "blas.h"
#include "evaluate.h"
#include "facts.h"
#include "fileio.h"
#include "gguf.h"
#include "gnuplot.h"
#include "lora.h"
#include "model.h"
#include "recovery.h"
#include "stats.h"
#include "supervise.h"
#include "tasks.h"
#include "tokenizer.h"

bench_adapters_options bench_adapters_defaults(void)
{
    return (bench_adapters_options){.eval_split = "test", .max_adapters = 100, .threads = 2, .prompt_tokens = 32, .gen_tokens = 64,
                                    .reps = 5, .scratch_dir = "/tmp"};
}

/* one bench decode variant in a child process: its own peak RSS */
static int decode_child(void *ctx, json_t *result, cpet_err *err)
{
    json_t *r;
    if (bench_decode_run(ctx, &r, err) != 0) return -1;
    json_object_update(result, r);
    json_decref(r);
    return 0;
}

static json_t *decode_variants(const bench_adapters_options *o, cpet_err *err)
{
    const char *names[3] = {"base", "unmerged", "merged"};
    json_t *out = json_object();
    for (int v = 0; v < 3; v++) {
        bench_decode_options d = bench_decode_defaults();
        d.model = o->compressed;
        d.prompt_tokens = o->prompt_tokens, d.gen_tokens = o->gen_tokens, d.reps = o->reps;
        d.threads[0] = o->threads, d.n_threads = 1;
        d.adapter = v ? o->adapter : NULL;
        d.merge = v == 2;
        d.log = NULL;
        char handoff[4200];
        snprintf(handoff, sizeof handoff, "%s/cpet-bench-adapters-%d-%s.json", o->scratch_dir, (int)getpid(), names[v]);
        supervised_usage use;
        json_t *r = supervise(decode_child, &d, handoff, &use);
        if (strcmp(json_string_value(json_object_get(r, "status")) ?: "", "ok") != 0) {
            cpet_fail(err, "bench adapters: decode (%s): %s", names[v], json_string_value(json_object_get(r, "error")) ?: "failed");
            json_decref(r);
            json_decref(out);
            return NULL;
        }
        char key[16];
        snprintf(key, sizeof key, "t%d", o->threads);
        const json_t *sum = json_object_get(json_object_get(r, "summary"), key);
        json_object_set_new(out, names[v], json_pack("{s:f, s:f, s:f, s:I, s:f}", "tg_tokens_per_s",
                                                   json_number_value(json_object_get(sum, "tg_tokens_per_s")), "pp_tokens_per_s",
                                                   json_number_value(json_object_get(sum, "pp_tokens_per_s")), "peak_rss_mb",
                                                   json_number_value(json_object_get(r, "peak_rss_mb")), "adapter_params",
                                                   json_integer_value(json_object_get(r, "adapter_params")), "child_peak_rss_mb",
                                                   use.peak_rss_mb));
        if (o->log)
            fprintf(o->log, "decode %s: tg %.1f tok/s, peak RSS %.1f MiB\n", names[v], json_number_value(json_object_get(sum, "tg_tokens_per_s")),
                    json_number_value(json_object_get(r, "peak_rss_mb")));
        json_decref(r);
    }
    return out;
}

static double file_bytes(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : NAN;
}

/* loads a model with the adapter (and its recovery modules) attached */
static int load_with_adapter(model *m, lora_adapter *ad, recovery_set *rec, const char *dir, const char *adapter, cpet_err *err)
{
    memset(ad, 0, sizeof *ad);
    memset(rec, 0, sizeof *rec);
    if (model_load(m, dir, err) != 0) return -1;
    if (lora_load(ad, m, adapter, err) != 0 || recovery_load_if_present(rec, m, adapter, err) != 0) {
        lora_free(ad);
        model_free(m);
        return -1;
    }
    return 0;
}

/* Per module: the share of its update lost when the merge re-quantizes; before merging (targets still
 * hold the packed base). */
static int rounding_loss(lora_adapter *ad, double *mean, double *max, int *packed, cpet_err *err)
{
    *mean = 0, *max = 0, *packed = 0;
    for (int i = 0; i < ad->n_mods; i++) {
        const lora_module *lm = &ad->mods[i];
        const qtensor *q = lm->target->qw;
        if (!q) continue;
        const size_t n = (size_t)lm->out * lm->in;
        float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float)), *zero = calloc(n, sizeof(float)); /* zero: dW */
        qtensor requant = {0};
        int rc = !want || !got || !zero ? cpet_fail(err, "out of memory") : 0;
        if (rc == 0) {
            qtensor_dequantize(q, want);
            rc = lora_module_add_delta(lm, zero, err); /* dW alone, then W + dW */
            for (size_t k = 0; rc == 0 && k < n; k++) want[k] += zero[k];
            if (rc == 0) rc = quantize_rtn(&requant, q->format, want, lm->out, lm->in, q->group, err);
        }
        if (rc == 0) {
            qtensor_dequantize(&requant, got);
            double e = 0, d = 0;
            for (size_t k = 0; k < n; k++) e += ((double)got[k] - want[k]) * ((double)got[k] - want[k]), d += (double)zero[k] * zero[k];
            const double lost = d > 0 ? sqrt(e / d) : 0;
            *mean += lost;
            *max = lost > *max ? lost : *max;
            ++*packed;
            qtensor_free(&requant);
        }
        free(want);
        free(got);
        free(zero);
        if (rc != 0) return -1;
    }
    if (*packed) *mean /= *packed;
    return 0;
}

int bench_adapters_run(const bench_adapters_options *o, json_t **result, cpet_err *err)
{
    *result = NULL;
    if (!o->base || !o->compressed || !o->adapter) return cpet_fail(err, "bench adapters: --base, --compressed and --adapter are required");
    if (o->max_adapters < 1) return cpet_fail(err, "bench adapters: --max-adapters must be >= 1");
    engine_set_threads(o->threads);
    model base, unmerged, merged;
    lora_adapter ad_u, ad_m;
    recovery_set rec_u, rec_m;
    if (model_load_for_inference(&base, o->base, err) != 0) return -1;
    const double base_bytes = (double)model_storage_bytes(&base);
    model_free(&base);
    if (load_with_adapter(&unmerged, &ad_u, &rec_u, o->compressed, o->adapter, err) != 0) return -1;
    if (load_with_adapter(&merged, &ad_m, &rec_m, o->compressed, o->adapter, err) != 0) {
        recovery_free(&rec_u), lora_free(&ad_u), model_free(&unmerged);
        return -1;
    }
    const double comp_bytes = (double)model_storage_bytes(&unmerged), adapter_bytes = file_bytes(o->adapter, "adapter_model.safetensors"),
                 lora_param_bytes = (double)ad_u.n_params * sizeof(float), recovery_param_bytes = (double)rec_u.n_params * sizeof(float);
    double lost_mean = 0, lost_max = 0;
    int packed = 0, rc = rounding_loss(&ad_m, &lost_mean, &lost_max, &packed, err);
    if (rc == 0) rc = lora_merge_requantize(&ad_m, &merged, err);
    json_t *drift = NULL;
    if (rc == 0 && o->task) {
        tokenizer tok;
        task_set ts;
        char tpath[4200];
        snprintf(tpath, sizeof tpath, "%s/tokenizer.json", o->compressed);
        if (tokenizer_load(&tok, tpath, err) != 0) rc = -1;
        else {
            if (tasks_read(&ts, o->task, o->eval_split, err) != 0) rc = -1;
            else if (ts.n == 0) rc = cpet_fail(err, "%s: no examples of split '%s'", o->task, o->eval_split);
            if (rc == 0) {
                int choices = 0;
                for (int i = 0; i < ts.n; i++) choices += ts.items[i].n_choices;
                int *pu = malloc((size_t)ts.n * sizeof(int)), *pm = malloc((size_t)ts.n * sizeof(int));
                double *lu = malloc((size_t)choices * sizeof(double)), *lm = malloc((size_t)choices * sizeof(double));
                mc_result ru, rm;
                const int bos = unmerged.cfg.bos_token_id;
                rc = eval_multiple_choice(&unmerged, &tok, &ts, bos, 8, &ru, pu, lu, err) ||
                     eval_multiple_choice(&merged, &tok, &ts, bos, 8, &rm, pm, lm, err);
                if (rc == 0) {
                    int agree = 0, b = 0, c = 0;
                    double dmean = 0, dmax = 0;
                    for (int i = 0; i < ts.n; i++) {
                        const int label = ts.items[i].label, cu = pu[i] == label, cm = pm[i] == label;
                        agree += pu[i] == pm[i], b += cm && !cu, c += cu && !cm;
                    }
                    for (int k = 0; k < choices; k++) {
                        const double d = fabs(lu[k] - lm[k]);
                        dmean += d / choices;
                        dmax = d > dmax ? d : dmax;
                    }
                    drift = json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:i, s:i, s:f, s:f, s:f, s:f}", "task", o->task, "split", o->eval_split,
                                      "n", ts.n, "acc_unmerged", ru.acc, "acc_merged", rm.acc, "acc_merged_minus_unmerged",
                                      rm.acc - ru.acc, "only_merged_right", b, "only_unmerged_right", c, "mcnemar_p",
                                      mcnemar_exact_p(b, c), "prediction_agreement", (double)agree / ts.n,
                                      "mean_abs_choice_logprob_change", dmean, "max_abs_choice_logprob_change", dmax);
                    if (o->log)
                        fprintf(o->log, "drift on %s: acc %.4f unmerged, %.4f merged; %.1f%% of predictions agree\n", o->task, ru.acc,
                                rm.acc, 100.0 * agree / ts.n);
                }
                free(pu), free(pm), free(lu), free(lm);
                tasks_free(&ts);
            }
            tokenizer_free(&tok);
        }
    }
    json_t *decode = NULL;
    if (rc == 0 && o->decode && !(decode = decode_variants(o, err))) rc = -1;
    if (rc == 0) {
        const double per_adapter = isnan(adapter_bytes) ? lora_param_bytes + recovery_param_bytes : adapter_bytes;
        json_t *rows = json_array();
        for (int n = 1; n <= o->max_adapters; n++)
            json_array_append_new(rows, json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", n, "compressed_plus_adapters",
                                                  comp_bytes + n * per_adapter, "base_plus_adapters", base_bytes + n * per_adapter,
                                                  "full_models", n * base_bytes, "compressed_models", n * comp_bytes));
        *result = json_pack("{s:s, s:s, s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:f}, s:o, s:{s:i, s:i, s:f, s:f, s:b}, s:o, s:o, s:o, s:i}",
                            "bench", "adapters", "base", o->base, "compressed", o->compressed, "adapter", o->adapter, "bytes", "base",
                            base_bytes, "compressed", comp_bytes, "adapter_file", per_adapter, "lora_params", lora_param_bytes,
                            "recovery_params", recovery_param_bytes, "adapters_per_saved_base",
                            (base_bytes - comp_bytes) / per_adapter, "per_n", rows, "merge", "modules", ad_u.n_mods,
                            "requantized_modules", packed, "update_lost_to_rounding_mean", lost_mean,
                            "update_lost_to_rounding_max", lost_max, "recovery_modules_stay_unmerged", rec_u.n_mods > 0,
                            "drift", drift ? drift : json_null(), "decode", decode ? decode : json_null(), "facts", run_facts(),
                            "threads", o->threads);
        drift = decode = NULL;
    }
    json_decref(drift);
    json_decref(decode);
    recovery_free(&rec_u), recovery_free(&rec_m);
    lora_free(&ad_u), lora_free(&ad_m);
    model_free(&unmerged), model_free(&merged);
    return rc;
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

void bench_adapters_markdown(const json_t *r, FILE *f)
{
    const json_t *by = json_object_get(r, "bytes"), *mg = json_object_get(r, "merge"), *dr = json_object_get(r, "drift"),
                 *dec = json_object_get(r, "decode"), *per_n = json_object_get(r, "per_n");
    const json_t *facts = json_object_get(r, "facts");
    fprintf(f, "`%s` (%.2f MB; uncompressed `%s`, %.2f MB) with the adapter `%s` (%.3f MB as saved: LoRA %.3f MB + recovery "
               "modules %.3f MB, f32). Revision %s, %d thread(s).\n\n",
            json_string_value(json_object_get(r, "compressed")), num(by, "compressed") / 1e6, json_string_value(json_object_get(r, "base")),
            num(by, "base") / 1e6, json_string_value(json_object_get(r, "adapter")), num(by, "adapter_file") / 1e6, num(by, "lora_params") / 1e6,
            num(by, "recovery_params") / 1e6, json_string_value(json_object_get(facts, "git_revision")) ?: "?",
            (int)json_integer_value(json_object_get(r, "threads")));
    if (json_is_object(dec)) {
        fprintf(f, "| decode on the compressed model | tg tokens/s | pp tokens/s | peak RSS (MiB) | adapter parameters beside the base |\n"
                   "|---|---|---|---|---|\n");
        const char *names[3] = {"base", "unmerged", "merged"}, *what[3] = {"base alone", "+ adapter, unmerged",
                                                                            "+ adapter merged (LoRA re-quantized into the base)"};
        for (int v = 0; v < 3; v++) {
            const json_t *x = json_object_get(dec, names[v]);
            fprintf(f, "| %s | %.1f | %.1f | %.1f | %lld |\n", what[v], num(x, "tg_tokens_per_s"), num(x, "pp_tokens_per_s"),
                    num(x, "peak_rss_mb"), (long long)json_integer_value(json_object_get(x, "adapter_params")));
        }
        fprintf(f, "\nOne process per row (bench decode: median of the reps; RSS before the bandwidth probe's buffers).\n\n");
    }
    fprintf(f, "| tasks N | compressed + N adapters | uncompressed + N adapters | N compressed models | N full models |\n"
               "|---|---|---|---|---|\n");
    const int shown[] = {1, 2, 5, 10, 20, 50, 100, 1000};
    for (int k = 0; k < 8; k++) {
        const json_t *row = json_array_get(per_n, (size_t)shown[k] - 1);
        if (!row) break;
        fprintf(f, "| %d | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n", shown[k], num(row, "compressed_plus_adapters") / 1e6,
                num(row, "base_plus_adapters") / 1e6, num(row, "compressed_models") / 1e6, num(row, "full_models") / 1e6);
    }
    fprintf(f, "\nThe bytes compression saves hold %.1f such adapters.\n\n", num(by, "adapters_per_saved_base"));
    fprintf(f, "Merging: %lld of %lld LoRA modules sit on packed bases and are re-quantized in their format (round-to-nearest); the "
               "rounding error is %.1f%% of the size of the adapter's update on average (‖Q(W+ΔW) − (W+ΔW)‖ / ‖ΔW‖, max %.1f%%).%s\n",
            (long long)json_integer_value(json_object_get(mg, "requantized_modules")), (long long)json_integer_value(json_object_get(mg, "modules")),
            100 * num(mg, "update_lost_to_rounding_mean"), 100 * num(mg, "update_lost_to_rounding_max"),
            json_is_true(json_object_get(mg, "recovery_modules_stay_unmerged")) ? " Recovery modules are nonlinear: they stay unmerged." : "");
    if (json_is_object(dr))
        fprintf(f, "\nDrift on `%s` (%s split, n = %lld): accuracy %.4f unmerged, %.4f merged (%+.2f points; %lld examples only the "
                   "merged model gets right, %lld only the unmerged one; McNemar p = %.3f); %.1f%% of predictions agree; the choices' "
                   "log-likelihoods move by %.4f nats on average (max %.4f).\n",
                json_string_value(json_object_get(dr, "task")), json_string_value(json_object_get(dr, "split")),
                (long long)json_integer_value(json_object_get(dr, "n")), num(dr, "acc_unmerged"), num(dr, "acc_merged"),
                100 * num(dr, "acc_merged_minus_unmerged"), (long long)json_integer_value(json_object_get(dr, "only_merged_right")),
                (long long)json_integer_value(json_object_get(dr, "only_unmerged_right")), num(dr, "mcnemar_p"),
                100 * num(dr, "prediction_agreement"), num(dr, "mean_abs_choice_logprob_change"), num(dr, "max_abs_choice_logprob_change"));
}

int bench_adapters_plot(const json_t *r, const char *dir, const char *name, cpet_err *err)
{
    if (make_dirs(dir, err) != 0) return -1;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    fprintf(af.fp, "# n\tcompressed_plus_adapters_MB\tbase_plus_adapters_MB\tcompressed_models_MB\tfull_models_MB\n");
    size_t k;
    json_t *row;
    json_array_foreach(json_object_get(r, "per_n"), k, row)
        fprintf(af.fp, "%lld\t%.4f\t%.4f\t%.4f\t%.4f\n", (long long)json_integer_value(json_object_get(row, "n")),
                num(row, "compressed_plus_adapters") / 1e6, num(row, "base_plus_adapters") / 1e6, num(row, "compressed_models") / 1e6,
                num(row, "full_models") / 1e6);
    if (atomic_commit(&af, err) != 0) return -1;
    if (!gnuplot_available()) return 0;
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    if (atomic_open(&af, path, err) != 0) return -1;
    char plot[1024];
    snprintf(plot, sizeof plot,
             "plot '%s.dat' using 1:5 with lines lw 2 lc rgb '#d62728' title 'N full models (one fine-tuned per task)', \\\n"
             "  '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title 'N compressed models', \\\n"
             "  '' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'uncompressed base + N adapters', \\\n"
             "  '' using 1:2 with lines lw 3 lc rgb '#2ca02c' title 'compressed base + N CA-LoRA adapters'",
             name);
    fprintf(af.fp, "# cpet bench adapters: bytes on the device against the number of task adapters, from %s.dat\n"
                   "set datafile separator \"\\t\"\nset grid lc rgb '#dddddd'\nset border 3\nset xtics nomirror\nset ytics nomirror\n"
                   "set logscale xy\nset xlabel 'tasks N'\nset ylabel 'MB (log scale)'\nset key left top\n"
                   "set title 'Storage for N tasks: one base + N adapters against N models'\n",
            name);
    gnuplot_terminals(af.fp, 900, 560, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(dir, name, err);
}
