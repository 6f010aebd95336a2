#include "prune.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float score;
    int index;
} scored;

static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->index - y->index; /* ties: a fixed order, so the count is exact and repeatable */
}

static size_t prune_lowest(float *w, scored *s, size_t n, size_t k)
{
    qsort(s, n, sizeof *s, by_score);
    for (size_t i = 0; i < k; i++) w[s[i].index] = 0.0f;
    return k;
}

size_t prune_magnitude(float *w, int rows, int cols, double sparsity)
{
    size_t n = (size_t)rows * cols, k = (size_t)llround(sparsity * (double)n);
    scored *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = (scored){fabsf(w[i]), (int)i};
    size_t pruned = prune_lowest(w, s, n, k);
    free(s);
    return pruned;
}

size_t prune_wanda(float *w, int rows, int cols, const float *x_norm, double sparsity)
{
    size_t k = (size_t)llround(sparsity * cols), total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int r = 0; r < rows; r++) {
        float *row = w + (size_t)r * cols;
        scored *s = malloc((size_t)cols * sizeof *s);
        for (int c = 0; c < cols; c++) s[c] = (scored){fabsf(row[c]) * x_norm[c], c};
        total += prune_lowest(row, s, (size_t)cols, k);
        free(s);
    }
    return total;
}

size_t prune_nm(float *w, int rows, int cols, int n, int m, const float *x_norm)
{
    size_t total = 0;
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 + m <= cols; c0 += m) {
            scored s[64];
            for (int j = 0; j < m; j++) s[j] = (scored){fabsf(w[(size_t)r * cols + c0 + j]) * (x_norm ? x_norm[c0 + j] : 1.0f), c0 + j};
            qsort(s, (size_t)m, sizeof *s, by_score);
            for (int j = 0; j < m - n; j++) w[(size_t)r * cols + s[j].index] = 0.0f;
            total += (size_t)(m - n);
        }
    return total;
}

size_t count_zeros(const float *w, size_t n)
{
    size_t z = 0;
    for (size_t i = 0; i < n; i++) z += w[i] == 0.0f;
    return z;
}
