/* GPTQ (Frantar et al. 2022): quantize W column by column, spreading each column's rounding error over
 * the columns not yet quantized through the inverse Hessian H = 2 X^T X / N of the layer's calibration
 * inputs; Cholesky form of H^-1, lazy batch updates of 128 columns, dampening 1% of mean(diag H).
 * Groups take their grid from the already-updated weights when their first column comes up (AutoGPTQ's
 * default). Weights that are exactly zero on entry stay zero (a pruning mask survives quantization). */
#ifndef CPET_GPTQ_H
#define CPET_GPTQ_H

#include "error.h"
#include "quant.h"

/* H (cols x cols, double) accumulates 2/N sum x x^T; call for every batch of inputs, then divide. */
void gptq_accumulate(double *H, const float *x, int n, int cols);

/* Quantizes w [rows, cols] (modified in place into the dequantized result) to format f (INT4 or INT3). */
int gptq_quantize(qtensor *q, qformat f, float *w, int rows, int cols, int group, const double *H, double damp,
                  cpet_err *err);

#endif
