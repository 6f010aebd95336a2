/* ROME (Meng et al., "Locating and Editing Factual Associations in GPT", NeurIPS 2022): a rank-one update
 * of one layer's FFN down projection W [D, F] so that the key of the subject maps to a value that makes the
 * model say the new object. As the reference does it, with the model's own corpus for the statistics:
 *   C  = E[k k^T], k the layer's FFN hidden (the down projection's input) at every corpus token, plus a
 *        ridge of `ridge` times its mean diagonal (the reference's mom2 statistics over Wikipedia);
 *   contexts: the prompt, and the prompt after each of n_prefixes texts the model itself generates from the
 *        reference's start words ("The", "Therefore", "Because", "I", "You"), half of 5 tokens and half of
 *        10 (the reference's 10 + 10), sampled with the config's seed: "{prefix}. {prompt}";
 *   k* = the key at the subject's last token, averaged over the contexts;
 *   v* = W k* + delta, delta added to the layer's output at that position of every context and fitted by
 *        Adam to minimise the new object's NLL averaged over the contexts (one padded batch per step) plus
 *        weight_decay ||delta||^2, its norm clamped to clamp * ||W k*|| (the reference's v_lr 0.5 and
 *        v_weight_decay; its 20 steps and clamp_norm_factor 4 are raised by rome_defaults);
 *   W' = W + (v* - W k*) u^T / (u^T k*), u = C^-1 k*, so that W' k* = v* exactly.
 * Nothing but that one matrix changes. Not built: the reference's KL term that keeps "{subject} is a"
 * predictions in place (essence drift). */
#ifndef CPET_ROME_H
#define CPET_ROME_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "tokenizer.h"

typedef struct {
    int layer;
    int steps;
    float lr, weight_decay, clamp;
    int n_prefixes;   /* generated context prefixes (0: the prompt alone) */
    uint64_t seed;    /* their sampling */
} rome_config;

rome_config rome_defaults(int layer); /* 100 steps, lr 0.5, weight decay 1e-3, clamp 100 (the reference's 20 and 4 are too weak
                                       * at this scale: rome.c), 10 prefixes (the reference's 20 cost twice the time) */

typedef struct {
    int layer, F;
    double *C_inv; /* [F, F]: (C + ridge)^-1 */
    long tokens;
} rome_stats;

/* C over windows of `seq` tokens of a token stream (at most max_tokens of it), inverted by Cholesky. */
int rome_stats_compute(model *m, const int *stream, long n_tokens, int layer, int seq, long max_tokens, double ridge, rome_stats *s,
                       cpet_err *err);
void rome_stats_free(rome_stats *s);

typedef struct {
    int subject_pos;       /* the subject's last token in the prompt (BOS counted) */
    double nll_before, nll_after; /* the new object's mean token NLL after the prompt */
    double delta_norm;
    int contexts;          /* the prompt and its prefixed forms the key and value were fitted on */
} rome_result;

/* One edit's rank-one update: W += delta u^T / uk. */
typedef struct {
    int layer, D, F;
    float *delta; /* [D] */
    double *u;    /* [F] = C^-1 k* */
    double uk;
} rome_update;
void rome_update_free(rome_update *up);

/* Computes the update of one edit on m as it is (m is left unchanged): prompt ends where the object would
 * start ("The capital of Talim is"), subject occurs in it, target is the new object (scored as " " +
 * target). The layer's down projection must be f32. */
int rome_compute(model *m, const tokenizer *tok, const rome_stats *s, const rome_config *c, const char *prompt, const char *subject,
                 const char *target, rome_update *up, rome_result *r, cpet_err *err);
void rome_apply(model *m, const rome_update *up);
/* rome_compute then rome_apply, and r->nll_after measured on the edited model. Sequential editing is this,
 * edit after edit; batch editing computes every update on the unedited model, then applies them all. */
int rome_edit(model *m, const tokenizer *tok, const rome_stats *s, const rome_config *c, const char *prompt, const char *subject,
              const char *target, rome_result *r, cpet_err *err);

#endif
