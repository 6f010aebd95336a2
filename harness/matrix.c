#include "matrix.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cell.h"
#include "facts.h"
#include "fileio.h"
#include "records.h"
#include "supervise.h"

/* ---- the runner ---- */

static int parse_only(const char *only, int n, unsigned char *keep, cpet_err *err)
{
    memset(keep, 0, (size_t)n + 1);
    const char *p = only;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
            p = end;
        }
        if (a < 1 || b > n || a > b) return cpet_fail(err, "--only '%s': cells are numbered 1..%d", only, n);
        for (long i = a; i <= b; i++) keep[i] = 1;
        if (*p == ',') p++;
        else if (*p) return cpet_fail(err, "--only '%s': expected numbers like 3,5-7", only);
    }
    return 0;
}

const json_t **records_by_cell(const json_t *records, const cell *cells, int n, int *stale)
{
    str_map by_hash;
    const json_t **latest = calloc((size_t)n + 1, sizeof *latest);
    if (!latest || cells_by_hash(cells, n, &by_hash) != 0) {
        free(latest);
        return NULL;
    }
    if (stale) *stale = 0;
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        const char *h = json_string_value(json_object_get(r, "config_hash")) ?: "";
        int k;
        if (str_map_get(&by_hash, h, strlen(h), &k)) latest[k] = r; /* later lines supersede earlier ones */
        else if (stale) (*stale)++;
    }
    str_map_free(&by_hash);
    return latest;
}

typedef struct {
    const spec *s;
    const cell *c;
    const char *run_dir;
} cell_job;

static int run_cell_job(void *ctx, json_t *result, cpet_err *err)
{
    const cell_job *j = ctx;
    return cell_run(j->s, j->c, j->run_dir, result, err);
}

/* A cell running under the supervisor, and the record it will fill. */
typedef struct {
    cell_job job;
    supervised_child child;
    json_t *rec;
} running_cell;

/* The cell's result into rec: status/error/metrics/curves/examples, and timings. */
static void record_result(json_t *rec, json_t *res, const supervised_usage u)
{
    json_int_t tokens = json_integer_value(json_object_get(res, "tokens"));
    json_object_del(res, "tokens");
    json_object_update(rec, res);
    json_object_set_new(rec, "timings", json_pack("{s:f, s:f, s:f}", "wall_s", u.wall_s, "tokens_per_s",
                                                  u.wall_s > 0 ? tokens / u.wall_s : 0.0, "peak_rss_mb", u.peak_rss_mb));
    json_decref(res);
}

/* A finished cell's record, completed and appended (by this process only: jobs never write records). */
static int finish_cell(running_cell *r, json_t *res, const supervised_usage u, const json_t *facts, const char *records_path, int *failed,
                       cpet_err *err)
{
    record_result(r->rec, res, u);
    json_object_set_new(r->rec, "facts", json_deep_copy(facts));
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(r->rec, "finished_at", json_string(stamp));
    const char *st = json_string_value(json_object_get(r->rec, "status"));
    if (!st || strcmp(st, "ok") != 0) {
        (*failed)++;
        fprintf(stderr, "cell %d failed: %s\n", r->job.c->index, json_string_value(json_object_get(r->rec, "error")));
    }
    int rc = records_append(records_path, r->rec, err);
    json_decref(r->rec);
    r->rec = NULL;
    return rc;
}

int parse_shard(const char *text, int *shard, int *n_shards, cpet_err *err)
{
    char *end;
    long i = strtol(text, &end, 10), n = 0;
    int ok = end != text && *end == '/';
    if (ok) {
        const char *p = end + 1;
        n = strtol(p, &end, 10);
        ok = end != p && *end == 0;
    }
    if (!ok) return cpet_fail(err, "--shard '%s': expected i/n, e.g. 2/4", text);
    if (n < 1 || n > 100000) return cpet_fail(err, "--shard '%s': the number of shards must be at least 1", text);
    if (i < 1 || i > n) return cpet_fail(err, "--shard '%s': the shard must be between 1 and %ld", text, n);
    *shard = (int)i;
    *n_shards = (int)n;
    return 0;
}

