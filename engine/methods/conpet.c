#include "conpet.h"

#include <math.h>

void conpet_batches_per_task(int batch_limit, int *train, int *valid)
{
    *train = (int)(0.8 * batch_limit);
    *valid = (int)(0.2 * batch_limit);
}

/* a uniform integer in [0, n) */
static int uniform_below(cpet_rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

int conpet_replay_batch(cpet_rng *r, int task, const int *task_sizes, int batch, double ratio, conpet_sample *out)
{
    const int n_new = task == 0 ? batch : (int)(batch * ratio / (ratio + 1.0));
    for (int i = 0; i < batch; i++) {
        const int t = i < n_new ? task : uniform_below(r, task);
        out[i] = (conpet_sample){t, uniform_below(r, task_sizes[t])};
    }
    return n_new;
}

int conpet_emr_replay_frequency(int batch_limit, int batch, int n_new, int k_per_class, int n_old_classes)
{
    if (n_old_classes <= 0 || k_per_class <= 0) return 1;
    const double budget = ceil(0.8 * batch_limit) * batch - n_new, per_pass = ceil(0.8 * k_per_class) * n_old_classes;
    const int f = (int)ceil(budget / per_pass);
    return f > 1 ? f : 1;
}

int conpet_select_tasks(const float *selector_logits, int n_tasks, int top_k, int true_task, int *chosen)
{
    const int k = top_k < n_tasks ? top_k : n_tasks;
    for (int i = 0; i < k; i++) { /* selection by repeated maximum: k is small */
        int best = -1;
        for (int t = 0; t < n_tasks; t++) {
            int taken = 0;
            for (int j = 0; j < i; j++) taken |= chosen[j] == t;
            if (!taken && (best < 0 || selector_logits[t] > selector_logits[best])) best = t;
        }
        chosen[i] = best;
    }
    if (true_task >= 0 && k > 0) {
        int present = 0;
        for (int i = 0; i < k; i++) present |= chosen[i] == true_task;
        if (!present) chosen[k - 1] = true_task;
    }
    return k;
}

void conpet_combine_logits(const int *chosen, int k, const int *offsets, int n_tasks, const float *const *module_logits, float *out)
{
    const int C = offsets[n_tasks];
    for (int c = 0; c < C; c++) out[c] = -100.0f;
    for (int i = 0; i < k; i++) {
        const int t = chosen[i];
        for (int c = offsets[t]; c < offsets[t + 1]; c++) out[c] = module_logits[t][c - offsets[t]];
    }
    double mx = out[0], sum = 0;
    for (int c = 1; c < C; c++) mx = out[c] > mx ? out[c] : mx;
    for (int c = 0; c < C; c++) sum += exp(out[c] - mx);
    const double lse = mx + log(sum);
    for (int c = 0; c < C; c++) out[c] = (float)(out[c] - lse);
}

int conpet_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
