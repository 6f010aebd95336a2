/* Weight-inherited distillation, WID's way (Wu et al., Findings of NAACL 2024), on a LLaMA: the student
 * inherits the teacher's weights through compactors, square matrices initialized to the identity and
 * trained with the language-modelling loss alone (no alignment loss), the weights frozen (the reference
 * trains them at a learning rate 50x below the compactors'):
 *   on the hidden dimension  a left compactor L on the input of q, k, v, gate, up and the LM head, a right
 *                            compactor R on the output of o and down, one C after the embeddings; one
 *                            hidden mask for the whole network, scored (as the reference does) by the
 *                            column norms of layer 0's v_proj left compactor;
 *   on each FFN              R on the outputs of gate and up, L on the input of down; the layer's neuron
 *                            mask scored by down's left-compactor column norms;
 *   attention                heads and head dimensions are not pruned (RoPE pairs and GQA groups would
 *                            constrain a general compactor).
 * Each linear computes with W' = R W L, E' = E C^T. Pruning is ResRep's: the masked share grows in 8 equal
 * cuts, recomputed from the scores at each; a masked channel's task gradient is discarded and its entries
 * pulled toward zero (times 0.95 per step: Adam's normalized steps would move them by at most the learning
 * rate). Merging is structural re-parameterization: the masked channels zeroed, then W_s = R[kept, :] W
 * L[:, kept], E_s = E C[kept, :]^T (shrink.h: the norms over the kept dimensions). A tied LM head is refused:
 * it would need its own compactor, untying it from the embeddings. */
#ifndef CPET_WID_H
#define CPET_WID_H

#include <jansson.h>

#include "calib.h"
#include "error.h"
#include "model.h"

typedef struct {
    int L, D, F, n;    /* layers, hidden, FFN; n compactors */
    float **p, **g;    /* compactor i: [size[i], size[i]] and its gradient */
    int *size;
    char (*name)[64];
    /* where each sits: linear (layer * LIN_PER_LAYER + which; -1 the embedding, -2 the LM head), side 0 left / 1 right */
    int *where, *side;
} wid_compactors;

/* Identity compactors for m (refused for a tied LM head or a packed or MoE model). */
int wid_compactors_init(wid_compactors *c, const model *m, cpet_err *err);
void wid_compactors_free(wid_compactors *c);
/* m's weights replaced by their reparameterization (W <- R W L, E <- E C^T, head <- head L). */
void wid_fold(model *m, const wid_compactors *c);
/* The compactor model's cross-entropy on one batch and every compactor's gradient (overwritten). */
double wid_loss_and_grads(model *m, const wid_compactors *c, const int *ids, const int *targets, int B, int T, cpet_err *err);
/* Zeroes the compactor channels of the pruned hidden dimensions (hidden_kept [keep_d]) and FFN neurons
 * (ffn_kept [L, keep_f]), folds, and removes them: m becomes the student. */
int wid_merge(model *m, wid_compactors *c, const int *hidden_kept, int keep_d, const int *ffn_kept, int keep_f, cpet_err *err);
/* Trains the compactors (o: steps, batch, lr, seed) with the growing masks, then merges at `sparsity` (the
 * share of hidden dimensions and of each layer's FFN neurons removed). log (may be NULL) gets "wid_loss". */
int wid_prune(model *m, double sparsity, const compress_training *o, const calib_data *calib, json_t *log, cpet_err *err);

#endif
