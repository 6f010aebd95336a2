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

/* The sparsity regulariser: R = lambda * sum over layers of (1 / (B T)) sum over tokens of ||x1||_1, i.e.
 * summed over layers and neurons, averaged over tokens (the paper leaves the normalisation unstated;
 * this one keeps lambda independent of the batch). Its gradient lambda / (B T) sign(x1) enters backward
 * through the taps.d_ffn_x1 tap of every layer. */
typedef struct {
    double lambda; /* set per step, e.g. from prosparse_lambda(schedule, step) */
    float *grad;   /* [L, B T, F] */
    size_t cap;
    double last;   /* the last term's value */
} prosparse_l1;

/* After model_forward: the term's value, with m's d_ffn_x1 taps set to its gradient (cleared when lambda
 * is 0). Also train_step_hooked's hook (ctx: the prosparse_l1); NaN with err when out of memory. */
double prosparse_l1_term(model *m, prosparse_l1 *r, cpet_err *err);
double prosparse_l1_hook(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err);
/* Clears m's taps and frees the gradient. */
void prosparse_l1_free(prosparse_l1 *r, model *m);

#endif
