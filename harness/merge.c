#include "merge.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "matrix.h"
#include "records.h"
#include "spec.h"

/* Quality metrics: everything a rerun must reproduce. Speeds and timings vary run to run. */
static int same_quality(const json_t *a, const json_t *b)
{
    json_t *ma = json_object_get(a, "metrics"), *mb = json_object_get(b, "metrics");
    const char *key;
    json_t *v;
    json_object_foreach(ma, key, v)
    {
        if (strstr(key, "per_s")) continue;
        if (!json_equal(v, json_object_get(mb, key))) return 0;
    }
    return json_object_size(ma) == json_object_size(mb);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = read_whole_file(a, &na), *y = read_whole_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int is_ok(const json_t *r) { return !strcmp(json_string_value(json_object_get(r, "status")) ?: "", "ok"); }

int runs_merge(const char *const *runs, int n_runs, const char *out_dir, FILE *log, merge_summary *sum, cpet_err *err)
{
    memset(sum, 0, sizeof *sum);
    if (n_runs < 1) return cpet_fail(err, "merge: no runs given");
    spec s;
    char path[4400], first_spec[4400];
    snprintf(first_spec, sizeof first_spec, "%s/spec.json", runs[0]);
    if (!path_exists(first_spec)) return cpet_fail(err, "%s: missing (not a run directory)", first_spec);
    if (spec_load(&s, first_spec, err) != 0) return -1;
    for (int i = 1; i < n_runs; i++) {
        spec o;
        snprintf(path, sizeof path, "%s/spec.json", runs[i]);
        if (!path_exists(path)) {
            spec_free(&s);
            return cpet_fail(err, "%s: missing (not a run directory)", path);
        }
        if (spec_load(&o, path, err) != 0) {
            spec_free(&s);
            return -1;
        }
        int differ = strcmp(o.hash, s.hash) != 0;
        if (differ)
            cpet_fail(err, "merge: %s (spec hash %s) and %s (spec hash %s) are runs of different specs", runs[0], s.hash,
                      runs[i], o.hash);
        spec_free(&o);
        if (differ) {
            spec_free(&s);
            return -1;
        }
    }
    int n;
    cell *cells = spec_expand(&s, &n);
    sum->cells = n;
    str_map by_hash;
    if (cells_by_hash(cells, n, &by_hash) != 0) {
        cells_free(cells, n);
        spec_free(&s);
        return cpet_fail(err, "out of memory indexing %d cells", n);
    }
    /* best[k] = (record, run index) chosen for cell k */
    json_t **best = calloc((size_t)n + 1, sizeof *best);
    int *from = calloc((size_t)n + 1, sizeof *from), rc = 0;
    json_t *keep = json_array(); /* owns the records */
    json_t *stale = json_array(); /* records of other configs: carried along, so a merge loses nothing */
    for (int i = 0; i < n_runs && rc == 0; i++) {
        json_t *recs = run_records_read(runs[i], NULL, 0, err);
        if (!recs) {
            rc = -1;
            break;
        }
        json_array_extend(keep, recs);
        size_t j;
        json_t *r;
        json_array_foreach(recs, j, r)
        {
            sum->records_in++;
            const char *h = json_string_value(json_object_get(r, "config_hash")) ?: "";
            int k;
            if (!str_map_get(&by_hash, h, strlen(h), &k)) {
                sum->stale++;
                json_array_append(stale, r);
                continue;
            }
            if (!best[k]) {
                best[k] = r, from[k] = i;
                continue;
            }
            sum->duplicates++;
            if (is_ok(best[k]) && is_ok(r)) {
                const char *ea = json_string_value(json_object_get(best[k], "examples"));
                const char *eb = json_string_value(json_object_get(r, "examples"));
                char pa[4400], pb[4400];
                snprintf(pa, sizeof pa, "%s/%s", runs[from[k]], ea ?: "");
                snprintf(pb, sizeof pb, "%s/%s", runs[i], eb ?: "");
                int differ = !same_quality(best[k], r) || (ea && eb && from[k] != i && !same_file(pa, pb));
                if (differ) {
                    sum->conflicts++;
                    if (log)
                        fprintf(log, "merge: conflict: cell %d (%s, %s) has different results in %s and %s; keeping %s's\n",
                                cells[k].index, h, cells[k].key, runs[from[k]], runs[i], runs[i]);
                }
            }
            if (is_ok(r) || !is_ok(best[k])) best[k] = r, from[k] = i; /* ok beats failed; then the later wins */
        }
        json_decref(recs);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/examples", out_dir);
        rc = make_dirs(path, err);
    }
    json_t *merged = json_array();
    for (int k = 0; k < n && rc == 0; k++) {
        if (!best[k]) continue;
        json_array_append(merged, best[k]);
        const char *keys[2] = {"examples", "heldout_examples"};
        for (int e = 0; e < 2 && rc == 0; e++) {
            const char *rel = json_string_value(json_object_get(best[k], keys[e]));
            char src[4400], dst[4400];
            if (!rel) continue;
            snprintf(src, sizeof src, "%s/%s", runs[from[k]], rel);
            snprintf(dst, sizeof dst, "%s/%s", out_dir, rel);
            if (path_exists(src) && !(path_exists(dst) && same_file(src, dst))) rc = copy_file(src, dst, err);
        }
    }
    sum->merged = (int)json_array_size(merged);
    json_array_extend(merged, stale);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/spec.json", out_dir);
        if (strcmp(path, first_spec) != 0) rc = copy_file(first_spec, path, err);
    }
    if (rc == 0) { /* records.jsonl in spec order, written whole and renamed */
        snprintf(path, sizeof path, "%s/records.jsonl", out_dir);
        atomic_file af;
        rc = atomic_open(&af, path, err);
        size_t j;
        json_t *r;
        json_array_foreach(merged, j, r)
        {
            if (rc != 0) break;
            json_dumpf(r, af.fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fputc('\n', af.fp);
        }
        if (rc == 0) rc = atomic_commit(&af, err);
    }
    json_decref(merged);
    json_decref(stale);
    json_decref(keep);
    free(best);
    free(from);
    str_map_free(&by_hash);
    cells_free(cells, n);
    spec_free(&s);
    return rc;
}
