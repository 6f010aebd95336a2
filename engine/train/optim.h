/* AdamW (decoupled weight decay, as torch.optim.AdamW), global-norm gradient clipping, LR schedules. */
#ifndef CPET_OPTIM_H
#define CPET_OPTIM_H

#include "error.h"
#include "params.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} adamw_config;

typedef struct {
    adamw_config cfg;
    param_tensor **tensors; /* the trainable set this optimizer updates */
    int n_tensors;
    float **m, **v;         /* moments, one buffer per tensor */
    long step;
} adamw;

adamw_config adamw_defaults(void); /* lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 */
/* Registers the trainable tensors from one or more tables (model, adapters...). */
int adamw_init(adamw *o, adamw_config cfg, cpet_err *err);
int adamw_add(adamw *o, param_tensor *tensors, int n, cpet_err *err);
/* One update with learning rate lr (pass the schedule's value). Tensors with decay=0 skip weight decay. */
void adamw_step(adamw *o, float lr);
void adamw_free(adamw *o);
/* Moments and step, for resuming: safetensors with m.<name> / v.<name> (atomic write). */
int adamw_save(const adamw *o, const char *path, cpet_err *err);
int adamw_load(adamw *o, const char *path, cpet_err *err);

/* L2 norm of all gradients of the optimizer's tensors; if max_norm > 0 and exceeded, scales them down
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
double clip_grad_norm(adamw *o, double max_norm);
/* sum of g[i]^2 in doubles: AVX2 over fixed chunks of 65536 in parallel, added in chunk order (the same
 * result for any thread count) */
double sum_of_squares(const float *g, size_t n);

typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE } schedule_kind;
typedef struct {
    schedule_kind kind;
    float lr, min_lr;
    long warmup_steps, total_steps;
} lr_schedule;
/* Linear warmup from 0 over warmup_steps, then constant / linear / cosine decay to min_lr at total_steps.
 * step counts from 0. */
float lr_at(const lr_schedule *s, long step);
int schedule_parse(const char *name, schedule_kind *out);

#endif
