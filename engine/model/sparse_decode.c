#include "sparse_decode.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tensor.h"

int model_sparse_enable(model *m, int calibrate, cpet_err *err)
{
    model_sparse_disable(m);
    const activation a = m->cfg.hidden_act;
    if (a != ACT_RELU && a != ACT_FATRELU)
        return cpet_fail(err, "sparse decode needs a ReLU model; this one uses %s, which is never exactly zero (make it sparse with cpet sparsify)",
                         activation_name(a));
    if (m->moe) return cpet_fail(err, "sparse decode: MoEfication routers already mask the FFN; use one or the other");
    sparse_decode *d = calloc(1, sizeof *d);
    if (!d || !(d->layers = calloc((size_t)m->cfg.n_layers, sizeof *d->layers))) {
        free(d);
        return cpet_fail(err, "sparse decode: out of memory");
    }
    d->max_rows = SPARSE_DECODE_MAX_ROWS;
    m->sparse = d;
    for (int l = 0; l < m->cfg.n_layers; l++, d->n_layers++) {
        const layer_weights *lw = &m->layers[l];
        if (sparse_ffn_init(&d->layers[l], &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], a, m->cfg.act_threshold, err) != 0) {
            model_sparse_disable(m);
            return cpet_prefix(err, "layer %d", l);
        }
        /* every layer has the same shape and format: one measurement serves all (a 7B model would spend
         * minutes timing 32 identical layers) */
        if (calibrate) d->layers[l].dense_above = l == 0 ? sparse_ffn_calibrate(&d->layers[0]) : d->layers[0].dense_above;
    }
    return 0;
}

void model_sparse_disable(model *m)
{
    sparse_decode_free(m->sparse);
    m->sparse = NULL;
}

uint64_t model_ffn_fingerprint(const model *m)
{
    const int shape[3] = {m->cfg.n_layers, m->cfg.hidden_size, m->cfg.intermediate_size};
    uint64_t h = fnv1a64(FNV1A64_INIT, shape, sizeof shape);
    float *row = malloc((size_t)m->cfg.hidden_size * sizeof(float));
    for (int l = 0; row && l < m->cfg.n_layers; l++) {
        const linear *g = &m->layers[l].lin[LIN_GATE];
        for (int r = 0; r < g->out; r += 97) { /* every 97th row: enough to tell two models apart */
            if (g->qw) qtensor_dequant_row(g->qw, r, row);
            else memcpy(row, g->w + (size_t)r * g->in, (size_t)g->in * sizeof(float));
            h = fnv1a64(h, row, (size_t)g->in * sizeof(float));
        }
    }
    free(row);
    return h;
}
