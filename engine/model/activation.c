#include <math.h>

#include "ops.h"

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

float act_value(activation a, float x, float threshold)
{
    switch (a) {
    case ACT_SILU: return x / (1.0f + expf(-x));
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_FATRELU: return x >= threshold ? x : 0.0f;
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
    }
    return 0.0f;
}

float act_derivative(activation a, float x, float threshold)
{
    switch (a) {
    case ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case ACT_FATRELU: return x >= threshold ? 1.0f : 0.0f;
    case ACT_GELU:
        return 0.5f * (1.0f + erff(x * 0.7071067811865476f)) + x * expf(-0.5f * x * x) * 0.3989422804014327f;
    case ACT_GELU_TANH: {
        float t = tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
    }
    }
    return 0.0f;
}

void gated_act_forward(float *h, const float *gate, const float *up, size_t n, activation a, float threshold)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) h[i] = act_value(a, gate[i], threshold) * up[i];
}

void gated_act_backward(float *dgate, float *dup, const float *dh, const float *d_act_extra, const float *gate,
                        const float *up, size_t n, activation a, float threshold)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d_act = dh[i] * up[i] + (d_act_extra ? d_act_extra[i] : 0.0f);
        dgate[i] += d_act * act_derivative(a, gate[i], threshold);
        dup[i] += dh[i] * act_value(a, gate[i], threshold);
    }
}
