/* ConPET's reference format read back from hand-written files: tasks, disjoint label sets, the >50-word
 * filter on training samples only, integer and string keys; bad files refused naming the file and the
 * task; the prompt a causal model classifies at. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "continual.h"
#include "helpers.h"
#include "world.h"

static void write_files(const char *dir, const char *tags, const char *train, const char *valid, const char *test)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fewnerd_class_split_p1_tags.json", dir), write_text(path, tags);
    snprintf(path, sizeof path, "%s/fewnerd_split_train_dataset_p1_key.json", dir), write_text(path, train);
    snprintf(path, sizeof path, "%s/fewnerd_split_valid_dataset_p1_key.json", dir), write_text(path, valid);
    snprintf(path, sizeof path, "%s/fewnerd_split_test_dataset_p1_key.json", dir), write_text(path, test);
}

static char long_text[600];

Test(continual, reads_the_reference_format)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    strcpy(long_text, "");
    for (int i = 0; i < 51; i++) strcat(long_text, "word ");
    char train[2048];
    snprintf(train, sizeof train,
             "[[[\"a1\", 3, \"Paris is in [unused0] France [unused1] . In this sentence, France is a [MASK].\"], [7, 5, \"x [MASK]\"],"
             "  [\"a3\", 3, \"%s[MASK]\"]],"
             " [[\"b1\", 0, \"y [MASK]\"]]]",
             long_text);
    char test[1024];
    snprintf(test, sizeof test, "[[[\"t1\", 5, \"%s[MASK]\"]], [[\"t2\", 1, \"z [MASK]\"]]]", long_text);
    write_files(dir, "[[3, 5], [0, 1]]", train, "[[], [[\"v1\", 1, \"v [MASK]\"]]]", test);
    continual_data d;
    cpet_err err;
    cr_assert_eq(continual_read(&d, dir, "fewnerd", 1, 50, &err), 0, "%s", err.msg);
    cr_assert_eq(d.n_tasks, 2);
    cr_assert(d.n_tags[0] == 2 && d.tags[0][0] == 3 && d.tags[0][1] == 5 && d.n_tags[1] == 2);
    cr_assert_eq(d.train[0].n, 2, "the 51-word training sample is dropped");
    cr_assert_eq(d.dropped_long, 1);
    cr_assert_str_eq(d.train[0].s[1].key, "7", "integer keys become strings");
    cr_assert_eq(d.train[0].s[1].tag, 5);
    cr_assert_eq(d.test[0].n, 1, "test keeps long samples");
    cr_assert(d.valid[0].n == 0 && d.valid[1].n == 1 && d.train[1].s[0].tag == 0);
    char *prompt = continual_prompt(d.train[0].s[0].text);
    cr_assert_str_eq(prompt, "Paris is in France . In this sentence, France is a");
    free(prompt);
    cr_assert_null(continual_prompt("no mask here"));
    continual_free(&d);
    cr_assert_eq(continual_read(&d, dir, "fewnerd", 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(d.train[0].n, 3, "max_words 0: no filter");
    continual_free(&d);
}

static void expect_bad(const char *tags, const char *train, const char *file_part, const char *problem)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    write_files(dir, tags, train, "[[], []]", "[[], []]");
    continual_data d;
    cpet_err err;
    cr_assert_neq(continual_read(&d, dir, "fewnerd", 1, 50, &err), 0, "expected '%s'", problem);
    cr_assert(strstr(err.msg, file_part) && strstr(err.msg, problem), "%s", err.msg);
}

Test(continual, bad_files_name_the_file_and_the_problem)
{
    expect_bad("[[3, 5], [5, 1]]", "[[], []]", "class_split_p1_tags.json", "disjoint");
    expect_bad("[[3, 5], [0, 1]]", "[[[\"a\", 1, \"x [MASK]\"]], []]", "train_dataset_p1_key.json", "tag 1 is not one of the task's classes");
    expect_bad("[[3, 5], [0, 1]]", "[[]]", "train_dataset_p1_key.json", "1 tasks, the class split has 2");
    expect_bad("[[3, 5], [0, 1]]", "[[[\"a\", \"3\", \"x\"]], []]", "train_dataset_p1_key.json", "expected [sample_key, tag, text]");
    expect_bad("[[3, 5], []]", "[[], []]", "class_split_p1_tags.json", "task 1");
}

/* The synthetic world's sequences: written in the reference format, read back by the same reader: 6 tasks,
 * 34 typing classes and 12 relations, disjoint, every class in train and test, test on held-out templates. */
