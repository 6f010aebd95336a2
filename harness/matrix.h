/* Runs a spec's cells, each under the process supervisor (harness/supervise.h) doing what harness/cell.h
 * says, appending one record per cell to RUN/records.jsonl -- or, for shard i of n, to
 * RUN/records.shard-i-of-n.jsonl, so shards can share a run directory. Cells recorded in any records
 * file of the run are skipped, so an interrupted run continues; a failing or crashing cell is recorded
 * as failed and the run goes on. */
#ifndef CPET_MATRIX_H
#define CPET_MATRIX_H

#include <jansson.h>

#include "error.h"
#include "spec.h"

typedef struct {
    int dry_run, retry_failed, repair, progress;
    const char *only;          /* "3,5-7": cell indices */
    const char *filters[8];    /* every one must occur in the cell key */
    int n_filters;
    int shard, n_shards;       /* 1..n_shards of n_shards; 0 = unsharded */
    int jobs;                  /* cells run at once, each in its own process (0, 1: one at a time) */
} run_options;

/* "i/n" with 1 <= i <= n: fills shard and n_shards, or fails naming the text. */
int parse_shard(const char *text, int *shard, int *n_shards, cpet_err *err);

/* facts: cpet version, git revision and host, copied into every record. Returns the number of failed
 * cells in *failed. */
int matrix_run(const spec *s, const char *spec_path, const char *out_dir, const run_options *o, const json_t *facts,
               int *failed, cpet_err *err);

/* For each of the n cells, its latest record in `records` (NULL if none): later lines supersede earlier
 * ones. *stale (may be NULL) counts records of configs that are not among the cells. Caller frees. */
const json_t **records_by_cell(const json_t *records, const cell *cells, int n, int *stale);

/* Every record of a run directory: records.jsonl, then the shard files in name order. `own` (a file
 * name in run_dir, or NULL) is the file this process appends to: only it is repaired (with repair);
 * a torn last line in any other file -- a shard still writing, or killed mid-write -- is skipped,
 * never rewritten, since that file belongs to another process. */
json_t *run_records_read(const char *run_dir, const char *own, int repair, cpet_err *err);

#endif
