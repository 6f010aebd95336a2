#include "shrink.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void top_indices(const float *score, int n, int keep, int *out)
{
    int *idx = malloc((size_t)n * sizeof(int));
    for (int j = 0; j < n; j++) idx[j] = j;
    for (int a = 0; a < keep; a++) { /* partial selection sort: n is small */
        int best = a;
        for (int b = a + 1; b < n; b++)
            if (score[idx[b]] > score[idx[best]] || (score[idx[b]] == score[idx[best]] && idx[b] < idx[best])) best = b;
        int t = idx[a];
        idx[a] = idx[best];
        idx[best] = t;
    }
    for (int a = 0; a < keep; a++)
        for (int b = a + 1; b < keep; b++)
            if (idx[b] < idx[a]) {
                int t = idx[a];
                idx[a] = idx[b];
                idx[b] = t;
            }
    memcpy(out, idx, (size_t)keep * sizeof(int));
    free(idx);
}

/* A model with config `small` holding every tensor of m that keeps its size (the caller fills the rest). */
static int shrunk_copy(const model *m, const model_config *small, model *out, cpet_err *err)
{
    if (model_create(out, small, err) != 0) return -1;
    for (int i = 0; i < m->n_tensors; i++) {
        param_tensor *dst = model_find_tensor(out, m->tensors[i].name);
        if (dst && dst->n == m->tensors[i].n) memcpy(dst->p, m->tensors[i].p, dst->n * sizeof(float));
    }
    return 0;
}

/* kept indices composed with an earlier map (pruned before: the original model's indices), a new copy */
static int *compose(const int *kept, int rows, int keep, const int *earlier, int earlier_width)
{
    int *out = malloc((size_t)rows * keep * sizeof(int));
    if (!out) return NULL;
    for (size_t i = 0; i < (size_t)rows * keep; i++)
        out[i] = earlier ? earlier[i / keep * (size_t)earlier_width + (size_t)kept[i]] : kept[i];
    return out;
}

/* what the result carries over from m unchanged: the other maps, MoE state; m is freed and replaced */
static void replace(model *m, model *out)
{
    if (!out->ffn_kept) out->ffn_kept = m->ffn_kept, out->ffn_kept_from = m->ffn_kept_from, m->ffn_kept = NULL;
    if (!out->kv_kept) out->kv_kept = m->kv_kept, out->kv_kept_from = m->kv_kept_from, m->kv_kept = NULL;
    if (!out->hidden_kept) out->hidden_kept = m->hidden_kept, out->hidden_kept_from = m->hidden_kept_from, m->hidden_kept = NULL;
    out->moe = m->moe, m->moe = NULL; /* only head pruning keeps experts: their routers and neuron maps carry over */
    model_free(m);
    *m = *out;
}

static int check_dense(const model *m, const char *what, int moe_allowed, cpet_err *err)
{
    if (m->moe && !moe_allowed) return cpet_fail(err, "%s: the FFNs are MoEfied; prune before moefication", what);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (!m->layers[l].lin[k].w || m->layers[l].lin[k].qw) return cpet_fail(err, "%s: layer %d is packed; prune before quantizing", what, l);
    return 0;
}

int model_shrink_ffn(model *m, const int *kept, int keep, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int F = cfg->intermediate_size, D = cfg->hidden_size;
    if (keep < 1 || keep > F) return cpet_fail(err, "struct-ffn: keeping %d of %d neurons", keep, F);
    if (check_dense(m, "struct-ffn", 0, err) != 0) return -1;
    model_config small = *cfg;
    small.intermediate_size = keep;
    model out;
    if (shrunk_copy(m, &small, &out, err) != 0) return -1;
    for (int l = 0; l < cfg->n_layers; l++) {
        const int *ks = kept + (size_t)l * keep;
        for (int a = 0; a < keep; a++) {
            memcpy(out.layers[l].lin[LIN_GATE].w + (size_t)a * D, m->layers[l].lin[LIN_GATE].w + (size_t)ks[a] * D, (size_t)D * sizeof(float));
            memcpy(out.layers[l].lin[LIN_UP].w + (size_t)a * D, m->layers[l].lin[LIN_UP].w + (size_t)ks[a] * D, (size_t)D * sizeof(float));
            for (int d = 0; d < D; d++)
                out.layers[l].lin[LIN_DOWN].w[(size_t)d * keep + a] = m->layers[l].lin[LIN_DOWN].w[(size_t)d * F + ks[a]];
        }
    }
    out.ffn_kept = compose(kept, cfg->n_layers, keep, m->ffn_kept, F); /* adapters of the unpruned model project through it (lora_load) */
    out.ffn_kept_from = m->ffn_kept ? m->ffn_kept_from : F;
    replace(m, &out);
    return 0;
}

