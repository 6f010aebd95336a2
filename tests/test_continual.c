/* ConPET's reference format read back from hand-written files: tasks, disjoint label sets, the >50-word
 * filter on training samples only, integer and string keys; bad files refused naming the file and the
 * task; the prompt a causal model classifies at. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "continual.h"
#include "helpers.h"

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
