/* One table layout rendered: tables from the records, paired comparisons with the baseline, CSV, JSON,
 * Markdown, the summary and the plots (report_plots.c), into one directory. */
#include "report.h"
#include "table_format.h"

#include <csv.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "fileio.h"
#include "gnuplot.h"
#include "matrix.h"
#include "records.h"
#include "report_table.h"
#include "spec.h"
#include "stats.h"

static int is_ok(const json_t *r) { return r && !strcmp(json_string_value(json_object_get(r, "status")) ?: "", "ok"); }

/* How many examples a cell's value is over: the eval examples (metrics.n), or for perplexity the held-out
 * documents (lines of its per-document file). */
static int examples_behind(const char *run_dir, const json_t *rec, const char *metric)
{
    const char *rel = json_string_value(json_object_get(rec, "heldout_examples"));
    if (!strncmp(metric, "sparsity", 8)) return 1; /* one measurement per seed, over the method's own text */
    if (strcmp(metric, "perplexity") != 0 || !rel) return (int)json_integer_value(json_object_get(json_object_get(rec, "metrics"), "n"));
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", run_dir, rel);
    size_t len;
    char *text = read_whole_file(path, &len);
    int lines = 0;
    for (size_t i = 0; text && i < len; i++) lines += text[i] == '\n';
    free(text);
    return lines;
}

static int build_table(table *t, const run_view *v, const metric_view *o, report_summary *sum, cpet_err *err)
{
    sum->used = sum->failed = sum->missing = sum->not_applicable = 0;
    sum->stale = v->stale;
    for (int k = 0; k < v->n_cells; k++) {
        const json_t *r = v->latest[k];
        if (v->row[k] < 0) continue; /* not in this table (a group of a grouped report) */
        if (!r) {
            sum->missing++;
            continue;
        }
        if (!is_ok(r)) {
            sum->failed++;
            continue;
        }
        json_t *metrics = json_object_get(r, "metrics"), *value = json_object_get(metrics, o->metric);
        if (!json_is_number(value)) { /* a metric only some methods report (e.g. a selector's accuracy): blank */
            sum->not_applicable++;
            continue;
        }
        table_cell *c = &t->cell[v->row[k]][v->col[k]];
        if (c->n == MAX_SEEDS) return cpet_fail(err, "report: more than %d seeds", MAX_SEEDS);
        c->recs[c->n] = r;
        c->seeds[c->n] = v->cells[k].seed;
        c->values[c->n++] = json_number_value(value);
        if (!c->n_examples) c->n_examples = examples_behind(v->run_dir, r, o->metric);
        sum->used++;
    }
    if (!sum->used && sum->not_applicable)
        return cpet_fail(err, "report: no record has the metric '%s' (%d records without it)", o->metric, sum->not_applicable);
    for (int a = 0; a < t->n_rows; a++) {
        double total = 0;
        int complete = 1;
        for (int b = 0; b < t->n_cols; b++) {
            table_cell *c = &t->cell[a][b];
            mean_ci95(c->values, c->n, &c->mean, &c->ci);
            if (c->n) total += c->mean;
            else complete = 0;
        }
        t->avg[a] = complete && t->n_cols ? total / t->n_cols : NAN;
    }
    for (int b = 0; b <= t->n_cols; b++) { /* b == n_cols: the average */
        int best = -1;
        for (int a = 0; a < t->n_rows; a++) {
            double x = b < t->n_cols ? (t->cell[a][b].n ? t->cell[a][b].mean : NAN) : t->avg[a];
            double bx = best < 0 ? NAN : b < t->n_cols ? t->cell[best][b].mean : t->avg[best];
            if (isnan(x)) continue;
            if (best < 0 || (o->lower_is_better ? x < bx : x > bx)) best = a;
        }
        if (best < 0) continue;
        if (b < t->n_cols) t->cell[best][b].best = 1;
        else t->avg_best[best] = 1;
    }
    return 0;
}

/* ---- paired comparison with the baseline ---- */

typedef struct {
    int n;
    char **ids;
    double *num, *den;
} example_values;

static void example_values_free(example_values *e)
{
    for (int i = 0; i < e->n; i++) free(e->ids[i]);
    free(e->ids);
    free(e->num);
    free(e->den);
    memset(e, 0, sizeof *e);
}

/* The per-example pieces of a metric: acc -> correct, acc_norm -> correct_norm (from examples), perplexity
 * -> (nll, tokens) per document (from heldout_examples); any other metric -> the examples that carry a
 * number (or boolean) field of its name (e.g. an editing run's "es" on in-scope questions only). Returns 1
 * if loaded, 0 if the metric has none. */
