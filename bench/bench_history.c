/* bench/history.jsonl: one line per benchmark run with every judged figure of its result files, so that
 * figures can be followed across revisions (bench/history.c renders it). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "facts.h"
#include "fileio.h"
#include "records.h"

/* "bench/results/engine.json" -> "engine" */
static void stem_of(const char *path, char *dst, size_t n)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".json")) len -= 5;
    snprintf(dst, n, "%.*s", (int)len, base);
}

json_t *bench_history_line(const char *const *result_paths, int n, cpet_err *err)
{
    if (n < 1) return cpet_fail(err, "bench history: no result files given"), NULL;
    json_t *figures = json_object();
    const char *revision = NULL, *host = NULL, *first = NULL;
    json_int_t threads = 0;
    json_t *kept = json_array(); /* keeps the strings above alive */
    for (int i = 0; i < n; i++) {
        json_t *r = bench_read_result(result_paths[i], err);
        if (!r) goto fail;
        json_array_append_new(kept, r);
        char stem[256];
        stem_of(result_paths[i], stem, sizeof stem);
        /* two files with one stem would merge their figures unnoticed */
        for (int k = 0; k < i; k++) {
            char other[256];
            stem_of(result_paths[k], other, sizeof other);
            if (!strcmp(other, stem)) {
                cpet_fail(err, "%s: same name as %s (figures are keyed by file name)", result_paths[i], result_paths[k]);
                goto fail;
            }
        }
        json_t *facts = json_object_get(r, "facts");
        const char *rev = json_string_value(json_object_get(facts, "git_revision"));
        if (rev && !revision) {
            revision = rev;
            first = result_paths[i];
            host = json_string_value(json_object_get(facts, "host"));
            threads = json_integer_value(json_object_get(facts, "threads"));
        } else if (rev && strcmp(rev, revision) != 0) {
            cpet_fail(err, "%s: revision %s, but %s has %s (results of different builds)", result_paths[i], rev, first, revision);
            goto fail;
        }
        bench_flatten(r, stem, 1, figures);
    }
    if (json_object_size(figures) == 0) {
        cpet_fail(err, "%s: no figures to record (no result of a benchmark?)", result_paths[0]);
        goto fail;
    }
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_t *line = json_pack("{s:s, s:s, s:s, s:I, s:o}", "revision", revision ? revision : cpet_git_revision(), "date", date,
                             "host", host ? host : "unknown", "threads", threads, "figures", figures);
    json_decref(kept);
    return line;
fail:
    json_decref(kept);
    json_decref(figures);
    return NULL;
}

int bench_history_append(const char *history_path, const char *const *result_paths, int n, cpet_err *err)
{
    json_t *line = bench_history_line(result_paths, n, err);
    if (!line) return -1;
    int rc = records_append(history_path, line, err);
    json_decref(line);
    return rc;
}
