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

#include "bench.h"
#include "blas.h"
#include "evaluate.h"
#include "facts.h"
#include "gguf.h"
#include "lora.h"
#include "model.h"
#include "recovery.h"
#include "stats.h"
#include "tasks.h"
#include "tokenizer.h"

bench_adapters_options bench_adapters_defaults(void)
{
    return (bench_adapters_options){.eval_split = "test", .max_adapters = 100, .threads = 2};
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
        float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float)), *zero = calloc(n, sizeof(float));
        qtensor requant = {0};
        int rc = !want || !got || !zero ? cpet_fail(err, "out of memory") : 0;
        if (rc == 0) {
            qtensor_dequantize(q, want);
            rc = lora_module_add_delta(lm, want, err) || lora_module_add_delta(lm, zero, err) ||
                 quantize_rtn(&requant, q->format, want, lm->out, lm->in, q->group, err);
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
    if (rc == 0) {
        const double per_adapter = isnan(adapter_bytes) ? lora_param_bytes + recovery_param_bytes : adapter_bytes;
        json_t *rows = json_array();
        for (int n = 1; n <= o->max_adapters; n++)
            json_array_append_new(rows, json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", n, "compressed_plus_adapters",
                                                  comp_bytes + n * per_adapter, "base_plus_adapters", base_bytes + n * per_adapter,
                                                  "full_models", n * base_bytes, "compressed_models", n * comp_bytes));
        *result = json_pack("{s:s, s:s, s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:f}, s:o, s:{s:i, s:i, s:f, s:f, s:b}, s:o, s:o}",
                            "bench", "adapters", "base", o->base, "compressed", o->compressed, "adapter", o->adapter, "bytes", "base",
                            base_bytes, "compressed", comp_bytes, "adapter_file", per_adapter, "lora_params", lora_param_bytes,
                            "recovery_params", recovery_param_bytes, "adapters_per_saved_base",
                            (base_bytes - comp_bytes) / per_adapter, "per_n", rows, "merge", "modules", ad_u.n_mods,
                            "requantized_modules", packed, "update_lost_to_rounding_mean", lost_mean,
                            "update_lost_to_rounding_max", lost_max, "recovery_modules_stay_unmerged", rec_u.n_mods > 0,
                            "drift", drift ? drift : json_null(), "facts", run_facts());
        drift = NULL;
    }
    json_decref(drift);
    recovery_free(&rec_u), recovery_free(&rec_m);
    lora_free(&ad_u), lora_free(&ad_m);
    model_free(&unmerged), model_free(&merged);
    return rc;
}