static int load_examples(const char *run_dir, const json_t *rec, const char *metric, example_values *out, cpet_err *err)
{
    memset(out, 0, sizeof *out);
    const char *file_key = "examples", *num_key = metric, *den_key = NULL;
    int generic = 0;
    if (!strcmp(metric, "acc")) num_key = "correct";
    else if (!strcmp(metric, "acc_norm")) num_key = "correct_norm";
    else if (!strcmp(metric, "perplexity")) file_key = "heldout_examples", num_key = "nll", den_key = "tokens";
    else generic = 1;
    const char *rel = json_string_value(json_object_get(rec, file_key));
    if (!rel) return 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", run_dir, rel);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing (the record points to it)", path);
    json_t *lines = records_read(path, RECORDS_STRICT, err);
    if (!lines) return -1;
    const int n_lines = (int)json_array_size(lines);
    out->ids = calloc((size_t)n_lines + 1, sizeof(char *));
    out->num = calloc((size_t)n_lines + 1, sizeof(double));
    out->den = den_key ? calloc((size_t)n_lines + 1, sizeof(double)) : NULL;
    for (int i = 0; i < n_lines; i++) {
        json_t *e = json_array_get(lines, (size_t)i), *id = json_object_get(e, "id"), *x = json_object_get(e, num_key);
        if (generic && !json_is_number(x) && !json_is_boolean(x)) continue; /* not an example of this metric */
        if (!x || (den_key && !json_object_get(e, den_key))) {
            json_decref(lines);
            example_values_free(out);
            return cpet_fail(err, "%s:%d: no '%s'", path, i + 1, num_key);
        }
        char buf[32];
        if (json_is_integer(id)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(id));
        const int k = out->n++;
        out->ids[k] = strdup(json_is_string(id) ? json_string_value(id) : json_is_integer(id) ? buf : "");
        out->num[k] = json_is_boolean(x) ? (double)json_is_true(x) : json_number_value(x);
        if (den_key) out->den[k] = json_number_value(json_object_get(e, den_key));
    }
    json_decref(lines);
    if (out->n == 0) {
        example_values_free(out);
        return 0;
    }
    return 1;
}

/* Aligns b to a by example id (same order is the common case; otherwise a search). */
static int align(const example_values *a, const example_values *b, int *map)
{
    for (int i = 0; i < a->n; i++) {
        map[i] = -1;
        if (i < b->n && !strcmp(a->ids[i], b->ids[i])) map[i] = i;
        for (int j = 0; j < b->n && map[i] < 0; j++)
            if (!strcmp(a->ids[i], b->ids[j])) map[i] = j;
        if (map[i] < 0) return -1;
    }
    return a->n == b->n ? 0 : -1;
}

/* A row's and its baseline's values on the seeds they share: per example (aligned by id) where the records
 * keep per-example outputs, else one observation per seed. */
typedef struct {
    int g, per_example;
    long long seeds[MAX_SEEDS];
    paired_group groups[MAX_SEEDS];
    double *bufs[MAX_SEEDS][4];
    double seed_a[MAX_SEEDS], seed_b[MAX_SEEDS];
    /* McNemar across seeds: an example's outcomes on several seeds are not independent pairs, so each
     * example counts once, by the sign of its net wins (row right and baseline wrong, minus the reverse)
     * summed over the seeds it appears on; with one seed this is McNemar's b and c exactly */
    struct example_net {
        const char *id;
        int net;
    } *nets;
    int n_nets, cap_nets;
    int mcnemar_b, mcnemar_c;
} pair_set;

static void pair_set_free(pair_set *p)
{
    for (int k = 0; k < p->g; k++)
        for (int q = 0; q < 4; q++) free(p->bufs[k][q]);
    for (int i = 0; i < p->n_nets; i++) free((char *)p->nets[i].id);
    free(p->nets);
    memset(p, 0, sizeof *p);
}

