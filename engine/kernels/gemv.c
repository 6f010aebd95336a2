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
    int units[GEMV_MAX_SHARED], total = 0;
    if (n == 1) { /* decode: blocks of eight rows of every matrix in one loop, then the leftover rows */
        for (int j = 0; j < k; j++) total += units[j] = out[j] / 8;
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (int t = 0; t < total; t++) {
                int b = t, j = unit_owner(units, k, &b);
                rows8_dot(W[j] + (size_t)8 * b * in, x, y[j] + 8 * b, in);
            }
#pragma omp single
            for (int j = 0; j < k; j++)
                for (int o = 8 * units[j]; o < out[j]; o++) row_dot(W[j] + (size_t)o * in, x, y[j] + o, 1, in, out[j]);
        }
        return;
    }
    for (int j = 0; j < k; j++) total += units[j] = out[j];
#pragma omp parallel for schedule(static)
    for (int t = 0; t < total; t++) {
        int o = t, j = unit_owner(units, k, &o);
        row_dot(W[j] + (size_t)o * in, x, y[j] + o, n, in, out[j]);
    }
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
