/* ProSparse (Song et al., arXiv 2402.13516) over the engine API. The schedule is prosparse_schedule.h.
 * Sparsity, as the paper measures it: the fraction of zero entries of x1 = act(x W_gate^T) * (x W_up^T),
 * the FFN's gated product, per token, averaged over tokens and layers (and per layer). */
#ifndef CPET_PROSPARSE_H
#define CPET_PROSPARSE_H

#include "model.h"
#include "prosparse_schedule.h"

/* Counts of the last model_forward: zeros[l] of x1 entries in layer l, out of entries (= B T F, the same for
 * every layer). Accumulate over batches, then prosparse_sparsity_of. */
typedef struct {
    int n_layers;
    double zeros[512];
    double entries; /* per layer */
} prosparse_counts;

void prosparse_counts_init(prosparse_counts *c, const model *m);
/* Adds the last forward's x1 zeros (m->acts.h) to c. */
void prosparse_count(prosparse_counts *c, const model *m);
/* The fraction of zeros in layer l (l = -1: averaged over layers). Every token has F entries per layer,
 * so this equals the per-token fraction averaged over tokens. */
double prosparse_sparsity_of(const prosparse_counts *c, int layer);

#endif