static int add_net(pair_set *p, const char *id, int net)
{
    if (p->n_nets == p->cap_nets) {
        const int cap = p->cap_nets ? 2 * p->cap_nets : 256;
        struct example_net *grown = realloc(p->nets, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        p->nets = grown, p->cap_nets = cap;
    }
    char *copy = strdup(id);
    if (!copy) return -1;
    p->nets[p->n_nets++] = (struct example_net){copy, net};
    return 0;
}

static int cmp_net_id(const void *a, const void *b)
{
    return strcmp(((const struct example_net *)a)->id, ((const struct example_net *)b)->id);
}

/* b and c over examples: the seeds' wins summed per example id, then counted by sign */
static void count_discordant(pair_set *p)
{
    if (p->n_nets) qsort(p->nets, (size_t)p->n_nets, sizeof *p->nets, cmp_net_id);
    p->mcnemar_b = p->mcnemar_c = 0;
    for (int i = 0; i < p->n_nets;) {
        int j = i, net = 0;
        while (j < p->n_nets && !strcmp(p->nets[j].id, p->nets[i].id)) net += p->nets[j++].net;
        p->mcnemar_b += net > 0, p->mcnemar_c += net < 0;
        i = j;
    }
}

static int gather_pairs(const char *run_dir, const table_cell *row, const table_cell *base, const metric_view *v, pair_set *p,
                        cpet_err *err)
{
    memset(p, 0, sizeof *p);
    p->per_example = 1;
    const int accuracy = !strcmp(v->metric, "acc") || !strcmp(v->metric, "acc_norm");
    for (int i = 0; i < row->n; i++) {
        int j = 0;
        while (j < base->n && base->seeds[j] != row->seeds[i]) j++;
        if (j == base->n) continue;
        const int k = p->g++;
        p->seeds[k] = row->seeds[i];
        p->seed_a[k] = row->values[i];
        p->seed_b[k] = base->values[j];
        example_values ea, eb;
        int la = load_examples(run_dir, row->recs[i], v->metric, &ea, err);
        int lb = la > 0 ? load_examples(run_dir, base->recs[j], v->metric, &eb, err) : 0;
        if (la < 0 || lb < 0) {
            if (la > 0) example_values_free(&ea);
            return -1;
        }
        if (la == 0 || lb == 0) {
            if (la > 0) example_values_free(&ea);
            p->per_example = 0;
            continue;
        }
        int n = ea.n, *map = malloc(((size_t)n + 1) * sizeof(int)), rc = 0;
        if (align(&ea, &eb, map) != 0) {
            rc = cpet_fail(err, "report: the per-example outputs of row and baseline hold different examples (metric %s)", v->metric);
        } else {
            for (int q = 0; q < 4; q++) p->bufs[k][q] = malloc(((size_t)n + 1) * sizeof(double));
            for (int e = 0; e < n; e++) {
                p->bufs[k][0][e] = ea.num[e];
                p->bufs[k][1][e] = ea.den ? ea.den[e] : 1;
                p->bufs[k][2][e] = eb.num[map[e]];
                p->bufs[k][3][e] = eb.den ? eb.den[map[e]] : 1;
                if (accuracy && rc == 0) {
                    const int net = (p->bufs[k][0][e] > 0.5 && p->bufs[k][2][e] < 0.5) - (p->bufs[k][0][e] < 0.5 && p->bufs[k][2][e] > 0.5);
                    if (net && add_net(p, ea.ids[e], net) != 0) rc = cpet_fail(err, "report: out of memory");
                }
            }
            p->groups[k] = (paired_group){n, p->bufs[k][0], p->bufs[k][1], p->bufs[k][2], p->bufs[k][3]};
        }
        free(map);
        example_values_free(&ea);
        example_values_free(&eb);
        if (rc != 0) return -1;
    }
    if (!p->per_example) /* each seed is one paired observation */
        for (int k = 0; k < p->g; k++) p->groups[k] = (paired_group){1, &p->seed_a[k], NULL, &p->seed_b[k], NULL};
    count_discordant(p);
    return 0;
}

static void paired_init(paired_cell *out)
{
    memset(out, 0, sizeof *out);
    out->p = out->p_holm = NAN;
    out->ci.lo = out->ci.hi = NAN;
}

/* One column's comparison from its gathered pairs. */
static void compare_cell(const pair_set *p, const metric_view *v, int resamples, paired_cell *out)
{
    paired_init(out);
    out->seeds = p->g;
    if (p->g == 0) {
        out->why = "no seed in common";
        return;
    }
    out->have = 1;
    const int ratio = !strcmp(v->metric, "perplexity"), accuracy = !strcmp(v->metric, "acc") || !strcmp(v->metric, "acc_norm");
    paired_bootstrap(p->groups, p->g, p->per_example && ratio ? PAIRED_EXP_RATIO : PAIRED_MEAN, resamples, BOOTSTRAP_SEED, &out->ci);
    if (p->per_example && accuracy) {
        out->mcnemar_b = p->mcnemar_b, out->mcnemar_c = p->mcnemar_c;
        out->p = mcnemar_exact_p(p->mcnemar_b, p->mcnemar_c);
    }
    if (!p->per_example && p->g < 2) {
        out->ci.lo = out->ci.hi = NAN;
        out->ci.excludes_zero = 0;
        out->why = "one seed and no per-example values: no interval";
    }
}

/* The average over the columns both rows have (have[c]), paired: every column on the same seeds, per example. */
static void compare_average(const pair_set *sets, const int *have, int n_cols, const metric_view *v, int resamples, paired_cell *out)
{
    paired_init(out);
    paired_group groups[MAX_COLS * MAX_SEEDS];
    const pair_set *first = NULL;
    int n = 0, seed_level = 1;
    for (int c = 0; c < n_cols; c++)
        if (have[c]) {
            if (!first) first = &sets[c];
            seed_level &= !sets[c].per_example && sets[c].g == first->g && sets[c].g >= 2 &&
                          !memcmp(sets[c].seeds, first->seeds, (size_t)first->g * sizeof first->seeds[0]);
        }
    if (first && seed_level) { /* values per seed only (a metric with no per-example outputs): each seed's task average is one pair */
        static double a[MAX_SEEDS], b[MAX_SEEDS];
        for (int k = 0; k < first->g; k++) {
            a[k] = b[k] = 0;
            int m = 0;
            for (int c = 0; c < n_cols; c++)
                if (have[c]) a[k] += sets[c].seed_a[k], b[k] += sets[c].seed_b[k], m++;
            a[k] /= m, b[k] /= m;
            groups[k] = (paired_group){1, &a[k], NULL, &b[k], NULL};
        }
        out->have = 1;
        out->seeds = first->g;
        paired_bootstrap(groups, first->g, PAIRED_MEAN, resamples, BOOTSTRAP_SEED, &out->ci);
        return;
    }
    first = NULL;
    for (int c = 0; c < n_cols && !out->why; c++) {
        if (!have[c]) continue;
        const pair_set *p = &sets[c];
        if (!first) first = p;
        if (!p->per_example || p->g == 0 || p->g != first->g || memcmp(p->seeds, first->seeds, (size_t)p->g * sizeof p->seeds[0]) != 0) {
            out->why = "the columns differ in seeds or lack per-example values";
            break;
        }
        for (int s = 0; s < p->g; s++) groups[n * p->g + s] = p->groups[s];
        n++;
    }
    if (out->why || n == 0) return;
    out->have = 1;
    out->seeds = first->g;
    paired_bootstrap_columns(groups, n, first->g, !strcmp(v->metric, "perplexity") ? PAIRED_EXP_RATIO : PAIRED_MEAN, resamples,
                             BOOTSTRAP_SEED, &out->ci);
}

/* A table's McNemar tests are one family (every row against the baseline on every task): Holm's
 * adjustment over all of them, so that a report of many rows does not find differences by sheer number. */
static int table_tests(const table *t)
{
    int m = 0;
    for (int a = 0; a < t->n_rows; a++)
        for (int b = 0; b < t->n_cols; b++) m += t->paired[a][b].have && !isnan(t->paired[a][b].p);
    return m;
}

static void adjust_table_p(table *t)
{
    const int n = t->n_rows * t->n_cols;
    double *p = malloc((size_t)(n ? n : 1) * sizeof *p), *adj = malloc((size_t)(n ? n : 1) * sizeof *adj);
    for (int a = 0; a < t->n_rows; a++)
        for (int b = 0; b < t->n_cols; b++) p[a * t->n_cols + b] = t->paired[a][b].have ? t->paired[a][b].p : NAN;
    holm_adjust(p, n, adj);
    for (int a = 0; a < t->n_rows; a++)
        for (int b = 0; b < t->n_cols; b++)
            if (t->paired[a][b].have) t->paired[a][b].p_holm = adj[a * t->n_cols + b];
    free(p);
    free(adj);
}

/* Each row's per-example pairs with the baseline are read once per column and serve both the column's
 * comparison and the task average's. */
static int compare_with_baseline(table *t, const metric_view *v, const char *run_dir, int resamples, cpet_err *err)
{
    pair_set *sets = calloc(MAX_COLS, sizeof *sets);
    if (!sets) return cpet_fail(err, "out of memory");
    int rc = 0;
    for (int a = 0; a < t->n_rows && rc == 0; a++) {
        if (a == t->baseline) continue;
        int have[MAX_COLS] = {0};
        for (int b = 0; b < t->n_cols && rc == 0; b++) {
            if (gather_pairs(run_dir, &t->cell[a][b], &t->cell[t->baseline][b], v, &sets[b], err) != 0)
                rc = cpet_prefix(err, "row '%s', column '%s'", t->rows[a].label, t->cols[b]);
            else {
                compare_cell(&sets[b], v, resamples, &t->paired[a][b]);
                have[b] = t->cell[a][b].n && t->cell[t->baseline][b].n;
            }
        }
        if (rc == 0 && t->n_cols > 1) compare_average(sets, have, t->n_cols, v, resamples, &t->paired_avg[a]);
        else if (rc == 0) t->paired_avg[a] = t->paired[a][0]; /* one task: its average is that task */
        for (int b = 0; b < t->n_cols; b++) pair_set_free(&sets[b]);
    }
    free(sets);
    if (rc == 0) adjust_table_p(t);
    return rc;
}

/* ---- tables ---- */

static void n_text(const table *t, int b, char *buf, size_t n)
{
    int lo_e = -1, hi_e = -1, lo_s = -1, hi_s = -1;
    for (int a = 0; a < t->n_rows; a++) {
        const table_cell *c = &t->cell[a][b];
        if (!c->n) continue;
        if (lo_e < 0 || c->n_examples < lo_e) lo_e = c->n_examples;
        if (c->n_examples > hi_e) hi_e = c->n_examples;
        if (lo_s < 0 || c->n < lo_s) lo_s = c->n;
        if (c->n > hi_s) hi_s = c->n;
    }
    char e[40], s[40];
    if (lo_e < 0) {
        snprintf(buf, n, "–");
        return;
    }
    if (lo_e == hi_e) snprintf(e, sizeof e, "%d", lo_e);
    else snprintf(e, sizeof e, "%d–%d", lo_e, hi_e);
    if (lo_s == hi_s) snprintf(s, sizeof s, "%d", lo_s);
    else snprintf(s, sizeof s, "%d–%d", lo_s, hi_s);
    snprintf(buf, n, "%s × %s", e, s);
}

/* A number for a CSV field, empty when there is none. */
static void csv_num(char *buf, size_t n, const char *fmt, int have, double x)
{
    if (have && !isnan(x)) snprintf(buf, n, fmt, x);
    else buf[0] = 0;
}

static int write_csv(const table *t, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    const char *head[4 + 5 * MAX_COLS + 2];
    char names[5 * MAX_COLS][96];
    int n = 0;
    head[n++] = "row";
    head[n++] = "model";
    head[n++] = "compression";
    head[n++] = "method";
    for (int b = 0; b < t->n_cols; b++) {
        const char *suffix[5] = {"mean", "ci95", "n", "best", "examples"};
        for (int k = 0; k < 5; k++) {
            snprintf(names[5 * b + k], sizeof names[0], "%s %s", t->cols[b], suffix[k]);
            head[n++] = names[5 * b + k];
        }
    }
    head[n++] = "average";
    head[n++] = "average best";
    csv_row(af.fp, head, n);
    for (int a = 0; a < t->n_rows; a++) {
        char vals[5 * MAX_COLS + 2][32];
        const char *f[4 + 5 * MAX_COLS + 2];
        int k = 0, v = 0;
        f[k++] = t->rows[a].label;
        f[k++] = t->rows[a].model;
        f[k++] = t->rows[a].compression;
        f[k++] = t->rows[a].method;
        for (int b = 0; b < t->n_cols; b++) {
            const table_cell *c = &t->cell[a][b];
            csv_num(vals[v], 32, "%.6f", c->n, c->mean);
            f[k++] = vals[v++];
            csv_num(vals[v], 32, "%.6f", c->n, c->ci);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, "%d", c->n);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, "%d", c->best);
            f[k++] = vals[v++];
            snprintf(vals[v], 32, "%d", c->n_examples);
            f[k++] = vals[v++];
        }
        csv_num(vals[v], 32, "%.6f", 1, t->avg[a]);
        f[k++] = vals[v++];
        snprintf(vals[v], 32, "%d", t->avg_best[a]);
        f[k++] = vals[v++];
        csv_row(af.fp, f, k);
    }
    return atomic_commit(&af, err);
}

