/* MoEfication (Zhang et al. 2022, used by CA-LoRA): the FFN's neurons are split into E equal experts by
 * balanced k-means on their gate rows; a linear router per layer, trained on recorded activations, picks
 * the top-k experts for each token and only their neurons stay active. */
#ifndef CPET_MOE_H
#define CPET_MOE_H

#include <stdint.h>

#include "error.h"

typedef struct {
    int experts, top_k, dim, ffn;
    int *expert_of;  /* [ffn] expert of each neuron */
    float *router;   /* [experts, dim], applied to the FFN input (the normed hidden state) */
} moe_layer;

/* Zeroes, for each of n tokens, the entries of v [n, ffn] that belong to experts the router does not pick
 * from x [n, dim]. Used on the FFN activations in forward and on their gradient in backward. */
void moe_mask(const moe_layer *e, const float *x, float *v, int n);
/* The router's top-k experts for one token, into picked[experts] as 0/1. */
void moe_route(const moe_layer *e, const float *x, unsigned char *picked);

/* Balanced k-means of the rows w [ffn, dim] into `experts` clusters of ffn/experts rows each. */
int moe_cluster(moe_layer *e, const float *w_gate, int ffn, int dim, int experts, uint64_t seed, cpet_err *err);
/* Trains the router on tokens x [n, dim] with their dense activations h [n, ffn]: target = the top_k
 * experts by sum |h| (binary cross-entropy, Adam). Returns the recall of the true top-k on these tokens. */
double moe_train_router(moe_layer *e, const float *x, const float *h, int n, int top_k, int epochs, uint64_t seed);
void moe_free(moe_layer *e);

#endif
