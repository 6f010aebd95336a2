/* cpet merge: runs (or shards) of one spec -> one run. Records are deduplicated by cell hash (an ok
 * record beats a failed one, then the later one wins); two ok records of one cell whose quality
 * metrics or per-example outputs differ are a conflict, reported by cell. Runs of different specs are
 * refused, naming both spec hashes. */
#ifndef CPET_MERGE_H
#define CPET_MERGE_H

#include <stdio.h>

#include "error.h"

typedef struct {
    int records_in, merged, duplicates, conflicts, stale, cells;
} merge_summary;

/* Conflicts are listed on `log` (one line each). out_dir may be one of the runs (shards merged in place). */
int runs_merge(const char *const *runs, int n_runs, const char *out_dir, FILE *log, merge_summary *sum, cpet_err *err);

#endif
