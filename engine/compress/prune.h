/* Weight pruning on f32 matrices [rows = out, cols = in]: pruned weights are set to exactly 0.
 * Every method removes exactly round(sparsity * count) weights from each unit it ranks within. */
#ifndef CPET_PRUNE_H
#define CPET_PRUNE_H

#include <stddef.h>

/* Unstructured magnitude: the smallest |w| of the whole matrix. Returns the number pruned. */
size_t prune_magnitude(float *w, int rows, int cols, double sparsity);
/* Wanda (Sun et al. 2023): score |w_ij| * ||x_j||_2 (x_norm[cols] over calibration tokens), the lowest
 * scores of each output row. */
size_t prune_wanda(float *w, int rows, int cols, const float *x_norm, double sparsity);
/* N:M semi-structured: in every run of m consecutive weights of a row keep the n largest |w|
 * (score-weighted when x_norm is given). m must divide cols. */
size_t prune_nm(float *w, int rows, int cols, int n, int m, const float *x_norm);
size_t count_zeros(const float *w, size_t n);

#endif
