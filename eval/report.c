#include "report.h"

#include <csv.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "records.h"
#include "stats.h"

#define MAX_ROWS 128
#define MAX_COLS 64
#define MAX_SEEDS 256

typedef struct {
    char label[256], model[1024], compression[64], method[64];
} row_info;

typedef struct {
    double values[MAX_SEEDS];
    int n;
    double mean, ci;
    int best;
} table_cell;

typedef struct {
    row_info rows[MAX_ROWS];
    int n_rows;
    char cols[MAX_COLS][64];
    int n_cols;
    table_cell cell[MAX_ROWS][MAX_COLS];
    double avg[MAX_ROWS];
    int avg_best[MAX_ROWS];
    int n_ok, n_failed;
} table;

void csv_row(FILE *fp, const char *const *fields, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', fp);
        csv_fwrite(fp, fields[i], strlen(fields[i]));
    }
    fputc('\n', fp);
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/') p--;
    return p;
}

static int find_or_add_col(table *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->cols[i], name) == 0) return i;
    if (t->n_cols == MAX_COLS) return -1;
    snprintf(t->cols[t->n_cols], sizeof t->cols[0], "%s", name);
    return t->n_cols++;
}

static int find_or_add_row(table *t, const char *model, const char *comp, const char *method)
{
    for (int i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].model, model) && !strcmp(t->rows[i].compression, comp) && !strcmp(t->rows[i].method, method))
            return i;
    if (t->n_rows == MAX_ROWS) return -1;
    row_info *r = &t->rows[t->n_rows];
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->compression, sizeof r->compression, "%s", comp);
    snprintf(r->method, sizeof r->method, "%s", method);
    return t->n_rows++;
}

/* Spec order first (so tables read like the spec), then anything else in record order. */
static void seed_order(table *t, const char *run_dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/spec.json", run_dir);
    json_error_t jerr;
    json_t *s = json_load_file(path, 0, &jerr);
    if (!s) return;
    json_t *models = json_object_get(s, "models"), *comps = json_object_get(s, "compressions"),
           *methods = json_object_get(s, "methods"), *tasks = json_object_get(s, "tasks");
    size_t a, b, c;
    json_t *m, *k, *x;
    json_array_foreach(models, a, m) {
        size_t nc = comps ? json_array_size(comps) : 1;
        for (b = 0; b < nc; b++) {
            const char *comp = comps ? json_string_value(json_array_get(comps, b)) : "none";
            json_array_foreach(methods, c, x) {
                const char *label = json_is_string(x) ? json_string_value(x)
                                    : json_string_value(json_object_get(x, "label")) ? json_string_value(json_object_get(x, "label"))
                                                                                   : json_string_value(json_object_get(x, "name"));
                if (json_string_value(m) && comp && label) find_or_add_row(t, json_string_value(m), comp, label);
            }
        }
    }
    json_array_foreach(tasks, a, k) {
        const char *file = json_is_string(k) ? json_string_value(k) : json_string_value(json_object_get(k, "file"));
        const char *name = json_is_object(k) ? json_string_value(json_object_get(k, "name")) : NULL;
        char buf[64];
        if (!name && file) {
            const char *base = base_name(file), *dot = strstr(base, ".jsonl");
            snprintf(buf, sizeof buf, "%.*s", (int)(dot ? dot - base : (long)strlen(base)), base);
            name = buf;
        }
        if (name) find_or_add_col(t, name);
    }
    json_decref(s);
}

static void label_rows(table *t)
{
    int models = 0, comps = 0;
    for (int i = 0; i < t->n_rows; i++) {
        int new_model = 1, new_comp = 1;
        for (int j = 0; j < i; j++) {
            new_model &= strcmp(t->rows[i].model, t->rows[j].model) != 0;
            new_comp &= strcmp(t->rows[i].compression, t->rows[j].compression) != 0;
        }
        models += new_model;
        comps += new_comp;
    }
    for (int i = 0; i < t->n_rows; i++) {
        row_info *r = &t->rows[i];
        char buf[256] = "";
        if (models > 1) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s / ", base_name(r->model));
        if (comps > 1) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s / ", r->compression);
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", r->method);
        snprintf(r->label, sizeof r->label, "%s", buf);
    }
}

