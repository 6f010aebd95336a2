/* The report's plots, each a gnuplot script beside its data:
 * - bars: per column, one horizontal bar per row sorted by value, 95% CI error bars, value labels, one
 *   colour per row across every plot; the axis is zoomed to the values (it says so) and the baseline
 *   is a dashed line;
 * - paired: the difference to the baseline per row with its paired bootstrap CI, 0 marked;
 * - scatter: two metrics' row averages with the Pareto front (the compression plot people use);
 * - curves: recorded curves (training loss ...) averaged over seeds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "table_format.h"
#include "gnuplot.h"
#include "report_table.h"


/* A row label for a data file: gnuplot reads a double quote there as the start of a quoted field. */
static const char *dat_label(const char *label, char *buf, size_t n)
{
    snprintf(buf, n, "%s", label);
    for (char *p = buf; *p; p++)
        if (*p == '"' || *p == '\t') *p = *p == '"' ? '\'' : ' ';
    return buf;
}

static int cmp_index_by_value(const void *x, const void *y, void *ctx)
{
    const double *v = ctx;
    int a = *(const int *)x, b = *(const int *)y;
    return v[a] < v[b] ? -1 : v[a] > v[b] ? 1 : a - b;
}

/* Rows with a value, sorted so that the best ends at the top of a horizontal bar chart (the largest y). */
static int sorted_rows(const double *value, int n, int lower_is_better, int *order)
{
    int m = 0;
    double key[MAX_ROWS];
    for (int a = 0; a < n; a++)
        if (!isnan(value[a])) order[m++] = a;
    for (int a = 0; a < n; a++) key[a] = lower_is_better ? -value[a] : value[a];
    qsort_r(order, (size_t)m, sizeof *order, cmp_index_by_value, key);
    return m;
}

/* An axis range that shows the differences: the values' span, padded, with room for labels on the right. */
static void zoomed_range(double lo, double hi, double *xmin, double *xmax, int *from_zero)
{
    double span = hi - lo;
    if (span <= 1e-9 * fmax(1.0, fabs(hi))) span = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1; /* all equal: a span of 10% */
    *xmin = lo - 0.3 * span;
    *xmax = hi + 0.45 * span;
    *from_zero = lo >= 0 && *xmin <= 0.5 * lo; /* close enough to 0: start there, no truncation */
    if (*from_zero) *xmin = 0, *xmax = hi + 0.45 * (hi > span ? hi : span);
}

