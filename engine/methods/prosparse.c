#include "prosparse.h"

#include <math.h>
#include <stdlib.h>
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

static void clear_taps(model *m)
{
    for (int l = 0; l < m->cfg.n_layers; l++) m->taps.d_ffn_x1[l] = NULL;
}

double prosparse_l1_term(model *m, prosparse_l1 *r, cpet_err *err)
{
    clear_taps(m);
    if (!(r->lambda > 0)) return r->last = 0.0;
    const size_t N = (size_t)m->acts.B * m->acts.T, F = (size_t)m->cfg.intermediate_size, per_layer = N * F,
                 need = per_layer * (size_t)m->cfg.n_layers;
    if (need > r->cap) {
        free(r->grad);
        r->cap = (r->grad = malloc(need * sizeof(float))) ? need : 0;
        if (!r->cap) return cpet_fail(err, "prosparse: out of memory for the regulariser's gradient"), NAN;
    }
    const float g = (float)(r->lambda / (double)N);
    double sum = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const float *x1 = m->acts.h + (size_t)l * per_layer;
        float *d = r->grad + (size_t)l * per_layer;
        double layer = 0;
        for (size_t i = 0; i < per_layer; i++) {
            layer += fabsf(x1[i]);
            d[i] = x1[i] > 0 ? g : x1[i] < 0 ? -g : 0.0f; /* the subgradient 0 at 0: zeros stay put */
        }
        sum += layer;
        m->taps.d_ffn_x1[l] = d;
    }
    return r->last = r->lambda * sum / (double)N;
}

double prosparse_l1_hook(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err)
{
    (void)ids, (void)B, (void)T;
    return prosparse_l1_term(m, ctx, err);
}

void prosparse_l1_free(prosparse_l1 *r, model *m)
{
    if (m) clear_taps(m);
    free(r->grad);
    memset(r, 0, sizeof *r);
}