typedef struct {
    const char *metric;
    int lower_is_better;
    char suffix[72]; /* "" for the first metric, "_<metric>" for the others */
} metric_view;

static int build_table(table *t, const json_t *records, const metric_view *o, cpet_err *err)
{
    /* the latest record of each config hash counts */
    size_t i, j;
    json_t *r, *q;
    json_array_foreach(records, i, r)
    {
        const char *hash = json_string_value(json_object_get(r, "config_hash"));
        int superseded = 0;
        for (j = i + 1; j < json_array_size(records) && !superseded; j++) {
            q = json_array_get(records, j);
            const char *h2 = json_string_value(json_object_get(q, "config_hash"));
            superseded = hash && h2 && strcmp(hash, h2) == 0;
        }
        if (superseded) continue;
        const char *status = json_string_value(json_object_get(r, "status"));
        if (!status || strcmp(status, "ok") != 0) {
            t->n_failed++;
            continue;
        }
        json_t *cellcfg = json_object_get(r, "cell");
        const char *model = json_string_value(json_object_get(cellcfg, "model"));
        const char *comp = json_string_value(json_object_get(cellcfg, "compression"));
        const char *method = json_string_value(json_object_get(json_object_get(cellcfg, "method"), "label"));
        const char *task = json_string_value(json_object_get(json_object_get(cellcfg, "task"), "name"));
        json_t *value = json_object_get(json_object_get(r, "metrics"), o->metric);
        if (!model || !comp || !method || !task) return cpet_fail(err, "record %zu: no cell description", i + 1);
        if (!json_is_number(value)) return cpet_fail(err, "record %zu: no metric '%s'", i + 1, o->metric);
        int row = find_or_add_row(t, model, comp, method), col = find_or_add_col(t, task);
        if (row < 0 || col < 0) return cpet_fail(err, "report: more than %d rows or %d columns", MAX_ROWS, MAX_COLS);
        table_cell *c = &t->cell[row][col];
        if (c->n < MAX_SEEDS) c->values[c->n++] = json_number_value(value);
        t->n_ok++;
    }
    for (int a = 0; a < t->n_rows; a++) {
        double sum = 0;
        int complete = 1;
        for (int b = 0; b < t->n_cols; b++) {
            table_cell *c = &t->cell[a][b];
            mean_ci95(c->values, c->n, &c->mean, &c->ci);
            if (c->n) sum += c->mean;
            else complete = 0;
        }
        t->avg[a] = complete && t->n_cols ? sum / t->n_cols : NAN;
    }
    for (int b = 0; b <= t->n_cols; b++) { /* b == n_cols: the average */
        int best = -1;
        for (int a = 0; a < t->n_rows; a++) {
            double v = b < t->n_cols ? (t->cell[a][b].n ? t->cell[a][b].mean : NAN) : t->avg[a];
            double bv = best < 0 ? NAN : b < t->n_cols ? t->cell[best][b].mean : t->avg[best];
            if (isnan(v)) continue;
            if (best < 0 || (o->lower_is_better ? v < bv : v > bv)) best = a;
        }
        if (best < 0) continue;
        if (b < t->n_cols) t->cell[best][b].best = 1;
        else t->avg_best[best] = 1;
    }
    return 0;
}

