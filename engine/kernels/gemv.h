/* y[n, out] = x[n, in] W^T for a few rows of x (decode: n = 1; short chunks: n <= GEMV_MAX_N).
 * sgemm is built for large n: at n = 1 it reads W through its packing path and forks its own threads.
 * Here each row of W is streamed once for all n inputs, rows are split over the engine's OpenMP threads,
 * and the time is the time it takes to read W: memory-bound, as llama2.c's matmul. */
#ifndef CPET_GEMV_H
#define CPET_GEMV_H

#define GEMV_MAX_N 4

/* on the kernels of the level in use (kernels.h); any in, out >= 1, 1 <= n <= GEMV_MAX_N. */
void gemv_f32(const float *W, const float *x, float *y, int n, int out, int in);
/* k <= GEMV_MAX_SHARED matrices W[j] [out[j], in] that read the same x (q/k/v, gate/up): y[j] = x W[j]^T
 * in one parallel region over all their rows, instead of a fork and join per matrix. */
#define GEMV_MAX_SHARED 4
void gemv_f32_shared(const float *const *W, const int *out, int k, const float *x, float *const *y, int n, int in);
/* sum a[i] b[i] (attention's q.k at decode) */
float dot_f32(const float *a, const float *b, int n);

/* The scalar reference the tests hold gemv_f32 to (double accumulation). */
void gemv_f32_ref(const float *W, const float *x, float *y, int n, int out, int in);

#endif
