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

static long window_start(uint64_t seed, long step, long row, long range)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)step * 0xbf58476d1ce4e5b9ull ^ (uint64_t)row * 0x94d049bb133111ebull;
    z ^= z >> 31;
    z *= 0xd6e8feb86659fd93ull;
    z ^= z >> 32;
    return (long)(z % (uint64_t)range);
}

void train_windows(const int *stream, long n_tokens, uint64_t seed, long step, int B, int T, int *ids, int *targets)
{
    for (int b = 0; b < B; b++) {
        const long start = window_start(seed, step, b, n_tokens - T - 1);
        memcpy(ids + (size_t)b * T, stream + start, (size_t)T * sizeof(int));
        memcpy(targets + (size_t)b * T, stream + start + 1, (size_t)T * sizeof(int));
    }
}
