/* ConPET's pieces against the reference's rules: the dynamic replay sampler (half new, old tasks and their
 * samples uniform: chi-square tests at p = 0.001 with a fixed seed), the fixed budget per task, EMR's
 * replay frequency, and Dynamic ConPET's top-k routing with teacher forcing and -100 fill, by hand. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "helpers.h"
#include "methods/conpet.h"
#include "model.h"

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

/* Joint training draws every seen sample alike: an earlier task in proportion to its size, uniformly within
 * it, and never a task not yet seen. */
Test(conpet, joint_batches_draw_every_seen_sample_alike)
{
    const int sizes[5] = {50, 80, 20, 100, 60}, B = 16, task = 3, n_batches = 20000;
    cpet_rng r;
    rng_seed(&r, 7);
    long per_task[4] = {0}, in_task2[20] = {0}, n = 0;
    conpet_sample s[16];
    for (int b = 0; b < n_batches; b++) {
        conpet_joint_batch(&r, task, sizes, B, s);
        for (int i = 0; i < B; i++) {
            cr_assert(s[i].task >= 0 && s[i].task <= task, "task %d is not seen yet", s[i].task);
            cr_assert(s[i].index >= 0 && s[i].index < sizes[s[i].task]);
            per_task[s[i].task]++, n++;
            if (s[i].task == 2) in_task2[s[i].index]++;
        }
    }
    /* against the sizes 50 : 80 : 20 : 100 (3 df: 16.27), uniform inside task 2 (19 df: 43.82) */
    long expect[4];
    double chi = 0;
    for (int u = 0; u < 4; u++) expect[u] = n * sizes[u] / 250, chi += pow(per_task[u] - (double)expect[u], 2) / expect[u];
    cr_assert_lt(chi, 16.27, "tasks: %ld %ld %ld %ld", per_task[0], per_task[1], per_task[2], per_task[3]);
    cr_assert_lt(chi_square(in_task2, 20, per_task[2]), 43.82);
    /* and the test can fail: tasks drawn uniformly would be far from the sizes */
    cr_assert_gt(chi_square(expect, 4, n), 1000.0);
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

/* forgetting and backward transfer on a hand-made accuracy matrix (rows: after task t; columns: task u) */
Test(conpet, forgetting_and_backward_transfer_by_hand)
{
    double acc[9] = {0.9, NAN, NAN, /* after task 0 */
                     0.6, 0.8, NAN, /* after task 1 */
                     0.7, 0.5, 0.95};
    conpet_result r = {.n_tasks = 3, .acc = acc};
    /* forgetting: task 0 best 0.9 -> 0.7 (0.2), task 1 best 0.8 -> 0.5 (0.3): mean 0.25 */
    cr_assert_float_eq(conpet_forgetting(&r), 0.25, 1e-12);
    /* BWT: (0.7 - 0.9 + 0.5 - 0.8) / 2 = -0.25; here equal to -forgetting, as the best came right after learning */
    cr_assert_float_eq(conpet_backward_transfer(&r), -0.25, 1e-12);
    acc[3] = 0.95; /* task 0 improved after task 1, then fell: forgetting counts from its best */
    cr_assert_float_eq(conpet_forgetting(&r), (0.25 + 0.3) / 2, 1e-12);
    cr_assert_float_eq(conpet_backward_transfer(&r), -0.25, 1e-12, "BWT does not see the peak");
    cr_assert_float_eq(conpet_average_accuracy(&r, 2), (0.7 + 0.5 + 0.95) / 3, 1e-12);
}

/* A learnable toy sequence on a small random model: 2 tasks of 2 classes, the class given by the first
 * token at the classified position. Static replay forgets less than sequential tuning; and no task id reaches inference:
 * the same test samples regrouped across the tasks' test sets give the same pooled accuracy. */
static void toy_set(class_examples *s, int n, int task, int seed)
{
    s->n = n;
    s->ids = calloc((size_t)n, sizeof(int *)), s->len = calloc((size_t)n, sizeof(int)), s->label = calloc((size_t)n, sizeof(int));
    cpet_rng r;
    rng_seed(&r, (uint64_t)seed);
    for (int i = 0; i < n; i++) {
        const int local = i % 2, len = 4 + (int)(rng_next(&r) % 4);
        s->len[i] = len, s->label[i] = 2 * task + local;
        s->ids[i] = malloc((size_t)len * sizeof(int));
        s->ids[i][0] = 0;
        for (int t = 1; t < len - 1; t++) s->ids[i][t] = 10 + (int)(rng_next(&r) % 30);
        s->ids[i][len - 1] = 1 + 2 * task + local; /* the class's token, at the classified position */
    }
}

static void toy_free(class_examples *s)
{
    for (int i = 0; i < s->n; i++) free(s->ids[i]);
    free(s->ids), free(s->len), free(s->label);
}

static conpet_result toy_run(conpet_method method, int regroup)
{
    cpet_err err;
    model m;
    model_config c = {.vocab_size = 48, .hidden_size = 32, .intermediate_size = 64, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2,
                      .head_dim = 16, .max_position_embeddings = 16, .rms_norm_eps = 1e-5f, .rope_theta = 10000.0f, .hidden_act = ACT_SILU};
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.2f, 5);
    int offsets[3] = {0, 2, 4};
    class_examples train[2], valid[2] = {{0}}, test[2];
    for (int t = 0; t < 2; t++) toy_set(&train[t], 40, t, 100 + t), toy_set(&test[t], 20, t, 200 + t);
    if (regroup) /* swap half of the test samples between the two tasks' sets: labels travel with them */
        for (int i = 0; i < 20; i += 2) {
            int *ids = test[0].ids[i], len = test[0].len[i], label = test[0].label[i];
            test[0].ids[i] = test[1].ids[i], test[0].len[i] = test[1].len[i], test[0].label[i] = test[1].label[i];
            test[1].ids[i] = ids, test[1].len[i] = len, test[1].label[i] = label;
        }
    class_sequence d = {2, offsets, train, valid, test};
    conpet_config cfg = {.method = method, .batches = 40, .batch = 8, .lr = 3e-3f, .lora_rank = 4, .lora_alpha = 8, .seed = 3, .emr_k = 5};
    conpet_result r;
    cr_assert_eq(conpet_run(&m, &d, &cfg, &r, &err), 0, "%s", err.msg);
    for (int t = 0; t < 2; t++) toy_free(&train[t]), toy_free(&test[t]);
    model_free(&m);
    return r;
}

