#include "conpet.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "lora.h"
#include "optim.h"
#include "train.h"

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

/* ---- the training loop of the single-module methods ---- */


static const char *const method_names[] = {"sequential", "joint", "static"};

int conpet_method_parse(const char *s, conpet_method *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, method_names[i])) return *out = (conpet_method)i, 0;
    return -1;
}

const char *conpet_method_name(conpet_method m) { return (unsigned)m < 3 ? method_names[m] : "?"; }

/* ids [B, T] right-padded with the last token, pos = each sample's last position */
static int make_batch(const conpet_set *const *sets, const conpet_sample *s, int B, int **ids, int *cap, int *pos, int *labels)
{
    int T = 1;
    for (int b = 0; b < B; b++) T = sets[s[b].task]->len[s[b].index] > T ? sets[s[b].task]->len[s[b].index] : T;
    if (B * T > *cap) {
        free(*ids);
        *cap = B * T;
        if (!(*ids = malloc((size_t)*cap * sizeof(int)))) return -1;
    }
    for (int b = 0; b < B; b++) {
        const conpet_set *set = sets[s[b].task];
        const int n = set->len[s[b].index];
        for (int t = 0; t < T; t++) (*ids)[b * T + t] = set->ids[s[b].index][t < n ? t : n - 1];
        pos[b] = n - 1;
        labels[b] = set->label[s[b].index];
    }
    return T;
}

/* accuracy of argmax over classes [0, n_classes) on a set, one sequence at a time */
static double set_accuracy(model *m, class_head *h, const conpet_set *set, int n_classes, long *correct_out, cpet_err *err)
{
    long correct = 0;
    float *logits = malloc((size_t)h->n_classes * sizeof(float)), *f = malloc((size_t)m->cfg.hidden_size * sizeof(float));
    int rc = logits && f ? 0 : cpet_fail(err, "conpet: out of memory");
    for (int i = 0; rc == 0 && i < set->n; i++) {
        if ((rc = model_forward(m, set->ids[i], NULL, 1, set->len[i], err)) != 0) break;
        const int pos = set->len[i] - 1;
        classify_features(m, &pos, f);
        class_head_forward(h, f, logits, 1);
        correct += conpet_argmax(logits, n_classes) == set->label[i];
    }
    free(logits), free(f);
    if (correct_out) *correct_out = correct;
    return rc != 0 ? NAN : set->n ? (double)correct / set->n : NAN;
}