static json_t *num_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

static int write_json(const table *t, const metric_view *o, const report_summary *sum, const char *spec_hash, const char *path,
                      cpet_err *err)
{
    json_t *cols = json_array(), *rows = json_array();
    for (int b = 0; b < t->n_cols; b++) json_array_append_new(cols, json_string(t->cols[b]));
    for (int a = 0; a < t->n_rows; a++) {
        json_t *cells = json_object();
        for (int b = 0; b < t->n_cols; b++) {
            const table_cell *c = &t->cell[a][b];
            json_t *vals = json_array(), *seeds = json_array();
            for (int k = 0; k < c->n; k++) json_array_append_new(vals, json_real(c->values[k]));
            for (int k = 0; k < c->n; k++) json_array_append_new(seeds, json_integer(c->seeds[k]));
            json_t *x = c->n ? json_pack("{s:f, s:f, s:i, s:i, s:b, s:o, s:o}", "mean", c->mean, "ci95", c->ci, "n", c->n, "examples",
                                         c->n_examples, "best", c->best, "values", vals, "seeds", seeds)
                             : (json_decref(vals), json_decref(seeds), json_null());
            const paired_cell *p = &t->paired[a][b];
            if (c->n && p->have)
                json_object_set_new(x, "vs_baseline",
                                    json_pack("{s:f, s:o, s:o, s:i, s:i, s:b, s:o, s:o}", "diff", p->ci.diff, "ci_lo", num_or_null(p->ci.lo),
                                              "ci_hi", num_or_null(p->ci.hi), "examples", p->ci.n, "seeds", p->seeds,
                                              "excludes_zero", p->ci.excludes_zero, "mcnemar_p", num_or_null(p->p),
                                              "mcnemar_p_holm", num_or_null(p->p_holm)));
            json_object_set_new(cells, t->cols[b], x);
        }
        json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "label", t->rows[a].label, "model", t->rows[a].model,
                                "compression", t->rows[a].compression, "method", t->rows[a].method, "cells", cells, "average",
                                num_or_null(t->avg[a]), "average_best", t->avg_best[a]);
        const paired_cell *pa = &t->paired_avg[a];
        if (pa->have)
            json_object_set_new(row, "average_vs_baseline",
                                json_pack("{s:f, s:o, s:o, s:i, s:i, s:b}", "diff", pa->ci.diff, "ci_lo", num_or_null(pa->ci.lo), "ci_hi",
                                          num_or_null(pa->ci.hi), "examples", pa->ci.n, "seeds", pa->seeds, "excludes_zero",
                                          pa->ci.excludes_zero));
        json_array_append_new(rows, row);
    }
    json_t *j = json_pack("{s:s, s:s, s:b, s:o, s:o, s:{s:i, s:i, s:i, s:i}}", "metric", o->metric, "spec_hash", spec_hash,
                          "lower_is_better", o->lower_is_better, "columns", cols, "rows", rows, "records", "used", sum->used,
                          "failed", sum->failed, "stale", sum->stale, "missing", sum->missing);
    if (t->baseline >= 0)
        json_object_set_new(j, "baseline", json_pack("{s:s, s:s, s:i, s:i}", "label", t->rows[t->baseline].label, "ci",
                                                     "paired bootstrap percentile 95%", "resamples", BOOTSTRAP_RESAMPLES,
                                                     "bootstrap_seed", BOOTSTRAP_SEED));
    int rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

