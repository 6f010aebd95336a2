/* Runs a spec's cells, each in a child process, appending one record per cell to OUT/records.jsonl.
 * Cells already recorded (same config hash) are skipped, so an interrupted run continues; a failing or
 * crashing cell is recorded as failed and the run goes on. */
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
} run_options;

/* facts: cpet version, git revision and host, copied into every record. Returns the number of failed
 * cells in *failed. */
int matrix_run(const spec *s, const char *spec_path, const char *out_dir, const run_options *o, const json_t *facts,
               int *failed, cpet_err *err);

/* Runs one cell in this process: metrics, curves and token count into result. */
int matrix_run_cell(const spec *s, const cell *c, json_t *result, cpet_err *err);

#endif
