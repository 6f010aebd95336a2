/* ConPET (Song et al., arXiv 2309.14763; Raincleared-Song/ConPET):
 * continual parameter-efficient tuning for class-incremental classification. The pieces the methods are
 * built from, each as the reference code does it:
 *   - dynamic replay (Static ConPET): a fixed number of batches per task, each half new-task samples and
 *     half old ones, an old sample drawn by picking an earlier task uniformly, then a sample in it;
 *   - EMR's replay frequency for its K-means memory;
 *   - Dynamic ConPET's routing: the selector's top-k tasks (teacher forcing puts the true task in the
 *     last slot when it is missing), then logits over all seen classes filled with -100, each chosen
 *     task's module writing its own classes, log_softmax, argmax.
 * Tasks own disjoint, contiguous ranges of global class ids: task t has classes offsets[t] ..
 * offsets[t + 1] - 1. Inference takes no task id: nothing here that predicts accepts one. */
#ifndef CPET_CONPET_H
#define CPET_CONPET_H

#include "classify.h"
#include "error.h"
#include "model.h"
#include "tensor.h"

/* ---- dynamic replay ---- */

typedef struct {
    int task, index; /* a sample: its task and its index in that task's training set */
} conpet_sample;

/* The reference's fixed budget per task (batch_limit_policy 2): int(0.8 limit) training batches and
 * int(0.2 limit) validation batches, whatever the task's index. */
void conpet_batches_per_task(int batch_limit, int *train, int *valid);
/* One training batch of `batch` samples at task `task` (0-based) with task_sizes[0..task]: the first
 * int(batch ratio / (ratio + 1)) are new (uniform over the current task's samples), the rest old (an
 * earlier task uniformly, then a sample uniformly in it); at task 0 all are new. Returns the new count. */
int conpet_replay_batch(cpet_rng *r, int task, const int *task_sizes, int batch, double ratio, conpet_sample *out);
/* Joint training's batch at task `task`: uniform over every sample of tasks 0..task (so an earlier task
 * in proportion to its size). */
void conpet_joint_batch(cpet_rng *r, int task, const int *task_sizes, int batch, conpet_sample *out);

/* The replay pool of Static ConPET (and Dynamic ConPET's selector): every sample of the earlier tasks, or
 * with a memory bound (cap > 0) the first cap of a seeded permutation of each task's samples. */
typedef struct {
    int n_tasks, cap;
    int *sizes; /* what the sampler draws from: the memory's size for earlier tasks */
    int **perm; /* per task: a seeded permutation of its samples */
} conpet_pool;
int conpet_pool_init(conpet_pool *p, const class_sequence *d, int cap, uint64_t seed);
void conpet_pool_free(conpet_pool *p);
/* conpet_replay_batch at task t (ratio 1), the old samples drawn from the pool; returns the new count */
int conpet_pool_draw(conpet_pool *p, cpet_rng *r, const class_sequence *d, int t, int batch, conpet_sample *s);

/* EMR (policy 0): how many times the K-means memory (K kept per class, 80% of it for training) is replayed
 * per epoch, so that old and new samples balance within the budget:
 * ceil((ceil(0.8 batch_limit) B - n_new) / (ceil(0.8 K) n_old_classes)), at least 1. */
int conpet_emr_replay_frequency(int batch_limit, int batch, int n_new, int k_per_class, int n_old_classes);

/* EMR's memory for one class: K-means (Lloyd's, k-means++ seeding from the seed) on the samples' features
 * x [n, dim], then the sample nearest each centroid: writes min(k, n) distinct indices into keep (in
 * centroid order) and returns that count. */
int conpet_kmeans_select(const float *x, int n, int dim, int k, uint64_t seed, int *keep);

/* ---- Dynamic ConPET: selection and combination ---- */

/* The top_k tasks by the selector's logits over n_tasks seen tasks, best first (ties: the lower id).
 * true_task >= 0 (training, teacher forcing): if it is not among them it replaces the last slot. Writes
 * chosen[min(top_k, n_tasks)] and returns that count. */
int conpet_select_tasks(const float *selector_logits, int n_tasks, int top_k, int true_task, int *chosen);
/* out [offsets[n_tasks]]: -100 for every seen class, then for each chosen task t its module's logits
 * module_logits[t] [offsets[t + 1] - offsets[t]] in its classes; then log_softmax over all of them. */
