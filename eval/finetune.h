/* Supervised tuning on multiple-choice examples: the sequence is [bos] prompt + correct choice and the
 * loss covers the choice's tokens only. Whatever is trainable (an adapter, the base) gets updated. */
#ifndef CPET_FINETUNE_H
#define CPET_FINETUNE_H

#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "optim.h"
#include "tasks.h"
#include "tokenizer.h"
#include "train.h"

typedef struct {
    int steps, batch;
    float lr, weight_decay, clip;
    uint64_t seed; /* batch order */
    int bos_id;
    step_hook hook; /* between forward and backward of each step (CA-LoRA's distillation), or NULL */
    void *hook_ctx;
} finetune_config;

/* Trains the tensors registered in `opt` for cfg.steps steps (cosine, 10% warmup); appends each step's
 * loss to curve (a JSON array, may be NULL); *tokens receives the tokens processed. */
int finetune_multiple_choice(model *m, adamw *opt, const tokenizer *t, const task_set *train, const finetune_config *cfg,
                             json_t *curve, long *tokens, cpet_err *err);

#endif