static int write_csv(const table *t, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    const char *head[4 + 4 * MAX_COLS + 2];
    char names[4 * MAX_COLS][96];
    int n = 0;
    head[n++] = "row";
    head[n++] = "model";
    head[n++] = "compression";
    head[n++] = "method";
    for (int b = 0; b < t->n_cols; b++) {
        const char *suffix[4] = {"mean", "ci95", "n", "best"};
        for (int k = 0; k < 4; k++) {
            snprintf(names[4 * b + k], sizeof names[0], "%s %s", t->cols[b], suffix[k]);
            head[n++] = names[4 * b + k];
        }
    }
    head[n++] = "average";
    head[n++] = "average best";
    csv_row(af.fp, head, n);
    for (int a = 0; a < t->n_rows; a++) {
        char vals[4 * MAX_COLS + 2][32];
        const char *f[4 + 4 * MAX_COLS + 2];
        int k = 0, v = 0;
        f[k++] = t->rows[a].label;
        f[k++] = t->rows[a].model;
        f[k++] = t->rows[a].compression;
        f[k++] = t->rows[a].method;
        for (int b = 0; b < t->n_cols; b++) {
            const table_cell *c = &t->cell[a][b];
            snprintf(vals[v], 32, c->n ? "%.6f" : "", c->mean);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, c->n ? "%.6f" : "", c->ci);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, "%d", c->n);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, "%d", c->best);
            f[k++] = vals[v++];
        }
        snprintf(vals[v], 32, isnan(t->avg[a]) ? "" : "%.6f", t->avg[a]);
        f[k++] = vals[v++];
        snprintf(vals[v], 32, "%d", t->avg_best[a]);
        f[k++] = vals[v++];
        csv_row(af.fp, f, k);
    }
    return atomic_commit(&af, err);
}

static int write_json(const table *t, const metric_view *o, const char *run_dir, const char *path, cpet_err *err)
{
    json_t *cols = json_array(), *rows = json_array();
    for (int b = 0; b < t->n_cols; b++) json_array_append_new(cols, json_string(t->cols[b]));
    for (int a = 0; a < t->n_rows; a++) {
        json_t *cells = json_object();
        for (int b = 0; b < t->n_cols; b++) {
            const table_cell *c = &t->cell[a][b];
            json_t *vals = json_array();
            for (int k = 0; k < c->n; k++) json_array_append_new(vals, json_real(c->values[k]));
            json_object_set_new(cells, t->cols[b], c->n ? json_pack("{s:f, s:f, s:i, s:b, s:o}", "mean", c->mean, "ci95", c->ci, "n",
                                                                   c->n, "best", c->best, "values", vals)
                                                         : (json_decref(vals), json_null()));
        }
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "label", t->rows[a].label, "model",
                                              t->rows[a].model, "compression", t->rows[a].compression, "method",
                                              t->rows[a].method, "cells", cells, "average",
                                              isnan(t->avg[a]) ? json_null() : json_real(t->avg[a]), "average_best",
                                              t->avg_best[a]));
    }
    json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:o, s:o}", "source", run_dir, "metric", o->metric,
                          "higher_is_better", !o->lower_is_better, "interval", "mean +- t(0.975, n-1) s / sqrt(n) over seeds",
                          "records_ok", t->n_ok, "records_failed", t->n_failed, "columns", cols, "rows", rows);
    int rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

static int write_markdown(const table *t, const metric_view *o, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *f = af.fp;
    fprintf(f, "%s (mean ± 95%% CI over seeds; best per column in bold; %s is better)\n\n| method |", o->metric,
            o->lower_is_better ? "lower" : "higher");
    for (int b = 0; b < t->n_cols; b++) fprintf(f, " %s |", t->cols[b]);
    fprintf(f, " average |\n|---|");
    for (int b = 0; b <= t->n_cols; b++) fprintf(f, "---|");
    fputc('\n', f);
    for (int a = 0; a < t->n_rows; a++) {
        fprintf(f, "| %s |", t->rows[a].label);
        for (int b = 0; b < t->n_cols; b++) {
            const table_cell *c = &t->cell[a][b];
            if (!c->n) fprintf(f, " – |");
            else if (c->n == 1) fprintf(f, c->best ? " **%.4f** |" : " %.4f |", c->mean);
            else fprintf(f, c->best ? " **%.4f ± %.4f** |" : " %.4f ± %.4f |", c->mean, c->ci);
        }
        if (isnan(t->avg[a])) fprintf(f, " – |\n");
        else fprintf(f, t->avg_best[a] ? " **%.4f** |\n" : " %.4f |\n", t->avg[a]);
    }
    fprintf(f, "\nn per cell: seeds recorded; %d records used, %d failed records ignored.\n", t->n_ok, t->n_failed);
    return atomic_commit(&af, err);
}

/* ---- plots ---- */

