/* ROME (Meng et al., "Locating and Editing Factual Associations in GPT", NeurIPS 2022): a rank-one update
 * of one layer's FFN down projection W [D, F] so that the key of the subject maps to a value that makes the
 * model say the new object. As the reference does it, with the model's own corpus for the statistics:
 *   C  = E[k k^T], k the layer's FFN hidden (the down projection's input) at every corpus token, plus a
 *        ridge of `ridge` times its mean diagonal (the reference's mom2 statistics over Wikipedia);
 *   k* = the key at the subject's last token of the prompt;
 *   v* = W k* + delta, delta added to the layer's output at that position and fitted by Adam to minimise
 *        the new object's NLL after the prompt plus weight_decay ||delta||^2, its norm clamped to
 *        clamp * ||W k*|| (the reference's v_lr 0.5 and v_weight_decay; its 20 steps and clamp_norm_factor 4
 *        are raised by rome_defaults);
 *   W' = W + (v* - W k*) u^T / (u^T k*), u = C^-1 k*, so that W' k* = v* exactly.
 * Nothing but that one matrix changes. The reference averages k* and delta's loss over prompts with random
 * generated prefixes; here the prompt alone (n_prefix prefixes are a documented gap). */
#ifndef CPET_ROME_H
#define CPET_ROME_H

#include "error.h"
#include "model.h"
#include "tokenizer.h"

typedef struct {
    int layer;
    int steps;
    float lr, weight_decay, clamp;
} rome_config;

rome_config rome_defaults(int layer); /* 100 steps, lr 0.5, weight decay 1e-3, clamp 100 (the reference's 20 and 4 are too weak
                                       * at this scale: rome.c) */

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
    int subject_pos;       /* the subject's last token (BOS counted) */
    double nll_before, nll_after; /* the new object's mean token NLL after the prompt */
    double delta_norm;
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
