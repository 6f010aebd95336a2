/* Quantized weight matrices [rows = out, cols = in] and their formats.
 *   INT8   per output row, symmetric: w = q * s, s = absmax / 127 (f32 scale per row)
 *   INT4 / INT3  groups of g along the row, asymmetric: w = (q - z) * s, q in [0, 2^b - 1], s (f16) and
 *          z (u8) per group, as GPTQ checkpoints store them; codes in nibbles (INT3 too: 3 bits in 4).
 *          g is any multiple of 8 that divides the row, or -1 (AutoGPTQ's per-channel: one group per row,
 *          stored as g = cols). Groups that are multiples of 32 get every kernel (int8-activation decode and
 *          its pack included); other groups use the float-activation kernels (AVX2 in runs of 8 codes).
 *   Q8_0 / Q4_0  llama.cpp blocks of 32, bit-exact with ggml (f16 d; Q4_0 nibbles j | j+16 << 4)
 *   NF4    QLoRA: blocks of 64, 16 normal-float levels times the block absmax; the absmax values are
 *          themselves quantized (double quantization): minus their mean, int8 per 256 with an f32 scale
 *   W8A8   INT8 weights as above, and at run time int8 activations per row (absmax / 127), int32 sums
 * Kernels (qmatmul.c) compute on the packed data; there is a scalar reference for each. */
#ifndef CPET_QUANT_H
#define CPET_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "qtensor.h"

const char *qformat_name(qformat f);
int qformat_parse(const char *s, qformat *out);
int qformat_bits(qformat f);
/* The group a format uses for a requested group size (fixed formats ignore it; 0 = the whole row, which
 * INT4 / INT3 give for QGROUP_PER_CHANNEL); -1 if invalid (INT4 / INT3: not a positive multiple of 8 or
 * -1). Whether it divides a row is checked where the row length is known (qtensor_alloc). */
int qformat_group(qformat f, int requested);

/* Round-to-nearest quantization of w [rows, cols]. Fails on a group that does not divide cols. */
int quantize_rtn(qtensor *q, qformat f, const float *w, int rows, int cols, int group, cpet_err *err);
void qtensor_free(qtensor *q);
/* Storage bytes: codes, scales, zeros, second-level constants, as stored. */
size_t qtensor_bytes(const qtensor *q);
/* Row r dequantized into out[cols]. */
void qtensor_dequant_row(const qtensor *q, int r, float *out);
void qtensor_dequantize(const qtensor *q, float *w);

/* Building blocks shared with GPTQ: the grid of one group of an asymmetric b-bit format. */
typedef struct {
    float scale; /* f16-exact */
    int zero, maxq;
} int_grid;
int_grid int_grid_fit(const float *w, int n, int bits); /* from the group's min and max */
int int_grid_code(const int_grid *g, float w);
float int_grid_value(const int_grid *g, int code);
/* Sets the group's scale and zero (the grid) on q; codes are written separately */
void qtensor_set_group(qtensor *q, int r, int group_index, const int_grid *g);
void qtensor_set_code(qtensor *q, int r, int c, int code);
/* The stored code of (r, c): INT4 / INT3 / NF4 nibbles, Q4_0 (unsigned, 0..15), Q8_0 (signed) */
int qtensor_code(const qtensor *q, int r, int c);
/* INT4 / INT3: the scale and zero point of row r's group k, from the stored layout or the decode pack */
void qtensor_grid_of(const qtensor *q, int r, int k, float *scale, int *zero);
int qtensor_alloc(qtensor *q, qformat f, int rows, int cols, int group, cpet_err *err);

extern const float nf4_levels[16];
/* NF4: the absmax of block b (64 values), as the double quantization stores it */
float qtensor_nf4_absmax(const qtensor *q, size_t block);

/* ---- kernels (qmatmul.c) ---- */
/* The one dispatcher: which computation a matmul of n inputs on q runs. qmatmul runs its fast (AVX2 /
 * sgemm) implementation and qmatmul_reference the scalar one of the same kind, so a test of the reference
 * pair exercises the selection the engine makes.
 *   QK_W8A8         int8 activations per row, int32 sums (W8A8 always)
 *   QK_Q8ACT_PACK   int8 activation blocks on the row-interleaved decode pack (q->pack built)
 *   QK_Q8ACT        int8 activation blocks on the stored layout (q8_activations, n <= 4, blocks of 32)
 *   QK_FUSED        float activations, codes expanded in registers (n <= 4)
 *   QK_DEQUANT_DOT  rows dequantized into a buffer, dot products (small n, or layouts without a fused kernel)
 *   QK_TILED_SGEMM  tiles of 64 dequantized rows through sgemm (n >= 16) */
typedef enum { QK_W8A8, QK_Q8ACT_PACK, QK_Q8ACT, QK_FUSED, QK_DEQUANT_DOT, QK_TILED_SGEMM } qkernel;
qkernel qmatmul_select(const qtensor *q, int n);
const char *qkernel_name(qkernel k);
/* y[n, rows] = x[n, cols] W^T on the packed weights; OpenMP over output rows. W8A8 quantizes x per row;
 * with q->q8_activations, decode-sized inputs (n <= 4) of int8/q8_0/int4/int3/q4_0 use int8 x blocks. */
void qmatmul(const qtensor *q, const float *x, float *y, int n);
/* k matrices of equal cols that read the same x (q/k/v, gate/up): when every one runs the int8-activation
 * pack kernel at this n, x is quantized once and all their rows run in one parallel region (0); otherwise
 * -1 and nothing is computed (the caller runs them one by one). */
int qmatmul_shared(const qtensor *const *qs, int k, const float *x, float *const *ys, int n);
/* the same with plain scalar code: the reference the fast kernel is tested against */
void qmatmul_reference(const qtensor *q, const float *x, float *y, int n);
/* Builds q->pack for the q8_activations decode: INT4, INT3 (groups a multiple of 32, per-channel included
 * when the row is) and Q4_0, with rows a multiple of 8 (others: -1, and the decode reads the stored layout,
 * or for groups that are not multiples of 32 runs with float activations). Costs as many bytes again as
 * the codes. */
int qtensor_pack_supported(const qtensor *q);
int qtensor_pack_decode(qtensor *q);
/* For inference: builds the pack if needed and frees the stored codes, scales and zeros, which the pack
 * holds too; every kernel then reads the pack (data == NULL). Saving or exporting such a tensor is
 * refused. -1 where the pack is not supported (the tensor is left as it was). */
int qtensor_pack_only(qtensor *q);
static inline int qtensor_is_pack_only(const qtensor *q) { return q->pack && !q->data; }
/* Row r dequantized from the pack (AVX2); its scalar reference and the pack's layout are in qpack_layout.h */
void qtensor_pack_dequant_row(const qtensor *q, int r, float *out);
/* dx[n, cols] += dy[n, rows] W, dequantizing blocks of rows (for training adapters on a frozen base) */
void qmatmul_backward_dx(const qtensor *q, const float *dy, float *dx, int n);

#endif
