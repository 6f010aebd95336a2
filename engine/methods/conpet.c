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

int conpet_replay_batch(cpet_rng *r, int task, const int *task_sizes, int batch, double ratio, conpet_sample *out)
{
    const int n_new = task == 0 ? batch : (int)(batch * ratio / (ratio + 1.0));
    for (int i = 0; i < batch; i++) {
        const int t = i < n_new ? task : rng_below(r, task);
        out[i] = (conpet_sample){t, rng_below(r, task_sizes[t])};
    }
    return n_new;
}

void conpet_joint_batch(cpet_rng *r, int task, const int *task_sizes, int batch, conpet_sample *out)
{
    long seen = 0;
    for (int u = 0; u <= task; u++) seen += task_sizes[u];
    for (int i = 0; i < batch; i++) {
        long k = (long)(rng_next(r) % (uint64_t)seen);
        int u = 0;
        while (k >= task_sizes[u]) k -= task_sizes[u], u++;
        out[i] = (conpet_sample){u, (int)k};
    }
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

static const char *const method_names[] = {"sequential", "joint", "static", "dynamic", "emr", "ea-emr"};
#define N_METHODS ((int)(sizeof method_names / sizeof *method_names))

int conpet_method_parse(const char *s, conpet_method *out)
{
    for (int i = 0; i < N_METHODS; i++)
        if (!strcmp(s, method_names[i])) return *out = (conpet_method)i, 0;
    return -1;
}

const char *conpet_method_name(conpet_method m) { return (int)m >= 0 && (int)m < N_METHODS ? method_names[m] : "?"; }

static double sq_dist(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int d = 0; d < dim; d++) s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return s;
}

int conpet_kmeans_select(const float *x, int n, int dim, int k, uint64_t seed, int *keep)
{
    if (k > n) k = n;
    if (k <= 0) return 0;
    double *c = malloc((size_t)k * dim * sizeof(double)), *best = malloc((size_t)n * sizeof(double));
    float *cf = malloc((size_t)dim * sizeof(float));
    int *assign = malloc((size_t)n * sizeof(int)), *count = malloc((size_t)k * sizeof(int));
    if (!c || !best || !cf || !assign || !count) {
        free(c), free(best), free(cf), free(assign), free(count);
        return -1;
    }
    cpet_rng r;
    rng_seed(&r, seed);
    /* k-means++: the first centre uniform, each next one with probability proportional to its squared distance */
    int first = (int)(rng_next(&r) % (uint64_t)n);
    for (int d = 0; d < dim; d++) c[d] = x[(size_t)first * dim + d];
    for (int i = 0; i < n; i++) best[i] = sq_dist(x + (size_t)i * dim, x + (size_t)first * dim, dim);
    for (int j = 1; j < k; j++) {
        double total = 0;
        for (int i = 0; i < n; i++) total += best[i];
        double u = (double)(rng_next(&r) >> 11) / 9007199254740992.0 * total;
        int pick = n - 1;
        for (int i = 0; i < n; i++)
            if ((u -= best[i]) < 0) {
                pick = i;
                break;
            }
        for (int d = 0; d < dim; d++) c[(size_t)j * dim + d] = x[(size_t)pick * dim + d];
        for (int i = 0; i < n; i++) {
            const double dd = sq_dist(x + (size_t)i * dim, x + (size_t)pick * dim, dim);
            best[i] = dd < best[i] ? dd : best[i];
        }
    }
    for (int it = 0; it < 50; it++) { /* Lloyd's iterations until no sample moves */
        int moved = 0;
        for (int i = 0; i < n; i++) {
            int a = 0;
            double bd = INFINITY;
            for (int j = 0; j < k; j++) {
                for (int d = 0; d < dim; d++) cf[d] = (float)c[(size_t)j * dim + d];
                const double dd = sq_dist(x + (size_t)i * dim, cf, dim);
                if (dd < bd) bd = dd, a = j;
            }
            moved += it == 0 || assign[i] != a;
            assign[i] = a;
        }
        if (!moved) break;
        memset(c, 0, (size_t)k * dim * sizeof(double));
        memset(count, 0, (size_t)k * sizeof(int));
        for (int i = 0; i < n; i++) {
            count[assign[i]]++;
            for (int d = 0; d < dim; d++) c[(size_t)assign[i] * dim + d] += x[(size_t)i * dim + d];
        }
        for (int j = 0; j < k; j++)
            for (int d = 0; d < dim; d++) c[(size_t)j * dim + d] = count[j] ? c[(size_t)j * dim + d] / count[j] : c[(size_t)j * dim + d];
    }
    /* the sample nearest each centroid, each sample kept once */
    int kept = 0;
    for (int j = 0; j < k; j++) {
        for (int d = 0; d < dim; d++) cf[d] = (float)c[(size_t)j * dim + d];
        int bi = -1;
        double bd = INFINITY;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < kept; q++) taken |= keep[q] == i;
            const double dd = sq_dist(x + (size_t)i * dim, cf, dim);
            if (!taken && dd < bd) bd = dd, bi = i;
        }
        if (bi >= 0) keep[kept++] = bi;
    }
    free(c), free(best), free(cf), free(assign), free(count);
    return kept;
}

