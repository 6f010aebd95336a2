/* Activations quantized for llama.cpp-style decode (quant.h, q8_activations): int8 codes in blocks of 32
 * with an absmax / 127 scale each, and the per-block code sums that asymmetric weight formats need. Shared
 * by the kernels on the stored layout (qmatmul.c) and on the row-interleaved decode pack (qpack.c). */
#ifndef CPET_Q8ACT_H
#define CPET_Q8ACT_H

#include <stdint.h>

#include "quant.h"

#define Q8_MAX_INPUTS 4   /* decode batches: up to this many rows of x */
#define Q8_MAX_BLOCKS 1024 /* cols <= 32768 */

typedef struct {
    float d[Q8_MAX_INPUTS][Q8_MAX_BLOCKS];
    int32_t sum[Q8_MAX_INPUTS][Q8_MAX_BLOCKS];
    int8_t *q[Q8_MAX_INPUTS];
} q8_rows;

/* x[n, cols] -> codes[n, cols] and a (whose q[i] point into codes) */
void quantize_q8_rows(const float *x, int n, int cols, int8_t *codes, q8_rows *a);
/* y[n, rows] from the decode pack of q (qtensor_pack_decode); rows a multiple of 8 */
void qpack_matmul_q8(const qtensor *q, const q8_rows *a, float *y, int n);
/* the same for k <= Q8_MAX_SHARED matrices of equal cols that read the same x, in one parallel region */
#define Q8_MAX_SHARED 4
void qpack_matmul_q8_shared(const qtensor *const *qs, int k, const q8_rows *a, float *const *ys, int n);

#endif
