/* The one option parser (common/options.h) and the method schemas read as options (harness/method.h:
 * method_parse_args): every type of value, each kind of bad value as one error naming the command and the
 * option, help printed from the table with its defaults, aliases, positionals; the schema's flags, defaults,
 * ranges and choices. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "method.h"
#include "options.h"

typedef struct {
    long steps;
    double lr;
    const char *out, *name, *files[3];
    int on, verbose, act, n_files;
} values;

#define TABLE(v)                                                                                                                         \
    {OPT_INT("--steps", &(v).steps, 0, 100, "optimizer steps"),                                                                          \
     OPT_RANGE("--lr", &(v).lr, 0, 1, "learning rate"),                                                                                  \
     OPT_BOOL("--recovery", &(v).on, "recovery modules"),                                                                                \
     OPT_SWITCH("--verbose", &(v).verbose, "say more"),                                                                                  \
     OPT_CHOICE("--act", &(v).act, "silu|relu|gelu", "activation"),                                                                      \
     OPT_REPEAT("--heldout", (v).files, &(v).n_files, 3, "TEXT", "held-out text"),                                                       \
     {.name = "--name", .type = OPT_T_STRING, .dst = &(v).name, .help = "a name", .alias = "--label"},                                   \
     OPT_POSITIONAL(&(v).out, "MODEL", "the model"),                                                                                     \
     OPT_END}

static const opt_command cmd = {.name = "demo", .about = "A demonstration.\n"};

/* parses a command line given as one string of space-separated words */
static int parse_line(values *v, const char *line, cpet_err *err)
{
    static char buf[512];
    static char *argv[32];
    snprintf(buf, sizeof buf, "demo %s", line);
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " ")) argv[argc++] = t;
    *v = (values){.steps = 10, .lr = 0.5, .on = 1};
    const opt opts[] = TABLE(*v);
    return opt_parse(&cmd, opts, argc, argv, err);
}

Test(options, every_type_reads_its_value)
{
    values v;
    cpet_err err;
    cr_assert_eq(parse_line(&v, "M --steps 7 --lr 0.25 --recovery off --verbose --act relu --heldout a --heldout b --label x", &err), OPT_OK,
                 "%s", err.msg);
    cr_assert_eq(v.steps, 7);
    cr_assert_float_eq(v.lr, 0.25, 1e-12);
    cr_assert_eq(v.on, 0);
    cr_assert_eq(v.verbose, 1);
    cr_assert_eq(v.act, 1);
    cr_assert_eq(v.n_files, 2);
    cr_assert_str_eq(v.files[1], "b");
    cr_assert_str_eq(v.name, "x", "the alias fills the same value");
    cr_assert_str_eq(v.out, "M");
    cr_assert_eq(parse_line(&v, "M", &err), OPT_OK, "%s", err.msg);
    cr_assert_eq(v.steps, 10, "an option not given keeps its default");
    cr_assert_eq(parse_line(&v, "--recovery M", &err), OPT_OK, "%s", err.msg);
    cr_assert(v.on == 1 && v.out && !strcmp(v.out, "M"), "a bool alone is on, and the next word stays an argument");
    cr_assert_eq(parse_line(&v, "--recovery false M", &err), OPT_OK, "%s", err.msg);
    cr_assert(v.on == 0 && !strcmp(v.out, "M"));
}

