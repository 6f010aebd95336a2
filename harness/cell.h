/* What one matrix cell does, in the process the supervisor gives it: load the model and tokenizer,
 * apply the cell's compression, run the method (harness/method.h) on the task, add the metrics every cell
 * reports (held-out perplexity when the spec names a text, bytes, forward tokens/s), and write the
 * per-example outputs to RUN/examples/<hash>.jsonl (and <hash>.heldout.jsonl: per-document NLL). */
#ifndef CPET_CELL_H
#define CPET_CELL_H

#include <jansson.h>

#include "error.h"
#include "spec.h"

/* Fills result with "metrics", "curves", "tokens", "examples" (the path relative to run_dir) and, with a
 * held-out text, "heldout_examples". */
int cell_run(const spec *s, const cell *c, const char *run_dir, json_t *result, cpet_err *err);

/* Writes an array of JSON objects as JSON lines, atomically. */
int jsonl_write(const char *path, const json_t *array, cpet_err *err);

#endif
