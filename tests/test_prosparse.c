/* ProSparse's schedule (Algorithm 1) against its formula worked by hand at stage boundaries, midpoints and
 * quarter points, on the paper's 7B schedule as committed; and bad schedules refused with the file and
 * the stage named. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model.h"
#include "prosparse.h"
#include "prosparse_schedule.h"

static void write_schedule(char *path, size_t n, const char *text)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, n, "%s/schedule.json", dir);
    write_text(path, text);
}

Test(prosparse, schedule_follows_algorithm_1)
{
    prosparse_schedule s;
    cpet_err err;
    cr_assert_eq(prosparse_schedule_load(&s, CPET_SOURCE_DIR "/reports/specs/schedules/prosparse_7b.json", &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 6);
    /* stage 1: constant; each later stage starts at the previous lambda (eta = 0 at t = T_{i-1}) and ends
     * at its own (eta = (sin(pi/2) + 1) / 2 = 1 at t = T_i) */
    cr_assert_float_eq(prosparse_lambda(&s, 1), 0.0, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 5000), 0.0, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 6000), 0.005, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 10000), 0.05, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 12000), 0.05, 1e-15, "a flat stage stays flat");
    cr_assert_float_eq(prosparse_lambda(&s, 11000), 0.05, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 16000), 0.2, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 16500), 0.2, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 99999), 0.2, 1e-15, "past the schedule: its last value");
    /* midpoints: eta = (sin(0) + 1) / 2 = 1/2 */
    cr_assert_float_eq(prosparse_lambda(&s, 5500), 0.0025, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 8000), 0.005 + 0.5 * 0.045, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 14000), 0.05 + 0.5 * 0.15, 1e-15);
    /* quarter and three quarters of stage 3 (6000..10000): eta = (1 -+ sqrt(2)/2) / 2 */
    const double q = (1 - sqrt(2.0) / 2) / 2;
    cr_assert_float_eq(prosparse_lambda(&s, 7000), 0.005 + q * 0.045, 1e-15);
    cr_assert_float_eq(prosparse_lambda(&s, 9000), 0.005 + (1 - q) * 0.045, 1e-15);
    /* the first step of a stage moves off the previous value by (1 - cos(pi / span)) / 2 of the rise */
    cr_assert_float_eq(prosparse_lambda(&s, 5001), 0.005 * (1 - cos(M_PI / 1000)) / 2, 1e-18);
    prosparse_schedule c = prosparse_constant(0.1, 300);
    cr_assert_float_eq(prosparse_lambda(&c, 1), 0.1, 0);
    cr_assert_float_eq(prosparse_lambda(&c, 300), 0.1, 0);
    cr_assert_float_eq(prosparse_lambda(&c, 301), 0.1, 0, "the constant-lambda baseline");
}

Test(prosparse, bad_schedules_name_the_file_and_the_stage)
{
    const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"stages\": [{\"lambda\": 0, \"until_step\": 100}, {\"lambda\": 0.1, \"until_step\": 50}]}",
         "stages[1].until_step 50 is not after stages[0].until_step 100: T must increase"},
        {"{\"stages\": [{\"lambda\": 0, \"until_step\": 100}, {\"lambda\": 0.1, \"until_step\": 100}]}", "T must increase"},
        {"{\"stages\": [{\"lambda\": -0.01, \"until_step\": 100}]}", "stages[0].lambda is -0.01: the regularisation weight must be >= 0"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until_step\": 0}]}", "stages[0].until_step is 0"},
        {"{\"stages\": []}", "at least one stage"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until\": 10}]}", "stages[0]: expected {\"lambda\": number, \"until_step\": integer}"},
        {"{\"stages\": [{\"lambda\": 0.1, \"until_step\": 10}], \"warmup\": 3}", "warmup: unknown key"},
        {"[1, 2]", "expected {\"stages\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        write_schedule(path, sizeof path, cases[i].text);
        prosparse_schedule s;
        cpet_err err;
        cr_assert_neq(prosparse_schedule_load(&s, path, &err), 0, "case %zu accepted", i);
        cr_assert(strstr(err.msg, path) && strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    }
    prosparse_schedule s;
    cpet_err err;
    cr_assert_neq(prosparse_schedule_load(&s, "/nonexistent/schedule.json", &err), 0);
    cr_assert(strstr(err.msg, "/nonexistent/schedule.json"), "%s", err.msg);
}

/* The sparsity counter against x1 recomputed here from each layer's FFN input (the stored normed hidden
 * state) with the layer's own gate and up weights, in double: a ReLU and a FATReLU model, and the SiLU
 * original, which has no exact zeros. */
Test(prosparse, sparsity_counts_the_zeros_of_the_gated_product)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const int B = 2, T = 7, N = B * T, D = m.cfg.hidden_size, F = m.cfg.intermediate_size, L = m.cfg.n_layers;
    int ids[14];
    for (int i = 0; i < N; i++) ids[i] = (i * 53 + 11) % m.cfg.vocab_size;
    const activation acts[3] = {ACT_SILU, ACT_RELU, ACT_FATRELU};
    const float thresholds[3] = {0, 0, 0.01f};
    float *wg = malloc((size_t)F * D * sizeof(float)), *wu = malloc((size_t)F * D * sizeof(float));
    for (int k = 0; k < 3; k++) {
        m.cfg.hidden_act = acts[k];
        m.cfg.act_threshold = thresholds[k];
        cr_assert_eq(model_forward(&m, ids, NULL, B, T, &err), 0, "%s", err.msg);
        prosparse_counts c;
        prosparse_counts_init(&c, &m);
        prosparse_count(&c, &m);
        double mean = 0;
        for (int l = 0; l < L; l++) {
            model_linear_f32(&m.layers[l].lin[LIN_GATE], wg);
            model_linear_f32(&m.layers[l].lin[LIN_UP], wu);
            const float *xn = m.acts.xn2 + (size_t)l * N * D;
            int zeros = 0, unsure = 0;
            for (int n = 0; n < N; n++)
                for (int f = 0; f < F; f++) {
                    double g = 0, u = 0;
                    for (int d = 0; d < D; d++) g += (double)xn[n * D + d] * wg[(size_t)f * D + d], u += (double)xn[n * D + d] * wu[(size_t)f * D + d];
                    const double t = acts[k] == ACT_FATRELU ? thresholds[k] : 0.0;
                    if (acts[k] != ACT_SILU && fabs(g - t) < 1e-5) unsure++; /* float and double may round either way */
                    else zeros += (acts[k] != ACT_SILU && g < t) || u == 0.0;
                }
            const double got = prosparse_sparsity_of(&c, l), want = (double)zeros / ((double)N * F);
            cr_assert(fabs(got - want) <= (unsure + 0.5) / ((double)N * F), "act %d layer %d: %g vs %g", k, l, got, want);
            mean += got / L;
        }
        cr_assert_float_eq(prosparse_sparsity_of(&c, -1), mean, 1e-12, "the overall figure is the mean over layers");
        if (acts[k] == ACT_SILU) cr_assert_eq(prosparse_sparsity_of(&c, -1), 0.0, "SiLU has no exact zeros");
        else cr_assert_gt(prosparse_sparsity_of(&c, -1), 0.3, "ReLU zeroes a good share");
        const double once = prosparse_sparsity_of(&c, 0), entries = c.entries;
        prosparse_count(&c, &m); /* the same batch again: twice the entries, the same fractions */
        cr_assert_eq(c.entries, 2 * entries);
        cr_assert_float_eq(prosparse_sparsity_of(&c, 0), once, 1e-15);
    }
    free(wg);
    free(wu);
    model_free(&m);
}
