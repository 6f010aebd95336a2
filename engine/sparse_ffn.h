/* An exact sparse gated FFN for decode and small batches (ProSparse / PowerInfer's idea on CPU):
 *   g = x W_gate^T dense;  active = neurons with act(g) != 0 in any row of the batch (their union);
 *   for each active neuron j: u_j = x . W_up[j] (a contiguous row of W_up);  x1_j = act(g_j) u_j;
 *   out += x1_j W_down^T[j] (an axpy over a contiguous row of the neuron-major copy of W_down).
 * Inactive neurons cost the gate row only: at sparsity s the up and down work falls to (1 - s). The
 * result equals the dense FFN up to summation order. W_down is kept transposed ([F, D], one neuron's
 * output weights contiguous), a second copy of that matrix. f32 bases for now; packed bases, and adapter
 * branches on up or down (which the row-wise path would skip), are refused. */
#ifndef CPET_SPARSE_FFN_H
#define CPET_SPARSE_FFN_H

#include "config.h"
#include "error.h"
#include "linear.h"

typedef struct {
    int D, F;
    float *down_t; /* [F, D]: W_down transposed */
} sparse_ffn;

int sparse_ffn_init(sparse_ffn *s, const linear *gate, const linear *up, const linear *down, cpet_err *err);
void sparse_ffn_free(sparse_ffn *s);
/* Floats of scratch sparse_ffn_forward needs for n rows. */
size_t sparse_ffn_scratch(const sparse_ffn *s, const linear *gate, int n);
/* out [n, D] = FFN(xn [n, D]); returns the number of active neurons (the union over the n rows). */
int sparse_ffn_forward(const sparse_ffn *s, const linear *gate, const linear *up, activation a, float threshold, const float *xn,
                       float *out, int n, float *scratch);

#endif