/* ids [B, T] right-padded with the last token, pos = each sample's last position */
static int make_batch(const class_examples *const *sets, const conpet_sample *s, int B, int **ids, int *cap, int *pos, int *labels)
{
    int T = 1;
    for (int b = 0; b < B; b++) T = sets[s[b].task]->len[s[b].index] > T ? sets[s[b].task]->len[s[b].index] : T;
    if (B * T > *cap) {
        free(*ids);
        *cap = B * T;
        if (!(*ids = malloc((size_t)*cap * sizeof(int)))) return -1;
    }
    for (int b = 0; b < B; b++) {
        const class_examples *set = sets[s[b].task];
        const int n = set->len[s[b].index];
        for (int t = 0; t < T; t++) (*ids)[b * T + t] = set->ids[s[b].index][t < n ? t : n - 1];
        pos[b] = n - 1;
        labels[b] = set->label[s[b].index];
    }
    return T;
}

/* accuracy of argmax over classes [0, n_classes) on a set, one sequence at a time; confusion (if not NULL,
 * [n_classes, n_classes]) counts true x predicted */
static double set_accuracy(model *m, class_head *h, const class_examples *set, int n_classes, long *correct_out, long *confusion, cpet_err *err)
{
    long correct = 0;
    float *logits = malloc((size_t)h->n_classes * sizeof(float)), *f = malloc((size_t)m->cfg.hidden_size * sizeof(float));
    int rc = logits && f ? 0 : cpet_fail(err, "conpet: out of memory");
    for (int i = 0; rc == 0 && i < set->n; i++) {
        if ((rc = model_forward(m, set->ids[i], NULL, 1, set->len[i], err)) != 0) break;
        const int pos = set->len[i] - 1;
        classify_features(m, &pos, f);
        class_head_forward(h, f, logits, 1);
        const int pred = conpet_argmax(logits, n_classes);
        correct += pred == set->label[i];
        if (confusion) confusion[(size_t)set->label[i] * n_classes + pred]++;
    }
    free(logits), free(f);
    if (correct_out) *correct_out = correct;
    return rc != 0 ? NAN : set->n ? (double)correct / set->n : NAN;
}

static int run_dynamic(model *m, const class_sequence *d, const conpet_config *c, conpet_result *r, cpet_err *err);

int conpet_pool_init(conpet_pool *p, const class_sequence *d, int cap, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->n_tasks = d->n_tasks, p->cap = cap;
    p->sizes = calloc((size_t)d->n_tasks, sizeof(int));
    p->perm = calloc((size_t)d->n_tasks, sizeof(int *));
    if (!p->sizes || !p->perm) return -1;
    for (int t = 0; t < d->n_tasks; t++) {
        const int n = d->train[t].n;
        if (!(p->perm[t] = malloc((size_t)(n + 1) * sizeof(int)))) return -1;
        for (int i = 0; i < n; i++) p->perm[t][i] = i;
        cpet_rng r;
        rng_seed(&r, seed * 31 + (uint64_t)t);
        rng_shuffle(&r, p->perm[t], n);
    }
    return 0;
}

void conpet_pool_free(conpet_pool *p)
{
    for (int t = 0; p->perm && t < p->n_tasks; t++) free(p->perm[t]);
    free(p->perm), free(p->sizes);
    memset(p, 0, sizeof *p);
}

