/* Matmuls on packed quantized weights. Small batches (decode): each output row is dequantized into a
 * thread-local buffer and dotted with the inputs, or expanded in registers (the fused and int8-activation
 * kernels of the instruction set in use, kernels.h). Large batches: tiles of 64 rows are
 * dequantized and multiplied with sgemm. Neither materialises the whole f32 matrix. W8A8 multiplies
 * int8 activations with int8 weights in int32, as CA-LoRA's quantized T5 does. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "gemv.h"
#include "q8act.h"
#include "kernels.h"
#include "quant.h"
#include "tensor.h"

#define TILE_ROWS 64
#define SGEMM_MIN_BATCH 16


/* INT4 / INT3 codes of every group start on a byte and run in whole 8-code steps: the fused kernels
 * apply. Otherwise (a per-channel group over a row that is not a multiple of 8) only dequantization does. */
static inline int int_runs_of_8(const qtensor *q) { return q->group % 8 == 0; }

#define FUSED_MAX Q8_MAX_INPUTS

/* ---- int8 activation blocks (llama.cpp's vec_dot_*_q8_0) ---- */

/* roundf (halves away from zero) without its library call, which took one per activation: truncation is
 * an instruction, and v - trunc(v) is exact for |v| < 2^23 (codes here are within 127) */
static inline float round_half_away(float v)
{
    const float t = truncf(v);
    return fabsf(v - t) >= 0.5f ? t + copysignf(1.0f, v) : t;
}

void quantize_q8_rows(const float *x, int n, int cols, int8_t *codes, q8_rows *a)
{
    for (int i = 0; i < n; i++) {
        a->q[i] = codes + (size_t)i * cols;
        for (int b = 0; b < cols / 32; b++) {
            const float *xb = x + (size_t)i * cols + b * 32;
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
            float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            int32_t s = 0;
            for (int j = 0; j < 32; j++) {
                int8_t c = (int8_t)round_half_away(xb[j] * id);
                a->q[i][b * 32 + j] = c;
                s += c;
            }
            a->d[i][b] = d;
            a->sum[i][b] = s;
        }
    }
}

/* ---- W8A8: int8 activations (absmax / 127 per row) times int8 weights, int32 sums ---- */

static void quantize_activations(const float *x, int n, int cols, int8_t *qx, float *sx)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) amax = fabsf(row[c]) > amax ? fabsf(row[c]) : amax;
        sx[i] = amax > 0 ? amax / 127.0f : 1.0f;
        for (int c = 0; c < cols; c++) qx[(size_t)i * cols + c] = (int8_t)round_half_away(row[c] / sx[i]);
    }
}

static void w8a8_matmul(const qtensor *q, const float *x, float *y, int n, int fast)
{
    int8_t *qx = malloc((size_t)n * q->cols);
    float *sx = malloc((size_t)n * sizeof(float));
    quantize_activations(x, n, q->cols, qx, sx);
#pragma omp parallel for schedule(static) if (fast)
    for (int r = 0; r < q->rows; r++) {
        const int8_t *w = (const int8_t *)q->data + (size_t)r * q->cols;
        for (int i = 0; i < n; i++) {
            int32_t acc = 0;
            if (fast) acc = kernels()->dot_i8(qx + (size_t)i * q->cols, w, q->cols);
            else
                for (int c = 0; c < q->cols; c++) acc += (int32_t)qx[(size_t)i * q->cols + c] * w[c];
            y[(size_t)i * q->rows + r] = (float)acc * sx[i] * q->scales[r];
        }
    }
    free(qx);
    free(sx);
}

/* ---- the dispatcher ---- */

/* What a format's layout allows: the int8-activation decode needs integer codes whose scale groups hold
 * whole 32-blocks of x; the fused float kernels need codes in whole 16-runs (8-runs for INT4 / INT3). */
typedef struct {
    int q8act, fused;
} qformat_caps;

