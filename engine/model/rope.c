#include <math.h>

#include "ops.h"

/* inv_freq and the angle are computed in f32 like transformers does, so long positions match too */
void rope_tables(float *cos_t, float *sin_t, int max_pos, int head_dim, float theta)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
        for (int p = 0; p < max_pos; p++) {
            float angle = (float)p * inv_freq;
            cos_t[(size_t)p * half + i] = (float)cos((double)angle);
            sin_t[(size_t)p * half + i] = (float)sin((double)angle);
        }
    }
}

/* rotate_half pairs element i with i + hd/2:  (a, b) -> (a cos - b sin, b cos + a sin).
 * sign = -1 applies the transpose (inverse) rotation, which is the backward. */
static void rope_apply(float *x, const float *cos_t, const float *sin_t, int N, int T, int pos0, int n_heads,
                       int head_dim, float sign)
{
    int half = head_dim / 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        int pos = pos0 + r % T;
        const float *c = cos_t + (size_t)pos * half, *s = sin_t + (size_t)pos * half;
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + (size_t)r * n_heads * head_dim + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float a = xh[i], b = xh[i + half], si = sign * s[i];
                xh[i] = a * c[i] - b * si;
                xh[i + half] = b * c[i] + a * si;
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int T, int pos0, int n_heads, int head_dim)
{
    rope_apply(x, cos_t, sin_t, N, T, pos0, n_heads, head_dim, 1.0f);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int T, int pos0, int n_heads,
                   int head_dim)
{
    rope_apply(dx, cos_t, sin_t, N, T, pos0, n_heads, head_dim, -1.0f);
}
