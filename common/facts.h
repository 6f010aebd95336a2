/* What every JSON a run writes records about where it ran: version, git revision, threads, BLAS, CPU,
 * host. Also the wall clock the harness and the benchmarks time with. */
#ifndef CPET_FACTS_H
#define CPET_FACTS_H

#include <jansson.h>

/* {"cpet_version", "git_revision", "threads", "blas", "cpu", "cores", "host"} */
json_t *run_facts(void);
/* The build's git revision (12 hex digits, or "unknown"). */
const char *cpet_git_revision(void);
const char *cpet_version(void);
/* Monotonic seconds. */
double now_seconds(void);

#endif