static qformat_caps int8_caps(const qtensor *q) { return (qformat_caps){1, q->cols % 16 == 0}; }
static qformat_caps block32_caps(const qtensor *q) { (void)q; return (qformat_caps){1, 1}; } /* Q8_0, Q4_0 */
static qformat_caps int_grouped_caps(const qtensor *q) { return (qformat_caps){q->group % 32 == 0, int_runs_of_8(q)}; }
static qformat_caps nf4_caps(const qtensor *q) { (void)q; return (qformat_caps){0, 1}; } /* levels are not integers */
static qformat_caps no_caps(const qtensor *q) { (void)q; return (qformat_caps){0, 0}; }

static qformat_caps (*const format_caps[QF_COUNT])(const qtensor *) = {
    [QF_INT8] = int8_caps, [QF_INT4] = int_grouped_caps, [QF_INT3] = int_grouped_caps, [QF_Q8_0] = block32_caps,
    [QF_Q4_0] = block32_caps, [QF_NF4] = nf4_caps, [QF_W8A8] = no_caps,
};

qkernel qmatmul_select(const qtensor *q, int n)
{
    if (q->format == QF_W8A8) return QK_W8A8;
    qformat_caps caps = q->format < QF_COUNT ? format_caps[q->format](q) : no_caps(q);
    if (q->q8_activations && n <= FUSED_MAX && caps.q8act && q->cols % 32 == 0 && q->cols / 32 <= Q8_MAX_BLOCKS)
        return q->pack ? QK_Q8ACT_PACK : QK_Q8ACT;
    if (n <= FUSED_MAX && caps.fused && q->data && kernels()->fused_row) return QK_FUSED; /* pack-only tensors dequantize from the pack */
    return n < SGEMM_MIN_BATCH ? QK_DEQUANT_DOT : QK_TILED_SGEMM;
}

const char *qkernel_name(qkernel k)
{
    static const char *const kn[] = {"w8a8", "q8act-pack", "q8act", "fused", "dequant-dot", "tiled-sgemm"};
    return (unsigned)k < sizeof kn / sizeof kn[0] ? kn[k] : "?";
}

void qmatmul(const qtensor *q, const float *x, float *y, int n)
{
    const int rows = q->rows, cols = q->cols;
    const kernel_table *kt = kernels();
    const qkernel kind = qmatmul_select(q, n);
    if (kind == QK_W8A8) {
        w8a8_matmul(q, x, y, n, 1);
        return;
    }
    if (kind == QK_Q8ACT || kind == QK_Q8ACT_PACK) {
        q8_rows *a = malloc(sizeof *a);
        int8_t *codes = malloc((size_t)n * cols);
        quantize_q8_rows(x, n, cols, codes, a);
        if (kind == QK_Q8ACT_PACK) qpack_matmul_q8(q, a, y, n);
        else if (q->format == QF_Q8_0 && n == 1) {
#pragma omp parallel for schedule(static)
            for (int g = 0; g < rows / 4; g++) kt->q8_0_rows4(q, 4 * g, a, y);
            for (int r = rows / 4 * 4; r < rows; r++) kt->q8act_row(q, r, a, y, 1);
        } else
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            kt->q8act_row(q, r, a, y, n);
        }
        free(codes);
        free(a);
        return;
    }
    if (kind == QK_FUSED) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            kt->fused_row(q, r, x, y, n);
        }
        return;
    }
    if (kind == QK_DEQUANT_DOT) {
#pragma omp parallel
        {
            float *buf = cpet_alloc_floats((size_t)cols);
#pragma omp for schedule(static)
            for (int r = 0; r < rows; r++) {
                kt->dequant_row(q, r, buf);
                for (int i = 0; i < n; i++) y[(size_t)i * rows + r] = dot_f32(x + (size_t)i * cols, buf, cols);
            }
            cpet_free(buf);
        }
        return;
    }
    /* tiles of rows -> sgemm into the matching columns of y */
    int tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel
    {
        float *tile = cpet_alloc_floats((size_t)TILE_ROWS * cols);
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++) {
            int r0 = t * TILE_ROWS, nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
            for (int k = 0; k < nr; k++) kt->dequant_row(q, r0 + k, tile + (size_t)k * cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, cols, 1.0f, x, cols, tile, cols, 0.0f, y + r0, rows);
        }
        cpet_free(tile);
    }
}

