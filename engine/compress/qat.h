/* Quantization-aware training, QuantGPT's way (Tao et al., ACL 2022), in any format cpet packs:
 *   fake quantization  every layer linear computes with W^ = dequant(RTN_f(clip(W))), where clip holds each
 *                      of the format's groups (a row for INT8, 32 for Q8_0 / Q4_0, --group for INT4) to
 *                      [gamma min(min, 0), gamma max(max, 0)] of that group's latent values;
 *   dynamic scaling    gamma, one per module, learned (module-wise dynamic scaling; clamped to [0.05, 1],
 *                      1 being plain round-to-nearest); QuantGPT scales the clip by mean|W|, cpet by each
 *                      group's range, so that gamma = 1 is exactly the format's RTN;
 *   gradients          straight through the rounding for W inside its clip range, zero outside (PACT's);
 *                      for gamma, (W^ - W) / gamma inside (LSQ's interior term, the paper's choice) and the
 *                      range end outside, the range itself taken as constant;
 *   loss               the next-token cross-entropy on calibration text plus, when weighted, the token-level
 *                      contrastive distillation against the full-precision model (distill.h). QuantGPT
 *                      distils the logits with a soft cross-entropy; cpet trains on the text's own tokens.
 * After training each latent weight is clipped to its range, so the chain's RTN packing stores exactly the
 * trained grid: QAT at zero steps is RTN. */
#ifndef CPET_QAT_H
#define CPET_QAT_H

#include <jansson.h>

#include "calib.h"
#include "error.h"
#include "model.h"
#include "quant.h"

/* out [rows, cols] = dequant(RTN_f(clip(w, gamma))) */
int qat_fake_quant(const float *w, int rows, int cols, qformat f, int group, float gamma, float *out, cpet_err *err);
/* dw += g where w lies inside its clip range (straight through); returns d loss / d gamma. fq is the
 * fake-quantized w of the same gamma, g the gradient with respect to it. */
double qat_backward(const float *w, const float *fq, const float *g, int rows, int cols, qformat f, int group, float gamma, float *dw);
/* Clips w in place to each group's [gamma min, gamma max] range. */
void qat_clip(float *w, int rows, int cols, qformat f, int group, float gamma);
/* Trains every weight of m (every layer linear fake-quantized in f) on the calibration rows, then clips
 * each layer linear to its learned range. log (may be NULL) receives "qat_loss" ([[step, ce, contrastive]])
 * and "qat_gamma" (the learned factors, by module). Refused for a model with packed or MoE layers. */
int qat_train(model *m, qformat f, int group, const compress_training *o, const calib_data *c, json_t *log, cpet_err *err);

#endif