int model_shrink_kv_groups(model *m, const int *kept, int keep, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int KV = cfg->n_kv_heads, group = cfg->n_heads / KV, hd = cfg->head_dim, D = cfg->hidden_size, QD = cfg->n_heads * hd;
    if (keep < 1 || keep > KV) return cpet_fail(err, "struct-heads: keeping %d of %d KV heads", keep, KV);
    if (check_dense(m, "struct-heads", 1, err) != 0) return -1;
    model_config small = *cfg;
    small.n_kv_heads = keep;
    small.n_heads = keep * group;
    model out;
    if (shrunk_copy(m, &small, &out, err) != 0) return -1;
    const int QD2 = small.n_heads * hd;
    for (int l = 0; l < cfg->n_layers; l++) {
        layer_weights *src = &m->layers[l], *dst = &out.layers[l];
        for (int a = 0; a < keep; a++) {
            int g = kept[(size_t)l * keep + a];
            /* k and v: the group's hd rows */
            memcpy(dst->lin[LIN_K].w + (size_t)a * hd * D, src->lin[LIN_K].w + (size_t)g * hd * D, (size_t)hd * D * sizeof(float));
            memcpy(dst->lin[LIN_V].w + (size_t)a * hd * D, src->lin[LIN_V].w + (size_t)g * hd * D, (size_t)hd * D * sizeof(float));
            /* q rows and o columns of its query heads */
            size_t qrows = (size_t)group * hd;
            memcpy(dst->lin[LIN_Q].w + a * qrows * D, src->lin[LIN_Q].w + g * qrows * D, qrows * D * sizeof(float));
            for (int d = 0; d < D; d++)
                memcpy(dst->lin[LIN_O].w + (size_t)d * QD2 + a * qrows, src->lin[LIN_O].w + (size_t)d * QD + g * qrows, qrows * sizeof(float));
        }
    }
    out.kv_kept = compose(kept, cfg->n_layers, keep, m->kv_kept, KV);
    out.kv_kept_from = m->kv_kept ? m->kv_kept_from : KV;
    replace(m, &out);
    return 0;
}

/* dst [rows, keep] = the kept columns of src [rows, cols] */
static void keep_columns(float *dst, const float *src, int rows, int cols, const int *kept, int keep)
{
    for (int r = 0; r < rows; r++)
        for (int a = 0; a < keep; a++) dst[(size_t)r * keep + a] = src[(size_t)r * cols + kept[a]];
}

int model_shrink_hidden(model *m, const int *kept, int keep, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int D = cfg->hidden_size;
    if (keep < 1 || keep > D) return cpet_fail(err, "hidden pruning: keeping %d of %d dimensions", keep, D);
    if (check_dense(m, "hidden pruning", 0, err) != 0) return -1;
    if (m->lm_head.qw || m->embed_q) return cpet_fail(err, "hidden pruning: the LM head or embeddings are packed; prune before quantizing");
    model_config small = *cfg;
    small.hidden_size = keep;
    small.rms_norm_eps = cfg->rms_norm_eps * (float)D / (float)keep;
    model out;
    if (shrunk_copy(m, &small, &out, err) != 0) return -1;
    const float norm_scale = sqrtf((float)D / (float)keep);
    keep_columns(out.embed, m->embed, cfg->vocab_size, D, kept, keep);
    for (int a = 0; a < keep; a++) out.final_norm[a] = m->final_norm[kept[a]] * norm_scale;
    if (!cfg->tie_word_embeddings) keep_columns(out.lm_head.w, m->lm_head.w, cfg->vocab_size, D, kept, keep);
    for (int l = 0; l < cfg->n_layers; l++) {
        layer_weights *src = &m->layers[l], *dst = &out.layers[l];
        for (int a = 0; a < keep; a++) {
            dst->attn_norm[a] = src->attn_norm[kept[a]] * norm_scale;
            dst->ffn_norm[a] = src->ffn_norm[kept[a]] * norm_scale;
        }
        static const int readers[] = {LIN_Q, LIN_K, LIN_V, LIN_GATE, LIN_UP}, writers[] = {LIN_O, LIN_DOWN};
        for (int i = 0; i < 5; i++) {
            const linear *s = &src->lin[readers[i]];
            keep_columns(dst->lin[readers[i]].w, s->w, s->out, s->in, kept, keep);
        }
        for (int i = 0; i < 2; i++) {
            const linear *s = &src->lin[writers[i]];
            for (int a = 0; a < keep; a++) memcpy(dst->lin[writers[i]].w + (size_t)a * s->in, s->w + (size_t)kept[a] * s->in, (size_t)s->in * sizeof(float));
        }
    }
    out.hidden_kept = compose(kept, 1, keep, m->hidden_kept, D);
    out.hidden_kept_from = m->hidden_kept ? m->hidden_kept_from : D;
    replace(m, &out);
    return 0;
}