int conpet_pool_draw(conpet_pool *p, cpet_rng *r, const class_sequence *d, int t, int batch, conpet_sample *s)
{
    for (int u = 0; u <= t; u++) p->sizes[u] = u < t && p->cap > 0 && p->cap < d->train[u].n ? p->cap : d->train[u].n;
    const int n_new = conpet_replay_batch(r, t, p->sizes, batch, 1.0, s);
    if (p->cap > 0)
        for (int i = n_new; i < batch; i++) s[i].index = p->perm[s[i].task][s[i].index];
    return n_new;
}

/* EMR: task t's classes' memories, from the head's outputs on their training samples, appended to mem */
static int emr_add_memory(model *m, const class_head *h, const class_sequence *d, int t, int k, uint64_t seed, conpet_sample **mem, int *n_mem,
                          cpet_err *err)
{
    const class_examples *set = &d->train[t];
    const int C = h->n_classes, D = m->cfg.hidden_size;
    float *out = malloc((size_t)set->n * C * sizeof(float)), *f = malloc((size_t)D * sizeof(float)), *x = malloc((size_t)set->n * C * sizeof(float));
    int *idx = malloc((size_t)set->n * sizeof(int)), *keep = malloc((size_t)(k + 1) * sizeof(int));
    int rc = out && f && x && idx && keep ? 0 : cpet_fail(err, "conpet: out of memory");
    for (int i = 0; rc == 0 && i < set->n; i++) {
        if ((rc = model_forward(m, set->ids[i], NULL, 1, set->len[i], err)) != 0) break;
        const int pos = set->len[i] - 1;
        classify_features(m, &pos, f);
        class_head_forward(h, f, out + (size_t)i * C, 1);
    }
    for (int cls = d->offsets[t]; rc == 0 && cls < d->offsets[t + 1]; cls++) {
        int n = 0;
        for (int i = 0; i < set->n; i++)
            if (set->label[i] == cls) memcpy(x + (size_t)n * C, out + (size_t)i * C, (size_t)C * sizeof(float)), idx[n++] = i;
        const int kept = conpet_kmeans_select(x, n, C, k, seed + (uint64_t)cls, keep);
        if (kept < 0) {
            rc = cpet_fail(err, "conpet: out of memory");
            break;
        }
        const int train_part = (int)ceil(0.8 * kept); /* the reference keeps 80% for training, 20% for validation */
        conpet_sample *grown = realloc(*mem, (size_t)(*n_mem + train_part + 1) * sizeof **mem);
        if (!grown) {
            rc = cpet_fail(err, "conpet: out of memory");
            break;
        }
        *mem = grown;
        for (int q = 0; q < train_part; q++) (*mem)[(*n_mem)++] = (conpet_sample){t, idx[keep[q]]};
    }
    free(out), free(f), free(x), free(idx), free(keep);
    return rc;
}

/* the model's final hidden state (before any alignment) of one training sample at its last position */
static int sample_features(model *m, const class_sequence *d, conpet_sample s, float *f, cpet_err *err)
{
    const class_examples *set = &d->train[s.task];
    if (model_forward(m, set->ids[s.index], NULL, 1, set->len[s.index], err) != 0) return -1;
    const int pos = set->len[s.index] - 1;
    classify_features(m, &pos, f);
    return 0;
}

/* EA-EMR after task t, as the reference's train_eaemr.py (policy 0) does it: the memory added at this task
 * (mem[n_old..n_mem)) stores its features as the current model (with its alignment) gives them; then the
 * alignment (created at the identity after the first task) is fitted by MSE from the model's unaligned
 * features of every memory sample to their stored features, so that what the head was trained on is
 * recovered from a backbone that has moved; then every stored feature is re-taken through the new alignment.
 * The alignment changes only here: the reference's optimizer is built before the layer exists. */
