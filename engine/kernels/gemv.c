#include "gemv.h"

#include <stddef.h>

#include "kernels.h"


void gemv_f32(const float *W, const float *x, float *y, int n, int out, int in)
{
    gemv_f32_shared(&W, &out, 1, x, &y, n, in);
}

/* which matrix global unit u (a block of 8 rows, or a row) falls in, given units per matrix */
static inline int unit_owner(const int *units, int k, int *u)
{
    int j = 0;
    while (j < k - 1 && *u >= units[j]) *u -= units[j++];
    return j;
}

void gemv_f32_shared(const float *const *W, const int *out, int k, const float *x, float *const *y, int n, int in)
{
    const kernel_table *kt = kernels();
    int units[GEMV_MAX_SHARED], total = 0;
    if (n == 1) { /* decode: blocks of eight rows of every matrix in one loop, then the leftover rows */
        for (int j = 0; j < k; j++) total += units[j] = out[j] / 8;
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (int t = 0; t < total; t++) {
                int b = t, j = unit_owner(units, k, &b);
                kt->gemv_rows8(W[j] + (size_t)8 * b * in, x, y[j] + 8 * b, in);
            }
#pragma omp single
            for (int j = 0; j < k; j++)
                for (int o = 8 * units[j]; o < out[j]; o++) kt->gemv_row(W[j] + (size_t)o * in, x, y[j] + o, 1, in, out[j]);
        }
        return;
    }
    for (int j = 0; j < k; j++) total += units[j] = out[j];
#pragma omp parallel for schedule(static)
    for (int t = 0; t < total; t++) {
        int o = t, j = unit_owner(units, k, &o);
        kt->gemv_row(W[j] + (size_t)o * in, x, y[j] + o, n, in, out[j]);
    }
}

float dot_f32(const float *a, const float *b, int n) { return kernels()->dot_f32(a, b, n); }

void gemv_f32_ref(const float *W, const float *x, float *y, int n, int out, int in)
{
    for (int j = 0; j < n; j++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int k = 0; k < in; k++) s += (double)W[(size_t)o * in + k] * x[(size_t)j * in + k];
            y[(size_t)j * out + o] = (float)s;
        }
}