static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char exe[4200];
        snprintf(exe, sizeof exe, "%s/gnuplot", dir);
        found = access(exe, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* Runs OUT/name.gp with outbase pointing at temporary names, then renames the PNG and SVG into place. */
static int run_gnuplot(const char *out_dir, const char *name, cpet_err *err)
{
    char cmd[9000], tmp_png[4300], tmp_svg[4300], png[4300], svg[4300];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot -e \"outbase='%s.partial'\" '%s.gp' 2>&1", out_dir, name, name);
    FILE *p = popen(cmd, "r");
    char msg[512] = "";
    size_t got = p ? fread(msg, 1, sizeof msg - 1, p) : 0;
    msg[got] = 0;
    int status = p ? pclose(p) : -1;
    snprintf(tmp_png, sizeof tmp_png, "%s/%s.partial.png", out_dir, name);
    snprintf(tmp_svg, sizeof tmp_svg, "%s/%s.partial.svg", out_dir, name);
    snprintf(png, sizeof png, "%s/%s.png", out_dir, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", out_dir, name);
    if (status != 0 || rename(tmp_png, png) != 0 || rename(tmp_svg, svg) != 0) {
        unlink(tmp_png);
        unlink(tmp_svg);
        msg[strcspn(msg, "\n")] = 0;
        return cpet_fail(err, "%s/%s.gp: gnuplot failed: %s", out_dir, name, msg);
    }
    return 0;
}

/* A gnuplot single-quoted string: only ' needs escaping, by doubling it. */
static void gp_quote(char *dst, size_t n, const char *src)
{
    size_t k = 0;
    if (n < 3) return;
    dst[k++] = '\'';
    for (; *src && k + 3 < n; src++) {
        if (*src == '\'') dst[k++] = '\'';
        dst[k++] = *src;
    }
    dst[k++] = '\'';
    dst[k] = 0;
}

static void gp_terminals(FILE *f, const char *plot_cmd)
{
    fprintf(f, "if (!exists(\"outbase\")) outbase = \"plot\"\n");
    fprintf(f, "set terminal pngcairo size 960,540 noenhanced font \",10\"\nset output outbase.\".png\"\n%s\n", plot_cmd);
    fprintf(f, "set terminal svg size 960,540 noenhanced font \",10\"\nset output outbase.\".svg\"\nreplot\nunset output\n");
}

static int bar_plot(const table *t, const metric_view *o, const char *out_dir, cpet_err *err)
{
    char path[4300], base[96];
    snprintf(base, sizeof base, "bars%s", o->suffix);
    snprintf(path, sizeof path, "%s/%s.dat", out_dir, base);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    fprintf(af.fp, "# task");
    for (int a = 0; a < t->n_rows; a++) fprintf(af.fp, "\t%s mean\tci95", t->rows[a].label);
    fputc('\n', af.fp);
    for (int b = 0; b < t->n_cols; b++) {
        fprintf(af.fp, "%s", t->cols[b]);
        for (int a = 0; a < t->n_rows; a++)
            fprintf(af.fp, t->cell[a][b].n ? "\t%.6f\t%.6f" : "\tNaN\tNaN", t->cell[a][b].mean, t->cell[a][b].ci);
        fputc('\n', af.fp);
    }
    if (atomic_commit(&af, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s.gp", out_dir, base);
    if (atomic_open(&af, path, err) != 0) return -1;
    fprintf(af.fp, "# cpet report: %s per task and method (mean +- 95%% CI over seeds), from %s.dat\n", o->metric, base);
    fprintf(af.fp, "set datafile separator \"\\t\"\nset style data histogram\nset style histogram errorbars gap 1 lw 1\n"
                   "set style fill solid 0.85 border -1\n"
                   "set yrange [0:*]\nset ylabel \"%s\"\nset key outside right top\nset grid ytics\nset xtics nomirror\n%s",
            o->metric, !strcmp(o->metric, "bytes") ? "set logscale y\nset yrange [*:*]\n" : "");
    char plot[8192] = "plot ";
    for (int a = 0; a < t->n_rows; a++) {
        char one[1024], title[600];
        gp_quote(title, sizeof title, t->rows[a].label);
        snprintf(one, sizeof one, "%s'%s.dat' using %d:%d%s title %s", a ? ", " : "", base, 2 + 2 * a, 3 + 2 * a,
                 a ? "" : ":xtic(1)", title);
        strncat(plot, one, sizeof plot - strlen(plot) - 1);
    }
    gp_terminals(af.fp, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return run_gnuplot(out_dir, base, err);
}

/* One plot per (curve name, task): x against the mean over seeds of y, one line per row. */
static int curve_plots(const table *t, const json_t *records, const char *out_dir, json_t *made, cpet_err *err)
{
    char names[16][64];
    int n_names = 0;
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(r, "curves"), key, v)
        {
            int seen = 0;
            for (int k = 0; k < n_names; k++) seen |= strcmp(names[k], key) == 0;
            if (!seen && n_names < 16) snprintf(names[n_names++], 64, "%s", key);
        }
    }
    for (int k = 0; k < n_names; k++)
        for (int b = 0; b < t->n_cols; b++) {
            char base[256], path[4600];
            snprintf(base, sizeof base, "curve_%.60s_%.60s", names[k], t->cols[b]);
            for (char *p = base; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) *p = '_';
            snprintf(path, sizeof path, "%s/%s.dat", out_dir, base);
            atomic_file af;
            if (atomic_open(&af, path, err) != 0) return -1;
            int blocks = 0;
            char titles[8192] = "";
            for (int a = 0; a < t->n_rows; a++) {
                /* average the seeds' curves point by point (they share x) */
                double xs[4096], sums[4096];
                int counts[4096], npts = 0;
                json_array_foreach(records, i, r)
                {
                    json_t *c = json_object_get(r, "cell");
                    if (strcmp(json_string_value(json_object_get(json_object_get(c, "task"), "name")) ?: "", t->cols[b]) ||
                        strcmp(json_string_value(json_object_get(json_object_get(c, "method"), "label")) ?: "", t->rows[a].method) ||
                        strcmp(json_string_value(json_object_get(c, "model")) ?: "", t->rows[a].model) ||
                        strcmp(json_string_value(json_object_get(c, "compression")) ?: "", t->rows[a].compression))
                        continue;
                    json_t *pts = json_object_get(json_object_get(r, "curves"), names[k]);
                    for (size_t p = 0; p < json_array_size(pts) && p < 4096; p++) {
                        json_t *pt = json_array_get(pts, p);
                        if ((int)p >= npts) {
                            xs[p] = json_number_value(json_array_get(pt, 0));
                            sums[p] = 0;
                            counts[p] = 0;
                            npts = (int)p + 1;
                        }
                        sums[p] += json_number_value(json_array_get(pt, 1));
                        counts[p]++;
                    }
                }
                if (!npts) continue;
                fprintf(af.fp, "%s# %s\n", blocks ? "\n\n" : "", t->rows[a].label);
                for (int p = 0; p < npts; p++) fprintf(af.fp, "%g\t%.6g\n", xs[p], sums[p] / counts[p]);
                char title[600];
                gp_quote(title, sizeof title, t->rows[a].label);
                snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s%s", blocks ? ", " : "", title);
                blocks++;
            }
            if (atomic_commit(&af, err) != 0) return -1;
            if (!blocks) {
                unlink(path);
                continue;
            }
            snprintf(path, sizeof path, "%s/%s.gp", out_dir, base);
            if (atomic_open(&af, path, err) != 0) return -1;
            fprintf(af.fp, "# cpet report: %s on %s (mean over seeds), from %s.dat\n", names[k], t->cols[b], base);
            fprintf(af.fp, "array titles[%d] = [%s]\n", blocks, titles);
            fprintf(af.fp, "set xlabel \"step\"\nset ylabel \"%s\"\nset key outside right top\nset grid\n", names[k]);
            char plot[600];
            snprintf(plot, sizeof plot, "plot for [i=1:%d] '%s.dat' index i-1 using 1:2 with lines lw 2 title titles[i]", blocks, base);
            gp_terminals(af.fp, plot);
            if (atomic_commit(&af, err) != 0) return -1;
            if (run_gnuplot(out_dir, base, err) != 0) return -1;
            json_array_append_new(made, json_string(base));
        }
    return 0;
}

static int lower_by_name(const char *metric)
{
    static const char *const lower[] = {"perplexity", "ppl", "bytes", "loss", "seconds", "_s", NULL};
    for (int i = 0; lower[i]; i++)
        if (strstr(metric, lower[i]) && !strstr(metric, "per_s")) return 1;
    return 0;
}

int report_render(const char *run_dir, const char *out_dir, const report_options *o, int *plots_skipped, cpet_err *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/records.jsonl", run_dir);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing file (run `cpet run SPEC -o %s` first)", path, run_dir);
    json_t *records = records_read(path, 0, err);
    if (!records) return -1;
    char metrics[16][64];
    int n_metrics = 0;
    for (const char *p = o->metric; *p && n_metrics < 16;) {
        size_t len = strcspn(p, ",");
        snprintf(metrics[n_metrics++], sizeof metrics[0], "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    *plots_skipped = o->no_plots || !have_gnuplot();
    json_t *curves = json_array();
    char *index = NULL;
    size_t index_len = 0;
    FILE *idx = open_memstream(&index, &index_len);
    int rc = make_dirs(out_dir, err), n_ok = 0, n_failed = 0;
    for (int k = 0; k < n_metrics && rc == 0; k++) {
        metric_view v = {metrics[k], o->lower_is_better || lower_by_name(metrics[k]), ""};
        if (k) snprintf(v.suffix, sizeof v.suffix, "_%s", metrics[k]);
        table *t = calloc(1, sizeof *t);
        seed_order(t, run_dir);
        rc = build_table(t, records, &v, err);
        if (rc == 0 && t->n_ok == 0) rc = cpet_fail(err, "%s: no successful records to report", path);
        if (rc == 0) label_rows(t);
        n_ok = t->n_ok;
        n_failed = t->n_failed;
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.csv", out_dir, v.suffix), rc = write_csv(t, path, err);
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.json", out_dir, v.suffix), rc = write_json(t, &v, run_dir, path, err);
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.md", out_dir, v.suffix), rc = write_markdown(t, &v, path, err);
        if (rc == 0 && !*plots_skipped) rc = bar_plot(t, &v, out_dir, err);
        if (rc == 0 && k == 0 && !*plots_skipped) rc = curve_plots(t, records, out_dir, curves, err);
        if (rc == 0) {
            fprintf(idx, "\n## %s\n\n- [table (Markdown)](table%s.md) · [CSV](table%s.csv) · [JSON](table%s.json)\n",
                    metrics[k], v.suffix, v.suffix, v.suffix);
            if (!*plots_skipped)
                fprintf(idx, "- [bar chart (PNG)](bars%s.png) · [SVG](bars%s.svg) · [script](bars%s.gp)\n", v.suffix, v.suffix, v.suffix);
            char *md = read_whole_file((snprintf(path, sizeof path, "%s/table%s.md", out_dir, v.suffix), path), NULL);
            fprintf(idx, "\n%s", md ? md : "");
            free(md);
            if (!*plots_skipped) fprintf(idx, "\n![%s](bars%s.png)\n", metrics[k], v.suffix);
        }
        free(t);
    }
    fclose(idx);
    if (rc == 0) {
        atomic_file af;
        snprintf(path, sizeof path, "%s/index.md", out_dir);
        rc = atomic_open(&af, path, err);
        if (rc == 0) {
            fprintf(af.fp, "# %s\n\nRendered by `cpet report` from `%s/records.jsonl` only (%d records, %d failed).\n",
                    base_name(run_dir), run_dir, n_ok, n_failed);
            if (*plots_skipped) fprintf(af.fp, "Plots skipped: gnuplot is not installed.\n");
            size_t i;
            json_t *c;
            if (json_array_size(curves)) fprintf(af.fp, "\nCurves:\n\n");
            json_array_foreach(curves, i, c)
                fprintf(af.fp, "- [%s (PNG)](%s.png) · [SVG](%s.svg) · [script](%s.gp)\n", json_string_value(c),
                        json_string_value(c), json_string_value(c), json_string_value(c));
            fputs(index, af.fp);
            rc = atomic_commit(&af, err);
        }
    }
    free(index);
    json_decref(curves);
    json_decref(records);
    return rc;
}
