/* Packed (quantized) linear bases of a model: attaching one, the decode mode, the bytes stored. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "tensor.h"

int model_set_packed(model *m, int layer, int which, qtensor *q)
{
    int count = model_packed_slots(m);
    if (!m->quant) {
        m->quant = calloc((size_t)count, sizeof *m->quant);
        for (int i = 0; i < count; i++) m->quant[i].format = QF_COUNT;
    }
    int head = layer == m->cfg.n_layers;
    qtensor *slot = &m->quant[head ? count - 1 : layer * LIN_PER_LAYER + which];
    if (slot->format != QF_COUNT) qtensor_free(slot);
    *slot = *q;
    linear *l = head ? &m->lm_head : &m->layers[layer].lin[which];
    l->qw = slot;
    if (l->w) qtensor_dequantize(slot, l->w); /* the f32 slot keeps what the packed base computes */
    return 0;
}

int model_set_packed_embeddings(model *m, qtensor *q)
{
    if (m->embed_q) qtensor_free(m->embed_q);
    else if (!(m->embed_q = calloc(1, sizeof *m->embed_q))) return -1;
    *m->embed_q = *q;
    if (m->embed) qtensor_dequantize(m->embed_q, m->embed);
    if (m->cfg.tie_word_embeddings) m->lm_head.qw = m->embed_q;
    return 0;
}

void model_linear_f32(const linear *l, float *out)
{
    if (l->w) memcpy(out, l->w, (size_t)l->out * l->in * sizeof(float));
    else qtensor_dequantize(l->qw, out);
}

void model_set_q8_activations(model *m, int on)
{
    for (int i = 0; m->quant && i < model_packed_slots(m); i++) {
        qtensor *q = &m->quant[i];
        if (q->format == QF_COUNT) continue;
        q->q8_activations = on;
        if (on && !q->pack && qtensor_pack_supported(q)) qtensor_pack_decode(q); /* on failure: the stored layout */
    }
}

void model_keep_decode_packs_only(model *m)
{
    for (int i = 0; m->quant && i < model_packed_slots(m); i++)
        if (m->quant[i].format != QF_COUNT && qtensor_pack_supported(&m->quant[i])) qtensor_pack_only(&m->quant[i]);
}

int model_is_decode_only(const model *m)
{
    for (int i = 0; m->quant && i < model_packed_slots(m); i++)
        if (m->quant[i].format != QF_COUNT && qtensor_is_pack_only(&m->quant[i])) return 1;
    return 0;
}

size_t model_storage_bytes(const model *m)
{
    size_t bytes = 0;
    for (int i = 0; i < m->n_tensors; i++) bytes += m->tensors[i].n * sizeof(float);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            const linear *lin = &m->layers[l].lin[k];
            if (lin->qw) bytes = bytes - (size_t)lin->in * lin->out * sizeof(float) + qtensor_bytes(lin->qw);
        }
    if (m->lm_head.qw && !m->cfg.tie_word_embeddings) /* a tied head is the embedding table, counted once */
        bytes = bytes - (size_t)m->lm_head.in * m->lm_head.out * sizeof(float) + qtensor_bytes(m->lm_head.qw);
    if (m->embed_q) bytes = bytes - (size_t)m->cfg.vocab_size * m->cfg.hidden_size * sizeof(float) + qtensor_bytes(m->embed_q);
    return bytes;
}

int model_create_random_packed(model *m, const model_config *cfg, qformat f, int group, float std, unsigned long long seed,
                               int pack_head, int pack_embeddings, cpet_err *err)
{
    const int slots = cfg->n_layers * LIN_PER_LAYER + 1;
    unsigned char *packed_only = calloc(model_packed_mask_len(cfg), 1);
    if (!packed_only) return cpet_fail(err, "out of memory");
    memset(packed_only, 1, (size_t)slots);
    packed_only[slots - 1] = pack_head && !cfg->tie_word_embeddings;
    int rc = model_create_packed(m, cfg, packed_only, err);
    free(packed_only);
    if (rc != 0) return -1;
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) /* what has storage: embeddings, norms, an f32 head */
        if (m->tensors[i].p)
            for (size_t j = 0; j < m->tensors[i].n; j++) m->tensors[i].p[j] = m->tensors[i].ndim == 2 ? std * rng_normal(&rng) : 1.0f;
    float *w = NULL;
    for (int l = 0; l <= cfg->n_layers && rc == 0; l++)
        for (int k = 0; k < (l < cfg->n_layers ? LIN_PER_LAYER : 1) && rc == 0; k++) {
            linear *lin = l < cfg->n_layers ? &m->layers[l].lin[k] : &m->lm_head;
            if (lin->w) continue; /* the head when it stays f32 (filled above) */
            float *grown = realloc(w, (size_t)lin->out * lin->in * sizeof(float));
            if (!grown) {
                rc = cpet_fail(err, "out of memory for a %d x %d matrix", lin->out, lin->in);
                break;
            }
            w = grown;
            for (size_t j = 0; j < (size_t)lin->out * lin->in; j++) w[j] = std * rng_normal(&rng);
            qtensor q;
            rc = quantize_rtn(&q, f, w, lin->out, lin->in, group, err);
            if (rc == 0) rc = model_set_packed(m, l, k, &q);
        }
    free(w);
    if (rc == 0 && pack_embeddings) { /* the table was drawn above; packed, it is saved packed */
        qtensor q;
        rc = quantize_rtn(&q, f, m->embed, cfg->vocab_size, cfg->hidden_size, group, err);
        if (rc == 0) rc = model_set_packed_embeddings(m, &q);
    }
    if (rc != 0) model_free(m);
    return rc;
}