Test(conpet, replay_forgets_less_and_no_task_id_reaches_inference, .timeout = 600)
{
    conpet_result seq = toy_run(CONPET_SEQUENTIAL, 0), joint = toy_run(CONPET_JOINT, 0), st = toy_run(CONPET_STATIC, 0), st_mixed = toy_run(CONPET_STATIC, 1),
                  dyn = toy_run(CONPET_DYNAMIC, 0), dyn_mixed = toy_run(CONPET_DYNAMIC, 1), emr = toy_run(CONPET_EMR, 0),
                  eaemr = toy_run(CONPET_EA_EMR, 0);
    cr_assert_gt(st.acc[0], 0.9, "task 0 is learnable: %g", st.acc[0]);
    cr_assert_lt(conpet_forgetting(&st) + 0.2, conpet_forgetting(&seq), "static replay %g vs sequential %g", conpet_forgetting(&st),
                 conpet_forgetting(&seq));
    cr_assert_float_eq(st_mixed.pooled[1], st.pooled[1], 1e-12, "regrouped test sets: the same predictions");
    cr_assert_eq(st.steps[0], st.steps[1], "the same budget at every task");
    /* joint training (every seen sample, the upper bound) keeps task 0 where sequential training loses it */
    cr_assert_lt(conpet_forgetting(&joint) + 0.2, conpet_forgetting(&seq), "joint %g vs sequential %g", conpet_forgetting(&joint),
                 conpet_forgetting(&seq));
    cr_assert_gt(joint.pooled[1], seq.pooled[1], "joint %g vs sequential %g on both tasks", joint.pooled[1], seq.pooled[1]);
    /* Dynamic ConPET: per-task modules and a selector; its routing is the only way a task reaches a module */
    cr_assert_lt(conpet_forgetting(&dyn) + 0.2, conpet_forgetting(&seq), "dynamic %g vs sequential %g", conpet_forgetting(&dyn),
                 conpet_forgetting(&seq));
    cr_assert_gt(dyn.selector_acc[1], 0.9, "the selector tells the tasks apart: %g", dyn.selector_acc[1]);
    cr_assert_geq(dyn.oracle_acc[1] + 1e-12, dyn.pooled[1], "an oracle selector is an upper bound");
    cr_assert_float_eq(dyn_mixed.pooled[1], dyn.pooled[1], 1e-12, "regrouped test sets: the same predictions");
    cr_assert_eq(dyn.module_hash[1 * 2 + 0], dyn.module_hash[0 * 2 + 0], "task 0's module is frozen through task 1 (hash)");
    cr_assert_neq(dyn.module_hash[1 * 2 + 1], dyn.module_hash[1 * 2 + 0], "a different module");
    /* EMR: a K-means memory of 5 per class replayed */
    cr_assert_lt(conpet_forgetting(&emr) + 0.2, conpet_forgetting(&seq), "emr %g vs sequential %g", conpet_forgetting(&emr), conpet_forgetting(&seq));
    /* EA-EMR: EMR and an alignment layer (D x D + D more tunable parameters) */
    cr_assert_lt(conpet_forgetting(&eaemr) + 0.2, conpet_forgetting(&seq), "ea-emr %g vs sequential %g", conpet_forgetting(&eaemr),
                 conpet_forgetting(&seq));
    cr_assert_eq(eaemr.tunable, emr.tunable + 32 * 33);
    conpet_result_free(&seq), conpet_result_free(&joint), conpet_result_free(&st), conpet_result_free(&st_mixed), conpet_result_free(&dyn), conpet_result_free(&dyn_mixed);
    conpet_result_free(&emr), conpet_result_free(&eaemr);
}