int qmatmul_shared(const qtensor *const *qs, int k, const float *x, float *const *ys, int n)
{
    if (k < 1 || k > Q8_MAX_SHARED) return -1;
    for (int j = 0; j < k; j++)
        if (qmatmul_select(qs[j], n) != QK_Q8ACT_PACK || qs[j]->cols != qs[0]->cols) return -1;
    q8_rows *a = malloc(sizeof *a);
    int8_t *codes = malloc((size_t)n * qs[0]->cols);
    if (!a || !codes) {
        free(a);
        free(codes);
        return -1;
    }
    quantize_q8_rows(x, n, qs[0]->cols, codes, a); /* once for all of them */
    qpack_matmul_q8_shared(qs, k, a, ys, n);
    free(codes);
    free(a);
    return 0;
}

/* The q8-activation decode in plain C: x blocks quantized the same way, dot products of the codes. */
static void q8act_reference(const qtensor *q, const float *x, float *y, int n)
{
    const int cols = q->cols, blocks = cols / 32;
    q8_rows *a = malloc(sizeof *a);
    int8_t *codes = malloc((size_t)n * cols);
    quantize_q8_rows(x, n, cols, codes, a);
    float *w = malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < q->rows; r++) {
        qtensor_dequant_row(q, r, w); /* codes times scale: the products below regroup the same sums */
        for (int i = 0; i < n; i++) {
            double acc = 0;
            for (int b = 0; b < blocks; b++) {
                double s = 0;
                for (int j = 0; j < 32; j++) s += (double)w[b * 32 + j] * a->q[i][b * 32 + j];
                acc += s * a->d[i][b];
            }
            y[(size_t)i * q->rows + r] = (float)acc;
        }
    }
    free(w);
    free(codes);
    free(a);
}

/* The scalar computation of the kind qmatmul_select picks: int8 activation blocks (stored layout or pack:
 * the same sums), W8A8's int32 sums, or for every float-activation kernel x times the dequantized rows. */
void qmatmul_reference(const qtensor *q, const float *x, float *y, int n)
{
    switch (qmatmul_select(q, n)) {
    case QK_Q8ACT: case QK_Q8ACT_PACK: q8act_reference(q, x, y, n); return;
    case QK_W8A8: w8a8_matmul(q, x, y, n, 0); return;
    default: break;
    }
    float *row = malloc((size_t)q->cols * sizeof(float));
    for (int r = 0; r < q->rows; r++) {
        qtensor_dequant_row(q, r, row);
        for (int i = 0; i < n; i++) {
            double acc = 0.0;
            for (int c = 0; c < q->cols; c++) acc += (double)x[(size_t)i * q->cols + c] * row[c];
            y[(size_t)i * q->rows + r] = (float)acc;
        }
    }
    free(row);
}

void qmatmul_backward_dx(const qtensor *q, const float *dy, float *dx, int n)
{
    const int rows = q->rows, cols = q->cols;
    const kernel_table *kt = kernels();
    float *tile = cpet_alloc_floats((size_t)TILE_ROWS * cols);
    for (int r0 = 0; r0 < rows; r0 += TILE_ROWS) { /* serial over tiles: every tile adds into all of dx */
        int nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
        for (int k = 0; k < nr; k++) kt->dequant_row(q, r0 + k, tile + (size_t)k * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cols, nr, 1.0f, dy + r0, rows, tile, cols, 1.0f, dx, cols);
    }
    cpet_free(tile);
}