int conpet_run(model *m, const conpet_data *d, const conpet_config *c, conpet_result *r, cpet_err *err)
{
    const int T = d->n_tasks;
    memset(r, 0, sizeof *r);
    r->n_tasks = T;
    r->acc = malloc((size_t)T * T * sizeof(double));
    r->pooled = calloc((size_t)T, sizeof(double));
    r->seconds = calloc((size_t)T, sizeof(double));
    r->loss = calloc((size_t)T, sizeof(double));
    r->steps = calloc((size_t)T, sizeof(long));
    if (!r->acc || !r->pooled || !r->seconds || !r->loss || !r->steps) return cpet_fail(err, "conpet: out of memory");
    for (int i = 0; i < T * T; i++) r->acc[i] = NAN;
    lora_adapter ad = {0};
    class_head h = {0};
    adamw opt = {0};
    const char *targets[2] = {"q_proj", "k_proj"};
    int rc = lora_create(&ad, m, c->lora_rank, c->lora_alpha, 0, targets, 2, c->seed, err);
    if (rc == 0) rc = lora_set_trainable(&ad, 1, err);
    if (rc == 0) rc = class_head_init(&h, d->offsets[1], m->cfg.hidden_size, c->seed + 1, err);
    const conpet_set **sets = calloc((size_t)T, sizeof *sets);
    conpet_sample *s = malloc((size_t)c->batch * sizeof *s);
    int *ids = NULL, cap = 0, *pos = malloc((size_t)c->batch * sizeof(int)), *labels = malloc((size_t)c->batch * sizeof(int));
    int *sizes = calloc((size_t)T, sizeof(int));
    if (rc == 0 && (!sets || !s || !pos || !labels || !sizes)) rc = cpet_fail(err, "conpet: out of memory");
    for (int t = 0; rc == 0 && t < T; t++) sets[t] = &d->train[t], sizes[t] = d->train[t].n;
    cpet_rng rng;
    rng_seed(&rng, c->seed * 7919 + 17);
    for (int t = 0; rc == 0 && t < T; t++) {
        if (d->train[t].n == 0) {
            rc = cpet_fail(err, "conpet: task %d has no training samples", t);
            break;
        }
        /* the head grows by the task's classes; the optimizer is rebuilt over the grown tensors */
        if (t > 0 && (rc = class_head_grow(&h, d->offsets[t + 1], c->seed + 1, err)) != 0) break;
        adamw_free(&opt);
        adamw_config oc = {c->lr, 0.9f, 0.999f, 1e-8f, c->weight_decay};
        if ((rc = adamw_init(&opt, oc, err)) != 0 || (rc = adamw_add(&opt, ad.tensors, ad.n_tensors, err)) != 0 ||
            (rc = adamw_add(&opt, h.tensors, 2, err)) != 0)
            break;
        long seen = 0;
        for (int u = 0; u <= t; u++) seen += d->train[u].n;
        const double t0 = omp_get_wtime();
        double loss_sum = 0;
        for (int b = 0; rc == 0 && b < c->batches; b++) {
            if (c->method == CONPET_STATIC) {
                conpet_replay_batch(&rng, t, sizes, c->batch, 1.0, s);
            } else {
                for (int i = 0; i < c->batch; i++) {
                    if (c->method == CONPET_SEQUENTIAL) {
                        s[i] = (conpet_sample){t, (int)(rng_next(&rng) % (uint64_t)d->train[t].n)};
                    } else { /* joint: uniform over every seen sample */
                        long k = (long)(rng_next(&rng) % (uint64_t)seen);
                        int u = 0;
                        while (k >= d->train[u].n) k -= d->train[u].n, u++;
                        s[i] = (conpet_sample){u, (int)k};
                    }
                }
            }
            const int Tlen = make_batch(sets, s, c->batch, &ids, &cap, pos, labels);
            if (Tlen < 0) {
                rc = cpet_fail(err, "conpet: out of memory");
                break;
            }
            classify_step_result sr;
            rc = classify_train_step(m, &h, &opt, ids, pos, labels, c->batch, Tlen, c->lr, 1.0, 1, &sr, err);
            loss_sum += sr.loss;
        }
        r->seconds[t] = omp_get_wtime() - t0;
        r->steps[t] = c->batches;
        r->loss[t] = loss_sum / c->batches;
        long correct_all = 0, n_all = 0;
        for (int u = 0; rc == 0 && u <= t; u++) {
            long correct;
            r->acc[t * T + u] = set_accuracy(m, &h, &d->test[u], d->offsets[t + 1], &correct, err);
            if (isnan(r->acc[t * T + u]) && d->test[u].n) rc = -1;
            correct_all += correct, n_all += d->test[u].n;
        }
        r->pooled[t] = n_all ? (double)correct_all / n_all : NAN;
    }
    r->tunable = (long)ad.n_params + (long)h.n_classes * (h.hidden + 1);
    adamw_free(&opt);
    class_head_free(&h);
    lora_free(&ad);
    free(sets), free(s), free(ids), free(pos), free(labels), free(sizes);
    if (rc != 0) conpet_result_free(r);
    return rc;
}

void conpet_result_free(conpet_result *r)
{
    free(r->acc), free(r->pooled), free(r->seconds), free(r->loss), free(r->steps);
    memset(r, 0, sizeof *r);
}

double conpet_average_accuracy(const conpet_result *r, int after)
{
    double s = 0;
    for (int u = 0; u <= after; u++) s += r->acc[after * r->n_tasks + u];
    return s / (after + 1);
}

double conpet_forgetting(const conpet_result *r)
{
    const int T = r->n_tasks, last = T - 1;
    if (T < 2) return 0;
    double s = 0;
    for (int u = 0; u < last; u++) {
        double best = r->acc[u * T + u];
        for (int t = u; t < last; t++) best = r->acc[t * T + u] > best ? r->acc[t * T + u] : best;
        s += best - r->acc[last * T + u];
    }
    return s / last;
}

double conpet_backward_transfer(const conpet_result *r)
{
    const int T = r->n_tasks, last = T - 1;
    if (T < 2) return 0;
    double s = 0;
    for (int u = 0; u < last; u++) s += r->acc[last * T + u] - r->acc[u * T + u];
    return s / last;
}
