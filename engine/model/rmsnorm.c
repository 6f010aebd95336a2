#include <math.h>

#include "ops.h"

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *oi = out + (size_t)i * D;
        float ss = 0.0f;
        for (int j = 0; j < D; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / D + eps);
        for (int j = 0; j < D; j++) oi[j] = xi[j] * r * w[j];
        rstd[i] = r;
    }
}

/* With g = dout * w:  dx = r * g - x * r^3 * mean(g * x);  dw = sum_rows dout * x * r */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int D)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D, *gi = dout + (size_t)i * D;
        float *dxi = dx + (size_t)i * D;
        float r = rstd[i];
        float dot = 0.0f;
        for (int j = 0; j < D; j++) dot += gi[j] * w[j] * xi[j];
        float c = r * r * r * dot / D;
        for (int j = 0; j < D; j++) dxi[j] += r * gi[j] * w[j] - xi[j] * c;
    }
    if (!dw) return;
    /* column sums: parallel over columns keeps the reduction race-free */
#pragma omp parallel for schedule(static)
    for (int j = 0; j < D; j++) {
        float s = 0.0f;
        for (int i = 0; i < N; i++) s += dout[(size_t)i * D + j] * x[(size_t)i * D + j] * rstd[i];
        dw[j] += s;
    }
}
