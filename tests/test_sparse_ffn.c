/* The exact sparse FFN against the dense one (the engine's gate/up/down linears and gated activation) and
 * against its scalar reference: f32, INT8 and INT4 weights; ReLU (a natural pattern), FATReLU, SiLU (every
 * neuron active), a threshold no neuron reaches (all inactive: exactly zero); one row and a batch (the
 * union of active neurons); the dense path above the crossover; the predictor's mask; bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "helpers.h"
#include "model.h"
#include "ops.h"
#include "sparse_decode.h"
#include "sparse_ffn.h"
#include "tensor.h"

static void dense_ffn(const layer_weights *lw, activation a, float t, const float *xn, float *out, int n, int D, int F)
{
    float *g = malloc((size_t)n * F * sizeof(float)), *u = malloc((size_t)n * F * sizeof(float)), *h = malloc((size_t)n * F * sizeof(float));
    float *scratch = calloc((size_t)n * (4 * F + 4 * D) + 4096, sizeof(float));
    linear_forward(&lw->lin[LIN_GATE], xn, g, n, scratch);
    linear_forward(&lw->lin[LIN_UP], xn, u, n, scratch);
    gated_act_forward(h, g, u, (size_t)n * F, a, t);
    linear_forward(&lw->lin[LIN_DOWN], h, out, n, scratch);
    free(g), free(u), free(h), free(scratch);
}

static double max_rel_error(const float *got, const float *want, size_t n)
{
    double e = 0, ref = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(got[i] - want[i])), ref = fmax(ref, fabs(want[i]));
    return ref == 0 ? e : e / ref;
}

/* a layer whose three linears are packed in `f` (group 32), or f32 with f = QF_COUNT */
static void make_model(model *m, qformat f, int group)
{
    cpet_err err;
    model_config c = {.vocab_size = 32, .hidden_size = 64, .intermediate_size = 160, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2,
                      .head_dim = 32, .max_position_embeddings = 16, .rms_norm_eps = 1e-5f, .rope_theta = 10000.0f,
                      .hidden_act = ACT_RELU};
    cr_assert_eq(model_create(m, &c, &err), 0, "%s", err.msg);
    model_init_random(m, 0.1f, 77);
    if (f == QF_COUNT) return;
    for (int which = LIN_GATE; which <= LIN_DOWN; which++) {
        const linear *l = &m->layers[0].lin[which];
        qtensor q;
        cr_assert_eq(quantize_rtn(&q, f, l->w, l->out, l->in, group, &err), 0, "%s", err.msg);
        cr_assert_eq(model_set_packed(m, 0, which, &q), 0);
    }
}

