/* An exact sparse gated FFN for decode and small batches (ProSparse / PowerInfer's idea on CPU):
 *   g = act(x W_gate^T), dense;  active = neurons with g != 0 in any row of the batch (their union);
 *   for each active neuron j: u_j = x . W_up[j] (a contiguous row of W_up);  x1_j = g_j u_j;
 *   out += x1_j W_down^T[j] (an axpy over a contiguous row of a neuron-major copy of W_down).
 * Inactive neurons cost their gate row only: at sparsity s the up and down work falls to (1 - s), so the
 * FFN's time falls at best to (1 + 2 (1 - s)) / 3 of dense -- Amdahl with the dense gate. The predictor
 * variant (sparse_ffn_forward with a mask) also skips the gate rows predicted inactive.
 *
 * Weights: f32, INT8 (per-row scales) or INT4 (groups of a multiple of 32, scale and zero per group).
 * Packed down projections are transposed code by code with their grid kept, not re-quantized: for INT4,
 * neuron j's row holds codes of one input group G = j / g, and out[d] += s[G, d] (sum over active j in G
 * of x1_j c[j, d] - z[G, d] sum of x1_j), so the result is the dense packed FFN's (float activations) up
 * to summation order. The neuron-major down copy (and for packed bases an up copy, which the decode pack
 * does not give row by row) is extra memory beside the model's own matrices, which the dense path uses.
 *
 * Dense or sparse is chosen per call: above `dense_above` (a fraction of F active in the union) the dense
 * path runs. sparse_ffn_calibrate measures that crossover on this CPU. */
#ifndef CPET_SPARSE_FFN_H
#define CPET_SPARSE_FFN_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "linear.h"

typedef enum { SPARSE_F32, SPARSE_INT8, SPARSE_INT4 } sparse_weights;

/* A [F, D] matrix read a row at a time (gate and up): f32 rows, or codes with their grid. */
typedef struct {
    const float *w;  /* f32 */
    int8_t *i8;      /* INT8 codes [F, D] */
    uint8_t *i4;     /* INT4 codes [F, D], two per byte: element 2i low nibble, 2i + 1 high */
    float *scale;    /* INT8 [F]; INT4 [F, D / group] */
    float *zero;     /* INT4 [F, D / group] */
    int group;
} sparse_rows;

typedef struct sparse_ffn {
    int D, F;
    sparse_weights kind;
    activation act;
    float threshold;
    const linear *gate, *up, *down; /* the dense path */
    sparse_rows gate_rows, up_rows;
    /* W_down neuron-major [F, D]: f32, or INT8 / INT4 codes with the dense matrix's grid, transposed to
     * [groups of neurons, D] (INT8: one group, the per-output-row scales) */
    float *down_f32;
    int8_t *down_i8;
    uint8_t *down_i4;
    float *down_scale, *down_zero;
    int down_group; /* neurons per grid group */
    double dense_above; /* run dense above this active fraction (> 1: never; < 0: always) */
    long calls;         /* forward calls and the active neurons they computed: decode's observed sparsity */
    double active_sum;
    double predicted_sum; /* with a predictor: the neurons it let through (its predicted activity) */
} sparse_ffn;

/* Refuses formats other than f32 / INT8 / INT4 (INT4 groups not a multiple of 32), adapter branches on the
 * three linears (the row-wise path would skip them: merge first) and shapes that are not a gated FFN. */
int sparse_ffn_init(sparse_ffn *s, const linear *gate, const linear *up, const linear *down, activation a, float threshold,
                    cpet_err *err);
void sparse_ffn_free(sparse_ffn *s);
/* Floats of scratch sparse_ffn_forward needs for n rows. */
size_t sparse_ffn_scratch(const sparse_ffn *s, int n);
/* out [n, D] = FFN(xn [n, D]). predicted: NULL (exact), or [F] nonzero for the neurons a predictor expects
 * active in some row; the others are skipped, their gate rows too. Returns the neurons computed (the
 * active union). */
int sparse_ffn_forward(sparse_ffn *s, const float *xn, float *out, int n, const uint8_t *predicted, float *scratch);
/* The up and down work for a given active list over already activated gate values g [n, F] (kept for the
 * benchmark's sweep and the tests): sparse row-wise kernels, whatever dense_above says. */
void sparse_ffn_updown(const sparse_ffn *s, const float *xn, const float *g, const int *active, int k, float *out, int n, float *scratch);
/* Times the sparse and dense paths at activities 5%..100% (random patterns, one row) and sets dense_above
 * to the first activity where dense is faster (1.01 if never). Returns it. */
double sparse_ffn_calibrate(sparse_ffn *s);
/* The scalar reference the tests hold the kernels to: the same FFN from dequantized rows, double sums. */
void sparse_ffn_reference(const sparse_ffn *s, const float *xn, float *out, int n, const uint8_t *predicted);

/* ---- a model's decode with sparse FFNs ---- */
struct ffn_predictor;

/* Decode and chunks of up to max_rows tokens run every layer's FFN through its sparse_ffn (prefill above
 * it stays dense: the union of a long chunk's active neurons is most of them). With a predictor, the gate
 * rows it predicts inactive are skipped too (approximate). */
typedef struct sparse_decode {
    int n_layers, max_rows;
    sparse_ffn *layers;
    const struct ffn_predictor *predictor; /* not owned */
} sparse_decode;

#define SPARSE_DECODE_MAX_ROWS 8

void sparse_decode_free(sparse_decode *d); /* NULL is fine */

#endif
