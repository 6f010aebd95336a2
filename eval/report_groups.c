/* cpet report --by compression: a study whose rows are methods run on several compressions (CA-LoRA's
 * table is one per compression) rendered as one report per compression -- its methods, plus the rows of
 * the reference compression (the one holding --upper, e.g. LLM+LoRA on the uncompressed model) shown in
 * every group -- and an overview: the average accuracy of every method per compression with the model's
 * bytes, the paired difference of --highlight to --baseline and of --baseline to --upper, how much of that
 * gap the highlight closes, one finding per compression written from those numbers, and a Pareto plot of
 * accuracy against bytes. Every number comes from the group reports' tables (report.c's statistics). */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "report_table.h"

#define MAX_GROUPS 64

typedef struct {
    char label[256], slug[256];
    double bytes;  /* the compressed model's bytes (metrics.bytes of its records; NaN if none) */
    table *t;      /* its accuracy table (rows: reference rows, then its methods) */
    int upper, baseline, highlight;
} group;

static void slugify(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++) {
        int ok = isalnum((unsigned char)*s) || *s == '.' || *s == '_';
        if (ok) out[o++] = (char)tolower((unsigned char)*s);
        else if (o && out[o - 1] != '-') out[o++] = '-';
    }
    while (o && out[o - 1] == '-') o--;
    out[o] = 0;
}

static int row_of(const table *t, const char *method)
{
    for (int a = 0; method && a < t->n_rows; a++)
        if (!strcmp(t->rows[a].method, method)) return a;
    return -1;
}

static double bytes_of(const run_view *v, const char *compression)
{
    for (int k = 0; k < v->n_cells; k++) {
        const json_t *r = v->latest[k];
        if (!r || strcmp(v->cells[k].compression, compression) != 0) continue;
        json_t *b = json_object_get(json_object_get(r, "metrics"), "bytes");
        if (json_is_number(b)) return json_number_value(b);
    }
    return NAN;
}

static void points(char *buf, size_t n, const paired_cell *p)
{
    if (!p->have) snprintf(buf, n, "–");
    else if (isnan(p->ci.lo)) snprintf(buf, n, "%+.2f", 100 * p->ci.diff);
    else snprintf(buf, n, "%+.2f%s [%+.2f, %+.2f]", 100 * p->ci.diff, p->ci.excludes_zero ? "†" : "", 100 * p->ci.lo, 100 * p->ci.hi);
}

/* One sentence or three about a compression, from its table alone. */
static void finding(FILE *f, const group *g, double ref_bytes, const report_options *o)
{
    const table *t = g->t;
    fprintf(f, "- **%s**", g->label);
    if (!isnan(g->bytes) && !isnan(ref_bytes))
        fprintf(f, " (%.2f MB, %.1f× fewer bytes)", g->bytes / 1e6, ref_bytes / g->bytes);
    fprintf(f, ": ");
    int best = -1;
    for (int a = 0; a < t->n_rows; a++)
        if (!isnan(t->avg[a]) && strcmp(t->rows[a].compression, g->label) == 0 && (best < 0 || t->avg[a] > t->avg[best])) best = a;
    if (g->upper < 0 || g->baseline < 0 || isnan(t->avg[g->upper]) || isnan(t->avg[g->baseline])) {
        fprintf(f, "%s or %s has no results here.\n", o->upper, o->baseline);
        return;
    }
    const paired_cell *hurt = &t->paired_avg[g->upper]; /* upper - baseline */
    const double gap = t->avg[g->upper] - t->avg[g->baseline];
    char d[96];
    points(d, sizeof d, hurt);
    if (hurt->have && hurt->ci.excludes_zero && gap > 0)
        fprintf(f, "%s falls %.2f points below %s (%s %s − %s: significant).", o->baseline, 100 * gap, o->upper, d, o->upper,
                o->baseline);
    else
        fprintf(f, "%s is within the noise of %s (%s %s − %s): after retraining this compression costs nothing measurable.",
                o->baseline, o->upper, d, o->upper, o->baseline);
    if (g->highlight >= 0 && !isnan(t->avg[g->highlight])) {
        const paired_cell *win = &t->paired_avg[g->highlight];
        points(d, sizeof d, win);
        const double diff = t->avg[g->highlight] - t->avg[g->baseline];
        const char *verdict = !win->have ? "" : !win->ci.excludes_zero ? "no significant difference"
                                                : diff > 0                ? "significantly better"
                                                                          : "significantly worse";
        fprintf(f, " %s vs %s: %s points, %s", o->highlight, o->baseline, d, verdict);
        if (hurt->ci.excludes_zero && gap > 0) fprintf(f, "; it closes %.0f%% of the gap", 100 * diff / gap);
        fprintf(f, ".");
    }
    if (best >= 0) fprintf(f, " Best on this compression: %s (%.4f).", t->rows[best].method, t->avg[best]);
    fprintf(f, "\n");
}

