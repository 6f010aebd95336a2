/* The model's backward pass: the forward of model.c in reverse layer order, calling each op's backward.
 * dres carries the gradient of the residual stream; ops accumulate, so buffers are zeroed before use. */
#include <string.h>

#include "model.h"
#include "ops.h"

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

int model_backward(model *m, cpet_err *err)
{
    const model_config *c = &m->cfg;
    activations *a = &m->acts;
    if (!a->fwd_block) return cpet_fail(err, "backward called before forward");
    /* no LM targets: a loss defined on the final hidden states alone (a classification head, classify.h) */
    const int lm_loss = m->n_targets > 0;
    if (!lm_loss && !m->taps.d_final_hidden)
        return cpet_fail(err, "backward: the last forward had no targets and no hidden-state gradient, so there is no loss");
    if (model_alloc_backward(m, err) != 0) return -1;
    const int B = a->B, T = a->T, N = B * T, D = c->hidden_size, F = c->intermediate_size, H = c->n_heads,
              KV = c->n_kv_heads, hd = c->head_dim, QD = H * hd, KVD = KV * hd, V = c->vocab_size;
    float *scratch = a->branch_scratch;

    zero(a->dxn, (size_t)N * D);
    if (lm_loss) {
        zero(a->dlogits, (size_t)N * V);
        cross_entropy_backward(a->dlogits, a->logits, a->lse, a->targets, N, V, 1.0f / (float)m->n_targets);
        linear_backward(&m->lm_head, a->xf, a->dlogits, a->dxn, N, scratch);
    }
    if (m->taps.d_final_hidden) /* e.g. a hidden-state distillation term (distill.h) */
        for (size_t i = 0; i < (size_t)N * D; i++) a->dxn[i] += m->taps.d_final_hidden[i];
    zero(a->dres, (size_t)N * D);
    rmsnorm_backward(a->dres, m->d_final_norm, a->dxn, a->x_final, m->final_norm, a->rstdf, N, D);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        layer_weights *lw = &m->layers[l];
        const size_t oD = (size_t)l * N * D, oF = (size_t)l * N * F, oQ = (size_t)l * N * QD, oK = (size_t)l * N * KVD,
                     oR = (size_t)l * N;
        if (m->taps.d_layer_out[l])
            for (size_t i = 0; i < (size_t)N * D; i++) a->dres[i] += m->taps.d_layer_out[l][i];
        const residual_intervention *iv = m->intervention; /* dres is d(loss)/d(layer l's output) here */
        if (iv && iv->layer == l && iv->d_delta)
            for (int b = 0; b < B; b++)
                if (iv->pos[b] >= 0 && iv->pos[b] < T)
                    for (int d = 0; d < D; d++) iv->d_delta[d] += a->dres[((size_t)b * T + iv->pos[b]) * D + d];

        /* FFN: out = x_mid + down(act(gate(xn2)) * up(xn2)) */
        zero(a->dh, (size_t)N * F);
        linear_backward(&lw->lin[LIN_DOWN], a->h + oF, a->dres, a->dh, N, scratch);
        if (m->taps.d_ffn_x1[l]) /* e.g. ProSparse's L1 on x1 (prosparse.h) */
            for (size_t i = 0; i < (size_t)N * F; i++) a->dh[i] += m->taps.d_ffn_x1[l][i];
        if (m->moe) moe_mask(&m->moe[l], a->xn2 + oD, a->dh, N); /* switched-off neurons pass no gradient */
        zero(a->dgate, (size_t)N * F);
        zero(a->dup, (size_t)N * F);
        gated_act_backward(a->dgate, a->dup, a->dh, m->taps.d_ffn_act[l], a->gate + oF, a->up + oF, (size_t)N * F,
                           c->hidden_act, c->act_threshold);
        zero(a->dxn, (size_t)N * D);
        linear_backward(&lw->lin[LIN_GATE], a->xn2 + oD, a->dgate, a->dxn, N, scratch);
        linear_backward(&lw->lin[LIN_UP], a->xn2 + oD, a->dup, a->dxn, N, scratch);
        rmsnorm_backward(a->dres, lw->d_ffn_norm, a->dxn, a->x_mid + oD, lw->ffn_norm, a->rstd2 + oR, N, D);

        /* attention: x_mid = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1))) */
        zero(a->datt_out, (size_t)N * QD);
        linear_backward(&lw->lin[LIN_O], a->att_out + oQ, a->dres, a->datt_out, N, scratch);
        zero(a->dq, (size_t)N * QD);
        zero(a->dk, (size_t)N * KVD);
        zero(a->dv, (size_t)N * KVD);
        attention_probs(a->att, a->q + oQ, a->k + oK, B, T, H, KV, hd); /* recomputed, not stored per layer */
        attention_backward(a->dq, a->dk, a->dv, a->att_scratch, a->datt_out, a->att, a->q + oQ, a->k + oK, a->v + oK, B,
                           T, H, KV, hd);
        rope_backward(a->dq, m->rope_cos, m->rope_sin, N, T, 0, H, hd);
        rope_backward(a->dk, m->rope_cos, m->rope_sin, N, T, 0, KV, hd);
        zero(a->dxn, (size_t)N * D);
        linear_backward(&lw->lin[LIN_Q], a->xn1 + oD, a->dq, a->dxn, N, scratch);
        linear_backward(&lw->lin[LIN_K], a->xn1 + oD, a->dk, a->dxn, N, scratch);
        linear_backward(&lw->lin[LIN_V], a->xn1 + oD, a->dv, a->dxn, N, scratch);
        rmsnorm_backward(a->dres, lw->d_attn_norm, a->dxn, a->x_in + oD, lw->attn_norm, a->rstd1 + oR, N, D);
    }
    if (m->d_embed) /* rows of the same token add up, so this stays serial over rows */
        for (int i = 0; i < N; i++) {
            float *dst = m->d_embed + (size_t)a->ids[i] * D;
            const float *src = a->dres + (size_t)i * D;
            for (int j = 0; j < D; j++) dst[j] += src[j];
        }
    return 0;
}
