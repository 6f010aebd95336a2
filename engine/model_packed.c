/* Packed (quantized) linear bases of a model: attaching one, the decode mode, the bytes stored. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

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

size_t model_storage_bytes(const model *m)
{
    size_t bytes = 0;
    for (int i = 0; i < m->n_tensors; i++) bytes += m->tensors[i].n * sizeof(float);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            const linear *lin = &m->layers[l].lin[k];
            if (lin->qw) bytes = bytes - (size_t)lin->in * lin->out * sizeof(float) + qtensor_bytes(lin->qw);
        }
    if (m->lm_head.qw) /* untied only: a tied head is the embedding table, counted once above */
        bytes = bytes - (size_t)m->lm_head.in * m->lm_head.out * sizeof(float) + qtensor_bytes(m->lm_head.qw);
    return bytes;
}