static void check_formats(qformat f, const char *name)
{
    model m;
    make_model(&m, f, 32);
    const int D = m.cfg.hidden_size, F = m.cfg.intermediate_size, n_max = 5;
    const layer_weights *lw = &m.layers[0];
    cpet_rng r;
    rng_seed(&r, 9);
    float *xn = malloc((size_t)n_max * D * sizeof(float)), *want = malloc((size_t)n_max * D * sizeof(float)),
          *got = malloc((size_t)n_max * D * sizeof(float)), *ref = malloc((size_t)n_max * D * sizeof(float));
    fill_normal(xn, (size_t)n_max * D, 1.0f, &r);
    const struct {
        activation a;
        float t;
        const char *what;
    } cases[] = {{ACT_RELU, 0, "relu"}, {ACT_FATRELU, 0.05f, "fatrelu 0.05"}, {ACT_SILU, 0, "silu: all active"},
                 {ACT_FATRELU, 1e30f, "nothing reaches the threshold"}};
    const int ns[2] = {1, n_max};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cpet_err err;
        sparse_ffn s;
        cr_assert_eq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], cases[c].a, cases[c].t, &err), 0, "%s",
                     err.msg);
        float *scratch = malloc(sparse_ffn_scratch(&s, n_max) * sizeof(float));
        for (int k = 0; k < 2; k++) {
            const int n = ns[k];
            dense_ffn(lw, cases[c].a, cases[c].t, xn, want, n, D, F);
            s.dense_above = 2; /* always the sparse kernels */
            const int active = sparse_ffn_forward(&s, xn, got, n, NULL, scratch);
            cr_assert_leq(max_rel_error(got, want, (size_t)n * D), 1e-5, "%s %s, n=%d: %g", name, cases[c].what, n,
                          max_rel_error(got, want, (size_t)n * D));
            sparse_ffn_reference(&s, xn, ref, n, NULL);
            cr_assert_leq(max_rel_error(got, ref, (size_t)n * D), 1e-5, "%s %s, n=%d: kernels vs scalar reference", name, cases[c].what, n);
            /* the union of active neurons, counted by hand from the dense gate */
            float *g = malloc((size_t)n * F * sizeof(float)), *sc = calloc((size_t)n * 4 * F + 4096, sizeof(float));
            linear_forward(&lw->lin[LIN_GATE], xn, g, n, sc);
            int want_active = 0;
            for (int f = 0; f < F; f++) {
                int on = 0;
                for (int i = 0; i < n; i++) on |= act_value(cases[c].a, g[(size_t)i * F + f], cases[c].t) != 0.0f;
                want_active += on;
            }
            cr_assert_eq(active, want_active, "%s %s, n=%d", name, cases[c].what, n);
            if (cases[c].t > 1e29f) {
                cr_assert_eq(active, 0);
                for (size_t i = 0; i < (size_t)n * D; i++) cr_assert_eq(got[i], 0.0f, "all inactive: exactly zero");
            }
            if (cases[c].a == ACT_SILU) cr_assert_eq(active, F);
            if (cases[c].a == ACT_RELU && n == 1) cr_assert(active > 0 && active < F, "a real pattern: %d of %d", active, F);
            /* above the crossover the dense kernels run: the same numbers */
            s.dense_above = -1;
            cr_assert_eq(sparse_ffn_forward(&s, xn, got, n, NULL, scratch), want_active);
            cr_assert_leq(max_rel_error(got, want, (size_t)n * D), 1e-5, "%s %s, n=%d, dense path", name, cases[c].what, n);
            free(g), free(sc);
        }
        /* a predictor's mask: every other neuron predicted; the result is the FFN over those neurons only */
        uint8_t *mask = malloc((size_t)F);
        for (int f = 0; f < F; f++) mask[f] = f % 2 == 0;
        sparse_ffn_forward(&s, xn, got, n_max, mask, scratch);
        sparse_ffn_reference(&s, xn, ref, n_max, mask);
        cr_assert_leq(max_rel_error(got, ref, (size_t)n_max * D), 1e-5, "%s %s: predictor mask", name, cases[c].what);
        free(mask), free(scratch);
        sparse_ffn_free(&s);
    }
    free(xn), free(want), free(got), free(ref);
    model_free(&m);
}

Test(sparse_ffn, f32_equals_the_dense_ffn_for_any_pattern) { check_formats(QF_COUNT, "f32"); }
Test(sparse_ffn, int8_equals_the_dense_packed_ffn) { check_formats(QF_INT8, "int8"); }
Test(sparse_ffn, int4_equals_the_dense_packed_ffn) { check_formats(QF_INT4, "int4"); }

Test(sparse_ffn, the_hf_fixture_layer_and_a_measured_crossover)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const layer_weights *lw = &m.layers[1];
    const int D = m.cfg.hidden_size;
    sparse_ffn s;
    cr_assert_eq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], ACT_RELU, 0, &err), 0, "%s", err.msg);
    const double c = sparse_ffn_calibrate(&s);
    cr_assert(c >= 0 && c <= 1.01, "the crossover is an active fraction: %g", c);
    cr_assert_eq(s.dense_above, c);
    cpet_rng r;
    rng_seed(&r, 3);
    float x[64 * 2], got[64 * 2], want[64 * 2], *scratch = malloc(sparse_ffn_scratch(&s, 2) * sizeof(float));
    cr_assert_eq(D, 64);
    fill_normal(x, 128, 1.0f, &r);
    sparse_ffn_forward(&s, x, got, 2, NULL, scratch); /* whichever path the crossover picks */
    dense_ffn(lw, ACT_RELU, 0, x, want, 2, D, m.cfg.intermediate_size);
    cr_assert_leq(max_rel_error(got, want, 128), 1e-5);
    free(scratch);
    sparse_ffn_free(&s);
    model_free(&m);
}

