/* Training the activation predictor (model/ffn_predictor.h) on pairs of FFN inputs and the neurons they
 * activate: per layer, minibatch weighted BCE through its two matrices with AdamW, the epoch with the
 * best validation recall kept. */
#ifndef CPET_FFN_PREDICTOR_TRAIN_H
#define CPET_FFN_PREDICTOR_TRAIN_H

#include "error.h"
#include "ffn_predictor.h"

typedef struct {
    int hidden, epochs, batch;
    float lr, weight_decay, valid_fraction;
    uint64_t seed;
} ffn_predictor_train_config;

/* One batch's mean weighted BCE (positives weigh 1, negatives w_neg) of the layer's logits for xb [B, D]
 * against labels yb [B, F] (0/1), and its gradients g1 [H, D] and g2 [F, H] (overwritten). Scratch: a and
 * da [B, H], z [B, F]. */
double ffn_predictor_batch_loss(const ffn_predictor_layer *L, const float *xb, const uint8_t *yb, int B, float w_neg, float *g1, float *g2,
                                float *a, float *z, float *da);
/* Trains layer `layer` on N pairs: x [N, D] and labels y [N, F] (0/1). Fills the layer's validation counts
 * (under the gating of p) for the kept epoch. */
int ffn_predictor_train_layer(ffn_predictor *p, int layer, const float *x, const uint8_t *y, long N, const ffn_predictor_train_config *c,
                              predict_counts *valid, cpet_err *err);

#endif
