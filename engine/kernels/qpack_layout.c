/* Reading one code, one grid or one row of a pack-only tensor (scalar: the stored-layout accessors of
 * quant.c fall back to these, and the tests hold the fast dequantizer of qpack.c to the row reader). */
#include "qpack_layout.h"

int qtensor_pack_code(const qtensor *q, int r, int c)
{
    int i, within = c % q->group;
    const uint8_t *p = pack_group(q, r, c / q->group, &i);
    if (q->format == QF_Q8_0) return (int8_t)p[pack_header_bytes(q) + (within / 4) * 32 + 4 * i + within % 4];
    uint8_t b = p[pack_header_bytes(q) + (within / 8) * 32 + 4 * i + within % 4];
    return within % 8 < 4 ? b & 0x0F : b >> 4;
}

void qtensor_pack_grid(const qtensor *q, int r, int k, float *scale, int *zero)
{
    int i;
    const uint8_t *p = pack_group(q, r, k, &i);
    *scale = pack_scale(p, i);
    *zero = pack_zero(q, p, i);
}

void qtensor_pack_dequant_row_reference(const qtensor *q, int r, float *out)
{
    const int g = q->group;
    for (int k = 0; k < q->cols / g; k++) {
        int i;
        const uint8_t *p = pack_group(q, r, k, &i);
        const float s = pack_scale(p, i);
        const int z = pack_zero(q, p, i);
        for (int c = 0; c < g; c++) out[k * g + c] = (float)(qtensor_pack_code(q, r, k * g + c) - z) * s;
    }
}