static void records_line(FILE *f, const report_summary *sum)
{
    fprintf(f, "%d records used", sum->used);
    if (sum->failed) fprintf(f, ", %d failed cells", sum->failed);
    if (sum->missing) fprintf(f, ", %d cells not run", sum->missing);
    if (sum->not_applicable) fprintf(f, ", %d without this metric (blank)", sum->not_applicable);
    fprintf(f, sum->stale ? ", %d stale records ignored (configs not in this spec)" : ", no stale records", sum->stale);
    fprintf(f, ".\n");
}

static void fmt_signed(char *buf, size_t n, double x, const char *metric)
{
    int big = fabs(x) >= 1000;
    if (!strcmp(metric, "acc") || !strcmp(metric, "acc_norm")) snprintf(buf, n, "%+.2f", 100 * x); /* points */
    else if (big) snprintf(buf, n, "%+.4g", x);
    else snprintf(buf, n, "%+.4f", x);
}

static int write_markdown(const table *t, const metric_view *o, const report_summary *sum, const char *heldout, int heldout_limit,
                          const char *path, cpet_err *err)
{
    if (strcmp(o->metric, "perplexity") != 0 || !heldout || !heldout[0]) heldout = NULL;
    char limited[64] = "";
    if (heldout && heldout_limit > 0) snprintf(limited, sizeof limited, " (%d documents of it, evenly spaced)", heldout_limit);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *f = af.fp;
    fprintf(f, "%s (mean ± 95%% CI over seeds, Student's t; best per column in bold; %s is better)%s%s%s%s\n\n| method |", o->metric,
            o->lower_is_better ? "lower" : "higher", heldout ? ", on the held-out text `" : "", heldout ? heldout : "", heldout ? "`" : "", limited);
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
    fprintf(f, "| n (examples × seeds) |");
    for (int b = 0; b < t->n_cols; b++) {
        char buf[128];
        n_text(t, b, buf, sizeof buf);
        fprintf(f, " %s |", buf);
    }
    fprintf(f, " |\n\n");
    records_line(f, sum);
    if (t->baseline >= 0) {
        int acc = !strcmp(o->metric, "acc") || !strcmp(o->metric, "acc_norm"), seeds = 0;
        for (int a = 0; a < t->n_rows; a++)
            for (int b = 0; b < t->n_cols; b++) seeds = t->cell[a][b].n > seeds ? t->cell[a][b].n : seeds;
        const int tests = table_tests(t);
        char holm[160] = "";
        if (tests > 1)
            snprintf(holm, sizeof holm, "; in parentheses, p adjusted by Holm over the table's %d tests (the CIs and † are not adjusted)",
                     tests);
        fprintf(f, "\nDifference to **%s**%s, paired (same examples, same seeds): [95%% CI] from a paired bootstrap over examples "
                   "and seeds (%d resamples, seed %u)%s%s. † marks a CI that excludes 0.\n\n| method |",
                t->rows[t->baseline].label, acc ? " in accuracy points" : "", BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
                !acc ? "" : seeds > 1 ? "; p: McNemar's exact test with each example counted once, by the sign of its wins summed over the seeds"
                                      : "; p: McNemar's exact test on the pooled pairs",
                holm);
        const int avg_col = t->n_cols > 1; /* the average over tasks, paired too */
        for (int b = 0; b < t->n_cols; b++) fprintf(f, " %s |", t->cols[b]);
        if (avg_col) fprintf(f, " average |");
        fprintf(f, "\n|---|");
        for (int b = 0; b < t->n_cols + avg_col; b++) fprintf(f, "---|");
        fputc('\n', f);
        for (int a = 0; a < t->n_rows; a++) {
            if (a == t->baseline) continue;
            fprintf(f, "| %s |", t->rows[a].label);
            for (int b = 0; b < t->n_cols + avg_col; b++) {
                const paired_cell *p = b < t->n_cols ? &t->paired[a][b] : &t->paired_avg[a];
                if (!p->have) {
                    fprintf(f, " – |");
                    continue;
                }
                char d[32], lo[32], hi[32];
                fmt_signed(d, sizeof d, p->ci.diff, o->metric);
                fprintf(f, " %s%s", d, p->ci.excludes_zero ? "†" : "");
                if (!isnan(p->ci.lo)) {
                    fmt_signed(lo, sizeof lo, p->ci.lo, o->metric);
                    fmt_signed(hi, sizeof hi, p->ci.hi, o->metric);
                    fprintf(f, " [%s, %s]", lo, hi);
                }
                if (!isnan(p->p)) fprintf(f, p->p < 0.001 ? " p<0.001" : " p=%.3f", p->p);
                if (tests > 1 && !isnan(p->p_holm)) fprintf(f, p->p_holm < 0.001 ? " (<0.001)" : " (%.3f)", p->p_holm);
                fprintf(f, " |");
            }
            fputc('\n', f);
        }
        fprintf(f, "| n (examples × seeds) |");
        for (int b = 0; b < t->n_cols; b++) {
            int e = 0, s = 0;
            for (int a = 0; a < t->n_rows; a++)
                if (t->paired[a][b].have && t->paired[a][b].seeds > s) s = t->paired[a][b].seeds, e = t->paired[a][b].ci.n / s;
            if (s) fprintf(f, " %d × %d |", e, s);
            else fprintf(f, " – |");
        }
        if (avg_col) fprintf(f, " the tasks weigh equally; seeds drawn once for all tasks |");
        fputc('\n', f);
    }
    return atomic_commit(&af, err);
}

