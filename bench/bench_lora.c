/* cpet bench lora: LoRA training steps on a model's frozen base (f32 or packed), the adaptation cost of a
 * compressed model: seconds per step, tokens/s and peak RSS. Random token ids (seeded), one fixed batch,
 * so the loss falls as the batch is memorised: a check that the adapter really trains. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "blas.h"
#include "facts.h"
#include "lora.h"
#include "model.h"
#include "optim.h"
#include "tensor.h"
#include "train.h"

bench_lora_options bench_lora_defaults(void)
{
    return (bench_lora_options){.rank = 8, .seq = 64, .batch = 4, .steps = 4, .threads = 2, .seed = 0, .lr = 1e-3f};
}

int bench_lora_run(const bench_lora_options *o, json_t **result, cpet_err *err)
{
    if (!o->model) return cpet_fail(err, "bench lora: a model directory is required");
    if (o->rank < 1 || o->seq < 2 || o->batch < 1 || o->steps < 2 || o->threads < 1)
        return cpet_fail(err, "bench lora: rank >= 1, seq >= 2, batch >= 1, steps >= 2 and threads >= 1 are required");
    engine_set_threads(o->threads);
    model m;
    if (model_load(&m, o->model, err) != 0) return -1;
    if (o->seq > m.cfg.max_position_embeddings) {
        const int max = m.cfg.max_position_embeddings; /* read before model_free clears it */
        model_free(&m);
        return cpet_fail(err, "%s: seq %d exceeds max_position_embeddings %d", o->model, o->seq, max);
    }
    const char *targets[1] = {"all-linear"};
    lora_adapter ad;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    const size_t N = (size_t)o->batch * o->seq;
    int *ids = malloc(N * sizeof(int));
    double *seconds = malloc((size_t)o->steps * sizeof(double));
    json_t *curve = json_array();
    uint64_t s = (uint64_t)o->seed;
    for (size_t i = 0; i < N; i++) ids[i] = (int)(splitmix64(&s) % (unsigned long long)m.cfg.vocab_size);
    int rc = lora_create(&ad, &m, o->rank, 2.0f * o->rank, 0, targets, 1, (unsigned long long)o->seed, err);
    if (rc != 0) memset(&ad, 0, sizeof ad);
    if (rc == 0) rc = lora_set_trainable(&ad, 1, err) || adamw_init(&opt, adamw_defaults(), err) ||
                      adamw_add(&opt, ad.tensors, ad.n_tensors, err) ? -1 : 0;
    size_t adapter_params = 0;
    for (int i = 0; rc == 0 && i < ad.n_tensors; i++) adapter_params += ad.tensors[i].n;
    for (int step = 0; step < o->steps && rc == 0; step++) {
        step_result r;
        double t0 = now_seconds();
        rc = train_step(&m, &opt, ids, NULL, o->batch, o->seq, o->lr, 1.0, &r, err);
        seconds[step] = now_seconds() - t0;
        if (rc == 0) json_array_append_new(curve, json_pack("{s:i, s:f, s:f}", "step", step + 1, "loss", (double)r.loss, "seconds", seconds[step]));
        if (rc == 0 && o->log) fprintf(o->log, "lora: step %d/%d  loss %.4f  %.2f s\n", step + 1, o->steps, (double)r.loss, seconds[step]);
    }
    if (rc == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        /* step 1 pays for allocating activations and gradients: the figure is the median of the others */
        double step_s = bench_median(seconds + 1, o->steps - 1);
        *result = json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:f, s:I, s:f, s:f, s:f, s:o, s:o}", "bench", "lora", "model", o->model,
                            "model_bytes", (json_int_t)model_storage_bytes(&m), "adapter_params", (json_int_t)adapter_params,
                            "rank", o->rank, "seq", o->seq, "batch", o->batch, "steps", o->steps, "lr", (double)o->lr, "seed",
                            (json_int_t)o->seed, "step_seconds_median", step_s, "tokens_per_s", (double)N / step_s,
                            "peak_rss_mb", (double)ru.ru_maxrss / 1024.0, "curve", curve, "facts", run_facts());
        curve = NULL;
    }
    json_decref(curve);
    free(ids);
    free(seconds);
    adamw_free(&opt);
    lora_free(&ad);
    model_free(&m);
    return rc;
}