void conpet_combine_logits(const int *chosen, int k, const int *offsets, int n_tasks, const float *const *module_logits, float *out);
/* The predicted global class: the argmax (ties: the lower id). */
int conpet_argmax(const float *x, int n);

/* ---- the training loop of the single-module methods ---- */


typedef enum { CONPET_SEQUENTIAL, CONPET_JOINT, CONPET_STATIC, CONPET_DYNAMIC, CONPET_EMR, CONPET_EA_EMR } conpet_method;
int conpet_method_parse(const char *s, conpet_method *out);
const char *conpet_method_name(conpet_method m);

typedef struct {
    conpet_method method;
    int batches, batch; /* per task: the same budget at every task */
    float lr, weight_decay;
    int lora_rank;
    float lora_alpha;
    uint64_t seed;
    int top_k; /* dynamic: tasks the selector keeps (default 1) */
    int emr_k; /* emr: samples kept per class by K-means (the reference: 100, 50 or 20 by dataset) */
    int replay_memory; /* static, dynamic's selector: 0 replays every sample of the earlier tasks (the
                        * reference's policy 2); N > 0 keeps N per finished task (a seeded random subset) */
} conpet_config;

/* After each task t: acc[t * n_tasks + u] for every seen task u <= t (NaN after), pooled[t] over all seen
 * test samples; per task the optimizer steps, seconds and mean training loss; the tunable parameters. */
typedef struct {
    int n_tasks;
    double *acc, *pooled, *seconds, *loss;
    long *steps;
    long tunable;
    /* dynamic: the selector's task-id accuracy over all seen test samples after each task, and the accuracy
     * an oracle selector (the true task) would give: the upper bound of the routing */
    double *selector_acc, *oracle_acc;
    /* after the last task, over every test sample: [n_classes, n_classes] counts, row the true global
     * class, column the predicted one */
    int n_classes;
    long *confusion;
    /* dynamic: after each task t, an FNV-1a fingerprint of every module u <= t (its LoRA and head): a frozen
     * module's stays what it was when its task ended. [t * n_tasks + u] */
    uint64_t *module_hash;
} conpet_result;

/* EA-EMR's alignment fit, the reference's update_alignment_model: Adam lr 1e-4, batch 32, 20 epochs */
#define CONPET_ALIGN_EPOCHS 20
#define CONPET_ALIGN_BATCH 32
#define CONPET_ALIGN_LR 1e-4f

/* sequential / joint / static: one LoRA (q, k; rank, alpha) and one head that grows by each task's classes,
 * on a frozen base: sequential trains on the new task only, joint on every seen task's samples (uniform
 * over them), static on dynamic replay (half new, half old).
 * emr (EMR, the reference's policy 0): after each task a memory per class (conpet_kmeans_select on the
 * head's outputs, ceil(0.8 K) of them kept for training); later tasks draw from their new samples and the
 * memory repeated conpet_emr_replay_frequency times, uniformly over that multiset.
 * ea-emr (EA-EMR): EMR, and after each task an alignment layer (feature_align, between the hidden state and
 * the head) is fitted by MSE to map the model's current features of the memory to the ones stored when
 * they were memorised; the head reads aligned features from then on, in training and at inference.
 * dynamic (Dynamic ConPET): task t gets its own LoRA and a head over its classes, trained on its samples,
 * then frozen; a selector (its own LoRA and a task-id head that grows one row per task, old rows kept) is
 * trained at every task from the second on dynamic-replay batches with cross-entropy on the task id;
 * inference runs the selector, keeps its top-k tasks, fills the other classes with -100 and takes the
 * argmax of the log_softmax (conpet_select_tasks, conpet_combine_logits).
 * Evaluation after each task on every seen task's test set, the prediction over all seen classes: no task
 * id reaches it. */
int conpet_run(model *m, const class_sequence *d, const conpet_config *c, conpet_result *r, cpet_err *err);
void conpet_result_free(conpet_result *r);
/* The mean of per-task accuracies after the last task, forgetting (for each earlier task the best
 * accuracy it had minus its last, averaged) and backward transfer (last minus just-learned, averaged). */
double conpet_average_accuracy(const conpet_result *r, int after);
double conpet_forgetting(const conpet_result *r);
double conpet_backward_transfer(const conpet_result *r);

#endif
