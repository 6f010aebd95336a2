/* AdamW, clipping and schedules against independent double-precision formulas. */
#include <criterion/criterion.h>
#include <math.h>

#include "blas.h"
#include "optim.h"
#include "tensor.h"

Test(optim, adamw_matches_torch_formula)
{
    float p[3] = {0.5f, -1.0f, 2.0f}, g[3] = {0};
    float p_nodecay[2] = {1.0f, -2.0f}, g2[2] = {0};
    param_tensor t[2] = {{.name = "w", .p = p, .g = g, .n = 3, .trainable = 1, .decay = 1},
                         {.name = "norm", .p = p_nodecay, .g = g2, .n = 2, .trainable = 1, .decay = 0}};
    adamw o;
    cpet_err err;
    adamw_config c = {0.1f, 0.9f, 0.99f, 1e-8f, 0.05f};
    adamw_init(&o, c, &err);
    cr_assert_eq(adamw_add(&o, t, 2, &err), 0);
    double ref[3] = {0.5, -1.0, 2.0}, m[3] = {0}, v[3] = {0};
    double ref2[2] = {1.0, -2.0}, m2[2] = {0}, v2[2] = {0};
    const double grads[3][3] = {{0.3, -0.2, 1.0}, {-0.1, 0.4, 0.5}, {0.2, 0.2, -0.7}};
    for (int step = 1; step <= 3; step++) {
        for (int i = 0; i < 3; i++) g[i] = (float)grads[step - 1][i];
        for (int i = 0; i < 2; i++) g2[i] = (float)grads[step - 1][i];
        adamw_step(&o, 0.1f);
        for (int i = 0; i < 3; i++) { /* torch.optim.AdamW: decay first, then the Adam update */
            ref[i] *= 1 - 0.1 * 0.05;
            m[i] = 0.9 * m[i] + 0.1 * grads[step - 1][i];
            v[i] = 0.99 * v[i] + 0.01 * grads[step - 1][i] * grads[step - 1][i];
            ref[i] -= 0.1 * (m[i] / (1 - pow(0.9, step))) / (sqrt(v[i] / (1 - pow(0.99, step))) + 1e-8);
        }
        for (int i = 0; i < 2; i++) {
            m2[i] = 0.9 * m2[i] + 0.1 * grads[step - 1][i];
            v2[i] = 0.99 * v2[i] + 0.01 * grads[step - 1][i] * grads[step - 1][i];
            ref2[i] -= 0.1 * (m2[i] / (1 - pow(0.9, step))) / (sqrt(v2[i] / (1 - pow(0.99, step))) + 1e-8);
        }
    }
    for (int i = 0; i < 3; i++) cr_expect_float_eq(p[i], ref[i], 1e-5, "p[%d] %f vs %f", i, p[i], ref[i]);
    for (int i = 0; i < 2; i++) cr_expect_float_eq(p_nodecay[i], ref2[i], 1e-5, "no-decay p[%d]", i);
    adamw_free(&o);
}

Test(optim, clip_grad_norm_scales_to_max)
{
    float p[4] = {0}, g[4] = {3, 0, 0, 4};
    param_tensor t = {.name = "w", .p = p, .g = g, .n = 4, .trainable = 1};
    adamw o;
    cpet_err err;
    adamw_init(&o, adamw_defaults(), &err);
    adamw_add(&o, &t, 1, &err);
    cr_assert_float_eq(clip_grad_norm(&o, 10.0), 5.0, 1e-6);
    cr_assert_float_eq(g[3], 4.0f, 0); /* under the limit: untouched */
    cr_assert_float_eq(clip_grad_norm(&o, 1.0), 5.0, 1e-6);
    cr_assert_float_eq(vec_norm(g, 4), 1.0, 1e-5);
    cr_assert_float_eq(g[0] / g[3], 0.75, 1e-6);
    adamw_free(&o);
}

/* the gradient norm's sum of squares: against a serial double sum, and the same bits at 1 and 2 threads */
Test(optim, sum_of_squares_matches_the_serial_sum_at_any_thread_count)
{
    const size_t sizes[] = {1, 7, 65536, 65543, 300001};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *g = malloc(n * sizeof(float));
        cpet_rng r;
        rng_seed(&r, 5 + k);
        for (size_t i = 0; i < n; i++) g[i] = rng_normal(&r) * (i % 13 == 0 ? 100.0f : 0.01f);
        double want = 0;
        for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
        engine_set_threads(1);
        double one = sum_of_squares(g, n);
        engine_set_threads(2);
        double two = sum_of_squares(g, n);
        cr_assert(fabs(one - want) <= 1e-12 * want, "n=%zu: %.17g vs %.17g", n, one, want);
        cr_assert(one == two, "n=%zu: the same sum at 1 and 2 threads", n);
        free(g);
    }
}

Test(optim, schedules_warmup_then_decay)
{
    lr_schedule cos = {SCHED_COSINE, 1.0f, 0.0f, 10, 110};
    cr_assert_float_eq(lr_at(&cos, 0), 0.0f, 1e-7);
    cr_assert_float_eq(lr_at(&cos, 5), 0.5f, 1e-7);
    cr_assert_float_eq(lr_at(&cos, 10), 1.0f, 1e-6);
    cr_assert_float_eq(lr_at(&cos, 60), 0.5f, 1e-6); /* halfway through the cosine */
    cr_assert_float_eq(lr_at(&cos, 110), 0.0f, 1e-6);
    lr_schedule lin = {SCHED_LINEAR, 2.0f, 0.2f, 0, 100};
    cr_assert_float_eq(lr_at(&lin, 0), 2.0f, 1e-6);
    cr_assert_float_eq(lr_at(&lin, 50), 1.1f, 1e-6);
    cr_assert_float_eq(lr_at(&lin, 100), 0.2f, 1e-6);
    lr_schedule cst = {SCHED_CONSTANT, 3.0f, 0.0f, 4, 100};
    cr_assert_float_eq(lr_at(&cst, 2), 1.5f, 1e-6);
    cr_assert_float_eq(lr_at(&cst, 99), 3.0f, 1e-6);
}
