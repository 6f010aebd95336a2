#include "linear.h"

#include "blas.h"
#include "gemv.h"

void linear_forward(const linear *l, const float *x, float *y, int n, float *scratch)
{
    if (l->qw)
        qmatmul(l->qw, x, y, n);
    else if (n <= GEMV_MAX_N) /* decode: stream W once, no sgemm packing */
        gemv_f32(l->w, x, y, n, l->out, l->in);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, l->in, l->w, l->in, 0.0f, y,
                    l->out);
    for (branch *b = l->branches; b; b = b->next) b->ops->forward(b, x, y, n, scratch);
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