static int eaemr_realign(model *m, class_head *h, feature_align *al, const class_sequence *d, const conpet_sample *mem, int n_old, int n_mem,
                         float **stored, uint64_t seed, cpet_err *err)
{
    const int D = m->cfg.hidden_size;
    float *grown = realloc(*stored, (size_t)(n_mem + 1) * D * sizeof(float)), *raw = malloc((size_t)(n_mem + 1) * D * sizeof(float));
    if (grown) *stored = grown;
    int rc = grown && raw ? 0 : cpet_fail(err, "conpet: out of memory");
    for (int i = 0; rc == 0 && i < n_mem; i++) rc = sample_features(m, d, mem[i], raw + (size_t)i * D, err);
    for (int i = n_old; rc == 0 && i < n_mem; i++) {
        float *dst = *stored + (size_t)i * D;
        if (h->align) feature_align_forward(h->align, raw + (size_t)i * D, dst, 1);
        else memcpy(dst, raw + (size_t)i * D, (size_t)D * sizeof(float));
    }
    if (rc == 0 && !h->align) {
        if ((rc = feature_align_init(al, D, err)) == 0) h->align = al;
    }
    if (rc == 0 && n_mem > 0 && isnan(feature_align_fit(al, raw, *stored, n_mem, CONPET_ALIGN_EPOCHS, CONPET_ALIGN_BATCH, CONPET_ALIGN_LR, seed, err)))
        rc = -1;
    if (rc == 0) feature_align_forward(al, raw, *stored, n_mem);
    free(raw);
    return rc;
}

static int result_alloc(conpet_result *r, int T, int C, cpet_err *err)
{
    memset(r, 0, sizeof *r);
    r->n_tasks = T, r->n_classes = C;
    r->confusion = calloc((size_t)C * C, sizeof(long));
    r->module_hash = calloc((size_t)T * T, sizeof(uint64_t));
    r->acc = malloc((size_t)T * T * sizeof(double));
    r->pooled = calloc((size_t)T, sizeof(double));
    r->seconds = calloc((size_t)T, sizeof(double));
    r->loss = calloc((size_t)T, sizeof(double));
    r->steps = calloc((size_t)T, sizeof(long));
    r->selector_acc = calloc((size_t)T, sizeof(double));
    r->oracle_acc = calloc((size_t)T, sizeof(double));
    if (!r->confusion || !r->module_hash || !r->acc || !r->pooled || !r->seconds || !r->loss || !r->steps || !r->selector_acc || !r->oracle_acc)
        return cpet_fail(err, "conpet: out of memory");
    for (int i = 0; i < T * T; i++) r->acc[i] = NAN;
    for (int i = 0; i < T; i++) r->selector_acc[i] = r->oracle_acc[i] = NAN;
    return 0;
}

