/* cpet bench-compare: flag speed or quality figures that moved the wrong way between two JSON results. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"

typedef enum { DIR_NONE, DIR_HIGHER, DIR_LOWER } direction;

/* Which way is better, from the figure's name; ratios measured within one run are the robust ones. */
static direction direction_of(const char *leaf, int *is_ratio)
{
    static const char *const ratio[] = {"fraction", "ratio", "speedup", NULL};
    static const char *const higher[] = {"per_s", "gflops", "acc", "throughput", "gb_s", NULL};
    static const char *const lower[] = {"perplexity", "ppl", "loss", "us_per", "bytes", "rss", NULL};
    *is_ratio = 0;
    for (int i = 0; ratio[i]; i++)
        if (strstr(leaf, ratio[i])) return *is_ratio = 1, DIR_HIGHER;
    if (strstr(leaf, "stddev") || strstr(leaf, "stderr") || strstr(leaf, "chance") || strstr(leaf, "ci95")) return DIR_NONE;
    for (int i = 0; higher[i]; i++)
        if (strstr(leaf, higher[i])) return DIR_HIGHER;
    for (int i = 0; lower[i]; i++)
        if (strstr(leaf, lower[i])) return DIR_LOWER;
    size_t n = strlen(leaf);
    if ((n > 2 && !strcmp(leaf + n - 2, "_s")) || !strcmp(leaf, "seconds") || (n > 8 && !strcmp(leaf + n - 8, "_seconds")))
        return DIR_LOWER;
    return DIR_NONE;
}

static void flatten(json_t *v, const char *prefix, json_t *out)
{
    const char *key;
    json_t *x;
    char path[1024];
    if (json_is_object(v)) {
        json_object_foreach(v, key, x)
        {
            if (!strcmp(key, "facts") || !strncmp(key, "samples", 7) || !strcmp(key, "seed") || !strcmp(key, "reps"))
                continue;
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            flatten(x, path, out);
        }
    } else if (json_is_number(v)) {
        json_object_set_new(out, prefix, json_real(json_number_value(v)));
    }
}

int cmd_bench_compare(int argc, char **argv)
{
    const char *base_path = NULL, *cur_path = NULL;
    double tol = 0.10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet bench-compare BASELINE.json CURRENT.json [--tolerance 10%%]\n"
                   "Compares every numeric figure both files hold. Direction comes from the name: *_per_s, gflops,\n"
                   "acc, fraction/ratio/speedup (within-run ratios, robust to machine noise) are higher-is-better;\n"
                   "seconds, us_per_*, perplexity, loss, bytes, rss lower-is-better; others are not compared.\n"
                   "Prints what moved beyond the tolerance; exits 1 if anything regressed.\n");
            return 0;
        }
        if (!strcmp(a, "--tolerance")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v) return 2;
            char *end;
            tol = strtod(v, &end);
            if (end == v || (*end && strcmp(end, "%") != 0) || tol < 0) return cli_error("--tolerance: '%s' is not like 10%% or 0.1", v), 2;
            if (*end == '%') tol /= 100.0;
        } else if (a[0] == '-') return cli_error("bench-compare: unknown option %s", a), 2;
        else if (!base_path) base_path = a;
        else if (!cur_path) cur_path = a;
        else return cli_error("bench-compare: too many files"), 2;
    }
    if (!base_path || !cur_path) return cli_error("bench-compare: BASELINE.json and CURRENT.json are required"), 2;
    cpet_err err;
    json_t *b = json_read_file(base_path, &err), *c = b ? json_read_file(cur_path, &err) : NULL;
    if (!b || !c) {
        json_decref(b);
        return cli_report(&err), 2;
    }
    json_t *fb = json_object(), *fc = json_object();
    flatten(b, "", fb);
    flatten(c, "", fc);
    int compared = 0, regressed = 0, improved = 0;
    const char *key;
    json_t *vb;
    printf("%-48s %14s %14s %9s  %s\n", "figure", "baseline", "current", "change", "verdict");
    json_object_foreach(fb, key, vb)
    {
        json_t *vc = json_object_get(fc, key);
        const char *leaf = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
        int is_ratio;
        direction d = direction_of(leaf, &is_ratio);
        if (!vc || d == DIR_NONE) continue;
        double x = json_real_value(vb), y = json_real_value(vc);
        if (!isfinite(x) || !isfinite(y)) continue;
        compared++;
        double change = x != 0 ? (y - x) / fabs(x) : (y == 0 ? 0 : INFINITY);
        int worse = d == DIR_HIGHER ? change < -tol : change > tol, better = d == DIR_HIGHER ? change > tol : change < -tol;
        regressed += worse;
        improved += better;
        if (worse || better)
            printf("%-48s %14.6g %14.6g %+8.1f%%  %s%s\n", key, x, y, 100 * change, worse ? "REGRESSED" : "improved",
                   is_ratio ? " (within-run ratio)" : "");
    }
    printf("%d figures compared at tolerance %.1f%%: %d regressed, %d improved\n", compared, 100 * tol, regressed, improved);
    json_decref(b);
    json_decref(c);
    json_decref(fb);
    json_decref(fc);
    if (compared == 0) return cli_error("bench-compare: %s and %s share no comparable figures", base_path, cur_path), 2;
    return regressed ? 1 : 0;
}
