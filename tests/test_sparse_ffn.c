/* The exact sparse FFN against the dense one (the engine's gate/up/down linears and gated activation):
 * ReLU (a natural pattern), FATReLU, SiLU (every neuron active), a threshold no neuron reaches (all
 * inactive: exactly zero), one row and a batch (the union of active neurons), and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "tensor.h"

static void dense_ffn(const layer_weights *lw, activation a, float t, const float *xn, float *out, int n, int D, int F)
{
    float *g = malloc((size_t)n * F * sizeof(float)), *u = malloc((size_t)n * F * sizeof(float)), *h = malloc((size_t)n * F * sizeof(float));
    float *scratch = calloc((size_t)n * (F + D) + 64, sizeof(float));
    linear_forward(&lw->lin[LIN_GATE], xn, g, n, scratch);
    linear_forward(&lw->lin[LIN_UP], xn, u, n, scratch);
    gated_act_forward(h, g, u, (size_t)n * F, a, t);
    linear_forward(&lw->lin[LIN_DOWN], h, out, n, scratch);
    free(g), free(u), free(h), free(scratch);
}

Test(sparse_ffn, equals_the_dense_ffn_for_any_pattern)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const int D = m.cfg.hidden_size, F = m.cfg.intermediate_size, n_max = 5;
    const layer_weights *lw = &m.layers[0];
    sparse_ffn s;
    cr_assert_eq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 9);
    float *xn = malloc((size_t)n_max * D * sizeof(float)), *want = malloc((size_t)n_max * D * sizeof(float)),
          *got = malloc((size_t)n_max * D * sizeof(float)), *scratch = malloc(sparse_ffn_scratch(&s, &lw->lin[LIN_GATE], n_max) * sizeof(float));
    fill_normal(xn, (size_t)n_max * D, 1.0f, &r);
    const struct {
        activation a;
        float t;
        const char *what;
    } cases[] = {{ACT_RELU, 0, "relu"}, {ACT_FATRELU, 0.05f, "fatrelu 0.05"}, {ACT_SILU, 0, "silu: all active"},
                 {ACT_FATRELU, 1e30f, "nothing reaches the threshold"}};
    const int ns[2] = {1, n_max};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < 2; k++) {
            const int n = ns[k];
            dense_ffn(lw, cases[c].a, cases[c].t, xn, want, n, D, F);
            const int active = sparse_ffn_forward(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], cases[c].a, cases[c].t, xn, got, n, scratch);
            double err_max = 0, ref = 0;
            for (size_t i = 0; i < (size_t)n * D; i++) err_max = fmax(err_max, fabs(got[i] - want[i])), ref = fmax(ref, fabs(want[i]));
            cr_assert_leq(err_max, 1e-5 * fmax(ref, 1e-30) + (ref == 0 ? 0 : 1e-7), "%s, n=%d: max error %g of %g", cases[c].what, n, err_max, ref);
            /* the union of active neurons, counted by hand from the dense gate */
            float *g = malloc((size_t)n * F * sizeof(float)), *sc = calloc((size_t)n * F + 64, sizeof(float));
            linear_forward(&lw->lin[LIN_GATE], xn, g, n, sc);
            int want_active = 0;
            for (int f = 0; f < F; f++) {
                int on = 0;
                for (int i = 0; i < n; i++) on |= act_value(cases[c].a, g[(size_t)i * F + f], cases[c].t) != 0.0f;
                want_active += on;
            }
            cr_assert_eq(active, want_active, "%s, n=%d", cases[c].what, n);
            if (cases[c].t > 1e29f) {
                cr_assert_eq(active, 0);
                for (size_t i = 0; i < (size_t)n * D; i++) cr_assert_eq(got[i], 0.0f, "all inactive: exactly zero");
            }
            if (cases[c].a == ACT_SILU) cr_assert_eq(active, F);
            if (cases[c].a == ACT_RELU && n == 1) cr_assert(active > 0 && active < F, "a real pattern: %d of %d", active, F);
            free(g), free(sc);
        }
    free(xn), free(want), free(got), free(scratch);
    sparse_ffn_free(&s);
    /* bad input: a packed base, mismatched shapes */
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_GATE], &err), 0);
    cr_assert(strstr(err.msg, "do not form a gated FFN"), "%s", err.msg);
    qtensor q;
    const linear *up = &lw->lin[LIN_UP];
    cr_assert_eq(quantize_rtn(&q, QF_INT8, up->w, up->out, up->in, 32, &err), 0, "%s", err.msg);
    model_set_packed(&m, 0, LIN_UP, &q);
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], &err), 0);
    cr_assert(strstr(err.msg, "packed"), "%s", err.msg);
    model_free(&m);
}
