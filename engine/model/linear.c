#include "linear.h"

#include "blas.h"
#include "gemv.h"

static void base_forward(const linear *l, const float *x, float *y, int n)
{
    if (l->qw)
        qmatmul(l->qw, x, y, n);
    else if (n <= GEMV_MAX_N) /* decode: stream W once, no sgemm packing */
        gemv_f32(l->w, x, y, n, l->out, l->in);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, l->in, l->w, l->in, 0.0f, y,
                    l->out);
}

void linear_forward(const linear *l, const float *x, float *y, int n, float *scratch)
{
    base_forward(l, x, y, n);
    for (branch *b = l->branches; b; b = b->next) b->ops->forward(b, x, y, n, scratch);
}

void linear_forward_shared(const linear *const *ls, int k, const float *x, float *const *ys, int n, float *scratch)
{
    int f32 = k > 1 && k <= GEMV_MAX_SHARED && n <= GEMV_MAX_N, packed = k > 1;
    const float *W[GEMV_MAX_SHARED];
    const qtensor *Q[GEMV_MAX_SHARED];
    int out[GEMV_MAX_SHARED];
    for (int j = 0; j < k; j++) {
        f32 &= !ls[j]->qw && ls[j]->in == ls[0]->in;
        packed &= ls[j]->qw != NULL;
        if (j < GEMV_MAX_SHARED) W[j] = ls[j]->w, Q[j] = ls[j]->qw, out[j] = ls[j]->out;
    }
    if (f32) gemv_f32_shared(W, out, k, x, ys, n, ls[0]->in);
    else if (!packed || qmatmul_shared(Q, k, x, ys, n) != 0)
        for (int j = 0; j < k; j++) base_forward(ls[j], x, ys[j], n);
    for (int j = 0; j < k; j++)
        for (branch *b = ls[j]->branches; b; b = b->next) b->ops->forward(b, x, ys[j], n, scratch);
}

void linear_backward(const linear *l, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    if (dx && l->qw)
        qmatmul_backward_dx(l->qw, dy, dx, n);
    else if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->in, l->out, 1.0f, dy, l->out, l->w, l->in, 1.0f,
                    dx, l->in);
    if (l->dw && !l->qw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n, 1.0f, dy, l->out, x, l->in, 1.0f, l->dw,
                    l->in);
    for (branch *b = l->branches; b; b = b->next) b->ops->backward(b, x, dy, dx, n, scratch);
}

void linear_attach(linear *l, branch *b)
{
    b->next = NULL;
    branch **tail = &l->branches;
    while (*tail) tail = &(*tail)->next;
    *tail = b;
}

void linear_detach(linear *l, branch *b)
{
    for (branch **p = &l->branches; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            b->next = NULL;
            return;
        }
}

size_t linear_scratch_per_row(const linear *l)
{
    size_t most = 0;
    for (const branch *b = l->branches; b; b = b->next) {
        size_t s = b->ops->scratch_per_row(b);
        most = s > most ? s : most;
    }
    return most;
}
