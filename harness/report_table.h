/* The table a report renders, shared by report.c (building it from records, tables, paired statistics)
 * and report_plots.c (gnuplot). Internal to the report. */
#ifndef CPET_REPORT_TABLE_H
#define CPET_REPORT_TABLE_H

#include <jansson.h>

#include "error.h"
#include "report.h"
#include "spec.h"
#include "stats.h"

#define MAX_ROWS 128
#define MAX_COLS 32
#define MAX_SEEDS 32

typedef struct {
    char label[256], model[1024], compression[256], method[64];
} row_info;

typedef struct {
    const json_t *recs[MAX_SEEDS]; /* the ok record of each seed */
    long long seeds[MAX_SEEDS];
    double values[MAX_SEEDS];
    int n;          /* seeds recorded */
    int n_examples; /* eval examples per seed (metrics.n) */
    double mean, ci;
    int best;
} table_cell;

typedef struct {
    int have;         /* compared: row != baseline and both have seeds in common */
    paired_ci ci;     /* lo/hi NaN when no CI could be formed */
    int seeds;        /* seeds paired */
    int mcnemar_b, mcnemar_c;
    double p;         /* McNemar exact p (NaN when not accuracy) */
    double p_holm;    /* p adjusted by Holm over every test of its table (NaN with p) */
    const char *why;  /* when !have or no CI: the reason */
} paired_cell;

typedef struct {
    const char *metric;
    int lower_is_better;
    char suffix[72]; /* "" for the first metric, "_<metric>" for the others */
} metric_view;

typedef struct {
    row_info rows[MAX_ROWS];
    int n_rows;
    char cols[MAX_COLS][64];
    int n_cols;
    table_cell cell[MAX_ROWS][MAX_COLS];
    double avg[MAX_ROWS];
    int avg_best[MAX_ROWS];
    int baseline; /* row index or -1 */
    paired_cell paired[MAX_ROWS][MAX_COLS];
    paired_cell paired_avg[MAX_ROWS]; /* the average over columns, paired (stats.h: paired_bootstrap_columns) */
} table;

/* The current spec's cells and the latest record of each; row/col place each cell in a table (row -1:
 * not in it). */
typedef struct {
    spec s;
    cell *cells;
    int n_cells, n_all_cells; /* the cells reported (one task's with --task: the first n_cells) and all of the spec's */
    const json_t **latest; /* per cell: its latest record, or NULL */
    int *row, *col;        /* per cell: its place in the table */
    json_t *records;
    int stale;
    const char *run_dir;
} run_view;

/* report.c: every table, paired comparison, plot and index.md of one table layout into out_dir (title:
 * index.md's heading, NULL = the spec's name); *first, when given, gets the first metric's table. */
int report_render_view(run_view *view, const table *layout, const char *out_dir, const char *title, const report_options *o,
                       report_summary *sum, table **first, cpet_err *err);
/* report_groups.c: --by compression */
int report_render_groups(run_view *view, const table *layout, const char *out_dir, const report_options *o, report_summary *sum,
                         cpet_err *err);

/* report_plots.c */
int plot_bars(const table *t, const metric_view *v, const char *out_dir, cpet_err *err);
int plot_paired(const table *t, const metric_view *v, const char *out_dir, cpet_err *err);
/* x and y: the two tables of the metrics; writes scatter_<x>_<y>.png with the Pareto front. */
int plot_scatter(const table *x, const metric_view *vx, const table *y, const metric_view *vy, const char *out_dir,
                 char *name_out, size_t name_n, cpet_err *err);
/* skip: curve names ("a,b") left out (they are plotted by plot_overlay) */
int plot_curves(const table *t, const char *skip, const char *out_dir, json_t *made, cpet_err *err);
int plot_overlay(const table *t, const char *pair, const char *out_dir, json_t *made, cpet_err *err);
int plot_by_index(const table *t, const char *prefix, const char *out_dir, json_t *made, cpet_err *err);

#endif