/* each kind of bad value: the command, the option and the value in one line */
Test(options, each_bad_value_is_one_line_naming_the_option)
{
    static const struct {
        const char *line, *expect;
    } cases[] = {
        {"M --steps x", "demo: --steps 'x' is not an integer in [0, 100]"},
        {"M --steps 101", "demo: --steps '101' is not an integer in [0, 100]"},
        {"M --steps 3.5", "not an integer"},
        {"M --lr abc", "demo: --lr 'abc' is not a number"},
        {"M --lr 2", "demo: --lr 2 is outside [0, 1]"},
        {"M --lr nan", "is not a number"},
        {"M --recovery maybe", "demo: unexpected argument 'maybe'"}, /* a bool takes on|off or nothing */
        {"M --act tanh", "demo: --act 'tanh': silu, relu or gelu"},
        {"M --heldout a --heldout b --heldout c --heldout d", "demo: --heldout: at most 3"},
        {"M --steps", "demo: option --steps needs a value"},
        {"M --stpes 3", "demo: unknown option --stpes"},
        {"--steps 3", "demo: MODEL is required"},
        {"M N", "demo: unexpected argument 'N'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        values v;
        cpet_err err = {0};
        cr_assert_eq(parse_line(&v, cases[i].line, &err), OPT_ERROR, "'%s' parsed", cases[i].line);
        cr_assert(strstr(err.msg, cases[i].expect) != NULL, "'%s': got '%s', expected '%s'", cases[i].line, err.msg, cases[i].expect);
        cr_assert(strchr(err.msg, '\n') == NULL, "one line: %s", err.msg);
    }
}

Test(options, help_comes_from_the_table_with_its_defaults)
{
    values v = {.steps = 10, .lr = 0.5, .on = 1, .act = 2};
    const opt opts[] = TABLE(v);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opt_print_help(f, &cmd, opts);
    fclose(f);
    cr_assert(strstr(text, "usage: cpet demo MODEL [options]") != NULL, "%s", text);
    cr_assert(strstr(text, "A demonstration.") != NULL);
    cr_assert(strstr(text, "--steps N") && strstr(text, "optimizer steps (default 10)"), "%s", text);
    cr_assert(strstr(text, "learning rate (default 0.5)") != NULL, "%s", text);
    cr_assert(strstr(text, "--recovery [on|off]") && strstr(text, "(default on)"), "%s", text);
    cr_assert(strstr(text, "--act silu|relu|gelu") && strstr(text, "activation (default gelu)"), "%s", text);
    cr_assert(strstr(text, "(repeatable)") && strstr(text, "(also --label)"), "%s", text);
    cr_assert(strstr(text, "the model (required)") != NULL, "%s", text);
    free(text);
}

/* ---- a method's schema as options ---- */

static const method_param demo_params[] = {
    {.key = "steps", .type = PARAM_INT, .default_json = "100", .doc = "optimizer steps", .min = 0, .max = 1000},
    {.key = "recovery_alpha", .type = PARAM_NUMBER, .default_json = "16", .doc = "alpha"},
    {.key = "init", .type = PARAM_STRING, .default_json = "\"inherit\"", .doc = "how A/B start", .choices = "inherit|random"},
    {.key = "recovery", .type = PARAM_BOOL, .default_json = "true", .doc = "recovery modules"},
    {.key = "targets", .type = PARAM_STRING_LIST, .default_json = "[\"q_proj\", \"v_proj\"]", .doc = "linears"},
};
static int demo_run(const method_cell *c, method_result *r, cpet_err *err) { return (void)c, (void)r, (void)err, 0; }
static const method demo_method = {.name = "demo", .doc = "demo", .params = demo_params, .n_params = 5, .run = demo_run};

static int parse_method(const char *line, json_t **params, const char **model, cpet_err *err)
{
    static char buf[512];
    static char *argv[32];
    snprintf(buf, sizeof buf, "demo %s", line);
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " ")) argv[argc++] = t;
    *model = NULL;
    const opt own[] = {OPT_REQUIRED("--model", model, "MODEL", "the model"), OPT_END};
    return method_parse_args(&demo_method, &cmd, own, argc, argv, params, err);
}