static int is_records_file(const char *name)
{
    size_t n = strlen(name);
    return !strcmp(name, "records.jsonl") || (!strncmp(name, "records.shard-", 14) && n > 6 && !strcmp(name + n - 6, ".jsonl"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

json_t *run_records_read(const char *run_dir, const char *own, int repair, cpet_err *err)
{
    json_t *all = json_array();
    DIR *d = opendir(run_dir);
    if (!d) return all; /* a run not started yet */
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (is_records_file(e->d_name) && strcmp(e->d_name, "records.jsonl") != 0) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int rc = 0;
    for (int i = -1; i < n && rc == 0; i++) {
        char path[4400];
        const char *name = i < 0 ? "records.jsonl" : names[i];
        snprintf(path, sizeof path, "%s/%s", run_dir, name);
        records_mode mode = own && !strcmp(own, name) ? (repair ? RECORDS_REPAIR : RECORDS_STRICT)
                            : own ? RECORDS_SKIP_TORN : (repair ? RECORDS_REPAIR : RECORDS_STRICT);
        json_t *r = records_read(path, mode, err);
        if (!r) rc = -1;
        else json_array_extend(all, r), json_decref(r);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    if (rc != 0) {
        json_decref(all);
        return NULL;
    }
    return all;
}

int matrix_run(const spec *s, const char *spec_path, const char *out_dir, const run_options *o, const json_t *facts,
               int *failed, cpet_err *err)
{
    int n;
    cell *cells = spec_expand(s, &n);
    unsigned char *keep = malloc((size_t)n + 1);
    memset(keep, 1, (size_t)n + 1);
    int rc = 0;
    if (o->only && parse_only(o->only, n, keep, err) != 0) rc = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        for (int f = 0; f < o->n_filters; f++)
            if (!strstr(cells[i].key, o->filters[f])) keep[i + 1] = 0;
        if (o->n_shards && cell_shard(&cells[i], o->n_shards) != o->shard) keep[i + 1] = 0;
    }
    char records_path[4300];
    if (o->n_shards) snprintf(records_path, sizeof records_path, "%s/records.shard-%d-of-%d.jsonl", out_dir, o->shard, o->n_shards);
    else snprintf(records_path, sizeof records_path, "%s/records.jsonl", out_dir);
    json_t *records = rc == 0 ? run_records_read(out_dir, strrchr(records_path, '/') + 1, o->repair, err) : NULL;
    if (!records) rc = -1;
    int todo = 0, recorded = 0, selected = 0;
    const json_t **latest = rc == 0 ? records_by_cell(records, cells, n, NULL) : NULL;
    if (rc == 0 && !latest) rc = cpet_fail(err, "out of memory indexing %d cells", n);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!keep[i + 1]) continue;
        const json_t *prev = latest[i];
        const char *st = prev ? json_string_value(json_object_get(prev, "status")) : NULL;
        int done = prev && (!o->retry_failed || (st && strcmp(st, "ok") == 0));
        if (o->dry_run) printf("%4d  %s  %-9s %s\n", cells[i].index, cells[i].config_hash, done ? (st ? st : "?") : "todo", cells[i].key);
        selected++;
        if (done) keep[i + 1] = 0, recorded++;
        else todo++;
    }
    if (rc == 0 && o->dry_run) fprintf(stderr, "%d cells, %d to run\n", n, todo);
    if (rc == 0 && !o->dry_run && path_exists(out_dir)) { /* one run directory holds one spec's records */
        char prev_spec[4300];
        snprintf(prev_spec, sizeof prev_spec, "%s/spec.json", out_dir);
        spec old;
        cpet_err e2;
        if (path_exists(prev_spec) && spec_load(&old, prev_spec, &e2) == 0) {
            if (strcmp(old.hash, s->hash) != 0)
                fprintf(stderr, "run: %s holds records of another spec (hash %s; this one is %s): records of cells this spec "
                                "still has (same config hash) count as done, the others stay and reports ignore them as stale\n",
                        out_dir, old.hash, s->hash);
            spec_free(&old);
        }
    }
    if (rc == 0 && !o->dry_run) {
        char copy[4300];
        snprintf(copy, sizeof copy, "%s/spec.json", out_dir);
        rc = make_dirs(out_dir, err);
        if (rc == 0) rc = s->root ? json_write_file(copy, s->root, err) : copy_file(spec_path, copy, err);
    }
    *failed = 0;
    double t_start = now_seconds();
    int ran = 0, started = 0, busy = 0, next = 0;
    /* a work queue: up to `jobs` cells at once, the next one started as soon as one ends (shards, by
     * contrast, split the cells in advance and wait on their slowest) */
    const int jobs = o->jobs > 1 ? o->jobs : 1;
    running_cell *slots = calloc((size_t)jobs, sizeof *slots);
    if (rc == 0 && !slots) rc = cpet_fail(err, "out of memory");
    while (rc == 0 && !o->dry_run) {
        while (rc == 0 && busy < jobs && next < n) { /* start cells while a slot is free */
            const int i = next++;
            if (!keep[i + 1]) continue;
            const cell *c = &cells[i];
            if (o->progress) {
                double el = now_seconds() - t_start;
                fprintf(stderr, "[%d/%d] %s", started + 1, todo, c->key);
                if (ran) fprintf(stderr, "  (ETA %.0fs)", el / ran * (todo - ran));
                fputc('\n', stderr);
            }
            int k = 0;
            while (slots[k].rec) k++;
            running_cell *r = &slots[k];
            r->rec = json_pack("{s:s, s:s, s:s, s:i, s:s, s:O, s:I}", "spec", s->name, "spec_hash", s->hash, "key", c->key, "index", c->index,
                               "config_hash", c->config_hash, "cell", c->config, "seed", (json_int_t)c->seed);
            if (o->n_shards) json_object_set_new(r->rec, "shard", json_sprintf("%d/%d", o->shard, o->n_shards));
            if (jobs > 1) json_object_set_new(r->rec, "jobs", json_integer(jobs)); /* cells shared the cores: their timings say so */
            r->job = (cell_job){s, c, out_dir};
            char handoff[4300];
            snprintf(handoff, sizeof handoff, "%s/.cell-%s.json", out_dir, c->config_hash);
            supervise_start(run_cell_job, &r->job, handoff, &r->child);
            started++;
            if (r->child.pid < 0) { /* not started: recorded as failed at once */
                const struct rusage none = {0};
                supervised_usage u;
                json_t *res = supervise_end(&r->child, 0, &none, &u);
                rc = finish_cell(r, res, u, facts, records_path, failed, err);
                ran++;
            } else
                busy++;
        }
        if (rc != 0 || busy == 0) break;
        int status = 0;
        struct rusage ru;
        memset(&ru, 0, sizeof ru);
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid < 0) {
            rc = cpet_fail(err, "run: waiting for a cell process failed");
            break;
        }
        for (int k = 0; k < jobs; k++)
            if (slots[k].rec && slots[k].child.pid == (int)pid) {
                supervised_usage u;
                json_t *res = supervise_end(&slots[k].child, status, &ru, &u);
                rc = finish_cell(&slots[k], res, u, facts, records_path, failed, err);
                busy--, ran++;
                break;
            }
    }
    for (int k = 0; slots && k < jobs; k++) /* after an error: the cells still running are left unrecorded */
        if (slots[k].rec) {
            if (slots[k].child.pid > 0) kill(slots[k].child.pid, SIGKILL), waitpid(slots[k].child.pid, NULL, 0);
            unlink(slots[k].child.handoff);
            json_decref(slots[k].rec);
        }
    free(slots);
    if (rc == 0 && !o->dry_run)
        fprintf(stderr, "%d cells run (%d failed), %d already recorded, %d outside this selection, in %.0fs -> %s\n", ran,
                *failed, recorded, n - selected,
                now_seconds() - t_start, records_path);
    free(latest);
    json_decref(records);
    free(keep);
    cells_free(cells, n);
    return rc;
}
