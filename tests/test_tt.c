/* Tensor-train matrices (engine/train/tt.h, LoRETTA's building block): the parameter count by formula
 * (and LoRETTA's own LLaMA-2 count), the fast contraction against a per-entry scalar reference, the
 * backward against finite differences, and bad shapes as one-line errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "tt.h"

Test(tt, the_parameter_count_follows_the_formula)
{
    /* LoRETTA's factors for 4096 with rank 8: its LoRETTA_rep count for LLaMA-2-7B is 2 x 1952 per module */
    const int llama[] = {16, 16, 8, 4, 4};
    cr_assert_eq(tt_param_count(llama, 5, 8), (size_t)(16 * 8 + 8 * 8 * (16 + 8 + 4) + 4 * 8));
    cr_assert_eq(tt_param_count(llama, 5, 8), 1952u);
    const int small[] = {2, 3, 4};
    tt_matrix t;
    cpet_rng r;
    cpet_err err;
    rng_seed(&r, 1);
    cr_assert_eq(tt_init(&t, 6, 4, small, 3, 3, 0.5f, &r, "test", &err), 0, "%s", err.msg);
    cr_assert_eq(t.off[3], tt_param_count(small, 3, 3), "the cores hold exactly the counted parameters");
    cr_assert_eq(t.off[3], (size_t)(2 * 3 + 3 * 3 * 3 + 4 * 3));
    tt_free(&t);
}

Test(tt, the_contraction_matches_each_entry_worked_out_alone)
{
    const int cases[][4] = {{2, 3, 4, 0}, {4, 3, 2, 0}, {6, 2, 2, 0}};
    for (int c = 0; c < 3; c++) {
        tt_matrix t;
        cpet_rng r;
        cpet_err err;
        rng_seed(&r, (uint64_t)c + 3);
        const int n[3] = {cases[c][0], cases[c][1], cases[c][2]};
        /* 24 entries as 3 x 8: the row/column split falls inside a mode for some of these factorings */
        cr_assert_eq(tt_init(&t, 3, 8, n, 3, 4, 0.7f, &r, "test", &err), 0, "%s", err.msg);
        float *w = malloc(24 * sizeof(float)), *ref = malloc(24 * sizeof(float)), *scratch = malloc(tt_scratch(&t) * sizeof(float));
        tt_materialize(&t, w, scratch);
        tt_materialize_reference(&t, ref);
        for (int i = 0; i < 24; i++) cr_assert_float_eq(w[i], ref[i], 1e-5, "case %d entry %d: %g vs %g", c, i, w[i], ref[i]);
        free(w), free(ref), free(scratch);
        tt_free(&t);
    }
}

typedef struct {
    tt_matrix *t;
    const float *weights; /* the loss: sum of W * weights */
    float *w, *scratch;
} tt_loss_ctx;

static double tt_loss(void *ctx)
{
    tt_loss_ctx *c = ctx;
    tt_materialize(c->t, c->w, c->scratch);
    double s = 0;
    for (int i = 0; i < c->t->rows * c->t->cols; i++) s += (double)c->w[i] * c->weights[i];
    return s;
}

Test(tt, the_backward_matches_finite_differences)
{
    const int n[4] = {2, 3, 2, 2};
    tt_matrix t;
    cpet_rng r;
    cpet_err err;
    rng_seed(&r, 11);
    cr_assert_eq(tt_init(&t, 4, 6, n, 4, 3, 0.8f, &r, "test", &err), 0, "%s", err.msg);
    float *weights = malloc(24 * sizeof(float)), *w = malloc(24 * sizeof(float)), *scratch = malloc(tt_scratch(&t) * sizeof(float)),
          *grad = calloc(t.off[4], sizeof(float));
    fill_normal(weights, 24, 1.0f, &r);
    tt_backward(&t, weights, grad, scratch); /* dLoss/dW = weights */
    tt_loss_ctx ctx = {&t, weights, w, scratch};
    const double worst = fd_check(tt_loss, &ctx, t.p, grad, t.off[4], 1e-2f, 8, 5);
    cr_assert_lt(worst, 1e-3, "worst relative error %g", worst);
    /* it accumulates: a second call doubles the gradient */
    float *twice = malloc(t.off[4] * sizeof(float));
    memcpy(twice, grad, t.off[4] * sizeof(float));
    tt_backward(&t, weights, twice, scratch);
    for (size_t i = 0; i < t.off[4]; i++) cr_assert_float_eq(twice[i], 2 * grad[i], 1e-5 * (1 + fabsf(grad[i])));
    free(weights), free(w), free(scratch), free(grad), free(twice);
    tt_free(&t);
}

Test(tt, bad_shapes_are_one_clear_line)
{
    tt_matrix t;
    cpet_rng r;
    cpet_err err;
    rng_seed(&r, 1);
    const int n[3] = {2, 3, 4};
    cr_assert_neq(tt_init(&t, 6, 4, n, 3, 0, 0.5f, &r, "q_proj", &err), 0);
    cr_assert(strstr(err.msg, "q_proj") && strstr(err.msg, "rank 0"), "%s", err.msg);
    cr_assert_neq(tt_init(&t, 5, 4, n, 3, 2, 0.5f, &r, "q_proj", &err), 0);
    cr_assert(strstr(err.msg, "multiply to 24, not 5 x 4"), "%s", err.msg);
    cr_assert_neq(tt_init(&t, 24, 1, n, 1, 2, 0.5f, &r, "q_proj", &err), 0);
    cr_assert(strstr(err.msg, "1 cores"), "%s", err.msg);
    cr_assert(strchr(err.msg, '\n') == NULL);
}
