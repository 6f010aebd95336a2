/* A classification head over the model's final hidden state at one position per sequence (ConPET's
 * feature: the last layer's state at the prompt's [MASK] position, fed to a linear head). The head is
 * logits = h W^T + b over C classes; its loss is cross-entropy, and the loss's gradient reaches the model
 * (its LoRA, or any trainable tensor) through the d_final_hidden tap, with no language-model loss.
 * A head can grow by classes (old rows kept): ConPET's task-id selector gains one row per task. */
#ifndef CPET_CLASSIFY_H
#define CPET_CLASSIFY_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "optim.h"
#include "params.h"

/* EA-EMR's alignment layer (the reference's lora_alignment, a Linear(D, D)): a head that has one takes its
 * logits over align(x) = x A^T + c instead of x, and the loss's gradient passes through it to the model. */
typedef struct {
    int dim;
    float *w, *b, *dw, *db; /* A [D, D], c [D] and their gradients */
    float *row;             /* scratch for one aligned row */
    param_tensor tensors[2]; /* "align.weight", "align.bias" */
} feature_align;

/* The identity (A = I, c = 0). The reference starts from torch's random Linear init; from the identity
 * an alignment fitted with a small budget starts from "no change" instead of a random map. */
int feature_align_init(feature_align *a, int dim, cpet_err *err);
void feature_align_free(feature_align *a);
/* y [B, D] = x A^T + c (y may not alias x) */
void feature_align_forward(const feature_align *a, const float *x, float *y, int B);
/* EA-EMR's update_alignment_model: Adam (torch defaults, no weight decay) on torch's MSELoss (the mean over
 * every element) of align(x) against target, over n rows visited in one seeded shuffled order, in
 * consecutive batches of `batch`, `epochs` times. Returns the last epoch's mean loss (NaN on error). */
double feature_align_fit(feature_align *a, const float *x, const float *target, int n, int epochs, int batch, float lr, uint64_t seed,
                         cpet_err *err);

typedef struct {
    int n_classes, hidden;
    feature_align *align; /* NULL, or applied to the features first (not owned) */
    float *w, *b;   /* [C, D], [C] */
    float *dw, *db; /* gradients, same shapes */
    param_tensor tensors[2]; /* "head.weight", "head.bias": hand them to an optimizer (adamw_add) */
} class_head;

/* torch.nn.Linear's init: U(-1/sqrt(D), 1/sqrt(D)) for W and b, from the seed. */
int class_head_init(class_head *h, int n_classes, int hidden, uint64_t seed, cpet_err *err);
/* More classes: rows 0..C-1 (and their biases) are kept as they are, the new rows drawn as at init.
 * An optimizer holding the old tensors must be rebuilt. */
int class_head_grow(class_head *h, int n_classes, uint64_t seed, cpet_err *err);
void class_head_free(class_head *h);

/* The final normed hidden state (HF's hidden_states[-1]) of the last forward at positions pos[b] of each
 * sequence b: features [B, D]. */
void classify_features(const model *m, const int *pos, float *features);
/* logits [B, C] = features W^T + b (features aligned first when the head has an alignment) */
void class_head_forward(const class_head *h, const float *features, float *logits, int B);

/* After model_forward on ids [B, T] (targets all -1: no LM loss): the mean cross-entropy of the head's
 * logits at pos against labels (-1: ignored), with the head's gradients accumulated and m's d_final_hidden
 * tap set (grad [B T, D], owned by the caller) so that model_backward carries it into the model. Returns
 * the loss (NaN with err when no label counts); logits [B, C] (may be NULL). Through an alignment the
 * gradient also accumulates into its dw, db, which train only if an optimizer holds them. */
double classify_loss(model *m, class_head *h, const int *pos, const int *labels, int B, float *logits, float *grad, cpet_err *err);

/* One optimizer step of a classification: zero the optimizer's gradients, forward without LM targets,
 * the head's loss, backward (skipped when the model has nothing trainable), clip, AdamW. The optimizer
 * holds the head's tensors and whatever of the model trains. */
typedef struct {
    double loss, grad_norm;
} classify_step_result;
int classify_train_step(model *m, class_head *h, adamw *o, const int *ids, const int *pos, const int *labels, int B, int T, float lr,
                        double clip, int model_trains, classify_step_result *out, cpet_err *err);

/* ---- class-incremental data: tasks of disjoint classes, tokenized ---- */

/* Tokenized samples: prompt ids (BOS first) classified at their last position, global labels. */
typedef struct {
    int n;
    int **ids, *len, *label;
} class_examples;

typedef struct class_sequence {
    int n_tasks;
    int *offsets;                      /* [n_tasks + 1]: task t owns global classes offsets[t] .. offsets[t+1]-1 */
    class_examples *train, *valid, *test;  /* per task */
} class_sequence; /* a sequence of tasks (ConPET's input) */

#endif
