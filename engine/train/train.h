/* One optimisation step over whatever trainable set the optimizer holds (base weights, adapters, ...). */
#ifndef CPET_TRAIN_H
#define CPET_TRAIN_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "optim.h"

typedef struct {
    float loss;       /* the task loss (cross-entropy) */
    double grad_norm; /* before clipping */
    float lr;
    double extra_loss; /* what an after_forward hook added (e.g. w * distillation MSE) */
} step_result;

/* Called between forward and backward of a step: may add a loss term by setting the model's gradient taps
 * (distill.h) and returns the term's value (NAN on failure, with err set). */
typedef double (*step_hook)(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err);

void optimizer_zero_grad(adamw *o);
/* zero grads, forward, check the loss is finite, backward, clip (clip <= 0: off), AdamW update. */
int train_step(model *m, adamw *o, const int *ids, const int *targets, int B, int T, float lr, double clip,
               step_result *out, cpet_err *err);
/* The same with a hook between forward and backward (NULL: train_step). */
int train_step_hooked(model *m, adamw *o, const int *ids, const int *targets, int B, int T, float lr, double clip,
                      step_hook hook, void *ctx, step_result *out, cpet_err *err);

/* Training windows from a token stream: row b of step `step` starts at a position drawn from (seed, step, b)
 * alone, so a run resumes exactly and does not depend on the thread count. ids and targets (ids shifted by
 * one) are [B, T]; needs n_tokens > T + 1. */
void train_windows(const int *stream, long n_tokens, uint64_t seed, long step, int B, int T, int *ids, int *targets);

#endif