/* With several metrics: one table of each row's task average per metric, and with a baseline the paired
 * difference of that average [95% CI] (summary.md: what a docs page includes). */
static int write_summary(table *const *tables, const metric_view *views, int n, const char *path, cpet_err *err)
{
    const table *t0 = tables[0];
    const int base = t0->baseline;
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *f = af.fp;
    fprintf(f, "Each metric averaged over the tasks (mean over seeds)%s%s%s.\n\n| method |", base >= 0 ? "; Δ: the paired difference to **" : "",
            base >= 0 ? t0->rows[base].label : "", base >= 0 ? "** [95% CI], † where the CI excludes 0 (accuracy in points)" : "");
    for (int k = 0; k < n; k++) fprintf(f, base >= 0 ? " %s | Δ %s |" : " %s |", views[k].metric, views[k].metric);
    fprintf(f, "\n|---|");
    for (int k = 0; k < n; k++) fprintf(f, base >= 0 ? "---:|---|" : "---:|");
    fputc('\n', f);
    for (int a = 0; a < t0->n_rows; a++) {
        fprintf(f, "| %s |", t0->rows[a].label);
        for (int k = 0; k < n; k++) {
            const table *t = tables[k];
            const int acc = !strcmp(views[k].metric, "acc") || !strcmp(views[k].metric, "acc_norm");
            if (isnan(t->avg[a])) fprintf(f, " – |");
            else if (acc) fprintf(f, " %.2f%% |", 100 * t->avg[a]);
            else fprintf(f, fabs(t->avg[a]) >= 1000 ? " %.0f |" : " %.4f |", t->avg[a]);
            if (base < 0) continue;
            const paired_cell *p = t->n_cols > 1 ? &t->paired_avg[a] : &t->paired[a][0];
            if (a == base || !p->have) {
                fprintf(f, " – |");
                continue;
            }
            char d[32], lo[32], hi[32];
            fmt_signed(d, sizeof d, p->ci.diff, views[k].metric);
            fprintf(f, " %s%s", d, p->ci.excludes_zero ? "†" : "");
            if (!isnan(p->ci.lo)) {
                fmt_signed(lo, sizeof lo, p->ci.lo, views[k].metric);
                fmt_signed(hi, sizeof hi, p->ci.hi, views[k].metric);
                fprintf(f, " [%s, %s]", lo, hi);
            }
            fprintf(f, " |");
        }
        fputc('\n', f);
    }
    return atomic_commit(&af, err);
}

