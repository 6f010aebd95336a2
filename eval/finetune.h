/* Supervised tuning on multiple-choice examples: the sequence is [bos] prompt + correct choice (+ eos with
 * append_eos: instruction tuning for generation) and the loss covers the choice's tokens (and the eos) only. Whatever is trainable (an adapter, the base) gets updated. */
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
    int eos_id; /* >= 0 with append_eos: appended after the answer and trained, so that generation stops */
    int append_eos;
    step_hook hook; /* between forward and backward of each step (CA-LoRA's distillation), or NULL */
    void *hook_ctx;
    void (*on_step)(void *ctx, int step, int steps, double loss); /* after each step (progress), or NULL */
    void *on_step_ctx;
} finetune_config;

/* Trains the tensors registered in `opt` for cfg.steps steps (cosine, 10% warmup); appends each step's
 * loss to curve (a JSON array, may be NULL); *tokens receives the tokens processed. */
int finetune_multiple_choice(model *m, adamw *opt, const tokenizer *t, const task_set *train, const finetune_config *cfg,
                             json_t *curve, long *tokens, cpet_err *err);

#endif
