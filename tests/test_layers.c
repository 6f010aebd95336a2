/* scripts/check-layers on small trees made here, each with one planted fault: an include that goes up a
 * layer, one a layer is denied, a cycle through headers, a cycle through symbols only (a function
 * declared in a shared header), two headers of one name. And the project's own tree passes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* a fresh git repository holding the script and the given files ("path", "text" pairs, NULL-ended) */
static void make_tree(char *dir, size_t n, const char *const *files)
{
    char cmd[2048], path[600];
    make_temp_dir(dir, n);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/scripts && cp %s/scripts/check-layers %s/scripts/ && git -C %s init -q", dir, CPET_SOURCE_DIR, dir, dir);
    cr_assert_eq(system(cmd), 0);
    for (int i = 0; files[i]; i += 2) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        snprintf(cmd, sizeof cmd, "mkdir -p $(dirname %s)", path);
        cr_assert_eq(system(cmd), 0);
        write_text(path, files[i + 1]);
    }
}

static int check(const char *dir, const char *build, char *out, size_t n)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash %s/scripts/check-layers %s", dir, build ? build : "/nonexistent");
    return run_capture(cmd, out, n);
}

static const char *const clean[] = {
    "engine/base/tensor.h", "#pragma once\nint t(void);\n",
    "engine/base/tensor.c", "#include \"tensor.h\"\nint t(void) { return 1; }\n",
    "engine/model/model.h", "#include \"tensor.h\"\nint m(void);\n",
    "engine/model/model.c", "#include \"model.h\"\nint m(void) { return t(); }\n",
    "datasets/world.c", "#include \"tensor.h\"\n",
    "cli/cpet.c", "#include \"model.h\"\n",
    NULL};

Test(layers, a_clean_tree_passes)
{
    char dir[256], out[4096];
    make_tree(dir, sizeof dir, clean);
    cr_assert_eq(check(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "no cycle"), "%s", out);
}

Test(layers, an_include_up_a_layer_is_named)
{
    char dir[256], out[4096];
    const char *const files[] = {"engine/base/tensor.h", "#include \"model.h\"\n", "engine/model/model.h", "int m(void);\n", NULL};
    make_tree(dir, sizeof dir, files);
    cr_assert_neq(check(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "engine/base/tensor.h:1: includes engine/model/model.h") && strstr(out, "may not depend on engine/model/"), "%s", out);
}

Test(layers, datasets_never_reach_the_engine_methods)
{
    char dir[256], out[4096];
    const char *const files[] = {"engine/methods/conpet.h", "int c(void);\n", "datasets/continual.h", "#include \"methods/conpet.h\"\n", NULL};
    make_tree(dir, sizeof dir, files);
    cr_assert_neq(check(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "datasets/continual.h:1") && strstr(out, "datasets/ never depends on engine/methods/"), "%s", out);
}

Test(layers, a_cycle_through_headers_is_refused)
{
    char dir[256], out[4096];
    const char *const files[] = {"engine/model/a.h", "#include \"b.h\"\n", "engine/model/b.h", "#include \"a.h\"\n", NULL};
    make_tree(dir, sizeof dir, files);
    cr_assert_neq(check(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cycle") && strstr(out, "engine/model/a.h") && strstr(out, "engine/model/b.h"), "%s", out);
}

/* a.c and b.c call each other through one shared header: no include cycle, but a cycle all the same,
 * which only the object files show */
Test(layers, a_cycle_through_symbols_is_refused, .timeout = 60)
{
    char dir[256], out[4096], cmd[1600];
    const char *const files[] = {"engine/model/shared.h", "int fa(int);\nint fb(int);\n",
                                 "engine/model/a.c", "#include \"shared.h\"\nint fa(int x) { return x ? fb(x - 1) : 0; }\n",
                                 "engine/model/b.c", "#include \"shared.h\"\nint fb(int x) { return x ? fa(x - 1) : 1; }\n", NULL};
    make_tree(dir, sizeof dir, files);
    cr_assert_eq(check(dir, NULL, out, sizeof out), 0, "includes alone see no cycle: %s", out);
    /* the object files where check-layers looks for them, as CMake lays them out */
    snprintf(cmd, sizeof cmd,
             "d=%s/build/CMakeFiles/cpetengine.dir/engine/model && mkdir -p $d && cc -c -I%s/engine/model %s/engine/model/a.c -o $d/a.c.o && "
             "cc -c -I%s/engine/model %s/engine/model/b.c -o $d/b.c.o",
             dir, dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    char build[300];
    snprintf(build, sizeof build, "%s/build", dir);
    cr_assert_neq(check(dir, build, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cycle") && strstr(out, "engine/model/a.c") && strstr(out, "engine/model/b.c"), "%s", out);
}

Test(layers, two_headers_of_one_name_are_refused)
{
    char dir[256], out[4096];
    const char *const files[] = {"engine/base/util.h", "int u(void);\n", "engine/model/util.h", "int v(void);\n", NULL};
    make_tree(dir, sizeof dir, files);
    cr_assert_neq(check(dir, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "two headers named util.h"), "%s", out);
}

/* the project as it is: its includes and, from the build the tests run in, its symbol uses */
Test(layers, the_project_itself_passes, .timeout = 60)
{
    char build[600], cmd[1400], out[8192];
    snprintf(build, sizeof build, "%s", CPET_BINARY); /* BUILD/cpet */
    char *slash = strrchr(build, '/');
    cr_assert_not_null(slash);
    *slash = 0;
    snprintf(cmd, sizeof cmd, "bash %s/scripts/check-layers %s", CPET_SOURCE_DIR, build);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
}
