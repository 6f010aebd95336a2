#include <math.h>

#include "ops.h"

/* The per-row terms are summed serially afterwards: an OpenMP reduction would combine partial sums in
 * thread-finishing order and make the loss differ in the last bits from run to run. */
float cross_entropy_forward(float *lse, const float *logits, const int *targets, int N, int V, int *count)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * V;
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < V; j++) sum += exp((double)(row[j] - mx));
        lse[i] = mx + (float)log(sum);
    }
    double total = 0.0;
    int n = 0;
    for (int i = 0; i < N; i++)
        if (targets[i] >= 0) {
            total += (double)lse[i] - logits[(size_t)i * V + targets[i]];
            n++;
        }
    *count = n;
    return n > 0 ? (float)(total / n) : NAN;
}

void cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets, int N, int V,
                            float scale)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        if (targets[i] < 0) continue;
        const float *row = logits + (size_t)i * V;
        float *drow = dlogits + (size_t)i * V;
        for (int j = 0; j < V; j++) drow[j] += scale * expf(row[j] - lse[i]);
        drow[targets[i]] -= scale;
    }
}
