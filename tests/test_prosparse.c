/* ProSparse's schedule (Algorithm 1) against its formula worked by hand at stage boundaries, midpoints and
 * quarter points, on the paper's 7B schedule as committed; and bad schedules refused with the file and
 * the stage named. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
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
