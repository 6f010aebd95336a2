#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qpack_layout.h"
#include "tensor.h"

const float nf4_levels[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                              -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                              0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                              0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* What each format stores: its name, bits per code, its group (0: one per row, -1: the caller's, a
 * multiple of 8), and the bytes of its codes and of what sits beside them (scales, zeros, absmax). */
typedef struct {
    const char *name;
    int bits, group;
    size_t code_bytes_per_block; /* per `group` values; 0: half a byte per value (nibbles) */
    int per_row_scale, group_scale_zero, nf4_absmax;
} qformat_traits;

static const qformat_traits traits[QF_COUNT] = {
    [QF_INT8] = {.name = "int8", .bits = 8, .group = 0, .code_bytes_per_block = 1, .per_row_scale = 1},
    [QF_INT4] = {.name = "int4", .bits = 4, .group = -1, .group_scale_zero = 1},
    [QF_INT3] = {.name = "int3", .bits = 3, .group = -1, .group_scale_zero = 1},
    [QF_Q8_0] = {.name = "q8_0", .bits = 8, .group = QK8_0, .code_bytes_per_block = sizeof(block_q8_0)},
    [QF_Q4_0] = {.name = "q4_0", .bits = 4, .group = QK4_0, .code_bytes_per_block = sizeof(block_q4_0)},
    [QF_NF4] = {.name = "nf4", .bits = 4, .group = 64, .nf4_absmax = 1},
    [QF_W8A8] = {.name = "w8a8", .bits = 8, .group = 0, .code_bytes_per_block = 1, .per_row_scale = 1},
};

const char *qformat_name(qformat f) { return f < QF_COUNT ? traits[f].name : "?"; }

int qformat_parse(const char *s, qformat *out)
{
    for (int i = 0; i < QF_COUNT; i++)
        if (strcmp(s, traits[i].name) == 0) {
            *out = (qformat)i;
            return 0;
        }
    return -1;
}

int qformat_bits(qformat f) { return (unsigned)f < QF_COUNT ? traits[f].bits : 0; }

int qformat_group(qformat f, int requested)
{
    if ((unsigned)f >= QF_COUNT) return -1;
    if (traits[f].group >= 0) return traits[f].group;
    return requested == QGROUP_PER_CHANNEL ? 0 : requested > 0 && requested % 8 == 0 ? requested : -1;
}

static float f16_round(float x) { return cpet_f16_to_f32(cpet_f32_to_f16(x)); }

void qtensor_free(qtensor *q)
{
    cpet_free(q->data);
    cpet_free(q->pack);
    free(q->scales);
    free(q->zeros);
    free(q->absmax_q);
    free(q->absmax_scale);
    memset(q, 0, sizeof *q);
}

int qtensor_alloc(qtensor *q, qformat f, int rows, int cols, int group, cpet_err *err)
{
    memset(q, 0, sizeof *q);
    if ((unsigned)f >= QF_COUNT) return cpet_fail(err, "unknown format");
    if (rows <= 0 || cols <= 0) return cpet_fail(err, "%s: a %d x %d matrix has no weights", qformat_name(f), rows, cols);
    /* a per-channel tensor saved by cpet records its group as the row length, whatever that is */
    int g = (f == QF_INT4 || f == QF_INT3) && group == cols ? cols : qformat_group(f, group);
    if (g < 0)
        return cpet_fail(err, "%s: group size %d is not supported for a %d x %d tensor (a multiple of 8 that divides %d, or -1 for per-channel)",
                         qformat_name(f), group, rows, cols, cols);
    if (g == 0) g = cols;
    if (cols % g != 0)
        return cpet_fail(err, "%s: group size %d does not divide the row length %d of a %d x %d tensor", qformat_name(f), g, cols,
                         rows, cols);
    q->format = f;
    q->rows = rows;
    q->cols = cols;
    q->group = g;
    const qformat_traits *t = &traits[f];
    size_t n = (size_t)rows * cols, groups = n / (size_t)g;
    /* int8 and w8a8 store a byte per value (one "block" per value, group = the row) */
    q->data_bytes = t->code_bytes_per_block == 0 ? (n + 1) / 2 : t->per_row_scale ? n : groups * t->code_bytes_per_block;
    q->data = cpet_alloc(q->data_bytes);
    if (t->per_row_scale || t->group_scale_zero) q->scales = calloc(groups, sizeof(float));
    if (t->group_scale_zero) q->zeros = calloc(groups, 1);
    if (t->nf4_absmax) {
        q->absmax_q = calloc(groups, 1);
        q->absmax_scale = calloc((groups + 255) / 256, sizeof(float));
    }
    if (!q->data) return cpet_fail(err, "out of memory for a %dx%d %s tensor", rows, cols, qformat_name(f));
    return 0;
}

size_t qtensor_bytes(const qtensor *q)
{
    const qformat_traits *t = &traits[q->format];
    size_t groups = (size_t)q->rows * q->cols / (size_t)q->group;
    if (t->per_row_scale) return q->data_bytes + (size_t)q->rows * 4;
    if (t->group_scale_zero) return q->data_bytes + groups * 2 + (groups + 1) / 2; /* f16 scale, 4-bit zero */
    if (t->nf4_absmax) return q->data_bytes + groups + (groups + 255) / 256 * 4 + 4;
    return q->data_bytes;
}

/* ---- asymmetric integer grids (INT4 / INT3, and GPTQ) ---- */

int_grid int_grid_fit(const float *w, int n, int bits)
{
    float lo = 0.0f, hi = 0.0f; /* the range always includes 0, as AutoGPTQ does */
    for (int i = 0; i < n; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    int_grid g;
    g.maxq = (1 << bits) - 1;
    g.scale = f16_round((hi - lo) / (float)g.maxq);
    if (g.scale == 0.0f) g.scale = 1.0f;
    int z = (int)roundf(-lo / g.scale);
    g.zero = z < 0 ? 0 : z > g.maxq ? g.maxq : z;
    return g;
}

int int_grid_code(const int_grid *g, float w)
{
    int q = (int)roundf(w / g->scale) + g->zero;
    return q < 0 ? 0 : q > g->maxq ? g->maxq : q;
}

float int_grid_value(const int_grid *g, int code) { return (float)(code - g->zero) * g->scale; }

void qtensor_set_group(qtensor *q, int r, int group_index, const int_grid *g)
{
    size_t k = (size_t)r * (q->cols / q->group) + (size_t)group_index;
    q->scales[k] = g->scale;
    q->zeros[k] = (uint8_t)g->zero;
}

static void set_nibble(uint8_t *data, size_t i, int code)
{
    uint8_t *b = &data[i / 2];
    *b = (i & 1) ? (uint8_t)((*b & 0x0F) | (code << 4)) : (uint8_t)((*b & 0xF0) | (code & 0x0F));
}

static int get_nibble(const uint8_t *data, size_t i) { return (i & 1) ? data[i / 2] >> 4 : data[i / 2] & 0x0F; }

void qtensor_set_code(qtensor *q, int r, int c, int code) { set_nibble(q->data, (size_t)r * q->cols + c, code); }

int qtensor_code(const qtensor *q, int r, int c)
{
    if (qtensor_is_pack_only(q)) return qtensor_pack_code(q, r, c);
    if (q->format == QF_Q8_0) return ((const block_q8_0 *)q->data)[(size_t)r * (q->cols / QK8_0) + c / QK8_0].qs[c % QK8_0];
    if (q->format == QF_Q4_0) { /* ggml block: element j low and j + 16 high in byte j */
        const block_q4_0 *b = (const block_q4_0 *)q->data + (size_t)r * (q->cols / QK4_0) + c / QK4_0;
        int j = c % QK4_0;
        return j < QK4_0 / 2 ? b->qs[j] & 0x0F : b->qs[j - QK4_0 / 2] >> 4;
    }
    return get_nibble(q->data, (size_t)r * q->cols + c);
}

void qtensor_grid_of(const qtensor *q, int r, int k, float *scale, int *zero)
{
    if (qtensor_is_pack_only(q)) {
        qtensor_pack_grid(q, r, k, scale, zero);
        return;
    }
    const size_t i = (size_t)r * (q->cols / q->group) + k;
    *scale = q->scales[i];
    *zero = q->zeros[i];
}

/* ---- ggml blocks ---- */

static void quantize_q8_0_block(const float *x, block_q8_0 *b)
{
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    b->d = cpet_f32_to_f16(d);
    for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
}

static void quantize_q4_0_block(const float *x, block_q4_0 *b)
{
    float amax = 0.0f, max = 0.0f; /* max: the signed value with the largest magnitude */
    for (int j = 0; j < QK4_0; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
    b->d = cpet_f32_to_f16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + QK4_0 / 2] * id + 8.5f);
        q0 = q0 < 15 ? q0 : 15;
        q1 = q1 < 15 ? q1 : 15;
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static int nf4_code(float v) /* nearest level */
{
    int best = 0;
    for (int i = 1; i < 16; i++)
        if (fabsf(v - nf4_levels[i]) < fabsf(v - nf4_levels[best])) best = i;
    return best;
}

float qtensor_nf4_absmax(const qtensor *q, size_t block)
{
    return q->absmax_mean + (float)(int8_t)q->absmax_q[block] * q->absmax_scale[block / 256];
}

/* ---- each format's round-to-nearest quantizer and row dequantizer (the scalar references) ---- */

static void quantize_int8_rows(qtensor *q, const float *w)
{
    const int rows = q->rows, cols = q->cols;
    for (int r = 0; r < rows; r++) {
        const float *row = w + (size_t)r * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) amax = fabsf(row[c]) > amax ? fabsf(row[c]) : amax;
        float s = amax > 0 ? amax / 127.0f : 1.0f;
        q->scales[r] = s;
        for (int c = 0; c < cols; c++) q->data[(size_t)r * cols + c] = (uint8_t)(int8_t)roundf(row[c] / s);
    }
}

static void quantize_int_grid_rows(qtensor *q, const float *w)
{
    const int rows = q->rows, cols = q->cols, g = q->group, per_row = cols / g;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < per_row; k++) {
            const float *grp = w + (size_t)r * cols + (size_t)k * g;
            int_grid gr = int_grid_fit(grp, g, qformat_bits(q->format));
            qtensor_set_group(q, r, k, &gr);
            for (int c = 0; c < g; c++) qtensor_set_code(q, r, k * g + c, int_grid_code(&gr, grp[c]));
        }
}

