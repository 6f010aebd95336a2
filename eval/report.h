/* Tables and plots rendered only from a run's records: rows = model / compression / method, columns =
 * tasks (+ the average), mean +- 95% CI over seeds, the best per column marked. */
#ifndef CPET_REPORT_H
#define CPET_REPORT_H

#include "error.h"

typedef struct {
    const char *metric;   /* default "acc"; several: "acc,perplexity,bytes" (one table each; the first is table.*) */
    int lower_is_better;
    int no_plots;
} report_options;

/* Reads RUN_DIR/records.jsonl (and spec.json for ordering), writes OUT_DIR/{table.csv, table.json,
 * table.md, *.gp, *.dat, *.png, *.svg, index.md}. *plots_skipped is set when gnuplot is unavailable. */
int report_render(const char *run_dir, const char *out_dir, const report_options *o, int *plots_skipped, cpet_err *err);

/* Writes one CSV row (every field quoted by libcsv, embedded quotes doubled) to fp. */
void csv_row(FILE *fp, const char *const *fields, int n);

#endif
