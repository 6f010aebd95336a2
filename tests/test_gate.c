/* The regression gate's judge (cpet bench-ab): Wilcoxon's signed-rank test by hand, the figure lookup, and
 * the judge end to end on rounds written here (its figures picked from an array by field and from objects by key): a slowed figure is caught, an unchanged one is not, and a
 * judged figure missing or null fails the gate by name. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "stats.h"

/* d = {-3, -2, -1, +0.5}: ranks of |d| 4, 3, 2, 1; W+ = 1 (the +0.5). Of the 16 sign patterns, the rank
 * sums <= 1 are {} and {1}: p = 2/16. Ties: d = {-1, -1, +2}, ranks 1.5, 1.5, 3, W+ = 3; the 8 patterns'
 * sums 0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6: p = P(W+ <= 3) = 5/8. A zero is dropped: {0, -1} is one test,
 * W+ = 0, p = 1/2. */
Test(gate, wilcoxon_signed_rank_hand_computed)
{
    const double a[4] = {-3, -2, -1, 0.5}, b[3] = {-1, -1, 2}, c[2] = {0, -1}, z[3] = {0, 0, 0};
    cr_assert_float_eq(wilcoxon_signed_rank_p_less(a, 4), 2.0 / 16.0, 1e-12);
    cr_assert_float_eq(wilcoxon_signed_rank_p_less(b, 3), 5.0 / 8.0, 1e-12);
    cr_assert_float_eq(wilcoxon_signed_rank_p_less(c, 2), 0.5, 1e-12);
    cr_assert_float_eq(wilcoxon_signed_rank_p_less(z, 3), 1.0, 1e-12, "no evidence at all");
    const double neg6[6] = {-1, -2, -3, -4, -5, -6};
    cr_assert_float_eq(wilcoxon_signed_rank_p_less(neg6, 6), 1.0 / 64.0, 1e-12, "every round worse: the smallest p, 2^-6");
}

/* rounds of two figures: "slow" is the head's figure times slow[r], "same" times same[r] */
static void write_rounds(const char *dir, int n, const double *slow, const double *same, int drop_round)
{
    char path[700];
    for (int r = 0; r < n; r++)
        for (int side = 0; side < 2; side++) {
            snprintf(path, sizeof path, "%s/round-%02d", dir, r + 1);
            mkdir(path, 0755);
            snprintf(path, sizeof path, "%s/round-%02d/%s", dir, r + 1, side ? "head" : "base");
            mkdir(path, 0755);
            /* the host drifts from round to round (the base's own figure moves 30%): pairing cancels it */
            const double host = 100.0 * (1.0 + 0.3 * (r % 3) / 2.0);
            char text[512];
            if (side && r == drop_round)
                snprintf(text, sizeof text, "{\"rows\": [{\"test\": \"tg64\", \"median_ts\": %.6f}], \"speed\": {\"seconds\": null}}",
                         host * slow[r]);
            else
                snprintf(text, sizeof text, "{\"rows\": [{\"test\": \"tg64\", \"median_ts\": %.6f}], \"speed\": {\"seconds\": %.6f}}",
                         side ? host * slow[r] : host, side ? 2.0 / same[r] : 2.0);
            snprintf(path, sizeof path, "%s/round-%02d/%s/decode.json", dir, r + 1, side ? "head" : "base");
            write_text(path, text);
        }
}

/* 6 rounds. The head's tokens/s is 20% lower in every round (ratios 0.78..0.82): each log ratio is below
 * log(0.95), W+ = 0, p = 2^-6; Holm over 2 figures: 2^-5 < 0.05, regressed. Its seconds are within 1% of
 * the base's: ok. */