static int pareto(const group *g, int n_groups, const char *ref, double ref_bytes, const table *ref_table, int ref_upper,
                  const char *out_dir, const report_options *o, cpet_err *err)
{
    table *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y);
    if (!x || !y) return free(x), free(y), cpet_fail(err, "out of memory");
    int n = 0;
    if (ref_upper >= 0 && !isnan(ref_bytes)) {
        snprintf(x->rows[n].label, sizeof x->rows[n].label, "%s / %s", ref, o->upper);
        x->avg[n] = ref_bytes, y->avg[n] = ref_table->avg[ref_upper];
        n++;
    }
    for (int i = 0; i < n_groups; i++) {
        const int which[2] = {g[i].baseline, g[i].highlight};
        for (int w = 0; w < 2 && n < MAX_ROWS; w++) {
            if (which[w] < 0 || isnan(g[i].t->avg[which[w]]) || isnan(g[i].bytes)) continue;
            snprintf(x->rows[n].label, sizeof x->rows[n].label, "%s / %s", g[i].label, g[i].t->rows[which[w]].method);
            x->avg[n] = g[i].bytes, y->avg[n] = g[i].t->avg[which[w]];
            n++;
        }
    }
    x->n_rows = y->n_rows = n;
    memcpy(y->rows, x->rows, sizeof x->rows);
    metric_view vx = {"bytes", 1, ""}, vy = {"acc", 0, ""};
    char name[200];
    int rc = plot_scatter(x, &vx, y, &vy, out_dir, name, sizeof name, err);
    free(x);
    free(y);
    return rc;
}

/* Per compression: MB, the upper bound's average, each method's (the baseline in italics), and the paired
 * task-average differences with the share of the gap closed. */
static void summary_table(FILE *f, const group *g, int n, char (*methods)[64], int n_methods, const report_options *o)
{
    const char *hl = o->highlight ? o->highlight : "–";
    fprintf(f, "Average accuracy over tasks (mean over seeds). Differences in points, paired over the same examples and seeds "
               "(bootstrap 95%% CI; tasks weigh equally, seeds drawn once for all tasks); † marks a CI that excludes 0. Gap closed "
               "= (%s − %s) / (%s − %s), where that gap is significant.\n\n| compression | MB | %s |",
            hl, o->baseline, o->upper, o->baseline, o->upper);
    for (int m = 0; m < n_methods; m++) fprintf(f, " %s |", methods[m]);
    fprintf(f, " %s − %s | %s − %s | gap closed |\n|---|---|---|", o->upper, o->baseline, hl, o->baseline);
    for (int m = 0; m < n_methods + 3; m++) fprintf(f, "---|");
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        const table *t = g[i].t;
        fprintf(f, "| %s | %.2f |", g[i].label, g[i].bytes / 1e6);
        if (g[i].upper >= 0) fprintf(f, " %.4f |", t->avg[g[i].upper]);
        else fprintf(f, " – |");
        for (int m = 0; m < n_methods; m++) {
            int a = row_of(t, methods[m]);
            if (a >= 0 && !isnan(t->avg[a])) fprintf(f, a == g[i].baseline ? " *%.4f* |" : " %.4f |", t->avg[a]);
            else fprintf(f, " |");
        }
        char up[96] = "–", hd[96] = "–", closed[32] = "–";
        if (g[i].upper >= 0 && g[i].baseline >= 0) points(up, sizeof up, &t->paired_avg[g[i].upper]);
        if (g[i].highlight >= 0 && g[i].baseline >= 0) points(hd, sizeof hd, &t->paired_avg[g[i].highlight]);
        if (g[i].upper >= 0 && g[i].baseline >= 0 && g[i].highlight >= 0 && t->paired_avg[g[i].upper].ci.excludes_zero) {
            double gap = t->avg[g[i].upper] - t->avg[g[i].baseline];
            if (gap > 0) snprintf(closed, sizeof closed, "%.0f%%", 100 * (t->avg[g[i].highlight] - t->avg[g[i].baseline]) / gap);
        }
        fprintf(f, " %s | %s | %s |\n", up, hd, closed);
    }
}

