/* One optimisation step over whatever trainable set the optimizer holds (base weights, adapters, ...). */
#ifndef CPET_TRAIN_H
#define CPET_TRAIN_H

#include "error.h"
#include "model.h"
#include "optim.h"

typedef struct {
    float loss;
    double grad_norm; /* before clipping */
    float lr;
} step_result;

void optimizer_zero_grad(adamw *o);
/* zero grads, forward, check the loss is finite, backward, clip (clip <= 0: off), AdamW update. */
int train_step(model *m, adamw *o, const int *ids, const int *targets, int B, int T, float lr, double clip,
               step_result *out, cpet_err *err);

#endif