static void quantize_q8_0_rows(qtensor *q, const float *w)
{
    for (size_t b = 0; b < (size_t)q->rows * (q->cols / QK8_0); b++) quantize_q8_0_block(w + b * QK8_0, (block_q8_0 *)q->data + b);
}

static void quantize_q4_0_rows(qtensor *q, const float *w)
{
    for (size_t b = 0; b < (size_t)q->rows * (q->cols / QK4_0); b++) quantize_q4_0_block(w + b * QK4_0, (block_q4_0 *)q->data + b);
}

static void quantize_nf4_rows(qtensor *q, const float *w)
{
    const int g = q->group;
    const size_t blocks = (size_t)q->rows * (q->cols / g);
    float *absmax = malloc(blocks * sizeof(float));
    double mean = 0;
    for (size_t b = 0; b < blocks; b++) {
        float a = 0.0f;
        for (int c = 0; c < g; c++) a = fabsf(w[b * g + c]) > a ? fabsf(w[b * g + c]) : a;
        absmax[b] = a;
        mean += a;
    }
    q->absmax_mean = (float)(mean / (double)blocks);
    for (size_t s = 0; s < (blocks + 255) / 256; s++) { /* second level: int8 per 256 absmax values */
        float amax = 0.0f;
        for (size_t b = s * 256; b < blocks && b < (s + 1) * 256; b++)
            amax = fabsf(absmax[b] - q->absmax_mean) > amax ? fabsf(absmax[b] - q->absmax_mean) : amax;
        q->absmax_scale[s] = amax > 0 ? amax / 127.0f : 1.0f;
        for (size_t b = s * 256; b < blocks && b < (s + 1) * 256; b++)
            q->absmax_q[b] = (uint8_t)(int8_t)roundf((absmax[b] - q->absmax_mean) / q->absmax_scale[s]);
    }
    for (size_t b = 0; b < blocks; b++) { /* codes against the absmax the kernel will see */
        float a = qtensor_nf4_absmax(q, b);
        for (int c = 0; c < g; c++) set_nibble(q->data, b * g + c, nf4_code(a > 0 ? w[b * g + c] / a : 0.0f));
    }
    free(absmax);
}

