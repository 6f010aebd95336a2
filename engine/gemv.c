#include "gemv.h"

#include <immintrin.h>
#include <stddef.h>

#include "simd.h"


/* One row of W against n inputs: two accumulators per input hide the FMA latency; the weights are
 * loaded once per 16 columns whatever n is. */
static inline void row_dot(const float *w, const float *x, float *y, int n, int in, int out)
{
    __m256 acc[GEMV_MAX_N][2];
    for (int j = 0; j < n; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + k + 8);
        for (int j = 0; j < n; j++) {
            const float *xj = x + (size_t)j * in + k;
            acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xj), acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xj + 8), acc[j][1]);
        }
    }
    for (; k + 8 <= in; k += 8) {
        __m256 w0 = _mm256_loadu_ps(w + k);
        for (int j = 0; j < n; j++) acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)j * in + k), acc[j][0]);
    }
    for (int j = 0; j < n; j++) {
        float s = hsum256(_mm256_add_ps(acc[j][0], acc[j][1]));
        for (int t = k; t < in; t++) s += w[t] * x[(size_t)j * in + t];
        y[(size_t)j * out] = s;
    }
}

/* One input against eight rows at once: eight weight streams in flight keep more cache lines in flight
 * than one, which is what a single core needs to approach the memory bandwidth. */
static inline void rows8_dot(const float *w, const float *x, float *y, int in)
{
    __m256 a[8];
    for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
        for (int r = 0; r < 8; r++) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (size_t)r * in + k), xv, a[r]);
    }
    for (int r = 0; r < 8; r++) {
        float s = hsum256(a[r]);
        for (int t = k; t < in; t++) s += w[(size_t)r * in + t] * x[t];
        y[r] = s;
    }
}

void gemv_f32(const float *W, const float *x, float *y, int n, int out, int in)
{
    if (n == 1) { /* decode: blocks of eight rows, the rest one by one */
        const int blocks = out / 8;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < blocks; b++) rows8_dot(W + (size_t)8 * b * in, x, y + 8 * b, in);
        for (int o = 8 * blocks; o < out; o++) row_dot(W + (size_t)o * in, x, y + o, 1, in, out);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int o = 0; o < out; o++) row_dot(W + (size_t)o * in, x, y + o, n, in, out);
}

float dot_f32(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    for (; k + 8 <= n; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

void gemv_f32_ref(const float *W, const float *x, float *y, int n, int out, int in)
{
    for (int j = 0; j < n; j++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int k = 0; k < in; k++) s += (double)W[(size_t)o * in + k] * x[(size_t)j * in + k];
            y[(size_t)j * out + o] = (float)s;
        }
}
