/* The process supervisor: runs a function in a child process and reports how it ended, its wall time
 * and peak RSS (wait4's rusage). It knows nothing about what the function does: the matrix runner
 * gives it a cell, a test could give it anything. A crash or an exit without a result becomes a
 * "failed" result with the reason; the parent survives. */
#ifndef CPET_SUPERVISE_H
#define CPET_SUPERVISE_H

#include <jansson.h>

#include "error.h"

/* Fills `result` (an object the child returns) or fails with err. */
typedef int (*supervised_fn)(void *ctx, json_t *result, cpet_err *err);

typedef struct {
    double wall_s;
    double peak_rss_mb;
} supervised_usage;

/* Runs fn(ctx) in a child that dies with the parent. The child's result travels through handoff_path
 * (written atomically, removed afterwards). Returns the result with "status": "ok" | "failed" (and
 * "error"); never NULL. */
json_t *supervise(supervised_fn fn, void *ctx, const char *handoff_path, supervised_usage *usage);

#endif
