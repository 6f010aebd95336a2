#include "tt.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"

/* r_k: 1 at both ends, the rank inside */
static int rank_at(const tt_matrix *t, int k) { return k == 0 || k == t->d ? 1 : t->rank; }

size_t tt_param_count(const int *n, int d, int rank)
{
    size_t total = 0;
    for (int k = 0; k < d; k++) total += (size_t)(k == 0 ? 1 : rank) * n[k] * (k == d - 1 ? 1 : rank);
    return total;
}

int tt_init(tt_matrix *t, int rows, int cols, const int *n, int d, int rank, float std_core, cpet_rng *r, const char *what, cpet_err *err)
{
    memset(t, 0, sizeof *t);
    if (d < 2 || d > TT_MAX_CORES) return cpet_fail(err, "%s: a tensor train of %d cores (2..%d)", what, d, TT_MAX_CORES);
    if (rank < 1) return cpet_fail(err, "%s: tensor-train rank %d (at least 1)", what, rank);
    size_t prod = 1;
    for (int k = 0; k < d; k++) {
        if (n[k] < 1) return cpet_fail(err, "%s: factor %d is %d", what, k + 1, n[k]);
        prod *= (size_t)n[k];
    }
    if (rows < 1 || cols < 1 || prod != (size_t)rows * cols)
        return cpet_fail(err, "%s: the factors multiply to %zu, not %d x %d = %zu", what, prod, rows, cols, (size_t)rows * cols);
    t->rows = rows, t->cols = cols, t->d = d, t->rank = rank;
    for (int k = 0; k < d; k++) t->n[k] = n[k];
    for (int k = 0; k < d; k++) t->off[k + 1] = t->off[k] + (size_t)rank_at(t, k) * n[k] * rank_at(t, k + 1);
    t->p = malloc(t->off[d] * sizeof(float));
    if (!t->p) return cpet_fail(err, "%s: out of memory for %zu tensor-train parameters", what, t->off[d]);
    fill_normal(t->p, t->off[d], std_core, r);
    return 0;
}

void tt_free(tt_matrix *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

/* prefix and suffix sizes: P_k = n_1 ... n_k (P_0 = 1), S_k = n_k ... n_d (S_{d+1} = 1), k 1-based */
static size_t prefix(const tt_matrix *t, int k)
{
    size_t p = 1;
    for (int i = 0; i < k; i++) p *= (size_t)t->n[i];
    return p;
}

static size_t suffix(const tt_matrix *t, int k)
{
    size_t s = 1;
    for (int i = k - 1; i < t->d; i++) s *= (size_t)t->n[i];
    return s;
}

/* scratch: every left product L_k [P_k, r_k] (k = 0..d), every right product R_k [r_{k-1}, S_k] (k = 1..d+1),
 * one temporary of the largest r_{k-1} S_k */
static size_t left_size(const tt_matrix *t)
{
    size_t n = 0;
    for (int k = 0; k <= t->d; k++) n += prefix(t, k) * (size_t)rank_at(t, k);
    return n;
}

static size_t right_size(const tt_matrix *t)
{
    size_t n = 0;
    for (int k = 1; k <= t->d + 1; k++) n += (size_t)rank_at(t, k - 1) * suffix(t, k);
    return n;
}

size_t tt_scratch(const tt_matrix *t)
{
    size_t tmp = 0;
    for (int k = 1; k <= t->d; k++)
        if ((size_t)rank_at(t, k - 1) * suffix(t, k) > tmp) tmp = (size_t)rank_at(t, k - 1) * suffix(t, k);
    return left_size(t) + right_size(t) + tmp;
}

/* L_k = L_{k-1} [P_{k-1}, r_{k-1}] G_k [r_{k-1}, n_k r_k], read as [P_k, r_k]; lefts[k] points at L_k */
static void left_products(const tt_matrix *t, float *scratch, float **lefts)
{
    lefts[0] = scratch;
    lefts[0][0] = 1.0f;
    for (int k = 1; k <= t->d; k++) {
        const size_t P = prefix(t, k - 1);
        const int ra = rank_at(t, k - 1), rb = rank_at(t, k), nk = t->n[k - 1];
        lefts[k] = lefts[k - 1] + P * (size_t)ra;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)P, nk * rb, ra, 1.0f, lefts[k - 1], ra, t->p + t->off[k - 1], nk * rb, 0.0f,
                    lefts[k], nk * rb);
    }
}

void tt_materialize(const tt_matrix *t, float *w, float *scratch)
{
    float *lefts[TT_MAX_CORES + 1];
    left_products(t, scratch, lefts);
    memcpy(w, lefts[t->d], (size_t)t->rows * t->cols * sizeof(float));
}

void tt_backward(const tt_matrix *t, const float *dw, float *dcore, float *scratch)
{
    float *lefts[TT_MAX_CORES + 1], *rights[TT_MAX_CORES + 2];
    left_products(t, scratch, lefts);
    /* R_{d+1} = [1]; R_k = G_k [r_{k-1} n_k, r_k] R_{k+1} [r_k, S_{k+1}], read as [r_{k-1}, S_k] */
    float *base = scratch + left_size(t);
    rights[t->d + 1] = base;
    base[0] = 1.0f;
    float *next = base + 1;
    for (int k = t->d; k >= 1; k--) {
        const int ra = rank_at(t, k - 1), rb = rank_at(t, k), nk = t->n[k - 1];
        const size_t S = suffix(t, k + 1);
        rights[k] = next;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ra * nk, (int)S, rb, 1.0f, t->p + t->off[k - 1], rb, rights[k + 1], (int)S, 0.0f,
                    rights[k], (int)S);
        next += (size_t)ra * nk * S;
    }
    float *tmp = scratch + left_size(t) + right_size(t);
    /* dG_k = (L_{k-1}^T dW) [r_{k-1} n_k, S_{k+1}] R_{k+1}^T, with dW read as [P_{k-1}, n_k S_{k+1}] */
    for (int k = 1; k <= t->d; k++) {
        const size_t P = prefix(t, k - 1), S = suffix(t, k + 1);
        const int ra = rank_at(t, k - 1), rb = rank_at(t, k), nk = t->n[k - 1];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ra, nk * (int)S, (int)P, 1.0f, lefts[k - 1], ra, dw, nk * (int)S, 0.0f, tmp,
                    nk * (int)S);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ra * nk, rb, (int)S, 1.0f, tmp, (int)S, rights[k + 1], (int)S, 1.0f,
                    dcore + t->off[k - 1], rb);
    }
}

void tt_materialize_reference(const tt_matrix *t, float *w)
{
    const size_t N = (size_t)t->rows * t->cols;
    double row[64], out[64]; /* a 1 x r_k vector; rank <= 64 in the tests */
    for (size_t flat = 0; flat < N; flat++) {
        int idx[TT_MAX_CORES];
        size_t rest = flat;
        for (int k = t->d - 1; k >= 0; k--) idx[k] = (int)(rest % (size_t)t->n[k]), rest /= (size_t)t->n[k];
        row[0] = 1.0;
        for (int k = 0; k < t->d; k++) {
            const int ra = rank_at(t, k), rb = rank_at(t, k + 1), nk = t->n[k];
            const float *g = t->p + t->off[k];
            for (int b = 0; b < rb; b++) {
                out[b] = 0;
                for (int a = 0; a < ra; a++) out[b] += row[a] * g[((size_t)a * nk + idx[k]) * rb + b];
            }
            memcpy(row, out, (size_t)rb * sizeof(double));
        }
        w[flat] = (float)row[0];
    }
}
