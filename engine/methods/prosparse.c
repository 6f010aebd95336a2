#include "prosparse.h"

#include <string.h>

void prosparse_counts_init(prosparse_counts *c, const model *m)
{
    memset(c, 0, sizeof *c);
    c->n_layers = m->cfg.n_layers < 512 ? m->cfg.n_layers : 512;
}

void prosparse_count(prosparse_counts *c, const model *m)
{
    const size_t per_layer = (size_t)m->acts.B * m->acts.T * m->cfg.intermediate_size;
    for (int l = 0; l < c->n_layers; l++) {
        const float *h = m->acts.h + (size_t)l * per_layer;
        size_t z = 0;
        for (size_t i = 0; i < per_layer; i++) z += h[i] == 0.0f;
        c->zeros[l] += (double)z;
    }
    c->entries += (double)per_layer;
}

double prosparse_sparsity_of(const prosparse_counts *c, int layer)
{
    if (c->entries <= 0) return 0.0;
    if (layer >= 0) return layer < c->n_layers ? c->zeros[layer] / c->entries : 0.0;
    double s = 0;
    for (int l = 0; l < c->n_layers; l++) s += c->zeros[l] / c->entries;
    return c->n_layers ? s / c->n_layers : 0.0;
}