static int write_paired_csv(const table *t, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    const char *head[] = {"row", "baseline", "column", "diff", "ci_lo", "ci_hi", "excludes_zero", "mcnemar_p", "mcnemar_p_holm", "examples", "seeds"};
    csv_row(af.fp, head, 11);
    for (int a = 0; a < t->n_rows; a++)
        for (int b = 0; b < t->n_cols + (t->n_cols > 1); b++) {
            const paired_cell *p = b < t->n_cols ? &t->paired[a][b] : &t->paired_avg[a];
            if (a == t->baseline || !p->have) continue;
            char v[8][32];
            snprintf(v[0], 32, "%.6g", p->ci.diff);
            csv_num(v[1], 32, "%.6g", 1, p->ci.lo);
            csv_num(v[2], 32, "%.6g", 1, p->ci.hi);
            snprintf(v[3], 32, "%d", p->ci.excludes_zero);
            csv_num(v[4], 32, "%.6g", 1, p->p);
            csv_num(v[5], 32, "%.6g", 1, p->p_holm);
            snprintf(v[6], 32, "%d", p->ci.n);
            snprintf(v[7], 32, "%d", p->seeds);
            const char *f[] = {t->rows[a].label, t->rows[t->baseline].label, b < t->n_cols ? t->cols[b] : "average", v[0], v[1], v[2], v[3],
                               v[4], v[5], v[6], v[7]};
            csv_row(af.fp, f, 11);
        }
    return atomic_commit(&af, err);
}

/* ---- the report ---- */

