/* Structured removal: a smaller model holding the kept FFN neurons, KV groups (with their query heads) or
 * hidden dimensions of m, which it replaces. Every layer keeps the same number (one size in the config, so
 * the result is a plain LlamaForCausalLM). Indices are into m as it is, per layer [n_layers, keep], in
 * increasing order; the original indices are recorded (ffn_kept, kv_kept, hidden_kept) so that adapters of
 * the unpruned model project onto the result. */
#ifndef CPET_SHRINK_H
#define CPET_SHRINK_H

#include "error.h"
#include "model.h"

/* The indices of the `keep` largest scores (ties: lower index), in increasing order. */
void top_indices(const float *score, int n, int keep, int *out);

int model_shrink_ffn(model *m, const int *kept, int keep, cpet_err *err);
int model_shrink_kv_groups(model *m, const int *kept, int keep, cpet_err *err);
/* Hidden dimensions: the residual stream, the embedding's columns, every norm, the inputs of q/k/v/gate/up
 * and the LM head, the outputs of o and down. With the dropped dimensions at zero in m's residual stream
 * the result computes what m does: RMSNorm over K of D dimensions is RMSNorm over all D with its weights
 * times sqrt(D / K) and its epsilon times D / K, which the result's norms and config carry. head_dim stays. */
int model_shrink_hidden(model *m, const int *kept, int keep, cpet_err *err);

#endif