int conpet_run(model *m, const class_sequence *d, const conpet_config *c, conpet_result *r, cpet_err *err)
{
    if (c->method == CONPET_DYNAMIC) return run_dynamic(m, d, c, r, err);
    const int T = d->n_tasks;
    if (result_alloc(r, T, d->offsets[T], err) != 0) {
        conpet_result_free(r);
        return -1;
    }
    lora_adapter ad = {0};
    class_head h = {0};
    adamw opt = {0};
    const char *targets[2] = {"q_proj", "k_proj"};
    int rc = lora_create(&ad, m, c->lora_rank, c->lora_alpha, 0, targets, 2, c->seed, err);
    if (rc == 0) rc = lora_set_trainable(&ad, 1, err);
    if (rc == 0) rc = class_head_init(&h, d->offsets[1], m->cfg.hidden_size, c->seed + 1, err);
    const class_examples **sets = calloc((size_t)T, sizeof *sets);
    conpet_sample *s = malloc((size_t)c->batch * sizeof *s);
    int *ids = NULL, cap = 0, *pos = malloc((size_t)c->batch * sizeof(int)), *labels = malloc((size_t)c->batch * sizeof(int));
    int *train_sizes = malloc((size_t)T * sizeof(int));
    const int emr = c->method == CONPET_EMR || c->method == CONPET_EA_EMR;
    conpet_sample *mem = NULL; /* EMR's memory */
    int n_mem = 0;
    feature_align al = {0}; /* EA-EMR's alignment and its stored memory features */
    float *stored = NULL;
    conpet_pool pool;
    if (conpet_pool_init(&pool, d, c->replay_memory, c->seed + 77) != 0 && rc == 0) rc = cpet_fail(err, "conpet: out of memory");
    if (rc == 0 && (!sets || !s || !pos || !labels || !train_sizes)) rc = cpet_fail(err, "conpet: out of memory");
    for (int t = 0; rc == 0 && t < T; t++) sets[t] = &d->train[t], train_sizes[t] = d->train[t].n;
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
        const int freq = emr && n_mem
                             ? conpet_emr_replay_frequency((int)ceil(c->batches / 0.8), c->batch, d->train[t].n, c->emr_k > 0 ? c->emr_k : 5, d->offsets[t])
                             : 0;
        const double t0 = omp_get_wtime();
        double loss_sum = 0;
        for (int b = 0; rc == 0 && b < c->batches; b++) {
            if (c->method == CONPET_STATIC) {
                conpet_pool_draw(&pool, &rng, d, t, c->batch, s);
            } else if (emr) { /* new samples and the memory repeated freq times, one multiset */
                const long pool = (long)d->train[t].n + (long)freq * n_mem;
                for (int i = 0; i < c->batch; i++) {
                    const long u = (long)(rng_next(&rng) % (uint64_t)pool);
                    s[i] = u < d->train[t].n ? (conpet_sample){t, (int)u} : mem[(u - d->train[t].n) % n_mem];
                }
            } else if (c->method == CONPET_SEQUENTIAL) {
                for (int i = 0; i < c->batch; i++) s[i] = (conpet_sample){t, (int)(rng_next(&rng) % (uint64_t)d->train[t].n)};
            } else {
                conpet_joint_batch(&rng, t, train_sizes, c->batch, s);
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
        const int n_old = n_mem;
        if (rc == 0 && emr) /* the memory of this task's classes, for the tasks after it */
            rc = emr_add_memory(m, &h, d, t, c->emr_k > 0 ? c->emr_k : 5, c->seed + 5000, &mem, &n_mem, err);
        if (rc == 0 && c->method == CONPET_EA_EMR) rc = eaemr_realign(m, &h, &al, d, mem, n_old, n_mem, &stored, c->seed + 6000 + (uint64_t)t, err);
        r->seconds[t] = omp_get_wtime() - t0;
        r->steps[t] = c->batches;
        r->loss[t] = loss_sum / c->batches;
        long correct_all = 0, n_all = 0;
        for (int u = 0; rc == 0 && u <= t; u++) {
            long correct;
            r->acc[t * T + u] = set_accuracy(m, &h, &d->test[u], d->offsets[t + 1], &correct, t == T - 1 ? r->confusion : NULL, err);
            if (isnan(r->acc[t * T + u]) && d->test[u].n) rc = -1;
            correct_all += correct, n_all += d->test[u].n;
        }
        r->pooled[t] = n_all ? (double)correct_all / n_all : NAN;
    }
    r->tunable = (long)ad.n_params + (long)h.n_classes * (h.hidden + 1) + (h.align ? (long)al.dim * (al.dim + 1) : 0);
    adamw_free(&opt);
    class_head_free(&h);
    feature_align_free(&al);
    free(stored);
    lora_free(&ad);
    free(sets), free(s), free(ids), free(pos), free(labels), free(train_sizes), free(mem);
    conpet_pool_free(&pool);
    if (rc != 0) conpet_result_free(r);
    return rc;
}

void conpet_result_free(conpet_result *r)
{
    free(r->confusion), free(r->module_hash), free(r->acc), free(r->pooled), free(r->seconds), free(r->loss), free(r->steps), free(r->selector_acc), free(r->oracle_acc);
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

/* ---- Dynamic ConPET ---- */

/* a module's fingerprint: its LoRA tensors and its head */
static uint64_t module_fingerprint(const lora_adapter *ad, const class_head *h)
{
    uint64_t x = FNV1A64_INIT;
    for (int i = 0; i < ad->n_tensors; i++) x = fnv1a64(x, ad->tensors[i].p, ad->tensors[i].n * sizeof(float));
    x = fnv1a64(x, h->w, (size_t)h->n_classes * h->hidden * sizeof(float));
    return fnv1a64(x, h->b, (size_t)h->n_classes * sizeof(float));
}

/* head logits of the last forward at one position */
static void head_logits(model *m, const class_head *h, int pos, float *f, float *logits)
{
    classify_features(m, &pos, f);
    class_head_forward(h, f, logits, 1);
}

static int run_dynamic(model *m, const class_sequence *d, const conpet_config *c, conpet_result *r, cpet_err *err)
{
    const int T = d->n_tasks, k_top = c->top_k > 0 ? c->top_k : 1, Cmax = d->offsets[T];
    if (result_alloc(r, T, d->offsets[T], err) != 0) {
        conpet_result_free(r);
        return -1;
    }
    lora_adapter *mods = calloc((size_t)T, sizeof *mods), sel = {0};
    class_head *heads = calloc((size_t)T, sizeof *heads), sel_head = {0};
    adamw opt = {0};
    const char *targets[2] = {"q_proj", "k_proj"};
    conpet_sample *s = malloc((size_t)c->batch * sizeof *s);
    int *ids = NULL, cap = 0, *pos = malloc((size_t)c->batch * sizeof(int)), *labels = malloc((size_t)c->batch * sizeof(int));
    const class_examples **sets = calloc((size_t)T, sizeof *sets);
    float *f = malloc((size_t)m->cfg.hidden_size * sizeof(float)), *sel_logits = malloc((size_t)T * sizeof(float)),
          *combined = malloc((size_t)Cmax * sizeof(float)), **mod_logits = calloc((size_t)T, sizeof(float *));
    int rc = mods && heads && s && pos && labels && sets && f && sel_logits && combined && mod_logits ? 0 : cpet_fail(err, "conpet: out of memory");
    for (int t = 0; rc == 0 && t < T; t++) {
        sets[t] = &d->train[t];
        if (!(mod_logits[t] = malloc((size_t)(d->offsets[t + 1] - d->offsets[t]) * sizeof(float)))) rc = cpet_fail(err, "conpet: out of memory");
    }
    if (rc == 0) rc = lora_create(&sel, m, c->lora_rank, c->lora_alpha, 0, targets, 2, c->seed + 1000, err);
    if (rc == 0) {
        lora_detach(&sel);
        rc = lora_set_trainable(&sel, 1, err);
    }
    cpet_rng rng;
    rng_seed(&rng, c->seed * 7919 + 17);
    conpet_pool pool;
    if (conpet_pool_init(&pool, d, c->replay_memory, c->seed + 77) != 0 && rc == 0) rc = cpet_fail(err, "conpet: out of memory");
    adamw_config oc = {c->lr, 0.9f, 0.999f, 1e-8f, c->weight_decay};
    for (int t = 0; rc == 0 && t < T; t++) {
        const double t0 = omp_get_wtime();
        double loss_sum = 0;
        long steps = 0;
        /* the selector first (from the second task): task ids on dynamic-replay batches */
        if (t > 0) {
            rc = sel_head.n_classes ? class_head_grow(&sel_head, t + 1, c->seed + 2000, err)
                                    : class_head_init(&sel_head, t + 1, m->cfg.hidden_size, c->seed + 2000, err);
            adamw_free(&opt);
            if (rc == 0) rc = adamw_init(&opt, oc, err) || adamw_add(&opt, sel.tensors, sel.n_tensors, err) || adamw_add(&opt, sel_head.tensors, 2, err);
            lora_attach(&sel);
            for (int b = 0; rc == 0 && b < c->batches; b++, steps++) {
                conpet_pool_draw(&pool, &rng, d, t, c->batch, s);
                const int Tlen = make_batch(sets, s, c->batch, &ids, &cap, pos, labels);
                if (Tlen < 0) rc = cpet_fail(err, "conpet: out of memory");
                for (int i = 0; i < c->batch; i++) labels[i] = s[i].task; /* the task id is the selector's label */
                classify_step_result sr;
                if (rc == 0) rc = classify_train_step(m, &sel_head, &opt, ids, pos, labels, c->batch, Tlen, c->lr, 1.0, 1, &sr, err);
                loss_sum += sr.loss;
            }
            lora_detach(&sel);
        }
        /* then task t's own module on its samples, classes local to it */
        if (rc == 0) rc = lora_create(&mods[t], m, c->lora_rank, c->lora_alpha, 0, targets, 2, c->seed + (uint64_t)t, err);
        if (rc == 0) rc = lora_set_trainable(&mods[t], 1, err);
        if (rc == 0) rc = class_head_init(&heads[t], d->offsets[t + 1] - d->offsets[t], m->cfg.hidden_size, c->seed + 3000 + (uint64_t)t, err);
        adamw_free(&opt);
        if (rc == 0) rc = adamw_init(&opt, oc, err) || adamw_add(&opt, mods[t].tensors, mods[t].n_tensors, err) || adamw_add(&opt, heads[t].tensors, 2, err);
        for (int b = 0; rc == 0 && b < c->batches; b++, steps++) {
            for (int i = 0; i < c->batch; i++) s[i] = (conpet_sample){t, (int)(rng_next(&rng) % (uint64_t)d->train[t].n)};
            const int Tlen = make_batch(sets, s, c->batch, &ids, &cap, pos, labels);
            if (Tlen < 0) rc = cpet_fail(err, "conpet: out of memory");
            for (int i = 0; i < c->batch; i++) labels[i] -= d->offsets[t];
            classify_step_result sr;
            if (rc == 0) rc = classify_train_step(m, &heads[t], &opt, ids, pos, labels, c->batch, Tlen, c->lr, 1.0, 1, &sr, err);
            loss_sum += sr.loss;
        }
        if (rc == 0) rc = lora_set_trainable(&mods[t], 0, err); /* frozen from now on */
        lora_detach(&mods[t]);
        r->seconds[t] = omp_get_wtime() - t0;
        r->steps[t] = steps;
        r->loss[t] = steps ? loss_sum / steps : NAN;
        /* every seen task's test set: the selector's top-k, each chosen module's logits, -100 elsewhere */
        long correct_all = 0, n_all = 0, sel_right = 0, oracle_right = 0;
        for (int u = 0; rc == 0 && u <= t; u++) {
            long correct = 0;
            for (int i = 0; rc == 0 && i < d->test[u].n; i++) {
                const class_examples *set = &d->test[u];
                const int p = set->len[i] - 1;
                int chosen[64], k = 1;
                chosen[0] = 0;
                if (t > 0) {
                    lora_attach(&sel);
                    rc = model_forward(m, set->ids[i], NULL, 1, set->len[i], err);
                    lora_detach(&sel);
                    if (rc != 0) break;
                    head_logits(m, &sel_head, p, f, sel_logits);
                    k = conpet_select_tasks(sel_logits, t + 1, k_top < 64 ? k_top : 64, -1, chosen);
                    sel_right += conpet_argmax(sel_logits, t + 1) == u;
                } else {
                    sel_right++;
                }
                /* every module's logits (the chosen ones enter the prediction; the true task's gives the oracle) */
                for (int v = 0; rc == 0 && v <= t; v++) {
                    int needed = v == u;
                    for (int q = 0; q < k; q++) needed |= chosen[q] == v;
                    if (!needed) continue;
                    lora_attach(&mods[v]);
                    rc = model_forward(m, set->ids[i], NULL, 1, set->len[i], err);
                    lora_detach(&mods[v]);
                    if (rc == 0) head_logits(m, &heads[v], p, f, mod_logits[v]);
                }
                if (rc != 0) break;
                conpet_combine_logits(chosen, k, d->offsets, t + 1, (const float *const *)mod_logits, combined);
                const int pred = conpet_argmax(combined, d->offsets[t + 1]);
                correct += pred == set->label[i];
                if (t == T - 1) r->confusion[(size_t)set->label[i] * Cmax + pred]++;
                const int oracle[1] = {u};
                conpet_combine_logits(oracle, 1, d->offsets, t + 1, (const float *const *)mod_logits, combined);
                oracle_right += conpet_argmax(combined, d->offsets[t + 1]) == set->label[i];
            }
            r->acc[t * T + u] = d->test[u].n ? (double)correct / d->test[u].n : NAN;
            correct_all += correct, n_all += d->test[u].n;
        }
        r->pooled[t] = n_all ? (double)correct_all / n_all : NAN;
        r->selector_acc[t] = n_all ? (double)sel_right / n_all : NAN;
        r->oracle_acc[t] = n_all ? (double)oracle_right / n_all : NAN;
        for (int u = 0; rc == 0 && u <= t; u++) r->module_hash[t * T + u] = module_fingerprint(&mods[u], &heads[u]);
    }
    r->tunable = (long)sel.n_params + (long)sel_head.n_classes * (sel_head.hidden + 1);
    for (int t = 0; t < T && mods; t++) r->tunable += (long)mods[t].n_params + (long)heads[t].n_classes * (heads[t].hidden + 1);
    adamw_free(&opt);
    for (int t = 0; t < T && mods; t++) {
        lora_detach(&mods[t]);
        lora_free(&mods[t]);
        class_head_free(&heads[t]);
        if (mod_logits) free(mod_logits[t]);
    }
    lora_detach(&sel);
    lora_free(&sel);
    class_head_free(&sel_head);
    free(mods), free(heads), free(s), free(ids), free(pos), free(labels), free(sets), free(f), free(sel_logits), free(combined),
        free(mod_logits);
    conpet_pool_free(&pool);
    if (rc != 0) conpet_result_free(r);
    return rc;
}
