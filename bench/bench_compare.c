/* bench-compare: flag speed or quality figures that moved the wrong way between two results (files, or
 * directories of same-named result files). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "fileio.h"
#include "figures.h"

json_t *bench_read_result(const char *path, cpet_err *err)
{
    json_t *j = json_read_file(path, err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return cpet_fail(err, "%s: not a JSON object (a benchmark result)", path), NULL;
    }
    return j;
}

void bench_flatten(const json_t *result, const char *prefix, int judged_only, json_t *out)
{
    const char *key;
    json_t *x;
    char path[1024];
    if (json_is_object(result)) {
        json_object_foreach((json_t *)result, key, x)
        {
            if (!strcmp(key, "facts") || !strncmp(key, "samples", 7) || !strcmp(key, "seed") || !strcmp(key, "reps"))
                continue;
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            bench_flatten(x, path, judged_only, out);
        }
    } else if (json_is_number(result)) {
        if (!judged_only || figure_direction_of(prefix) != FIGURE_UNJUDGED)
            json_object_set_new(out, prefix, json_real(json_number_value(result)));
    }
}

/* one pair of result files to compare; prefix is the file's stem in directory mode */
typedef struct {
    json_t *base, *cur;
    char prefix[256];
} result_pair;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.json files of a directory, sorted; NULL with err if unreadable. */
static char **list_results(const char *dir, int *n, cpet_err *err)
{
    DIR *d = opendir(dir);
    if (!d) return cpet_fail(err, "%s: cannot open directory (%s)", dir, strerror(errno)), NULL;
    char **names = NULL;
    int cap = 0;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (*n == cap) names = realloc(names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *names);
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(names, (size_t)*n, sizeof *names, by_name);
    return names ? names : calloc(1, sizeof *names);
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int has_name(char **names, int n, const char *name)
{
    return bsearch(&name, names, (size_t)n, sizeof *names, by_name) != NULL;
}

/* Loads the pairs to compare; notes files present on one side only to out. Returns the count or -1. */
static int load_pairs(const char *baseline, const char *current, FILE *out, result_pair **pairs, cpet_err *err)
{
    struct stat sb, sc;
    if (stat(baseline, &sb) != 0) return cpet_fail(err, "%s: cannot read (%s)", baseline, strerror(errno));
    if (stat(current, &sc) != 0) return cpet_fail(err, "%s: cannot read (%s)", current, strerror(errno));
    int bdir = S_ISDIR(sb.st_mode), cdir = S_ISDIR(sc.st_mode);
    if (bdir != cdir)
        return cpet_fail(err, "bench-compare: %s is a directory but %s is not", bdir ? baseline : current, bdir ? current : baseline);
    if (!bdir) {
        *pairs = calloc(1, sizeof **pairs);
        if (!((*pairs)->base = bench_read_result(baseline, err)) || !((*pairs)->cur = bench_read_result(current, err))) {
            json_decref((*pairs)->base);
            free(*pairs);
            return -1;
        }
        return 1;
    }
    int nb, nc, n = 0, rc = 0;
    char **bn = list_results(baseline, &nb, err), **cn = bn ? list_results(current, &nc, err) : NULL;
    if (!bn || !cn) {
        if (bn) free_names(bn, nb);
        return -1;
    }
    *pairs = calloc((size_t)(nb ? nb : 1), sizeof **pairs);
    for (int i = 0; i < nb && rc == 0; i++) {
        if (!has_name(cn, nc, bn[i])) {
            if (out) fprintf(out, "note: %s/%s has no counterpart in %s\n", baseline, bn[i], current);
            continue;
        }
        char pb[4400], pc[4400];
        result_pair *p = &(*pairs)[n];
        snprintf(pb, sizeof pb, "%s/%s", baseline, bn[i]);
        snprintf(pc, sizeof pc, "%s/%s", current, bn[i]);
        snprintf(p->prefix, sizeof p->prefix, "%.*s", (int)strlen(bn[i]) - 5, bn[i]);
        if (!(p->base = bench_read_result(pb, err)) || !(p->cur = bench_read_result(pc, err))) {
            json_decref(p->base);
            rc = -1;
        } else n++;
    }
    for (int i = 0; i < nc && rc == 0; i++)
        if (!has_name(bn, nb, cn[i]) && out) fprintf(out, "note: %s/%s has no counterpart in %s\n", current, cn[i], baseline);
    if (rc == 0 && n == 0) rc = cpet_fail(err, "bench-compare: %s and %s hold no result file (*.json) in common", baseline, current);
    free_names(bn, nb);
    free_names(cn, nc);
    if (rc != 0) {
        for (int i = 0; i < n; i++) json_decref((*pairs)[i].base), json_decref((*pairs)[i].cur);
        free(*pairs);
        return -1;
    }
    return n;
}

int bench_compare(const char *baseline, const char *current, const bench_compare_options *o, bench_compare_summary *s,
                  cpet_err *err)
{
    memset(s, 0, sizeof *s);
    result_pair *pairs;
    int n = load_pairs(baseline, current, o->out, &pairs, err);
    if (n < 0) return -1;
    const double tol = o->tolerance;
    int shared = 0; /* judged figures both sides hold, compared or not */
    if (o->out) fprintf(o->out, "%-48s %14s %14s %9s  %s\n", "figure", "baseline", "current", "change", "verdict");
    for (int p = 0; p < n; p++) {
        json_t *fb = json_object(), *fc = json_object();
        bench_flatten(pairs[p].base, pairs[p].prefix, 1, fb);
        bench_flatten(pairs[p].cur, pairs[p].prefix, 1, fc);
        const char *key;
        json_t *vb;
        json_object_foreach(fb, key, vb)
        {
            json_t *vc = json_object_get(fc, key);
            int is_ratio = figure_is_ratio(key);
            figure_direction d = figure_direction_of(key);
            double x = json_real_value(vb), y = json_real_value(vc);
            if (!vc || !isfinite(x) || !isfinite(y)) continue;
            shared++;
            if (!is_ratio && !o->absolute) {
                s->skipped_absolute++;
                continue;
            }
            s->compared++;
            double change = x != 0 ? (y - x) / fabs(x) : (y == 0 ? 0 : INFINITY);
            int worse = d == FIGURE_HIGHER_IS_BETTER ? change < -tol : change > tol, better = d == FIGURE_HIGHER_IS_BETTER ? change > tol : change < -tol;
            s->regressed += worse;
            s->improved += better;
            if ((worse || better) && o->out)
                fprintf(o->out, "%-48s %14.6g %14.6g %+8.1f%%  %s%s\n", key, x, y, 100 * change, worse ? "REGRESSED" : "improved",
                        is_ratio ? " (within-run ratio)" : "");
        }
        json_decref(fb);
        json_decref(fc);
        json_decref(pairs[p].base);
        json_decref(pairs[p].cur);
    }
    free(pairs);
    s->files = n;
    if (shared == 0) return cpet_fail(err, "bench-compare: %s and %s share no comparable figures", baseline, current);
    if (o->out) {
        if (s->skipped_absolute)
            fprintf(o->out, "(%d absolute figures not compared: tokens/s, seconds, GB/s swing with the machine; --absolute compares them)\n",
                    s->skipped_absolute);
        fprintf(o->out, "%d figures compared at tolerance %.1f%%: %d regressed, %d improved\n", s->compared, 100 * tol,
                s->regressed, s->improved);
    }
    return 0;
}
