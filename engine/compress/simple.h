/* Structured pruning of generative PLMs with learnable masks, SIMPLE's way (Tao et al., Findings of ACL
 * 2023), on a LLaMA:
 *   masks      real-valued, initialized to 1: one per KV group of each layer (its K/V head and query heads;
 *              removing groups keeps GQA valid), one per FFN neuron of each layer, and one vector over the
 *              hidden dimension shared by the whole network (the embeddings' columns and the rows of every
 *              projection that writes the residual stream: o_proj, down_proj);
 *   training   the masks and every weight, on calibration text: cross-entropy + distill * MSE of the final
 *              hidden state against the unpruned model + l1 * (mean |z| of each kind of mask), calib_train's loop;
 *   extraction thresholds on the trained masks: each layer keeps its round((1 - sparsity) n) largest |z| of
 *              KV groups and neurons (one size per layer, so the result is a plain LlamaForCausalLM; SIMPLE
 *              thresholds globally), the network its largest hidden dimensions; the kept masks are folded
 *              into the weights and the rest removed (shrink.h), so the smaller model computes exactly what
 *              the masked one does. Task fine-tuning follows as for any model (LoRA, LoRETTA).
 * The masks are a reparameterization of the weights: W_o' = diag(z_hidden) W_o diag(z_kv per column),
 * W_down' = diag(z_hidden) W_down diag(z_ffn), E' = E diag(z_hidden) (a tied LM head reads E' too). */
#ifndef CPET_SIMPLE_H
#define CPET_SIMPLE_H

#include <jansson.h>

#include "calib.h"
#include "error.h"
#include "model.h"

typedef struct {
    int L, KV, F, D, q_per_kv, head_dim;
    float *kv;     /* [L, KV] */
    float *ffn;    /* [L, F] */
    float *hidden; /* [D] */
} simple_masks;

int simple_masks_init(simple_masks *z, const model *m, float value, cpet_err *err);
void simple_masks_free(simple_masks *z);
/* Folds the masks into m's weights (W_o, W_down, the embedding table): m alone then computes the masked model. */
void simple_fold(model *m, const simple_masks *z);
/* The masked model's loss on one batch (CE + distill * hidden MSE against teacher_hidden when given) and
 * its gradients: every trainable weight's into m's gradients (accumulated; the latent weights' chain rule
 * through the masks), the masks' into dz (overwritten). */
double simple_loss_and_grads(model *m, const simple_masks *z, simple_masks *dz, const int *ids, const int *targets, int B, int T,
                             const float *teacher_hidden, float distill, cpet_err *err);
/* Zeroes the masks of the units the thresholds drop, folds the rest into m and removes the dropped units
 * (m becomes the smaller model, its kept indices recorded). Refused when a layer would keep no KV group or
 * no neuron, or the network no hidden dimension. */
int simple_extract(model *m, simple_masks *z, double sparsity, cpet_err *err);
/* Trains masks and weights (o: steps, batch, lr, distill, l1, seed) and extracts at `sparsity`. log (may be
 * NULL) receives "simple_loss" and the masks' "simple_mask_means". */
int simple_prune(model *m, double sparsity, const compress_training *o, const calib_data *c, json_t *log, cpet_err *err);

#endif