/* 1, 2 or 5 times a power of ten, at least x. */
static double nice_step(double x)
{
    if (!(x > 0)) return 1;
    double p = pow(10, floor(log10(x))), m = x / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* Metrics whose value is over the eval examples (or held-out documents), not a property of the model. */
static int per_example_metric(const char *metric) { return !strncmp(metric, "acc", 3) || !strcmp(metric, "perplexity"); }

static int bounded_by_one(const char *metric) { return !strncmp(metric, "acc", 3) || strstr(metric, "fraction") != NULL; }

static FILE *open_atomic(atomic_file *af, const char *out_dir, const char *name, const char *ext, cpet_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.%s", out_dir, name, ext);
    return atomic_open(af, path, err) == 0 ? af->fp : NULL;
}

/* The panels' commands inside "set multiplot layout N,1" ... "unset multiplot", N = the panels drawn (a task
 * without the metric gets none, not an empty slot) */
static void multiplot_wrap(char *plot, size_t cap, int panels)
{
    char *body = strdup(plot);
    if (!body) return;
    snprintf(plot, cap, "set multiplot layout %d,1\n%sunset multiplot", panels, body);
    free(body);
}

/* The left margin, in characters of the default font, that the longest row label (tics at font 9) needs. */
static int row_label_margin(const table *t)
{
    size_t longest = 0;
    for (int a = 0; a < t->n_rows; a++) longest = strlen(t->rows[a].label) > longest ? strlen(t->rows[a].label) : longest;
    const int margin = (int)ceil(0.85 * (double)longest) + 2;
    return margin < 10 ? 10 : margin;
}

int plot_bars(const table *t, const metric_view *v, const char *out_dir, cpet_err *err)
{
    char base[96], plot[65536] = "";
    snprintf(base, sizeof base, "bars%s", v->suffix);
    atomic_file af;
    FILE *f = open_atomic(&af, out_dir, base, "dat", err);
    if (!f) return -1;
    int height = 60, panels = 0;
    size_t k = 0; /* the panels, then the layout around those that have data (a metric some tasks lack) */
    for (int b = 0; b < t->n_cols; b++) {
        double value[MAX_ROWS], lo = INFINITY, hi = -INFINITY;
        int order[MAX_ROWS];
        for (int a = 0; a < t->n_rows; a++) {
            const table_cell *c = &t->cell[a][b];
            value[a] = c->n ? c->mean : NAN;
            if (c->n) lo = fmin(lo, c->mean - c->ci), hi = fmax(hi, c->mean + c->ci);
        }
        int m = sorted_rows(value, t->n_rows, v->lower_is_better, order);
        fprintf(f, "# %s: y\trow\tmean\tci95\tcolour\tlabel\n", t->cols[b]);
        for (int i = 0; i < m; i++) {
            const table_cell *c = &t->cell[order[i]][b];
            char lab[64], ci[32], row[256];
            format_value(lab, sizeof lab, c->mean);
            format_value(ci, sizeof ci, c->ci);
            fprintf(f, "%d\t%s\t%.9g\t%.9g\t%u\t%s%s%s\n", i + 1, dat_label(t->rows[order[i]].label, row, sizeof row), c->mean,
                    c->ci, gnuplot_colour(order[i]), lab, c->n > 1 ? " ± " : "", c->n > 1 ? ci : "");
        }
        fprintf(f, "\n\n");
        if (!m) continue;
        double xmin, xmax;
        int from_zero;
        zoomed_range(lo, hi, &xmin, &xmax, &from_zero);
        int ph = 70 + 24 * m;
        height += ph;
        int n_examples = 0, seeds = 0;
        for (int i = 0; i < m; i++) n_examples = t->cell[order[i]][b].n_examples, seeds = seeds > t->cell[order[i]][b].n ? seeds : t->cell[order[i]][b].n;
        char title[600], qt[700];
        char dashed[300] = "";
        if (t->baseline >= 0 && t->cell[t->baseline][b].n) snprintf(dashed, sizeof dashed, "; dashed: %s", t->rows[t->baseline].label);
        char n_text[96];
        if (per_example_metric(v->metric)) snprintf(n_text, sizeof n_text, "n = %d examples x %d seed%s", n_examples, seeds, seeds == 1 ? "" : "s");
        else snprintf(n_text, sizeof n_text, "%d seed%s", seeds, seeds == 1 ? "" : "s");
        snprintf(title, sizeof title, "%s: %s (%s)%s%s", t->cols[b], v->metric, n_text, from_zero ? "" : "; axis zoomed, not from 0",
                 dashed);
        gnuplot_quote(qt, sizeof qt, title);
        k += (size_t)snprintf(plot + k, sizeof plot - k,
                              "set title %s\nset xrange [%.9g:%.9g]\nset yrange [0.4:%d.6]\nunset arrow\nunset label\n", qt, xmin,
                              xmax, m);
        if (t->baseline >= 0 && t->cell[t->baseline][b].n)
            k += (size_t)snprintf(plot + k, sizeof plot - k,
                                  "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front\n",
                                  t->cell[t->baseline][b].mean, t->cell[t->baseline][b].mean);
        /* tics end at 1 for a proportion: the room beyond is for the value labels only */
        double tic = nice_step((xmax - xmin) / 6);
        if (bounded_by_one(v->metric) && xmax > 1)
            k += (size_t)snprintf(plot + k, sizeof plot - k, "set xtics %.9g, %.9g, 1\n", ceil(xmin / tic) * tic, tic);
        else
            k += (size_t)snprintf(plot + k, sizeof plot - k, "set xtics autofreq\n");
        k += (size_t)snprintf(plot + k, sizeof plot - k,
                              "plot '%s.dat' index %d using (%.9g):1:(%.9g):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable "
                              "notitle, \\\n  '' index %d using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \\\n"
                              "  '' index %d using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle\n",
                              base, b, xmin, xmin, b, b);
        panels++;
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!panels) return 0;
    multiplot_wrap(plot, sizeof plot, panels);
    if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
    fprintf(f, "# cpet report: %s per task, one bar per row sorted by value (mean +- 95%% CI over seeds), from %s.dat\n",
            v->metric, base);
    fprintf(f, "set datafile separator \"\\t\"\nset style fill solid 0.9 border rgb '#444444'\nset grid xtics lc rgb '#dddddd'\n"
               "set ytics scale 0 font ',9'\nset xtics nomirror\nset border 3\nset tmargin 2\nset lmargin %d\nset xlabel '%s (%s is better)'\n",
            row_label_margin(t), v->metric, v->lower_is_better ? "lower" : "higher");
    if (strstr(v->metric, "bytes")) fprintf(f, "set format x '%%.1s %%cB'\n");
    gnuplot_terminals(f, 960, height, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(out_dir, base, err);
}

int plot_paired(const table *t, const metric_view *v, const char *out_dir, cpet_err *err)
{
    char base[96], plot[65536] = "";
    snprintf(base, sizeof base, "paired%s", v->suffix);
    int points = !strcmp(v->metric, "acc") || !strcmp(v->metric, "acc_norm");
    double scale = points ? 100 : 1;
    atomic_file af;
    FILE *f = open_atomic(&af, out_dir, base, "dat", err);
    if (!f) return -1;
    int height = 60, panels = 0;
    size_t k = 0;
    for (int b = 0; b < t->n_cols; b++) {
        double value[MAX_ROWS], lo = 0, hi = 0;
        int order[MAX_ROWS];
        for (int a = 0; a < t->n_rows; a++) {
            const paired_cell *p = &t->paired[a][b];
            value[a] = a != t->baseline && p->have ? p->ci.diff * scale : NAN;
            if (isnan(value[a])) continue;
            lo = fmin(lo, isnan(p->ci.lo) ? value[a] : p->ci.lo * scale);
            hi = fmax(hi, isnan(p->ci.hi) ? value[a] : p->ci.hi * scale);
        }
        int m = sorted_rows(value, t->n_rows, v->lower_is_better, order);
        fprintf(f, "# %s: y\trow\tdiff\tlo\thi\tcolour\tlabel\n", t->cols[b]);
        for (int i = 0; i < m; i++) {
            const paired_cell *p = &t->paired[order[i]][b];
            int better = v->lower_is_better ? p->ci.diff < 0 : p->ci.diff > 0;
            unsigned colour = !p->ci.excludes_zero ? 0x888888 : better ? 0x2ca02c : 0xd62728;
            char lab[64];
            snprintf(lab, sizeof lab, "%+.3g%s", fabs(p->ci.diff * scale) < 1e-9 ? 0.0 : p->ci.diff * scale, p->ci.excludes_zero ? " *" : ""); /* no -1.85e-15 */
            double l = isnan(p->ci.lo) ? value[order[i]] : p->ci.lo * scale, h = isnan(p->ci.hi) ? value[order[i]] : p->ci.hi * scale;
            char row[256];
            fprintf(f, "%d\t%s\t%.9g\t%.9g\t%.9g\t%u\t%s\n", i + 1, dat_label(t->rows[order[i]].label, row, sizeof row),
                    value[order[i]], l, h, colour, lab);
        }
        fprintf(f, "\n\n");
        if (!m) continue;
        double span = hi - lo > 0 ? hi - lo : 1;
        height += 70 + 24 * m;
        char title[600], qt[700];
        snprintf(title, sizeof title, "%s: %s minus %s%s, paired bootstrap 95%% CI (* = excludes 0)", t->cols[b], v->metric,
                 t->rows[t->baseline].label, points ? " (points)" : "");
        gnuplot_quote(qt, sizeof qt, title);
        k += (size_t)snprintf(plot + k, sizeof plot - k,
                              "set title %s\nset xrange [%.9g:%.9g]\nset yrange [0.4:%d.6]\nunset arrow\n"
                              "set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back\n"
                              "plot '%s.dat' index %d using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \\\n"
                              "  '' index %d using 5:1:7 with labels left offset 0.8,0 font ',9' notitle\n",
                              qt, lo - 0.1 * span, hi + 0.35 * span, m, base, b, b);
        panels++;
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!panels) return 0;
    multiplot_wrap(plot, sizeof plot, panels);
    if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
    fprintf(f, "# cpet report: paired difference of %s to the baseline, from %s.dat (green: better, red: worse, grey: CI holds 0)\n",
            v->metric, base);
    fprintf(f, "set datafile separator \"\\t\"\nset grid xtics lc rgb '#dddddd'\nset ytics scale 0 font ',9'\nset xtics nomirror\n"
               "set border 3\nset tmargin 2\nset lmargin %d\nset xlabel 'difference in %s%s (%s is better)'\n",
            row_label_margin(t), v->metric, points ? ", points" : "", v->lower_is_better ? "lower" : "higher");
    gnuplot_terminals(f, 960, height, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(out_dir, base, err);
}

/* Pareto front: rows no other row beats on both metrics. */
static int dominated(double xa, double ya, double xb, double yb, int x_lower, int y_lower)
{
    int bx = x_lower ? xb <= xa : xb >= xa, by = y_lower ? yb <= ya : yb >= ya;
    int sx = x_lower ? xb < xa : xb > xa, sy = y_lower ? yb < ya : yb > ya;
    return bx && by && (sx || sy);
}

int plot_scatter(const table *x, const metric_view *vx, const table *y, const metric_view *vy, const char *out_dir,
                 char *name_out, size_t name_n, cpet_err *err)
{
    char base[200];
    snprintf(base, sizeof base, "scatter_%s_vs_%s", vy->metric, vx->metric);
    snprintf(name_out, name_n, "%s", base);
    atomic_file af;
    FILE *f = open_atomic(&af, out_dir, base, "dat", err);
    if (!f) return -1;
    int front[MAX_ROWS], n_front = 0, n_points = 0;
    const int x_set = metric_is_setting(vx->metric), y_set = metric_is_setting(vy->metric), fronted = !x_set && !y_set;
    char titles[16384] = "", colours[4096] = "";
    fprintf(f, "# row\t%s\t%s\ton_front\n", vx->metric, vy->metric);
    for (int a = 0; a < x->n_rows; a++) {
        if (isnan(x->avg[a]) || isnan(y->avg[a])) continue;
        int dom = !fronted; /* against a setting no row "beats" another: no front */
        for (int b = 0; b < x->n_rows && fronted && !dom; b++)
            if (b != a && !isnan(x->avg[b]) && !isnan(y->avg[b]))
                dom = dominated(x->avg[a], y->avg[a], x->avg[b], y->avg[b], vx->lower_is_better, vy->lower_is_better);
        if (!dom) front[n_front++] = a;
        char row[256], q[600];
        fprintf(f, "%s\t%.9g\t%.9g\t%d\n", dat_label(x->rows[a].label, row, sizeof row), x->avg[a], y->avg[a], !dom);
        snprintf(row, sizeof row, "%s%s", x->rows[a].label, dom || !fronted ? "" : " (front)");
        gnuplot_quote(q, sizeof q, row);
        snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s%s", n_points ? ", " : "", q);
        snprintf(colours + strlen(colours), sizeof colours - strlen(colours), "%s%u", n_points ? ", " : "", gnuplot_colour(a));
        n_points++;
    }
    /* the front in x order, as a second block, labelled; the rest are told apart by colour and key */
    fprintf(f, "\n\n");
    qsort_r(front, (size_t)n_front, sizeof *front, cmp_index_by_value, (void *)x->avg);
    for (int i = 0; i < n_front; i++) {
        char row[256];
        fprintf(f, "%s\t%.9g\t%.9g\n", dat_label(x->rows[front[i]].label, row, sizeof row), x->avg[front[i]], y->avg[front[i]]);
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!n_points) return 0;
    if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
    fprintf(f, "# cpet report: %s against %s per row (average over tasks)%s, from %s.dat\n", vy->metric, vx->metric,
            fronted ? ", Pareto front drawn and labelled" : "", base);
    fprintf(f, "array titles[%d] = [%s]\narray colours[%d] = [%s]\n", n_points, titles, n_points, colours);
    char xl[160], yl[160];
    snprintf(xl, sizeof xl, x_set ? "%s" : "%s (%s is better)", vx->metric, vx->lower_is_better ? "lower" : "higher");
    snprintf(yl, sizeof yl, y_set ? "%s" : "%s (%s is better)", vy->metric, vy->lower_is_better ? "lower" : "higher");
    fprintf(f, "set datafile separator \"\\t\"\nset grid lc rgb '#dddddd'\nset border 3\nset xtics nomirror\nset ytics nomirror\n"
               "set xlabel '%s'\nset ylabel '%s'\nset key outside right top font ',8' spacing 1.1\n"
               "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n",
            xl, yl);
    if (fronted)
        fprintf(f, "set title 'Pareto front (dashed, labelled): rows no other row beats on both %s and %s'\n", vx->metric, vy->metric);
    else
        fprintf(f, "set title '%s against %s, one point per row (the average over tasks)'\n", vy->metric, vx->metric);
    const metric_view *axes[2] = {vx, vy};
    for (int i = 0; i < 2; i++)
        if (strstr(axes[i]->metric, "bytes")) fprintf(f, "set format %c '%%.1s %%cB'\n", i ? 'y' : 'x');
    char plot[2048];
    if (fronted)
        snprintf(plot, sizeof plot,
                 "plot '%s.dat' index 1 using 2:3 with steps lw 2 lc rgb '#555555' dt 2 title 'Pareto front', \\\n"
                 "  for [i=0:%d] '' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1], \\\n"
                 "  '' index 1 using 2:3:1 with labels left offset 1,0.6 font ',9' notitle",
                 base, n_points - 1);
    else
        snprintf(plot, sizeof plot,
                 "plot for [i=0:%d] '%s.dat' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1]",
                 n_points - 1, base);
    gnuplot_terminals(f, 1100, 640, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(out_dir, base, err);
}

/* The mean over a cell's seeds of curve `name` (the seeds' curves share x: averaged point by point). */
static int mean_curve(const table_cell *c, const char *name, double *xs, double *ys, int max)
{
    static int counts[4096];
    int npts = 0;
    if (max > 4096) max = 4096;
    for (int s = 0; s < c->n; s++) {
        json_t *pts = json_object_get(json_object_get(c->recs[s], "curves"), name);
        for (size_t p = 0; p < json_array_size(pts) && (int)p < max; p++) {
            json_t *pt = json_array_get(pts, p);
            if ((int)p >= npts) {
                xs[p] = json_number_value(json_array_get(pt, 0));
                ys[p] = 0;
                counts[p] = 0;
                npts = (int)p + 1;
            }
            ys[p] += json_number_value(json_array_get(pt, 1));
            counts[p]++;
        }
    }
    for (int p = 0; p < npts; p++) ys[p] /= counts[p];
    return npts;
}

static int in_list(const char *list, const char *name)
{
    if (!list) return 0;
    const size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = e ? e + 1 : p + len;
    }
    return 0;
}

static void plot_name(char *base, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(base, n, fmt, a, b);
    for (char *p = base; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) *p = '_';
}

/* One plot per (curve name, task): x against the mean over seeds of y, one line per row. */
int plot_curves(const table *t, const char *skip, const char *out_dir, json_t *made, cpet_err *err)
{
    char names[16][64];
    int n_names = 0;
    for (int a = 0; a < t->n_rows; a++)
        for (int b = 0; b < t->n_cols; b++)
            for (int s = 0; s < t->cell[a][b].n; s++) {
                const char *key;
                json_t *v;
                json_object_foreach(json_object_get(t->cell[a][b].recs[s], "curves"), key, v)
                {
                    int seen = in_list(skip, key);
                    for (int q = 0; q < n_names; q++) seen |= strcmp(names[q], key) == 0;
                    if (!seen && n_names < 16) snprintf(names[n_names++], 64, "%s", key);
                }
            }
    for (int q = 0; q < n_names; q++)
        for (int b = 0; b < t->n_cols; b++) {
            char base[256];
            plot_name(base, sizeof base, "curve_%.60s_%.60s", names[q], t->cols[b]);
            atomic_file af;
            FILE *f = open_atomic(&af, out_dir, base, "dat", err);
            if (!f) return -1;
            int blocks = 0;
            char titles[8192] = "", colours[2048] = "", xlabel[128];
            gnuplot_quote(xlabel, sizeof xlabel, "step");
            for (int a = 0; a < t->n_rows; a++) {
                static double xs[4096], ys[4096];
                const int npts = mean_curve(&t->cell[a][b], names[q], xs, ys, 4096);
                if (!npts) continue;
                const char *x = json_string_value(json_object_get(t->cell[a][b].recs[0], "curve_x")); /* the method's x */
                if (x) gnuplot_quote(xlabel, sizeof xlabel, x);
                fprintf(f, "%s# %s\n", blocks ? "\n\n" : "", t->rows[a].label);
                for (int p = 0; p < npts; p++) fprintf(f, "%g\t%.6g\n", xs[p], ys[p]);
                char title[600];
                gnuplot_quote(title, sizeof title, t->rows[a].label);
                snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s%s", blocks ? ", " : "", title);
                snprintf(colours + strlen(colours), sizeof colours - strlen(colours), "%s%u", blocks ? ", " : "", gnuplot_colour(a));
                blocks++;
            }
            if (atomic_commit(&af, err) != 0) return -1;
            if (!blocks) {
                char path[4400];
                snprintf(path, sizeof path, "%s/%s.dat", out_dir, base);
                remove(path);
                continue;
            }
            if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
            fprintf(f, "# cpet report: %s on %s (mean over seeds), from %s.dat\n", names[q], t->cols[b], base);
            fprintf(f, "array titles[%d] = [%s]\narray colours[%d] = [%s]\n", blocks, titles, blocks, colours);
            fprintf(f, "set xlabel %s\nset ylabel \"%s\"\nset key outside right top\nset grid\n", xlabel, names[q]);
            char plot[600];
            snprintf(plot, sizeof plot,
                     "plot for [i=1:%d] '%s.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]", blocks, base);
            gnuplot_terminals(f, 960, 540, plot);
            if (atomic_commit(&af, err) != 0) return -1;
            if (gnuplot_run(out_dir, base, err) != 0) return -1;
            json_array_append_new(made, json_string(base));
        }
    return 0;
}

int plot_overlay(const table *t, const char *pair, const char *out_dir, json_t *made, cpet_err *err)
{
    char y1[64], y2[64];
    const char *comma = strchr(pair, ',');
    if (!comma || comma == pair || !comma[1] || (size_t)(comma - pair) >= sizeof y1 || strlen(comma + 1) >= sizeof y2)
        return cpet_fail(err, "report: --overlay '%s': two curve names, Y1,Y2", pair);
    snprintf(y1, sizeof y1, "%.*s", (int)(comma - pair), pair);
    snprintf(y2, sizeof y2, "%s", comma + 1);
    int col = -1; /* the first task whose records hold both */
    for (int b = 0; b < t->n_cols && col < 0; b++)
        for (int a = 0; a < t->n_rows && col < 0; a++)
            for (int s = 0; s < t->cell[a][b].n; s++) {
                const json_t *c = json_object_get(t->cell[a][b].recs[s], "curves");
                if (json_object_get(c, y1) && json_object_get(c, y2)) col = b;
            }
    if (col < 0) return cpet_fail(err, "report: --overlay: no record holds both curves '%s' and '%s'", y1, y2);
    char base[256];
    plot_name(base, sizeof base, "overlay_%.60s_%.60s", y1, y2);
    atomic_file af;
    FILE *f = open_atomic(&af, out_dir, base, "dat", err);
    if (!f) return -1;
    char plot[8192];
    int o = snprintf(plot, sizeof plot, "plot ");
    int blocks = 0;
    double y2max = 0;
    for (int a = 0; a < t->n_rows; a++) {
        static double xs[4096], ys[4096], x2[4096], ys2[4096];
        const int n1 = mean_curve(&t->cell[a][col], y1, xs, ys, 4096), n2 = mean_curve(&t->cell[a][col], y2, x2, ys2, 4096);
        if (!n1 || n1 != n2) continue;
        for (int p = 0; p < n2; p++) y2max = ys2[p] > y2max ? ys2[p] : y2max;
        fprintf(f, "%s# %s: step, %s, %s\n", blocks ? "\n\n" : "", t->rows[a].label, y1, y2);
        for (int p = 0; p < n1; p++) fprintf(f, "%g\t%.6g\t%.6g\n", xs[p], ys[p], ys2[p]);
        char title[600];
        gnuplot_quote(title, sizeof title, t->rows[a].label);
        o += snprintf(plot + o, sizeof plot - (size_t)o,
                      "%s'%s.dat' index %d using 1:2 axes x1y1 with lines lw 2 lc rgb '#%06x' title %s, "
                      "'' index %d using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#%06x' notitle",
                      blocks ? ", \\\n  " : "", base, blocks, gnuplot_colour(a), title, blocks, gnuplot_colour(a));
        blocks++;
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!blocks) return cpet_fail(err, "report: --overlay: no row has both curves at the same steps");
    if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
    fprintf(f, "# cpet report: %s (solid, left axis) and %s (dashed, right axis) per row, mean over seeds, from %s.dat (task %s)\n"
               "set datafile separator \"\\t\"\nset xlabel \"step\"\nset ylabel \"%s (solid)\"\nset y2label \"%s (dashed)\"\n"
               "set ytics nomirror\nset y2tics\nset y2range [0:%g]\nset key outside right top\nset grid\nset title \"%s and %s against the step\"\n",
            y1, y2, base, t->cols[col], y1, y2, y2max > 0 ? 1.05 * y2max : 1.0, y1, y2);
    gnuplot_terminals(f, 1100, 560, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    if (gnuplot_run(out_dir, base, err) != 0) return -1;
    json_array_append_new(made, json_string(base));
    return 0;
}

int plot_by_index(const table *t, const char *prefix, const char *out_dir, json_t *made, cpet_err *err)
{
    char base[256];
    plot_name(base, sizeof base, "by_index_%.60s%s", prefix, "");
    atomic_file af;
    FILE *f = open_atomic(&af, out_dir, base, "dat", err);
    if (!f) return -1;
    char plot[8192];
    int o = snprintf(plot, sizeof plot, "plot "), blocks = 0, most = 0;
    for (int a = 0; a < t->n_rows; a++) {
        int wrote = 0;
        for (int i = 0; i < 1024; i++) { /* the row's mean over tasks and seeds of PREFIX<i> */
            char key[160];
            snprintf(key, sizeof key, "%s%d", prefix, i);
            double sum = 0;
            int n = 0;
            for (int b = 0; b < t->n_cols; b++)
                for (int s = 0; s < t->cell[a][b].n; s++) {
                    const json_t *v = json_object_get(json_object_get(t->cell[a][b].recs[s], "metrics"), key);
                    if (json_is_number(v)) sum += json_number_value(v), n++;
                }
            if (!n) break;
            if (!wrote) fprintf(f, "%s# %s: index, mean\n", blocks ? "\n\n" : "", t->rows[a].label);
            fprintf(f, "%d\t%.6g\n", i, sum / n);
            wrote = 1;
            most = i > most ? i : most;
        }
        if (!wrote) continue;
        char title[600];
        gnuplot_quote(title, sizeof title, t->rows[a].label);
        o += snprintf(plot + o, sizeof plot - (size_t)o, "%s'%s.dat' index %d using 1:2 with linespoints lw 2 pt 7 lc rgb '#%06x' title %s",
                      blocks ? ", \\\n  " : "", base, blocks, gnuplot_colour(a), title);
        blocks++;
    }
    if (atomic_commit(&af, err) != 0) return -1;
    if (!blocks) return cpet_fail(err, "report: --by-index: no record has metric %s0", prefix);
    if (!(f = open_atomic(&af, out_dir, base, "gp", err))) return -1;
    fprintf(f, "# cpet report: metrics %s<i> against i per row (mean over tasks and seeds), from %s.dat\n"
               "set datafile separator \"\\t\"\nset xlabel \"index (%s<i>)\"\nset ylabel \"%s<i>\"\nset xtics 1\nset xrange [-0.3:%d.3]\n"
               "set key outside right top\nset grid\n",
            prefix, base, prefix, prefix, most);
    gnuplot_terminals(f, 1000, 520, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    if (gnuplot_run(out_dir, base, err) != 0) return -1;
    json_array_append_new(made, json_string(base));
    return 0;
}
