/* ConPET's pieces against the reference's rules: the dynamic replay sampler (half new, old tasks and their
 * samples uniform: chi-square tests at p = 0.001 with a fixed seed), the fixed budget per task, EMR's
 * replay frequency, and Dynamic ConPET's top-k routing with teacher forcing and -100 fill, by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "methods/conpet.h"

static double chi_square(const long *counts, int k, long total)
{
    const double expected = (double)total / k;
    double x = 0;
    for (int i = 0; i < k; i++) x += (counts[i] - expected) * (counts[i] - expected) / expected;
    return x;
}

Test(conpet, replay_batches_are_half_new_and_draw_old_tasks_uniformly)
{
    const int sizes[5] = {50, 80, 20, 100, 60}, B = 16, task = 4, n_batches = 20000;
    cpet_rng r;
    rng_seed(&r, 2023);
    long per_task[5] = {0}, in_task2[20] = {0}, new_index[60] = {0}, old = 0;
    conpet_sample s[16];
    for (int b = 0; b < n_batches; b++) {
        const int n_new = conpet_replay_batch(&r, task, sizes, B, 1.0, s);
        cr_assert_eq(n_new, 8, "int(B r / (r + 1)) with r = 1: half the batch");
        for (int i = 0; i < B; i++) {
            cr_assert(s[i].index >= 0 && s[i].index < sizes[s[i].task]);
            if (i < n_new) {
                cr_assert_eq(s[i].task, task, "the first part is the new task");
                new_index[s[i].index]++;
            } else {
                cr_assert(s[i].task >= 0 && s[i].task < task, "old samples come from earlier tasks");
                per_task[s[i].task]++, old++;
                if (s[i].task == 2) in_task2[s[i].index]++;
            }
        }
    }
    /* uniform over the 4 earlier tasks, whatever their sizes (3 df: 16.27), within a task (19 df: 43.82), new (59 df: 98.32) */
    cr_assert_lt(chi_square(per_task, 4, old), 16.27, "old tasks: %ld %ld %ld %ld", per_task[0], per_task[1], per_task[2], per_task[3]);
    cr_assert_lt(chi_square(in_task2, 20, per_task[2]), 43.82);
    cr_assert_lt(chi_square(new_index, 60, (long)n_batches * 8), 98.32);
    /* and the test can fail: task sizes as weights would be far from uniform */
    const long by_size[4] = {old * 50 / 250, old * 80 / 250, old * 20 / 250, old * 100 / 250};
    cr_assert_gt(chi_square(by_size, 4, old), 1000.0);
    /* task 0 has nothing to replay; another ratio splits the batch as int(B r / (r + 1)) */
    cr_assert_eq(conpet_replay_batch(&r, 0, sizes, B, 1.0, s), B);
    for (int i = 0; i < B; i++) cr_assert_eq(s[i].task, 0);
    cr_assert_eq(conpet_replay_batch(&r, 2, sizes, B, 3.0, s), 12);
}

Test(conpet, the_budget_per_task_does_not_grow_with_the_task_index)
{
    int train, valid;
    conpet_batches_per_task(2500, &train, &valid); /* FewNERD's batch_limit in the reference */
    cr_assert(train == 2000 && valid == 500);
    conpet_batches_per_task(400, &train, &valid); /* FewRel's */
    cr_assert(train == 320 && valid == 80);
}

Test(conpet, emr_replay_frequency_as_the_reference_computes_it)
{
    /* ceil((ceil(0.8 x 400) x 8 - 1000) / (ceil(0.8 x 50) x 16)) = ceil(1560 / 640) = 3 */
    cr_assert_eq(conpet_emr_replay_frequency(400, 8, 1000, 50, 16), 3);
    /* a budget the new data already fills: at least once */
    cr_assert_eq(conpet_emr_replay_frequency(2500, 8, 20000, 100, 10), 1);
    cr_assert_eq(conpet_emr_replay_frequency(400, 8, 1000, 50, 0), 1, "no old classes yet");
}

Test(conpet, top_k_selection_with_teacher_forcing_by_hand)
{
    const float sel[4] = {0.1f, 2.0f, -1.0f, 1.5f};
    int chosen[4];
    cr_assert_eq(conpet_select_tasks(sel, 4, 1, -1, chosen), 1);
    cr_assert_eq(chosen[0], 1);
    cr_assert_eq(conpet_select_tasks(sel, 4, 2, -1, chosen), 2);
    cr_assert(chosen[0] == 1 && chosen[1] == 3);
    cr_assert_eq(conpet_select_tasks(sel, 4, 2, 2, chosen), 2, "teacher forcing: task 2 missing, it takes the last slot");
    cr_assert(chosen[0] == 1 && chosen[1] == 2);
    conpet_select_tasks(sel, 4, 2, 3, chosen);
    cr_assert(chosen[0] == 1 && chosen[1] == 3, "already there: unchanged");
    conpet_select_tasks(sel, 4, 1, 0, chosen);
    cr_assert_eq(chosen[0], 0, "top-1 with forcing: the true task");
    cr_assert_eq(conpet_select_tasks(sel, 2, 5, -1, chosen), 2, "k capped at the tasks seen");
    const float tie[3] = {1, 1, 0};
    conpet_select_tasks(tie, 3, 1, -1, chosen);
    cr_assert_eq(chosen[0], 0, "ties: the lower id");
}

Test(conpet, unselected_classes_get_minus_100_then_log_softmax_by_hand)
{
    /* 3 tasks with classes {0, 1}, {2, 3, 4}, {5} */
    const int offsets[4] = {0, 2, 5, 6};
    const float m0[2] = {4.0f, 0.5f}, m1[3] = {1.0f, 2.0f, 3.0f}, m2[1] = {9.0f};
    const float *modules[3] = {m0, m1, m2};
    float out[6];
    const int only1[1] = {1};
    conpet_combine_logits(only1, 1, offsets, 3, modules, out);
    /* lse = log(e^1 + e^2 + e^3 + 3 e^-100) */
    const double lse = log(exp(1.0) + exp(2.0) + exp(3.0) + 3 * exp(-100.0));
    cr_assert_float_eq(out[4], 3.0 - lse, 1e-6);
    cr_assert_float_eq(out[2], 1.0 - lse, 1e-6);
    cr_assert_float_eq(out[0], -100.0 - lse, 1e-4, "task 0 was not selected: -100");
    cr_assert_float_eq(out[5], -100.0 - lse, 1e-4, "task 2's 9.0 never enters");
    cr_assert_eq(conpet_argmax(out, 6), 4);
    const int both[2] = {0, 2};
    conpet_combine_logits(both, 2, offsets, 3, modules, out);
    cr_assert_eq(conpet_argmax(out, 6), 5, "task 2's module wins when selected");
    cr_assert_float_eq(out[3], -100.0 - log(exp(4.0) + exp(0.5) + exp(9.0) + 3 * exp(-100.0)), 1e-4);
}
