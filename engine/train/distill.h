/* Hidden-state distillation, as CA-LoRA's reference code does it (thunlp/CA-LoRA):
 * loss = task loss + w * MSE(student final hidden, teacher final hidden), mean over all
 * elements, the teacher (uncompressed model + the same adapter) frozen and run without gradients. Logit
 * distillation with a temperature is not part of it. */
#ifndef CPET_DISTILL_H
#define CPET_DISTILL_H

#include <stddef.h>

#include "model.h"

/* After the student's forward on the same ids the teacher saw: returns w * mean((h_s - h_t)^2) over the
 * [N, D] final hidden states and points the student's d_final_hidden tap at grad [N, D] (filled with the
 * term's gradient, 2 w (h_s - h_t) / (N D)), so that model_backward adds it. w = 0 clears the tap. */
double distill_hidden_mse(model *student, const float *teacher_hidden, float w, float *grad);

/* QuantGPT's token-level contrastive distillation (Tao et al., ACL 2022, Eq. 4-5): each token's student
 * state s_i is pulled towards the same token's teacher state t_i and pushed from the teacher states of the
 * sequence's other tokens (negatives from the teacher, the paper's better choice; in-sequence negatives in
 * place of its memory bank, and no projection heads):
 *   L = -(1/N) sum_i log( exp(cos(s_i, t_i) / tau) / sum_{j in i's sequence} exp(cos(s_i, t_j) / tau) )
 * over B sequences of T tokens, states [B*T, D]. Returns L; ds [B*T, D] (may be NULL) receives dL/ds. */
double token_contrastive_loss(const float *s, const float *t, int B, int T, int D, float tau, float *ds);
/* w * token_contrastive_loss on the student's final hidden states against the teacher's (same ids), its
 * gradient put in grad and the student's d_final_hidden tap pointed at it; w = 0 clears the tap. */
double distill_token_contrastive(model *student, const float *teacher_hidden, float w, float tau, float *grad);

#endif
