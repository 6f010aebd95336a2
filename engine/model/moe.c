#include "moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "tensor.h"

void moe_route(const moe_layer *e, const float *x, unsigned char *picked)
{
    float score[1024];
    for (int k = 0; k < e->experts; k++) {
        const float *r = e->router + (size_t)k * e->dim;
        float s = 0.0f;
        for (int d = 0; d < e->dim; d++) s += r[d] * x[d];
        score[k] = s;
        picked[k] = 0;
    }
    for (int t = 0; t < e->top_k; t++) { /* top-k by repeated max; ties go to the lower index */
        int best = -1;
        for (int k = 0; k < e->experts; k++)
            if (!picked[k] && (best < 0 || score[k] > score[best])) best = k;
        picked[best] = 1;
    }
}

void moe_mask(const moe_layer *e, const float *x, float *v, int n)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        unsigned char picked[1024];
        moe_route(e, x + (size_t)i * e->dim, picked);
        float *row = v + (size_t)i * e->ffn;
        for (int j = 0; j < e->ffn; j++)
            if (!picked[e->expert_of[j]]) row[j] = 0.0f;
    }
}

typedef struct {
    float dist;
    int neuron, expert;
} candidate;

static int by_dist(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return x->neuron != y->neuron ? x->neuron - y->neuron : x->expert - y->expert;
}

int moe_cluster(moe_layer *e, const float *w, int ffn, int dim, int experts, uint64_t seed, cpet_err *err)
{
    memset(e, 0, sizeof *e);
    if (experts < 2 || experts > 1024 || ffn % experts != 0)
        return cpet_fail(err, "moefication: %d experts must divide the FFN width %d (and be 2..1024)", experts, ffn);
    e->experts = experts;
    e->ffn = ffn;
    e->dim = dim;
    e->expert_of = malloc((size_t)ffn * sizeof(int));
    e->router = cpet_alloc_floats((size_t)experts * dim);
    const int size = ffn / experts;
    float *rows = malloc((size_t)ffn * dim * sizeof(float)), *cent = malloc((size_t)experts * dim * sizeof(float));
    for (int j = 0; j < ffn; j++) { /* unit rows: clusters by direction */
        double n = 0;
        for (int d = 0; d < dim; d++) n += (double)w[(size_t)j * dim + d] * w[(size_t)j * dim + d];
        float inv = n > 0 ? (float)(1.0 / sqrt(n)) : 0.0f;
        for (int d = 0; d < dim; d++) rows[(size_t)j * dim + d] = w[(size_t)j * dim + d] * inv;
    }
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int k = 0; k < experts; k++) memcpy(cent + (size_t)k * dim, rows + (size_t)(rng_next(&rng) % (uint64_t)ffn) * dim, (size_t)dim * sizeof(float));
    candidate *c = malloc((size_t)ffn * experts * sizeof *c);
    int *fill = calloc((size_t)experts, sizeof(int));
    for (int iter = 0; iter < 15; iter++) {
        for (int j = 0; j < ffn; j++)
            for (int k = 0; k < experts; k++) {
                double d2 = 0;
                for (int d = 0; d < dim; d++) {
                    double diff = rows[(size_t)j * dim + d] - cent[(size_t)k * dim + d];
                    d2 += diff * diff;
                }
                c[(size_t)j * experts + k] = (candidate){(float)d2, j, k};
            }
        qsort(c, (size_t)ffn * experts, sizeof *c, by_dist);
        /* balanced assignment: closest pairs first, each expert takes exactly `size` neurons */
        for (int j = 0; j < ffn; j++) e->expert_of[j] = -1;
        memset(fill, 0, (size_t)experts * sizeof(int));
        for (size_t p = 0; p < (size_t)ffn * experts; p++)
            if (e->expert_of[c[p].neuron] < 0 && fill[c[p].expert] < size) {
                e->expert_of[c[p].neuron] = c[p].expert;
                fill[c[p].expert]++;
            }
        memset(cent, 0, (size_t)experts * dim * sizeof(float));
        for (int j = 0; j < ffn; j++)
            for (int d = 0; d < dim; d++) cent[(size_t)e->expert_of[j] * dim + d] += rows[(size_t)j * dim + d] / size;
    }
    free(c);
    free(fill);
    free(rows);
    free(cent);
    return 0;
}

double moe_train_router(moe_layer *e, const float *x, const float *h, int n, int top_k, int epochs, uint64_t seed)
{
    const int E = e->experts, D = e->dim;
    e->top_k = top_k;
    float *target = calloc((size_t)n * E, sizeof(float)), *mass = malloc((size_t)E * sizeof(float));
    for (int i = 0; i < n; i++) { /* the experts carrying the most activation mass for this token */
        for (int k = 0; k < E; k++) mass[k] = 0.0f;
        for (int j = 0; j < e->ffn; j++) mass[e->expert_of[j]] += fabsf(h[(size_t)i * e->ffn + j]);
        for (int t = 0; t < top_k; t++) {
            int best = -1;
            for (int k = 0; k < E; k++)
                if (target[(size_t)i * E + k] == 0.0f && (best < 0 || mass[k] > mass[best])) best = k;
            target[(size_t)i * E + best] = 1.0f;
        }
    }
    cpet_rng rng;
    rng_seed(&rng, seed);
    fill_normal(e->router, (size_t)E * D, 0.01f, &rng);
    float *logit = malloc((size_t)n * E * sizeof(float)), *grad = malloc((size_t)E * D * sizeof(float)),
          *m1 = calloc((size_t)E * D, sizeof(float)), *m2 = calloc((size_t)E * D, sizeof(float));
    for (int ep = 1; ep <= epochs; ep++) { /* full-batch Adam on mean binary cross-entropy */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, E, D, 1.0f, x, D, e->router, D, 0.0f, logit, E);
        for (size_t i = 0; i < (size_t)n * E; i++) logit[i] = (1.0f / (1.0f + expf(-logit[i])) - target[i]) / (float)n;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, E, D, n, 1.0f, logit, E, x, D, 0.0f, grad, D);
        const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, c1 = 1.0f - powf(b1, (float)ep), c2 = 1.0f - powf(b2, (float)ep);
        for (size_t i = 0; i < (size_t)E * D; i++) {
            m1[i] = b1 * m1[i] + (1 - b1) * grad[i];
            m2[i] = b2 * m2[i] + (1 - b2) * grad[i] * grad[i];
            e->router[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + 1e-8f);
        }
    }
    long hit = 0;
    unsigned char picked[1024];
    for (int i = 0; i < n; i++) {
        moe_route(e, x + (size_t)i * D, picked);
        for (int k = 0; k < E; k++) hit += picked[k] && target[(size_t)i * E + k] > 0.0f;
    }
    free(target);
    free(mass);
    free(logit);
    free(grad);
    free(m1);
    free(m2);
    return (double)hit / ((double)n * top_k);
}

void moe_free(moe_layer *e)
{
    free(e->expert_of);
    cpet_free(e->router);
    memset(e, 0, sizeof *e);
}
