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

#endif
