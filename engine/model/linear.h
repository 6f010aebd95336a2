/* A linear layer is y = x W^T + sum of branches(x). W is the row-major [out, in] HF weight.
 * Branches (LoRA, MoSLoRA, recovery modules, ...) plug in through branch_ops, so adding a branch kind
 * never touches attention or FFN code. A branch sits in one of three places:
 *   parallel (LoRA):          y  = x' W^T + sum_p p(x')
 *   on the input (an adapter before the projection, in = out = the layer's in):  x' = x + sum_i f_i(x)
 *   on the output (an adapter after it, in = out = the layer's out):              y' = y + sum_o g_o(y)
 * Serial branches of one place all read the same value (x, or y) and add to it. */
#ifndef CPET_LINEAR_H
#define CPET_LINEAR_H

#include <stddef.h>

#include "quant.h"

struct branch;

enum { BRANCH_PARALLEL, BRANCH_ON_INPUT, BRANCH_ON_OUTPUT };

typedef struct branch_ops {
    const char *kind;
    int place; /* BRANCH_*; 0, the default, is parallel */
    /* y[n, out] += branch(x[n, in]) */
    void (*forward)(struct branch *b, const float *x, float *y, int n, float *scratch);
    /* dx[n, in] += d/dx, parameter gradients += d/dparams (when the branch is trainable) */
    void (*backward)(struct branch *b, const float *x, const float *dy, float *dx, int n, float *scratch);
    /* scratch floats needed per input row */
    size_t (*scratch_per_row)(const struct branch *b);
} branch_ops;

typedef struct branch {
    const branch_ops *ops;
    void *self; /* the owning module */
    struct branch *next;
} branch;

typedef struct linear {
    int in, out;
    float *w;          /* [out, in] */
    float *dw;         /* gradient of w, or NULL when w is frozen */
    const qtensor *qw; /* when set, the base is this packed matrix (frozen) and w is not used */
    branch *branches;
} linear;

void linear_forward(const linear *l, const float *x, float *y, int n, float *scratch);
/* ys[j] = linear_forward(ls[j], x) for k linears that read the same x (q/k/v, gate/up). At decode sizes
 * their f32 or int8-activation packed bases run in one parallel region (and x is quantized once); the
 * results are those of k linear_forward calls, bit for bit. */
void linear_forward_shared(const linear *const *ls, int k, const float *x, float *const *ys, int n, float *scratch);
/* dx (may be NULL) += dy W + branch terms;  dw += dy^T x when not frozen (never for a packed base) */
void linear_backward(const linear *l, const float *x, const float *dy, float *dx, int n, float *scratch);
void linear_attach(linear *l, branch *b);
void linear_detach(linear *l, branch *b);
size_t linear_scratch_per_row(const linear *l);

#endif
