/* Where the decode pack (qpack.c) keeps a row's codes, scales and zero points: the layout both its builder
 * and the stored-layout readers (quant.c, for pack-only tensors) address. */
#ifndef CPET_QPACK_LAYOUT_H
#define CPET_QPACK_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "qtensor.h"
#include "tensor.h"

#define PACK_ROWS 8

/* the header: 8 f16 scales, and for INT4 / INT3 8 zero points (Q4_0's is 8, Q8_0's 0) */
static inline int pack_header_bytes(const qtensor *q) { return q->format == QF_Q4_0 || q->format == QF_Q8_0 ? 16 : 24; }

/* Q8_0 packs whole int8 codes, the others nibbles */
static inline int pack_code_bits(const qtensor *q) { return q->format == QF_Q8_0 ? 8 : 4; }

static inline size_t pack_group_stride(const qtensor *q)
{
    return (size_t)pack_header_bytes(q) + (size_t)q->group * PACK_ROWS * pack_code_bits(q) / 8;
}

/* where row r's weight group k starts in the pack, and the row's index within its group of 8 */
static inline const uint8_t *pack_group(const qtensor *q, int r, int k, int *i)
{
    *i = r % PACK_ROWS;
    return q->pack + ((size_t)(r / PACK_ROWS) * (q->cols / q->group) + (size_t)k) * pack_group_stride(q);
}

static inline float pack_scale(const uint8_t *p, int i)
{
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return cpet_f16_to_f32(h);
}

static inline int pack_zero(const qtensor *q, const uint8_t *p, int i)
{
    return q->format == QF_Q8_0 ? 0 : pack_header_bytes(q) == 24 ? p[16 + i] : 8;
}

/* The code of (r, c), the grid of row r's group k, and row r dequantized, read from the pack (scalar) */
int qtensor_pack_code(const qtensor *q, int r, int c);
void qtensor_pack_grid(const qtensor *q, int r, int k, float *scale, int *zero);
void qtensor_pack_dequant_row_reference(const qtensor *q, int r, float *out);

#endif
