#include "gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GPTQ_BLOCK 128

/* LAPACK from OpenBLAS */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

void gptq_accumulate(double *H, const float *x, int n, int cols)
{
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < cols; i++)
        for (int t = 0; t < n; t++) {
            double xi = x[(size_t)t * cols + i];
            if (xi == 0.0) continue;
            const float *row = x + (size_t)t * cols;
            double *hi = H + (size_t)i * cols;
            for (int j = 0; j <= i; j++) hi[j] += xi * row[j];
        }
}

/* The upper Cholesky factor U of H^-1 (H^-1 = U^T U), row-major, from symmetric H (lower triangle used). */
static int inverse_cholesky(double *H, int n, cpet_err *err)
{
    /* row-major lower = column-major upper: LAPACK sees the same storage with uplo 'U' */
    int info;
    dpotrf_("U", &n, H, &n, &info);
    if (info != 0) return cpet_fail(err, "gptq: the Hessian is not positive definite (LAPACK dpotrf info %d)", info);
    dpotri_("U", &n, H, &n, &info);
    if (info != 0) return cpet_fail(err, "gptq: cannot invert the Hessian (dpotri info %d)", info);
    /* row-major lower triangle now holds H^-1; mirror it and factor again: U upper in row-major */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) H[(size_t)i * n + j] = H[(size_t)j * n + i];
    dpotrf_("L", &n, H, &n, &info); /* column-major lower = row-major upper */
    if (info != 0) return cpet_fail(err, "gptq: the inverse Hessian is not positive definite (info %d)", info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) H[(size_t)i * n + j] = 0.0;
    return 0;
}

int gptq_quantize(qtensor *q, qformat f, float *w, int rows, int cols, int group, const double *Hin, double damp,
                  cpet_err *err)
{
    if (f != QF_INT4 && f != QF_INT3) return cpet_fail(err, "gptq: format %s is not supported (int4, int3)", qformat_name(f));
    if (qtensor_alloc(q, f, rows, cols, group, err) != 0) return -1;
    const int g = q->group, bits = qformat_bits(f);
    double *H = malloc((size_t)cols * cols * sizeof(double));
    for (int i = 0; i < cols; i++) /* symmetric copy from the accumulated lower triangle */
        for (int j = 0; j <= i; j++) H[(size_t)i * cols + j] = H[(size_t)j * cols + i] = Hin[(size_t)i * cols + j];
    unsigned char *mask = malloc((size_t)rows * cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++) mask[i] = w[i] != 0.0f;
    double mean_diag = 0;
    for (int i = 0; i < cols; i++) mean_diag += H[(size_t)i * cols + i];
    mean_diag /= cols;
    for (int i = 0; i < cols; i++) {
        if (H[(size_t)i * cols + i] == 0.0) { /* a dead input: its weights do not matter */
            H[(size_t)i * cols + i] = 1.0;
            for (int r = 0; r < rows; r++) w[(size_t)r * cols + i] = 0.0f;
        }
        H[(size_t)i * cols + i] += damp * mean_diag;
    }
    if (inverse_cholesky(H, cols, err) != 0) {
        free(H);
        free(mask);
        qtensor_free(q);
        return -1;
    }
    const double *U = H;
    int_grid *grids = malloc((size_t)rows * sizeof *grids);
    double *err_block = malloc((size_t)rows * GPTQ_BLOCK * sizeof(double));
    for (int i1 = 0; i1 < cols; i1 += GPTQ_BLOCK) {
        int i2 = i1 + GPTQ_BLOCK < cols ? i1 + GPTQ_BLOCK : cols;
        for (int i = i1; i < i2; i++) {
            double d = U[(size_t)i * cols + i];
#pragma omp parallel for schedule(static)
            for (int r = 0; r < rows; r++) {
                float *wr = w + (size_t)r * cols;
                if (i % g == 0) { /* a new group: its grid from the current (updated) weights */
                    grids[r] = int_grid_fit(wr + i, g, bits);
                    qtensor_set_group(q, r, i / g, &grids[r]);
                }
                int keep = mask[(size_t)r * cols + i];
                int code = keep ? int_grid_code(&grids[r], wr[i]) : grids[r].zero;
                qtensor_set_code(q, r, i, code);
                float qv = int_grid_value(&grids[r], code);
                double e = ((double)wr[i] - qv) / d;
                err_block[(size_t)r * GPTQ_BLOCK + (i - i1)] = e;
                wr[i] = qv;
                for (int j = i + 1; j < i2; j++) wr[j] -= (float)(e * U[(size_t)i * cols + j]);
            }
        }
        /* the block's errors reach every later column at once */
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            float *wr = w + (size_t)r * cols;
            for (int i = i1; i < i2; i++) {
                double e = err_block[(size_t)r * GPTQ_BLOCK + (i - i1)];
                if (e == 0.0) continue;
                const double *ui = U + (size_t)i * cols;
                for (int j = i2; j < cols; j++) wr[j] -= (float)(e * ui[j]);
            }
        }
    }
    free(grids);
    free(err_block);
    free(H);
    free(mask);
    return 0;
}