/* The harness runs a sequence as a cell: the spec's task entry names the directory and the dataset; the
 * record carries the sequence's metrics and one curve point per task. */
/* The world's sequence holds thousands of samples per split; the harness tests need its shape, not its
 * size (sanitizer builds run them 10-40x slower), so each task keeps its first `keep` samples. */
static void trim_sequence(const char *dir, const char *ds, size_t keep)
{
    static const char *splits[3] = {"train", "valid", "test"};
    for (int s = 0; s < 3; s++) {
        char path[600];
        snprintf(path, sizeof path, "%s/seq/%s_split_%s_dataset_p1_key.json", dir, ds, splits[s]);
        json_error_t je;
        json_t *tasks = json_load_file(path, 0, &je);
        cr_assert_not_null(tasks, "%s: %s", path, je.text);
        for (size_t t = 0; t < json_array_size(tasks); t++) {
            json_t *samples = json_array_get(tasks, t);
            while (json_array_size(samples) > keep) json_array_remove(samples, json_array_size(samples) - 1);
        }
        cr_assert_eq(json_dump_file(tasks, path, 0), 0, "%s", path);
        json_decref(tasks);
    }
}

Test(conpet, the_harness_runs_a_task_sequence, .timeout = 300)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 32, 64, 1);
    snprintf(path, sizeof path, "%s/spec.json", dir);
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"name\": \"cp\", \"models\": [\"%s/model\"], \"compressions\": [\"none\"],"
             " \"methods\": [{\"name\": \"conpet\", \"method\": \"static\", \"batches\": 3, \"batch\": 4}],"
             " \"tasks\": [{\"file\": \"%s/seq\", \"name\": \"world_relation\", \"limit\": 10}], \"seeds\": [0], \"threads\": 1}",
             dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s world --seed 2 --continual -o %s/seq", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    trim_sequence(dir, "world_relation", 48);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/run", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/run/records.jsonl", dir);
    json_error_t je;
    json_t *rec = json_load_file(path, JSON_DISABLE_EOF_CHECK, &je);
    cr_assert_not_null(rec, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "status")), "ok");
    json_t *m = json_object_get(rec, "metrics"), *curves = json_object_get(rec, "curves");
    const double avg = json_number_value(json_object_get(m, "average_accuracy"));
    cr_assert(avg >= 0 && avg <= 1, "%g", avg);
    cr_assert(json_is_number(json_object_get(m, "forgetting")) && json_is_integer(json_object_get(m, "tunable_params")));
    cr_assert_eq(json_integer_value(json_object_get(m, "n")), 6 * 10, "the task's limit: 10 of each task's 48 test samples");
    cr_assert_eq(json_array_size(json_object_get(curves, "average_accuracy")), 6, "one point per task");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "curve_x")), "tasks seen", "the plots' x axis");
    json_t *steps = json_object_get(curves, "steps_per_task");
    for (size_t t = 0; t < 6; t++) cr_assert_eq(json_number_value(json_array_get(json_array_get(steps, t), 1)), 3.0, "the same budget per task");
    json_decref(rec);
    /* the command: its confusion counts hold every test sample once, their diagonal is the pooled accuracy,
     * and --md names each of the 12 relations */
    snprintf(cmd, sizeof cmd, "%s conpet --method dynamic --tasks %s/seq --dataset world_relation --model %s/model --batches 2 --batch 4 --threads 1 "
             "-o %s/c.json --md %s/c.md", CPET_BINARY, dir, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/c.json", dir);
    rec = json_load_file(path, 0, &je);
    cr_assert_not_null(rec, "%s", je.text);
    json_t *conf = json_object_get(rec, "confusion");
    cr_assert_eq(json_array_size(conf), 12);
    long total = 0, diag = 0;
    for (size_t a = 0; a < 12; a++)
        for (size_t b = 0; b < 12; b++) {
            const long v = (long)json_integer_value(json_array_get(json_array_get(conf, a), b));
            total += v, diag += a == b ? v : 0;
        }
    snprintf(path, sizeof path, "%s/seq/world_relation_split_test_dataset_p1_key.json", dir);
    json_t *test = json_load_file(path, 0, &je);
    long n_test = 0;
    for (size_t t = 0; t < json_array_size(test); t++) n_test += (long)json_array_size(json_array_get(test, t));
    cr_assert_eq(total, n_test);
    cr_assert_float_eq((double)diag / total, json_number_value(json_object_get(rec, "pooled_accuracy")), 1e-12);
    /* --eval-split train: the confusion covers the training samples instead */
    snprintf(cmd, sizeof cmd, "%s conpet --method sequential --tasks %s/seq --dataset world_relation --model %s/model --batches 1 --batch 2 --threads 1 "
             "--eval-split train -o %s/ct.json", CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/ct.json", dir);
    json_t *rt = json_load_file(path, 0, &je);
    cr_assert_not_null(rt, "%s", je.text);
    long total_train = 0, n_train = 0;
    json_t *conf_t = json_object_get(rt, "confusion");
    for (size_t a = 0; a < 12; a++)
        for (size_t b = 0; b < 12; b++) total_train += (long)json_integer_value(json_array_get(json_array_get(conf_t, a), b));
    snprintf(path, sizeof path, "%s/seq/world_relation_split_train_dataset_p1_key.json", dir);
    json_t *train = json_load_file(path, 0, &je);
    for (size_t t = 0; t < json_array_size(train); t++) n_train += (long)json_array_size(json_array_get(train, t));
    cr_assert_eq(total_train, n_train - json_integer_value(json_object_get(rt, "dropped_long_train_samples")));
    json_decref(rt), json_decref(train);
    snprintf(path, sizeof path, "%s/c.md", dir);
    char *md = read_whole_file(path, NULL);
    cr_assert_not_null(md);
    cr_assert(strstr(md, "| capital city |") && strstr(md, "| founding year |"), "%s", md);
    int rows = 0;
    for (const char *q = md; (q = strstr(q, "\n| ")); q++) rows++;
    cr_assert_eq(rows, 13, "a header and 12 classes: %s", md);
    free(md);
    json_decref(test), json_decref(rec);
}

/* K-means picks one representative per well-separated cluster: three blobs in 2-D */
Test(conpet, kmeans_keeps_one_sample_per_cluster)
{
    float x[30 * 2];
    cpet_rng r;
    rng_seed(&r, 4);
    const float centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
    for (int i = 0; i < 30; i++)
        for (int d = 0; d < 2; d++) x[i * 2 + d] = centres[i % 3][d] + 0.3f * rng_normal(&r);
    int keep[3];
    cr_assert_eq(conpet_kmeans_select(x, 30, 2, 3, 11, keep), 3);
    int clusters[3] = {0};
    for (int q = 0; q < 3; q++) clusters[keep[q] % 3]++;
    cr_assert(clusters[0] == 1 && clusters[1] == 1 && clusters[2] == 1, "one per blob: %d %d %d", clusters[0], clusters[1], clusters[2]);
    /* the kept sample is the one nearest its blob's mean */
    for (int q = 0; q < 3; q++) {
        const int c = keep[q] % 3;
        double mx = 0, my = 0;
        for (int i = c; i < 30; i += 3) mx += x[i * 2] / 10, my += x[i * 2 + 1] / 10;
        const double dk = pow(x[keep[q] * 2] - mx, 2) + pow(x[keep[q] * 2 + 1] - my, 2);
        for (int i = c; i < 30; i += 3) cr_assert_leq(dk, pow(x[i * 2] - mx, 2) + pow(x[i * 2 + 1] - my, 2) + 1e-9);
    }
    cr_assert_eq(conpet_kmeans_select(x, 2, 2, 5, 1, keep), 2, "k capped at the samples");
}

/* A memory-bounded replay: old samples come from cap fixed samples per earlier task; new ones from all. */
Test(conpet, a_memory_bound_limits_old_samples_to_the_kept_ones)
{
    class_examples train[3] = {{.n = 50}, {.n = 40}, {.n = 30}};
    int offsets[4] = {0, 2, 4, 6};
    class_sequence d = {.n_tasks = 3, .offsets = offsets, .train = train};
    conpet_pool p;
    cr_assert_eq(conpet_pool_init(&p, &d, 3, 9), 0);
    cpet_rng r;
    rng_seed(&r, 5);
    conpet_sample s[16];
    int seen[3][64] = {{0}};
    for (int b = 0; b < 2000; b++) {
        const int n_new = conpet_pool_draw(&p, &r, &d, 2, 16, s);
        cr_assert_eq(n_new, 8);
        for (int i = 0; i < 16; i++) seen[s[i].task][s[i].index]++;
    }
    for (int u = 0; u < 2; u++) {
        int distinct = 0;
        for (int i = 0; i < 64; i++) distinct += seen[u][i] > 0;
        cr_assert_eq(distinct, 3, "task %d: the 3 kept samples only", u);
        for (int q = 0; q < 3; q++) cr_assert_gt(seen[u][p.perm[u][q]], 0, "they are the permutation's first 3");
    }
    int distinct_new = 0;
    for (int i = 0; i < 64; i++) distinct_new += seen[2][i] > 0;
    cr_assert_eq(distinct_new, 30, "the new task is not bounded");
    conpet_pool_free(&p);
    cr_assert_eq(conpet_pool_init(&p, &d, 0, 9), 0); /* no bound: every old sample */
    memset(seen, 0, sizeof seen);
    for (int b = 0; b < 2000; b++) {
        conpet_pool_draw(&p, &r, &d, 2, 16, s);
        for (int i = 8; i < 16; i++) seen[s[i].task][s[i].index]++;
    }
    int distinct0 = 0;
    for (int i = 0; i < 64; i++) distinct0 += seen[0][i] > 0;
    cr_assert_eq(distinct0, 50);
    conpet_pool_free(&p);
}

/* Bad command lines: an unknown method, a sequence directory without the dataset's files: one line, nonzero. */
Test(conpet, bad_input_is_one_clear_line)
{
    char dir[256], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "%s conpet --method replay --tasks %s --dataset x --model %s -o %s/o.json", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "'replay'") && strstr(out, "sequential, joint, static, dynamic, emr or ea-emr"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s conpet --method static --tasks %s --dataset fewnerd --model %s -o %s/o.json", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "fewnerd_class_split_p1_tags.json"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s/o.json", dir);
    cr_assert_eq(access(cmd, F_OK), -1, "no output");
}