int report_render_groups(run_view *view, const table *layout, const char *out_dir, const report_options *o, report_summary *sum,
                         cpet_err *err)
{
    memset(sum, 0, sizeof *sum);
    if (!o->upper || !o->baseline) return cpet_fail(err, "report --by compression needs --upper LABEL and --baseline LABEL (method labels)");
    const char *ref = NULL;
    for (int a = 0; a < layout->n_rows && !ref; a++)
        if (!strcmp(layout->rows[a].method, o->upper)) ref = layout->rows[a].compression;
    if (!ref) return cpet_fail(err, "report: --upper '%s' is no method of this run", o->upper);
    group *g = calloc(MAX_GROUPS, sizeof *g);
    int n = 0, rc = 0, *orig = malloc(((size_t)view->n_cells + 1) * sizeof *orig);
    if (!g || !orig) return free(g), free(orig), cpet_fail(err, "out of memory");
    memcpy(orig, view->row, (size_t)view->n_cells * sizeof *orig);
    for (int a = 0; a < layout->n_rows; a++) {
        int seen = !strcmp(layout->rows[a].compression, ref);
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(g[i].label, layout->rows[a].compression);
        if (seen) continue;
        if (n == MAX_GROUPS) return free(g), free(orig), cpet_fail(err, "report: more than %d compressions", MAX_GROUPS);
        snprintf(g[n].label, sizeof g[n].label, "%s", layout->rows[a].compression);
        slugify(g[n].label, g[n].slug, sizeof g[n].slug);
        n++;
    }
    if (rc == 0) rc = make_dirs(out_dir, err);
    report_options go = *o;
    go.by_compression = 0;
    go.n_scatter = 0;
    table *ref_table = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        table *sub = calloc(1, sizeof *sub);
        if (!sub) {
            rc = cpet_fail(err, "out of memory");
            break;
        }
        int map[MAX_ROWS];
        sub->n_cols = layout->n_cols;
        memcpy(sub->cols, layout->cols, sizeof sub->cols);
        for (int pass = 0; pass < 2; pass++) /* the reference rows first, then the group's */
            for (int a = 0; a < layout->n_rows; a++) {
                if (pass == 0) map[a] = -1;
                if (strcmp(layout->rows[a].compression, pass == 0 ? ref : g[i].label) != 0) continue;
                map[a] = sub->n_rows;
                sub->rows[sub->n_rows] = layout->rows[a];
                snprintf(sub->rows[sub->n_rows].label, sizeof sub->rows[0].label, "%s", layout->rows[a].method);
                sub->n_rows++;
            }
        for (int k = 0; k < view->n_cells; k++) view->row[k] = orig[k] >= 0 ? map[orig[k]] : -1;
        char dir[4400], title[600];
        snprintf(dir, sizeof dir, "%s/%s", out_dir, g[i].slug);
        snprintf(title, sizeof title, "%s: %s (with %s's rows)", view->s.name, g[i].label, ref);
        report_summary gs;
        rc = report_render_view(view, sub, dir, title, &go, &gs, &g[i].t, err);
        free(sub);
        if (rc != 0) break;
        g[i].bytes = bytes_of(view, g[i].label);
        g[i].upper = row_of(g[i].t, o->upper);
        g[i].baseline = row_of(g[i].t, o->baseline);
        g[i].highlight = row_of(g[i].t, o->highlight);
        sum->failed += gs.failed, sum->missing += gs.missing, sum->plots_skipped = gs.plots_skipped, sum->stale = gs.stale;
        if (!ref_table) ref_table = g[i].t;
    }
    memcpy(view->row, orig, (size_t)view->n_cells * sizeof *orig);
    for (int k = 0; k < view->n_cells; k++) sum->used += view->latest[k] && !strcmp(json_string_value(json_object_get(view->latest[k], "status")) ?: "", "ok");
    const double ref_bytes = bytes_of(view, ref);
    if (rc == 0 && !sum->plots_skipped && ref_table)
        rc = pareto(g, n, ref, ref_bytes, ref_table, row_of(ref_table, o->upper), out_dir, o, err);
    if (rc == 0 && ref_table) {
        /* the methods of the groups, in order of first appearance: the summary's columns */
        char methods[MAX_ROWS][64];
        int n_methods = 0;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < g[i].t->n_rows; a++) {
                if (!strcmp(g[i].t->rows[a].compression, ref)) continue;
                int seen = 0;
                for (int m = 0; m < n_methods && !seen; m++) seen = !strcmp(methods[m], g[i].t->rows[a].method);
                if (!seen && n_methods < MAX_ROWS) snprintf(methods[n_methods++], sizeof methods[0], "%s", g[i].t->rows[a].method);
            }
        /* summary.md (README includes it): the reference line, the findings, the compact table; index.md adds
         * every method's column, the plot and the links */
        char *summary = NULL;
        size_t summary_len = 0;
        FILE *sf = open_memstream(&summary, &summary_len);
        fprintf(sf, "On **%s** (%.2f MB):", ref, ref_bytes / 1e6);
        for (int a = 0; a < ref_table->n_rows; a++)
            if (!strcmp(ref_table->rows[a].compression, ref)) fprintf(sf, "%s %s %.4f", a ? "," : "", ref_table->rows[a].method, ref_table->avg[a]);
        fprintf(sf, " (average accuracy over tasks).\n\n");
        for (int i = 0; i < n; i++) finding(sf, &g[i], ref_bytes, o);
        char compact[2][64];
        int n_compact = 0;
        snprintf(compact[n_compact++], sizeof compact[0], "%s", o->baseline);
        if (o->highlight) snprintf(compact[n_compact++], sizeof compact[0], "%s", o->highlight);
        fputc('\n', sf);
        summary_table(sf, g, n, compact, n_compact, o);
        fclose(sf);
        char path[4400];
        atomic_file af;
        snprintf(path, sizeof path, "%s/summary.md", out_dir);
        rc = atomic_open(&af, path, err);
        if (rc == 0) fputs(summary, af.fp), rc = atomic_commit(&af, err);
        snprintf(path, sizeof path, "%s/index.md", out_dir);
        if (rc == 0) rc = atomic_open(&af, path, err);
        if (rc == 0) {
            FILE *f = af.fp;
            fprintf(f, "# %s, by compression\n\nRendered by `cpet report --by compression` from the records of `%s` only (spec hash %s): "
                       "%d records used%s. Accuracy on each task's test split; averages weigh the tasks equally.\n\n"
                       "## Findings (generated from the tables)\n\n%s",
                    view->s.name, path_base(view->run_dir), view->s.hash, sum->used, sum->stale ? ", stale records ignored" : "", summary);
            fprintf(f, "\n## Every method\n\n");
            summary_table(f, g, n, methods, n_methods, o);
            if (!sum->plots_skipped)
                fprintf(f, "\n## Accuracy against bytes\n\n%s on %s and, per compression, %s and %s; the dashed line is the Pareto "
                           "front.\n\n![accuracy vs bytes](scatter_acc_vs_bytes.png)\n",
                        o->upper, ref, o->baseline, o->highlight ? o->highlight : "–");
            fprintf(f, "\n## Per compression\n\nEach has the full table (every row, each task, mean ± CI over seeds), the paired "
                       "differences to %s per task and on average, and a bar chart.\n\n", o->baseline);
            for (int i = 0; i < n; i++) fprintf(f, "- [%s](%s/index.md)\n", g[i].label, g[i].slug);
            rc = atomic_commit(&af, err);
        }
        free(summary);
    }
    for (int i = 0; i < n; i++) free(g[i].t);
    free(g);
    free(orig);
    return rc;
}