int report_render_view(run_view *view, const table *layout, const char *out_dir, const char *title, const report_options *o,
                       report_summary *sum, table **first, cpet_err *err)
{
    memset(sum, 0, sizeof *sum);
    const char *run_dir = view->run_dir;
    char metrics[16][64];
    int n_metrics = 0;
    for (const char *p = o->metric; *p && n_metrics < 16;) {
        size_t len = strcspn(p, ",");
        snprintf(metrics[n_metrics++], sizeof metrics[0], "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    for (int s = 0; s < o->n_scatter; s++) { /* scatter metrics must be tabulated too */
        char a[64], b[64];
        if (sscanf(o->scatter[s], "%63[^,],%63s", a, b) != 2) return cpet_fail(err, "--scatter '%s': expected METRIC,METRIC", o->scatter[s]);
        const char *need[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            int have = 0;
            for (int m = 0; m < n_metrics; m++) have |= !strcmp(metrics[m], need[k]);
            if (!have && n_metrics < 16) snprintf(metrics[n_metrics++], sizeof metrics[0], "%s", need[k]);
        }
    }
    int rc = 0, baseline = -1;
    if (rc == 0 && o->baseline) {
        for (int a = 0; a < layout->n_rows && baseline < 0; a++)
            if (!strcmp(layout->rows[a].label, o->baseline)) baseline = a;
        if (baseline < 0) {
            char known[2048] = "";
            for (int a = 0; a < layout->n_rows; a++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s'%s'", a ? ", " : "", layout->rows[a].label);
            rc = cpet_fail(err, "report: --baseline '%s' names no row (rows: %s)", o->baseline, known);
        }
    }
    sum->plots_skipped = o->no_plots || !gnuplot_available();
    json_t *curves = json_array();
    char *index = NULL;
    size_t index_len = 0;
    FILE *idx = open_memstream(&index, &index_len);
    if (rc == 0) rc = make_dirs(out_dir, err);
    table *tables[16] = {0};
    metric_view views[16];
    char path[4400];
    for (int k = 0; k < n_metrics && rc == 0; k++) {
        metric_view *v = &views[k];
        *v = (metric_view){metrics[k], o->lower_is_better || metric_lower_is_better(metrics[k]), ""};
        if (k) snprintf(v->suffix, sizeof v->suffix, "_%.*s", (int)sizeof v->suffix - 2, metrics[k]);
        table *t = tables[k] = malloc(sizeof *t);
        memcpy(t, layout, sizeof *t);
        t->baseline = baseline;
        rc = build_table(t, view, v, sum, err);
        if (rc == 0 && sum->used == 0) rc = cpet_fail(err, "%s: no successful records of this spec's cells to report", run_dir);
        if (rc == 0 && t->baseline >= 0) { /* a metric the baseline does not report: no paired section */
            int has = 0;
            for (int b = 0; b < t->n_cols; b++) has |= t->cell[t->baseline][b].n > 0;
            if (!has) t->baseline = -1;
        }
        if (rc == 0 && t->baseline >= 0) rc = compare_with_baseline(t, v, run_dir, o->resamples > 0 ? o->resamples : BOOTSTRAP_RESAMPLES, err);
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.csv", out_dir, v->suffix), rc = write_csv(t, path, err);
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.json", out_dir, v->suffix), rc = write_json(t, v, sum, view->s.hash, path, err);
        if (rc == 0) snprintf(path, sizeof path, "%s/table%s.md", out_dir, v->suffix), rc = write_markdown(t, v, sum, view->s.heldout, view->s.heldout_limit, path, err);
        if (rc == 0 && t->baseline >= 0)
            snprintf(path, sizeof path, "%s/paired%s.csv", out_dir, v->suffix), rc = write_paired_csv(t, path, err);
        const int setting = metric_is_setting(metrics[k]);
        if (rc == 0 && !sum->plots_skipped && !setting) rc = plot_bars(t, v, out_dir, err);
        if (rc == 0 && !sum->plots_skipped && !setting && t->baseline >= 0) rc = plot_paired(t, v, out_dir, err);
        if (rc == 0 && k == 0 && !sum->plots_skipped) rc = plot_curves(t, o->overlay, out_dir, curves, err);
        if (rc == 0 && k == 0 && !sum->plots_skipped && o->overlay) rc = plot_overlay(t, o->overlay, out_dir, curves, err);
        if (rc == 0 && k == 0 && !sum->plots_skipped && o->by_index) rc = plot_by_index(t, o->by_index, out_dir, curves, err);
        if (rc == 0) {
            fprintf(idx, "\n## %s\n\n- [table (Markdown)](table%s.md) · [CSV](table%s.csv) · [JSON](table%s.json)", metrics[k],
                    v->suffix, v->suffix, v->suffix);
            if (t->baseline >= 0) fprintf(idx, " · paired differences: [CSV](paired%s.csv)", v->suffix);
            fputc('\n', idx);
            const int plotted = !sum->plots_skipped && !setting; /* what the plots above wrote */
            if (plotted)
                fprintf(idx, "- [bar chart (PNG)](bars%s.png) · [SVG](bars%s.svg) · [script](bars%s.gp)\n", v->suffix, v->suffix, v->suffix);
            char *md = read_whole_file((snprintf(path, sizeof path, "%s/table%s.md", out_dir, v->suffix), path), NULL);
            fprintf(idx, "\n%s", md ? md : "");
            free(md);
            if (plotted) fprintf(idx, "\n![%s](bars%s.png)\n", metrics[k], v->suffix);
            if (plotted && t->baseline >= 0) fprintf(idx, "\n![difference to %s](paired%s.png)\n", o->baseline, v->suffix);
        }
    }
    if (rc == 0 && n_metrics > 1) {
        snprintf(path, sizeof path, "%s/summary.md", out_dir);
        rc = write_summary(tables, views, n_metrics, path, err);
        if (rc == 0) fprintf(idx, "\n## summary\n\n[summary.md](summary.md): every metric's task average%s.\n", baseline >= 0 ? " with its paired difference" : "");
    }
    for (int s = 0; s < o->n_scatter && rc == 0 && !sum->plots_skipped; s++) {
        char a[64], b[64], name[200];
        sscanf(o->scatter[s], "%63[^,],%63s", a, b);
        int ia = 0, ib = 0;
        while (strcmp(metrics[ia], a)) ia++;
        while (strcmp(metrics[ib], b)) ib++;
        rc = plot_scatter(tables[ia], &views[ia], tables[ib], &views[ib], out_dir, name, sizeof name, err);
        if (rc == 0)
            fprintf(idx, "\n## %s vs %s\n\n![%s vs %s%s](%s.png)\n", b, a, b, a, metric_is_setting(a) || metric_is_setting(b) ? "" : ", Pareto front",
                    name);
    }
    fclose(idx);
    if (rc == 0) {
        atomic_file af;
        snprintf(path, sizeof path, "%s/index.md", out_dir);
        rc = atomic_open(&af, path, err);
        if (rc == 0) {
            fprintf(af.fp, "# %s\n\nRendered by `cpet report` from the records of `%s` only (spec hash %s): ", title ? title : view->s.name,
                    path_base(run_dir), view->s.hash);
            records_line(af.fp, sum);
            if (sum->plots_skipped) fprintf(af.fp, o->no_plots ? "Plots skipped (--no-plots).\n" : "Plots skipped: gnuplot is not installed.\n");
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
    if (first && rc == 0) *first = tables[0], tables[0] = NULL;
    for (int k = 0; k < 16; k++) free(tables[k]);
    free(index);
    json_decref(curves);
    return rc;
}
