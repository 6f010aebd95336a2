/* Formatting shared by reports and benchmarks: CSV rows, numbers for tables and labels, and what a
 * metric's name says about it. */
#ifndef CPET_TABLE_FORMAT_H
#define CPET_TABLE_FORMAT_H

#include <stddef.h>
#include <stdio.h>

/* Writes one CSV row (every field quoted by libcsv, embedded quotes doubled) to fp. */
void csv_row(FILE *fp, const char *const *fields, int n);

/* v with `decimals` decimals and thousands separated by commas: 4388.2, 0 -> "4,388". Returns buf. */
const char *format_grouped(char *buf, size_t n, double v, int decimals);

/* Whether a metric is better lower, from its name (perplexity, bytes, loss, seconds ...). */
int metric_lower_is_better(const char *metric);
/* A setting rather than an outcome (a notebook's size, a count of edits): neither direction is better, so
 * it gets no bars, no paired plot and no Pareto front, only its table and plain axes in a scatter. */
int metric_is_setting(const char *metric);

/* A value for a label: 4 significant digits, thousands as k/M/G. */
void format_value(char *buf, size_t n, double v);

#endif
