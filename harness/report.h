/* Tables and plots rendered only from the records of the current spec's cells: rows = model /
 * compression / method, columns = tasks (+ the average), mean +- 95% CI over seeds, the best per column
 * marked, n (examples x seeds) stated. Records whose config hash is not a cell of RUN/spec.json are
 * stale: ignored and counted. Two cells that would share a row, column and seed with different configs
 * are an error naming both. With a baseline, every row is compared with it, paired (same examples,
 * same seeds): bootstrap CI of the difference and, for accuracy, McNemar's exact p. */
#ifndef CPET_REPORT_H
#define CPET_REPORT_H

#include <stdio.h>

#include "error.h"

typedef struct {
    const char *metric;   /* default "acc"; several: "acc,perplexity,bytes" (one table each; the first is table.*) */
    int lower_is_better;
    int no_plots;
    const char *baseline; /* row label to compare every row with (NULL = none) */
    const char *scatter[8]; /* "x,y" metric pairs: scatter of row averages with the Pareto front */
    int n_scatter;
    int resamples;        /* bootstrap resamples (0 = BOOTSTRAP_RESAMPLES) */
    /* "y1,y2": one plot of curve y1 (left axis) and curve y2 (right axis, dashed) per row, from the first task
     * holding them (curves made before the task, e.g. a training schedule, repeat on every task); the two
     * curves then get no per-task plots of their own */
    const char *overlay;
    const char *by_index; /* a metric family PREFIX0, PREFIX1, ...: one plot of the row means against the index */
    /* --by compression: one report per compression (rows: its methods, plus the rows of the compression that
     * holds `upper`, shown in every group), and an overview: a summary table, a finding per compression, a
     * Pareto plot of accuracy against bytes. baseline names a method of each group. */
    int by_compression;
    const char *upper;     /* the upper bound's method label (e.g. LLM+LoRA on the uncompressed model) */
    const char *highlight; /* the method the findings are about (e.g. CA-LoRA) */
    const char *carried;   /* --also: a method shown beside them in the per-compression plot (e.g. the adapter untrained) */
    const char *task;      /* --task NAME: only that task's cells (one dataset of a spec with several) */
} report_options;

typedef struct {
    int used, failed, stale, missing;
    int not_applicable; /* records without the metric (a method that does not report it): left blank */
    int plots_skipped;
} report_summary;

/* Reads RUN_DIR/spec.json and its records, writes OUT_DIR/{table*.csv|json|md, paired*.csv|json|md,
 * *.gp, *.dat, *.png, *.svg, index.md}. */
int report_render(const char *run_dir, const char *out_dir, const report_options *o, report_summary *sum, cpet_err *err);

#endif
