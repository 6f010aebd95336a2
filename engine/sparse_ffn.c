#include "sparse_ffn.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "tensor.h"

int sparse_ffn_init(sparse_ffn *s, const linear *gate, const linear *up, const linear *down, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    if (gate->qw || up->qw || down->qw || !gate->w || !up->w || !down->w)
        return cpet_fail(err, "sparse ffn: packed (quantized) bases are not supported yet; use f32 weights");
    if (up->branches || down->branches)
        return cpet_fail(err, "sparse ffn: an adapter branch on up or down would be skipped by the row-wise path; merge it first");
    if (gate->out != up->out || gate->in != up->in || down->in != gate->out || down->out != gate->in)
        return cpet_fail(err, "sparse ffn: gate %dx%d, up %dx%d and down %dx%d do not form a gated FFN", gate->out, gate->in, up->out,
                         up->in, down->out, down->in);
    s->D = gate->in, s->F = gate->out;
    if (!(s->down_t = malloc((size_t)s->F * s->D * sizeof(float)))) return cpet_fail(err, "sparse ffn: out of memory");
    for (int d = 0; d < s->D; d++) /* down->w is [D, F] */
        for (int f = 0; f < s->F; f++) s->down_t[(size_t)f * s->D + d] = down->w[(size_t)d * s->F + f];
    return 0;
}

void sparse_ffn_free(sparse_ffn *s)
{
    free(s->down_t);
    memset(s, 0, sizeof *s);
}

size_t sparse_ffn_scratch(const sparse_ffn *s, const linear *gate, int n)
{
    return (size_t)n * s->F + (size_t)s->F + (size_t)n * linear_scratch_per_row(gate);
}

int sparse_ffn_forward(const sparse_ffn *s, const linear *gate, const linear *up, activation a, float threshold, const float *xn,
                       float *out, int n, float *scratch)
{
    const int D = s->D, F = s->F;
    float *g = scratch, *lin_scratch = scratch + (size_t)n * F + F;
    int *active = (int *)(scratch + (size_t)n * F); /* F ints fit in F floats */
    linear_forward(gate, xn, g, n, lin_scratch);
    for (size_t i = 0; i < (size_t)n * F; i++) g[i] = act_value(a, g[i], threshold);
    int k = 0;
    for (int f = 0; f < F; f++) {
        int on = 0;
        for (int r = 0; r < n && !on; r++) on = g[(size_t)r * F + f] != 0.0f;
        if (on) active[k++] = f;
    }
    memset(out, 0, (size_t)n * D * sizeof(float));
    for (int r = 0; r < n; r++) {
        const float *x = xn + (size_t)r * D;
        float *o = out + (size_t)r * D;
        for (int q = 0; q < k; q++) {
            const int f = active[q];
            const float ag = g[(size_t)r * F + f];
            if (ag == 0.0f) continue; /* active in another row only */
            const float *wu = up->w + (size_t)f * D, *wd = s->down_t + (size_t)f * D;
            float u = 0.0f;
            for (int d = 0; d < D; d++) u += x[d] * wu[d];
            const float x1 = ag * u;
            for (int d = 0; d < D; d++) o[d] += x1 * wd[d];
        }
    }
    return k;
}