Test(gate, judge_catches_a_slowed_figure_and_passes_an_unchanged_one)
{
    char dir[256], figs[600], cmd[2048], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(figs, sizeof figs, "%s/figures.txt", dir);
    write_text(figs, "# the judged figures\ndecode rows[test=tg64].median_ts higher\ndecode speed.seconds lower\n");
    const double slow[6] = {0.80, 0.78, 0.82, 0.79, 0.81, 0.80}, same[6] = {1.0, 1.01, 0.99, 1.0, 1.005, 0.995};
    snprintf(path, sizeof path, "%s/r", dir);
    mkdir(path, 0755);
    write_rounds(path, 6, slow, same, -1);
    snprintf(cmd, sizeof cmd, "%s bench-ab %s/r --figures %s --effect 5%% -o %s/verdict.json", CPET_BINARY, dir, figs, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 1, "a 20%% slowdown must fail the gate: %s", out);
    snprintf(path, sizeof path, "%s/verdict.json", dir);
    json_t *v = json_load_file(path, 0, NULL);
    cr_assert_not_null(v);
    json_t *f0 = json_array_get(json_object_get(v, "figures"), 0), *f1 = json_array_get(json_object_get(v, "figures"), 1);
    cr_assert_float_eq(json_real_value(json_object_get(f0, "p")), 1.0 / 64.0, 1e-12);
    cr_assert_float_eq(json_real_value(json_object_get(f0, "p_holm")), 2.0 / 64.0, 1e-12);
    cr_assert_float_eq(json_real_value(json_object_get(f0, "median_ratio")), 0.80, 1e-6);
    cr_assert(json_is_true(json_object_get(f0, "regressed")));
    cr_assert(json_is_false(json_object_get(f1, "regressed")), "1%% noise is no regression");
    cr_assert_eq(json_integer_value(json_object_get(v, "regressed")), 1);
    json_decref(v);

    /* A/A: the same figures on both sides (any host drift): passes */
    const double one[6] = {1, 1, 1, 1, 1, 1};
    snprintf(path, sizeof path, "%s/aa", dir);
    mkdir(path, 0755);
    write_rounds(path, 6, one, one, -1);
    snprintf(cmd, sizeof cmd, "%s bench-ab %s/aa --figures %s", CPET_BINARY, dir, figs);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);

    /* 4 rounds: the smallest p is 1/16, times 2 figures: no regression could ever be shown; refused */
    snprintf(path, sizeof path, "%s/few", dir);
    mkdir(path, 0755);
    write_rounds(path, 4, slow, same, -1);
    snprintf(cmd, sizeof cmd, "%s bench-ab %s/few --figures %s", CPET_BINARY, dir, figs);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "4 rounds cannot show a regression in 2 figures") && strstr(out, "run at least 6"), "%s", out);

    /* a slowdown of 3%, below the 5% minimum effect: not a regression, however consistent */
    const double s3[6] = {0.97, 0.97, 0.97, 0.97, 0.97, 0.97};
    snprintf(path, sizeof path, "%s/small", dir);
    mkdir(path, 0755);
    write_rounds(path, 6, s3, one, -1);
    snprintf(cmd, sizeof cmd, "%s bench-ab %s/small --figures %s --effect 5%%", CPET_BINARY, dir, figs);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
}

Test(gate, judged_figure_missing_or_null_fails_by_name)
{
    char dir[256], figs[600], cmd[2048], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    const double one[4] = {1, 1, 1, 1};
    snprintf(path, sizeof path, "%s/r", dir);
    mkdir(path, 0755);
    write_rounds(path, 4, one, one, 2); /* round 3's head has seconds: null */
    snprintf(figs, sizeof figs, "%s/figures.txt", dir);
    write_text(figs, "decode speed.seconds lower\n");
    snprintf(cmd, sizeof cmd, "%s bench-ab %s/r --figures %s", CPET_BINARY, dir, figs);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "round-03/head/decode.json") && strstr(out, "speed.seconds") && strstr(out, "missing, null"), "%s", out);
    write_text(figs, "decode speed.gone lower\n");
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "speed.gone"), "%s", out);
    write_text(figs, "decode speed.seconds faster\n");
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "line 1"), "%s", out);
}