Test(options, a_method_schema_reads_as_options_with_its_defaults)
{
    json_t *p;
    const char *model;
    cpet_err err;
    cr_assert_eq(parse_method("--model M", &p, &model, &err), OPT_OK, "%s", err.msg);
    cr_assert_str_eq(model, "M");
    cr_assert_eq(json_integer_value(json_object_get(p, "steps")), 100);
    cr_assert_float_eq(json_number_value(json_object_get(p, "recovery_alpha")), 16.0, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(p, "init")), "inherit");
    cr_assert(json_is_true(json_object_get(p, "recovery")));
    cr_assert_eq(json_array_size(json_object_get(p, "targets")), 2);
    json_decref(p);
    cr_assert_eq(parse_method("--model M --steps 5 --recovery-alpha 2.5 --init random --recovery off --targets o_proj", &p, &model, &err), OPT_OK,
                 "%s", err.msg);
    cr_assert_eq(json_integer_value(json_object_get(p, "steps")), 5);
    cr_assert_float_eq(json_number_value(json_object_get(p, "recovery_alpha")), 2.5, 1e-12, "underscores are hyphens on the command line");
    cr_assert_str_eq(json_string_value(json_object_get(p, "init")), "random");
    cr_assert(json_is_false(json_object_get(p, "recovery")));
    cr_assert_eq(json_array_size(json_object_get(p, "targets")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "targets"), 0)), "o_proj");
    json_decref(p);
}

Test(options, a_method_schema_refuses_what_a_spec_would)
{
    static const struct {
        const char *line, *expect;
    } cases[] = {
        {"--model M --steps 2000", "demo: --steps '2000' is not an integer in [0, 1000]"},
        {"--model M --init copy", "demo: --init 'copy': inherit or random"},
        {"--model M --recovery sometimes", "unexpected argument 'sometimes'"},
        {"--model M --recovery_alpha 2", "unknown option --recovery_alpha"},
        {"--steps 5", "demo: --model is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *p;
        const char *model;
        cpet_err err = {0};
        cr_assert_eq(parse_method(cases[i].line, &p, &model, &err), OPT_ERROR, "'%s' parsed", cases[i].line);
        cr_assert_null(p);
        cr_assert(strstr(err.msg, cases[i].expect) != NULL, "'%s': got '%s', expected '%s'", cases[i].line, err.msg, cases[i].expect);
    }
}

/* every registered method's schema holds together: defaults of their own type, in range, among the choices */
Test(options, every_registered_method_schema_checks_its_own_defaults)
{
    for (int i = 0; i < method_registry_size; i++) {
        const method *m = method_registry[i];
        for (int k = 0; k < m->n_params; k++) {
            const method_param *p = &m->params[k];
            json_t *d = json_loads(p->default_json, JSON_DECODE_ANY, NULL);
            cpet_err err;
            cr_assert_not_null(d, "%s.%s: default %s is not JSON", m->name, p->key, p->default_json);
            char where[128];
            snprintf(where, sizeof where, "%s.%s", m->name, p->key);
            /* an empty string is the "required path" default, which no choice list holds */
            if (!(p->type == PARAM_STRING && !json_string_value(d)[0]))
                cr_assert_eq(method_param_check(p, d, where, &err), 0, "%s", err.msg);
            json_decref(d);
        }
    }
}

/* the commands built on schemas refuse bad input in one line and write nothing */
Test(options, method_commands_refuse_bad_input_in_one_line)
{
    char dir[256], cmd[1024], out[4096];
    make_temp_dir(dir, sizeof dir);
    static const struct {
        const char *args, *expect;
    } cases[] = {
        {"method nosuch --model m --task t -o %s/o", "no method 'nosuch'"},
        {"method lora --model m -o %s/o", "--task is required"},
        {"method lora --model m --task t --rank 0 -o %s/o", "--rank '0' is not an integer in [1, 4096]"},
        {"sparsify m --corpus c --model prior -o %s/o", "--model names a model trained before"},
        {"train-lora m --task t --mixer warm -o %s/o", "--mixer 'warm': none, trained or frozen"},
        {"method loretta --model m --task t --tt-rank 0 -o %s/o", "--tt-rank '0' is not an integer in [1, 256]"},
        {"method loretta --model m --task t --variant svd -o %s/o", "--variant 'svd': rep or adp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, cases[i].args, dir);
        snprintf(cmd, sizeof cmd, "%s %s", CPET_BINARY, args);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", cmd);
        cr_assert(count_lines(out) == 1 && strstr(out, cases[i].expect), "%s: %s", cmd, out);
    }
    snprintf(cmd, sizeof cmd, "%s/o", dir);
    cr_assert_neq(access(cmd, F_OK), 0, "nothing written");
}
