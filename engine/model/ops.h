/* The transformer's layer operations on flat row-major f32 buffers, llm.c style.
 * Each op's backward sits beside its forward in its own file and ACCUMULATES (+=) into the gradients
 * of its inputs and parameters, so zeroing is the caller's single memset. A NULL parameter-gradient
 * pointer means "frozen: skip". N = rows (batch * seq). */
#ifndef CPET_OPS_H
#define CPET_OPS_H

#include "config.h"

/* rmsnorm.c: out = x * rsqrt(mean(x^2) + eps) * w, per row of D; rstd[N] saved for backward */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps);
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int D);

/* rope.c: HF rotate_half RoPE, in place on [N, n_heads * head_dim]; row r is at position pos0 + r % T.
 * cos/sin tables are [max_pos, head_dim/2]. The backward applies the inverse rotation in place. */
void rope_tables(float *cos_t, float *sin_t, int max_pos, int head_dim, float theta);
void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int T, int pos0, int n_heads, int head_dim);
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int T, int pos0, int n_heads,
                   int head_dim);

/* attention.c: causal GQA attention. q [B*T, H*hd], k/v [B*T, KV*hd], out [B*T, H*hd], att [B, H, T, T]
 * holds the softmax probabilities. scratch: T*T floats per OpenMP thread. The model keeps one layer's
 * att: backward recomputes a layer's probabilities (attention_probs, the same bits) from its q and k
 * instead of storing [L, B, H, T, T], which at 7B and T = 2048 would be 17 GB. */
void attention_probs(float *att, const float *q, const float *k, int B, int T, int H, int KV, int hd);
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T, int H,
                       int KV, int hd);
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int H, int KV, int hd);

/* Forward only, against a KV cache: n new queries at positions pos0..pos0+n-1; k/v caches hold positions
 * 0..pos0+n-1 as [pos, KV*hd]; scores: (pos0 + n) floats per OpenMP thread. */
void attention_forward_cached(float *out, float *scores, const float *q, const float *k_cache, const float *v_cache,
                              int n, int pos0, int H, int KV, int hd);

/* activation.c: gated FFN core h = act(gate) * up, elementwise over n values.
 * d_act_extra (may be NULL) is a gradient injected on act(gate) itself (activation taps). */
float act_value(activation a, float x, float threshold);
float act_derivative(activation a, float x, float threshold);
void gated_act_forward(float *h, const float *gate, const float *up, size_t n, activation a, float threshold);
void gated_act_backward(float *dgate, float *dup, const float *dh, const float *d_act_extra, const float *gate,
                        const float *up, size_t n, activation a, float threshold);

/* loss.c: mean cross-entropy over rows whose target is >= 0. lse[N] saved. Returns the loss and sets
 * *count to the number of targets (the loss is NaN when count is 0). */
float cross_entropy_forward(float *lse, const float *logits, const int *targets, int N, int V, int *count);
/* dlogits += scale * (softmax(logits) - onehot(target)) for rows with a target (scale = dloss / count) */
void cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets, int N, int V,
                            float scale);

#endif