Test(continual, the_world_sequences_round_trip)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cpet_err err;
    world w;
    cr_assert_eq(world_generate(&w, 1, world_default_sizes(), &err), 0, "%s", err.msg);
    cr_assert_eq(continual_write_world(&w, dir, 1, &err), 0, "%s", err.msg);
    const char *ds[2] = {"world_typing", "world_relation"};
    const int want_classes[2] = {34, 12};
    for (int k = 0; k < 2; k++) {
        continual_data d;
        cr_assert_eq(continual_read(&d, dir, ds[k], 1, 50, &err), 0, "%s", err.msg);
        cr_assert_eq(d.n_tasks, 6);
        cr_assert_eq(d.dropped_long, 0, "short texts");
        int seen[64] = {0}, classes = 0;
        for (int t = 0; t < 6; t++) {
            cr_assert(d.n_tags[t] >= 2, "%s task %d has %d classes", ds[k], t, d.n_tags[t]);
            classes += d.n_tags[t];
            for (int i = 0; i < d.n_tags[t]; i++) {
                const int tag = d.tags[t][i];
                int in_train = 0, in_test = 0;
                for (int j = 0; j < d.train[t].n; j++) in_train += d.train[t].s[j].tag == tag;
                for (int j = 0; j < d.test[t].n; j++) in_test += d.test[t].s[j].tag == tag;
                cr_assert(in_train > 0 && in_test > 0, "%s class %d: %d train, %d test samples", ds[k], tag, in_train, in_test);
                seen[tag]++;
            }
            for (int j = 0; j < d.test[t].n; j++) { /* keys end in the template index: a held-out one, never in the corpus */
                const char *key = d.test[t].s[j].key, *dash = strrchr(key, '-');
                int r = -1;
                for (int q = 0; q < world_n_relations; q++) {
                    const size_t n = strlen(world_relations[q].name);
                    if (dash - key > (long)n && !strncmp(dash - n, world_relations[q].name, n) && dash[-(long)n - 1] == '-') r = q;
                }
                cr_assert(r >= 0, "%s", key);
                cr_assert_geq(atoi(dash + 1), world_corpus_templates(r), "%s", key);
            }
        }
        cr_assert_eq(classes, want_classes[k]);
        for (int c = 0; c < want_classes[k]; c++) cr_assert_eq(seen[c], 1, "%s class %d in exactly one task", ds[k], c);
        char *p = continual_prompt(d.train[0].s[0].text);
        cr_assert(strstr(p, "In this sentence,") && p[strlen(p) - 1] != ' ', "%s", p);
        free(p);
        continual_free(&d);
    }
    world_free(&w);
}

/* A reduced budget's test split: at most `limit` samples per task, evenly spaced in file order (12 samples,
 * limit 5: indices 0, 2, 4, 7, 9, i.e. floor(i * 12 / 5)); a task at or under the limit keeps all; 0 keeps all. */
Test(continual, test_limit_keeps_evenly_spaced_samples)
{
    continual_data d = {0};
    d.n_tasks = 2;
    d.test = calloc(2, sizeof *d.test);
    const int sizes[2] = {12, 4};
    for (int t = 0; t < 2; t++) {
        d.test[t].n = sizes[t];
        d.test[t].s = calloc((size_t)sizes[t], sizeof(continual_sample));
        for (int i = 0; i < sizes[t]; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", i);
            d.test[t].s[i].key = strdup(key), d.test[t].s[i].text = strdup("x [MASK]"), d.test[t].s[i].tag = i;
        }
    }
    continual_limit_test(&d, 0);
    cr_assert_eq(d.test[0].n, 12);
    continual_limit_test(&d, 5);
    cr_assert_eq(d.test[0].n, 5);
    const int want[5] = {0, 2, 4, 7, 9};
    for (int i = 0; i < 5; i++) cr_assert_eq(d.test[0].s[i].tag, want[i], "sample %d is %d", i, d.test[0].s[i].tag);
    cr_assert_eq(d.test[1].n, 4, "a task under the limit keeps every sample");
    continual_free(&d);
}
