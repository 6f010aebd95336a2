#include "linear.h"

#include <string.h>

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

static int has_place(const linear *l, int place)
{
    for (const branch *b = l->branches; b; b = b->next)
        if (b->ops->place == place) return 1;
    return 0;
}

/* y = x W^T + the parallel branches */
static void parallel_forward(const linear *l, const float *x, float *y, int n, float *scratch)
{
    base_forward(l, x, y, n);
    for (branch *b = l->branches; b; b = b->next)
        if (b->ops->place == BRANCH_PARALLEL) b->ops->forward(b, x, y, n, scratch);
}

/* x' = x + sum f_i(x) into xs [n, in] */
static void input_forward(const linear *l, const float *x, float *xs, int n, float *scratch)
{
    memcpy(xs, x, (size_t)n * l->in * sizeof *xs);
    for (branch *b = l->branches; b; b = b->next)
        if (b->ops->place == BRANCH_ON_INPUT) b->ops->forward(b, x, xs, n, scratch);
}

/* scratch rows: x' [in] when there are input branches, then y before the output branches [out], then the
 * backward's dy' [out] and dx' [in], then what the branches need */
static size_t serial_floats(const linear *l)
{
    return (size_t)(has_place(l, BRANCH_ON_INPUT) ? 2 * l->in : 0) + (has_place(l, BRANCH_ON_OUTPUT) ? 2 * l->out : 0);
}

void linear_forward(const linear *l, const float *x, float *y, int n, float *scratch)
{
    const int on_input = has_place(l, BRANCH_ON_INPUT), on_output = has_place(l, BRANCH_ON_OUTPUT);
    if (!on_input && !on_output) {
        parallel_forward(l, x, y, n, scratch);
        return;
    }
    float *xs = scratch, *ys = xs + (on_input ? (size_t)n * l->in : 0), *rest = scratch + (size_t)n * serial_floats(l);
    if (on_input) input_forward(l, x, xs, n, rest), x = xs;
    parallel_forward(l, x, on_output ? ys : y, n, rest);
    if (!on_output) return;
    memcpy(y, ys, (size_t)n * l->out * sizeof *y);
    for (branch *b = l->branches; b; b = b->next)
        if (b->ops->place == BRANCH_ON_OUTPUT) b->ops->forward(b, ys, y, n, rest);
}

void linear_forward_shared(const linear *const *ls, int k, const float *x, float *const *ys, int n, float *scratch)
{
    for (int j = 0; j < k; j++)
        if (has_place(ls[j], BRANCH_ON_INPUT) || has_place(ls[j], BRANCH_ON_OUTPUT)) { /* each its own x' or y' */
            for (int i = 0; i < k; i++) linear_forward(ls[i], x, ys[i], n, scratch);
            return;
        }
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

static void parallel_backward(const linear *l, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    if (dx && l->qw)
        qmatmul_backward_dx(l->qw, dy, dx, n);
    else if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->in, l->out, 1.0f, dy, l->out, l->w, l->in, 1.0f,
                    dx, l->in);
    if (l->dw && !l->qw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n, 1.0f, dy, l->out, x, l->in, 1.0f, l->dw,
                    l->in);
    for (branch *b = l->branches; b; b = b->next)
        if (b->ops->place == BRANCH_PARALLEL) b->ops->backward(b, x, dy, dx, n, scratch);
}

/* Serial branches' inputs (x', y) are recomputed, not stored: one more pass of the layer where they sit. */
void linear_backward(const linear *l, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    const int on_input = has_place(l, BRANCH_ON_INPUT), on_output = has_place(l, BRANCH_ON_OUTPUT);
    if (!on_input && !on_output) {
        parallel_backward(l, x, dy, dx, n, scratch);
        return;
    }
    const size_t ni = (size_t)n * l->in, no = (size_t)n * l->out;
    float *xs = scratch, *ys = xs + (on_input ? ni : 0), *dys = ys + (on_output ? no : 0), *dxs = dys + (on_output ? no : 0);
    float *rest = scratch + (size_t)n * serial_floats(l);
    const float *xin = x;
    if (on_input) input_forward(l, x, xs, n, rest), xin = xs;
    if (on_output) { /* dy' = dy + sum dg/dy */
        parallel_forward(l, xin, ys, n, rest);
        memcpy(dys, dy, no * sizeof *dys);
        for (branch *b = l->branches; b; b = b->next)
            if (b->ops->place == BRANCH_ON_OUTPUT) b->ops->backward(b, ys, dy, dys, n, rest);
        dy = dys;
    }
    if (!on_input) {
        parallel_backward(l, xin, dy, dx, n, rest);
        return;
    }
    memset(dxs, 0, ni * sizeof *dxs); /* dx' ; dx += dx' + sum df/dx . dx' */
    parallel_backward(l, xin, dy, dxs, n, rest);
    if (dx)
        for (size_t i = 0; i < ni; i++) dx[i] += dxs[i];
    for (branch *b = l->branches; b; b = b->next)
        if (b->ops->place == BRANCH_ON_INPUT) b->ops->backward(b, x, dxs, dx, n, rest);
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
    size_t most = 0; /* the branches run one at a time and share their part */
    for (const branch *b = l->branches; b; b = b->next) {
        size_t s = b->ops->scratch_per_row(b);
        most = s > most ? s : most;
    }
    return serial_floats(l) + most;
}
