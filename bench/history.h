/* Benchmark figures across revisions, rendered from bench/history.jsonl alone (one line per run:
 * {revision, date, host, threads, figures: {"<result file>.<figure>": value}}, written by
 * `cpet bench history append`). */
#ifndef CPET_HISTORY_H
#define CPET_HISTORY_H

#include "error.h"

/* Writes to OUT_DIR (created if needed):
 *   history_<file>.{dat,gp,png,svg}  one small-multiples plot per result file: a panel per figure kind
 *                                    (last name component; within-run ratios first), a line per variant,
 *                                    runs on x in history order labelled with the short revision
 *   history.md                       per result file, a table of every figure over the last runs, with the
 *                                    change of the last run against the one before
 *   index.md                         the plots and a link to history.md
 * Without gnuplot on PATH the .dat/.gp files and the Markdown are written and index.md says the plots were
 * skipped. Fails on a missing or empty history, or a line that is not a run (the error names file:line). */
int history_render(const char *history_path, const char *out_dir, cpet_err *err);

#endif
