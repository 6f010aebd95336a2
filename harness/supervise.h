/* The process supervisor: runs a function in a child process and reports how it ended, its wall time
 * and peak RSS (wait4's rusage). It knows nothing about what the function does: the matrix runner
 * gives it a cell, a test could give it anything. A crash or an exit without a result becomes a
 * "failed" result with the reason; the parent survives. */
#ifndef CPET_SUPERVISE_H
#define CPET_SUPERVISE_H

#include <jansson.h>
#include <sys/resource.h>

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

/* The same in two halves, for several children at once: supervise_start forks (pid < 0: could not),
 * supervise_end turns the child's wait status and rusage (from wait4) into its result. */
typedef struct {
    int pid; /* < 0: the child could not be started */
    double t0;
    char handoff[4400];
} supervised_child;
void supervise_start(supervised_fn fn, void *ctx, const char *handoff_path, supervised_child *child);
json_t *supervise_end(const supervised_child *child, int status, const struct rusage *ru, supervised_usage *usage);

#endif