static void dequant_int8_row(const qtensor *q, int r, float *out)
{
    const size_t base = (size_t)r * q->cols;
    for (int c = 0; c < q->cols; c++) out[c] = (float)(int8_t)q->data[base + c] * q->scales[r];
}

static void dequant_int_grid_row(const qtensor *q, int r, float *out)
{
    const int g = q->group, per_row = q->cols / g;
    const size_t base = (size_t)r * q->cols;
    for (int k = 0; k < per_row; k++) {
        float s = q->scales[(size_t)r * per_row + k];
        int z = q->zeros[(size_t)r * per_row + k];
        for (int c = 0; c < g; c++) out[k * g + c] = (float)(get_nibble(q->data, base + (size_t)k * g + c) - z) * s;
    }
}

static void dequant_q8_0_row(const qtensor *q, int r, float *out)
{
    const int per_row = q->cols / QK8_0;
    for (int k = 0; k < per_row; k++) {
        const block_q8_0 *b = (const block_q8_0 *)q->data + (size_t)r * per_row + k;
        float d = cpet_f16_to_f32(b->d);
        for (int j = 0; j < QK8_0; j++) out[k * QK8_0 + j] = (float)b->qs[j] * d;
    }
}

static void dequant_q4_0_row(const qtensor *q, int r, float *out)
{
    const int per_row = q->cols / QK4_0;
    for (int k = 0; k < per_row; k++) {
        const block_q4_0 *b = (const block_q4_0 *)q->data + (size_t)r * per_row + k;
        float d = cpet_f16_to_f32(b->d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            out[k * QK4_0 + j] = (float)((b->qs[j] & 0x0F) - 8) * d;
            out[k * QK4_0 + j + QK4_0 / 2] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_nf4_row(const qtensor *q, int r, float *out)
{
    const int g = q->group, per_row = q->cols / g;
    for (int k = 0; k < per_row; k++) {
        size_t blk = (size_t)r * per_row + k;
        float a = qtensor_nf4_absmax(q, blk);
        for (int c = 0; c < g; c++) out[k * g + c] = nf4_levels[get_nibble(q->data, blk * g + c)] * a;
    }
}

/* The formats' traits, ggml's way: what each stores and the functions that read and write it. */
typedef struct {
    void (*quantize)(qtensor *q, const float *w);            /* q allocated by qtensor_alloc */
    void (*dequant_row)(const qtensor *q, int r, float *out);
} qformat_ops;

static const qformat_ops format_ops[QF_COUNT] = {
    [QF_INT8] = {quantize_int8_rows, dequant_int8_row},     [QF_W8A8] = {quantize_int8_rows, dequant_int8_row},
    [QF_INT4] = {quantize_int_grid_rows, dequant_int_grid_row}, [QF_INT3] = {quantize_int_grid_rows, dequant_int_grid_row},
    [QF_Q8_0] = {quantize_q8_0_rows, dequant_q8_0_row},     [QF_Q4_0] = {quantize_q4_0_rows, dequant_q4_0_row},
    [QF_NF4] = {quantize_nf4_rows, dequant_nf4_row},
};

int quantize_rtn(qtensor *q, qformat f, const float *w, int rows, int cols, int group, cpet_err *err)
{
    if (qtensor_alloc(q, f, rows, cols, group, err) != 0) return -1;
    format_ops[f].quantize(q, w);
    return 0;
}

void qtensor_dequant_row(const qtensor *q, int r, float *out)
{
    if (qtensor_is_pack_only(q)) qtensor_pack_dequant_row_reference(q, r, out);
    else if (q->format < QF_COUNT) format_ops[q->format].dequant_row(q, r, out);
}

void qtensor_dequantize(const qtensor *q, float *w)
{
    for (int r = 0; r < q->rows; r++) qtensor_dequant_row(q, r, w + (size_t)r * q->cols);
}
