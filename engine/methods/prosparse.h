/* ProSparse (Song et al., arXiv 2402.13516) over the engine API. The schedule is prosparse_schedule.h.
 * Sparsity, as the paper measures it: the fraction of zero entries of x1 = act(x W_gate^T) * (x W_up^T),
 * the FFN's gated product, per token, averaged over tokens and layers (and per layer). */
#ifndef CPET_PROSPARSE_H
#define CPET_PROSPARSE_H

#include "ffn_predictor_train.h"
#include "model.h"
#include "optim.h"
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

/* The activation swap of step 1: the FFN's activation becomes ReLU, whatever it was (SiLU in LLaMA). */
void prosparse_relu_swap(model *m);
/* The threshold shift (FATReLU: x if x >= t else 0) on a ReLU model; t = 0 restores plain ReLU. A model
 * whose activation is not ReLU is refused: shifting SiLU's threshold would change a different function. */
int prosparse_set_threshold(model *m, float t, cpet_err *err);

/* Continued training with the L1 regulariser at lambda(t) from the schedule (Algorithm 1; all-zero
 * lambda is the ReLU-only baseline, a one-value schedule the constant-lambda one). All weights train;
 * batches are windows of the token stream drawn from the seed (train_windows). */
typedef struct {
    prosparse_schedule schedule;
    long steps; /* 0: the schedule's last T */
    int batch, seq;
    lr_schedule lr;
    double clip, weight_decay;
    uint64_t seed;
} prosparse_train_config;

/* One optimizer step, as the callback sees it (sparsity is this step's batch, before the update). */
typedef struct {
    long step; /* 1-based */
    double loss, l1, lambda, sparsity;
    float lr;
} prosparse_step_log;
typedef int (*prosparse_on_step)(const prosparse_step_log *s, void *ctx); /* nonzero stops training */

int prosparse_train(model *m, const int *stream, long n_tokens, const prosparse_train_config *c, prosparse_on_step on_step,
                    void *ctx, cpet_err *err);

/* Sparsity of x1 over windows of `seq` tokens that tile the stream (a last partial window is dropped),
 * `batch` windows per forward; counts into c (prosparse_counts_init first). With nll, the same forwards also
 * predict each window's next tokens (so a window needs one token after it) and *nll is the mean negative
 * log-likelihood per predicted token: perplexity = exp(*nll), from the forwards the sparsity needs anyway. */
int prosparse_measure(model *m, const int *stream, long n_tokens, int seq, int batch, prosparse_counts *c, double *nll,
                      cpet_err *err);

/* Predictor training data and training (ffn_predictor.h): every layer's (FFN input = the residual stream
 * before the FFN norm, x1 != 0) pairs from forwards over windows of `seq` tokens tiling the stream (up to
 * max_tokens), then one predictor layer trained per model layer. valid[l]: layer l's validation counts. */
int prosparse_train_predictor(model *m, const int *stream, long n_tokens, int seq, long max_tokens, const ffn_predictor_train_config *c,
                              ffn_predictor *out, predict_counts *valid, cpet_err *err);
/* Counts of the predictor's masks against the true x1 != 0 over windows of the stream (one row at a time,
 * as decode predicts), per layer into counts[l]. */
int prosparse_eval_predictor(model *m, const ffn_predictor *p, const int *stream, long n_tokens, int seq, predict_counts *counts, cpet_err *err);

#endif
