#include "train.h"

#include <math.h>
#include <string.h>

void optimizer_zero_grad(adamw *o)
{
    for (int k = 0; k < o->n_tensors; k++) memset(o->tensors[k]->g, 0, o->tensors[k]->n * sizeof(float));
}

int train_step(model *m, adamw *o, const int *ids, const int *targets, int B, int T, float lr, double clip,
               step_result *out, cpet_err *err)
{
    return train_step_hooked(m, o, ids, targets, B, T, lr, clip, NULL, NULL, out, err);
}

int train_step_hooked(model *m, adamw *o, const int *ids, const int *targets, int B, int T, float lr, double clip,
                      step_hook hook, void *ctx, step_result *out, cpet_err *err)
{
    optimizer_zero_grad(o);
    if (model_forward(m, ids, targets, B, T, err) != 0) return -1;
    if (!isfinite(m->loss))
        return cpet_fail(err, "loss is %f at optimizer step %ld (diverged or bad weights)", (double)m->loss, o->step + 1);
    out->extra_loss = hook ? hook(m, ids, B, T, ctx, err) : 0.0;
    if (!isfinite(out->extra_loss)) return -1;
    if (model_backward(m, err) != 0) return -1;
    double norm = clip_grad_norm(o, clip);
    if (!isfinite(norm)) return cpet_fail(err, "gradient norm is %f at optimizer step %ld", norm, o->step + 1);
    adamw_step(o, lr);
    out->loss = m->loss;
    out->grad_norm = norm;
    out->lr = lr;
    return 0;
}