Test(sparse_ffn, refuses_what_it_cannot_compute_exactly)
{
    cpet_err err;
    model m;
    make_model(&m, QF_COUNT, 0);
    layer_weights *lw = &m.layers[0];
    sparse_ffn s;
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_GATE], ACT_RELU, 0, &err), 0);
    cr_assert(strstr(err.msg, "do not form a gated FFN"), "%s", err.msg);
    /* one matrix packed, the others not */
    qtensor q;
    const linear *up = &lw->lin[LIN_UP];
    cr_assert_eq(quantize_rtn(&q, QF_INT8, up->w, up->out, up->in, 32, &err), 0, "%s", err.msg);
    model_set_packed(&m, 0, LIN_UP, &q);
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], ACT_RELU, 0, &err), 0);
    cr_assert(strstr(err.msg, "share one format"), "%s", err.msg);
    model_free(&m);
    /* Q8_0 has no row-wise kernel here; INT4 groups of 16 cut across the 32-code AVX2 blocks */
    make_model(&m, QF_INT4, 16);
    lw = &m.layers[0];
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], ACT_RELU, 0, &err), 0);
    cr_assert(strstr(err.msg, "int4"), "%s", err.msg);
    model_free(&m);
    make_model(&m, QF_Q8_0, 32);
    lw = &m.layers[0];
    cr_assert_neq(sparse_ffn_init(&s, &lw->lin[LIN_GATE], &lw->lin[LIN_UP], &lw->lin[LIN_DOWN], ACT_RELU, 0, &err), 0);
    cr_assert(strstr(err.msg, "q8_0"), "%s", err.msg);
    model_free(&m);
}

/* Decode through the KV cache with every FFN sparse gives the dense decode's logits (f32 and INT4 weights),
 * and the counters see the pattern; a SiLU model is refused. */
static void decode_both_ways(qformat f)
{
    cpet_err err;
    model m;
    make_model(&m, f, 32);
    const int V = m.cfg.vocab_size, ids[6] = {1, 5, 9, 2, 30, 7};
    float *dense = malloc((size_t)6 * V * sizeof(float)), *sparse = malloc((size_t)6 * V * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) cr_assert_eq(model_sparse_enable(&m, 0, &err), 0, "%s", err.msg);
        kv_cache c;
        cr_assert_eq(kv_cache_init(&c, &m, 16, 4, &err), 0, "%s", err.msg);
        float *out = pass ? sparse : dense;
        cr_assert_eq(model_forward_cached(&m, &c, ids, 2, out, 1, &err), 0, "%s", err.msg); /* a 2-token chunk: the union */
        for (int t = 2; t < 6; t++) cr_assert_eq(model_forward_cached(&m, &c, ids + t, 1, out + (size_t)t * V, 0, &err), 0, "%s", err.msg);
        kv_cache_free(&c);
    }
    cr_assert_leq(max_rel_error(sparse, dense, (size_t)6 * V), 1e-5, "%s: sparse decode %g", qformat_name(f), max_rel_error(sparse, dense, (size_t)6 * V));
    const sparse_ffn *s = &m.sparse->layers[0];
    cr_assert_eq(s->calls, 5, "one chunk and four tokens");
    cr_assert(s->active_sum > 0 && s->active_sum < 5.0 * s->F, "ReLU: some neurons off, some on (%g)", s->active_sum);
    free(dense), free(sparse);
    model_free(&m); /* frees m.sparse too (ASan checks) */
}

Test(sparse_ffn, sparse_decode_equals_dense_decode_f32) { decode_both_ways(QF_COUNT); }
Test(sparse_ffn, sparse_decode_equals_dense_decode_int4) { decode_both_ways(QF_INT4); }

Test(sparse_ffn, sparse_decode_refuses_a_silu_model)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_neq(model_sparse_enable(&m, 0, &err), 0);
    cr_assert(strstr(err.msg, "ReLU") && strstr(err.msg, "silu"), "%s", err.msg);
    cr_assert_null(m.sparse);
    model_free(&m);
}
