/* A matrix held as a tensor train, LoRETTA's way (its reference's tensor_layers): the flattened matrix
 * W [rows, cols] (row-major, the first mode most significant) is the contraction of d cores
 * G_k [r_{k-1}, n_k, r_k] with r_0 = r_d = 1 and every inner rank r, so rows * cols = n_1 ... n_d. The
 * factors cut the flattened matrix, not its rows and columns apart: the split may fall inside a mode.
 * Forward materializes W (the reference does the same); backward turns dW into every core's gradient.
 * The cores live in one buffer (core offsets in `off`), so they are one parameter tensor to an optimizer. */
#ifndef CPET_TT_H
#define CPET_TT_H

#include <stddef.h>

#include "error.h"
#include "tensor.h"

#define TT_MAX_CORES 12

typedef struct {
    int rows, cols, d, rank;
    int n[TT_MAX_CORES];
    size_t off[TT_MAX_CORES + 1]; /* core k is p[off[k] .. off[k+1]) */
    float *p;                      /* every core, owned */
} tt_matrix;

/* n_1 r + r^2 (n_2 + ... + n_{d-1}) + n_d r (one core: n_1) */
size_t tt_param_count(const int *n, int d, int rank);
/* Checks the factors (2..TT_MAX_CORES of them, each >= 1, their product rows * cols) and the rank (>= 1) and
 * allocates the cores; every entry N(0, std_core^2). Errors name `what` (e.g. the module). */
int tt_init(tt_matrix *t, int rows, int cols, const int *n, int d, int rank, float std_core, cpet_rng *r, const char *what, cpet_err *err);
void tt_free(tt_matrix *t);

/* Scratch floats tt_materialize and tt_backward need. */
size_t tt_scratch(const tt_matrix *t);
/* W [rows * cols] from the cores. */
void tt_materialize(const tt_matrix *t, float *w, float *scratch);
/* dcore [the size of p] += d(loss)/d(cores), given dW [rows * cols]. */
void tt_backward(const tt_matrix *t, const float *dw, float *dcore, float *scratch);
/* The scalar reference the tests hold tt_materialize to: each entry as the product of its core slices, in double. */
void tt_materialize_reference(const tt_matrix *t, float *w);

#endif
