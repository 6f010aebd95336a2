/* What compression methods read besides the model: calibration token rows, and for the methods that train
 * while they compress (quantization-aware training, learnable masks) their training settings. */
#ifndef CPET_CALIB_H
#define CPET_CALIB_H

#include <stdint.h>

typedef struct {
    const int *ids; /* [rows, seq] */
    int rows, seq;
} calib_data;

typedef struct {
    int steps, batch;    /* optimizer steps; calibration rows per step */
    float lr;            /* the model's weights: peak (cosine to 10%, 10% warmup) */
    float method_lr;     /* the method's own tensors (masks, compactors, clipping factors), same schedule */
    float contrastive;   /* QAT: weight of the token-level contrastive distillation term (0: off) */
    float tau;           /* its temperature */
    int dynamic_scaling; /* QAT: learn one clipping factor per module (else fixed at 1) */
    float distill;       /* SIMPLE: weight of the final-hidden-state distillation from the unpruned model */
    float l1;            /* SIMPLE: weight of the masks' L1 penalty (a mean per kind of mask) */
    uint64_t seed;       /* batch order */
} compress_training;

/* 200 steps of 8 rows, weights at lr 1e-4, the method's tensors at 1e-2 (so that masks and compactors can
 * cross their range, 1 to 0, within the budget); QAT: contrastive 0.1 at tau 0.1, dynamic scaling on; SIMPLE:
 * distillation 1, L1 0.01 */
static inline compress_training compress_training_defaults(void)
{
    return (compress_training){.steps = 200, .batch = 8, .lr = 1e-4f, .method_lr = 1e-2f, .contrastive = 0.1f, .tau = 0.1f, .dynamic_scaling = 1,
                               .distill = 1.0f, .l1 = 0.01f, .seed = 0};
}

#endif
