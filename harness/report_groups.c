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
#include "gnuplot.h"
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
    else if (hurt->have && hurt->ci.excludes_zero)
        fprintf(f, "%s scores %.2f points *above* %s (%s %s − %s: significant): this compression helps these tasks, so no gap "
                   "is there to close.",
                o->baseline, -100 * gap, o->upper, d, o->upper, o->baseline);
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

/* x = bytes (log), y = accuracy: the upper bound, and per compression the baseline and the highlight joined
 * by an arrow (what the method buys on that compression), labelled with the compression; the Pareto front
 * over all of them, dashed. Tells at a glance which compressions stay near the upper bound and at what size. */
static int pareto_plot(const group *g, int n, const char *ref, double ref_bytes, double upper_acc, const char *out_dir,
                       const report_options *o, cpet_err *err)
{
    const char *name = "pareto_acc_vs_bytes";
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", out_dir, name);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *f = af.fp;
    /* every point, for the front: bytes, acc, label */
    double px[2 * MAX_GROUPS + 1], py[2 * MAX_GROUPS + 1];
    char pl[2 * MAX_GROUPS + 1][300];
    int np = 0;
    fprintf(f, "# compression\tbytes\t%s\t%s\n", o->baseline, o->highlight ? o->highlight : "-");
    for (int i = 0; i < n; i++) {
        const double yb = g[i].baseline >= 0 ? g[i].t->avg[g[i].baseline] : NAN, yh = g[i].highlight >= 0 ? g[i].t->avg[g[i].highlight] : NAN;
        if (isnan(g[i].bytes) || (isnan(yb) && isnan(yh))) continue;
        fprintf(f, "\"%s\"\t%.0f\t%.6f\t%.6f\n", g[i].label, g[i].bytes, yb, yh);
        if (!isnan(yb)) px[np] = g[i].bytes, py[np] = yb, snprintf(pl[np++], sizeof pl[0], "%s / %s", g[i].label, o->baseline);
        if (!isnan(yh)) px[np] = g[i].bytes, py[np] = yh, snprintf(pl[np++], sizeof pl[0], "%s / %s", g[i].label, o->highlight);
    }
    fprintf(f, "\n\n\"%s\"\t%.0f\t%.6f\n", ref, ref_bytes, upper_acc);
    if (!isnan(ref_bytes) && !isnan(upper_acc)) px[np] = ref_bytes, py[np] = upper_acc, snprintf(pl[np++], sizeof pl[0], "%s / %s", ref, o->upper);
    /* the front: no other point at most as large and at least as accurate, one of them strictly */
    int front[2 * MAX_GROUPS + 1], nf = 0;
    for (int a = 0; a < np; a++) {
        int dom = 0;
        for (int b = 0; b < np && !dom; b++)
            dom = b != a && px[b] <= px[a] && py[b] >= py[a] && (px[b] < px[a] || py[b] > py[a]);
        if (!dom) front[nf++] = a;
    }
    for (int i = 1; i < nf; i++) /* by bytes */
        for (int j = i; j > 0 && px[front[j]] < px[front[j - 1]]; j--) {
            int t = front[j];
            front[j] = front[j - 1], front[j - 1] = t;
        }
    fprintf(f, "\n\n");
    for (int i = 0; i < nf; i++) fprintf(f, "\"%s\"\t%.0f\t%.6f\n", pl[front[i]], px[front[i]], py[front[i]]);
    if (atomic_commit(&af, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s.gp", out_dir, name);
    if (atomic_open(&af, path, err) != 0) return -1;
    char qb[300], qh[300], qu[300], plot[2048];
    gnuplot_quote(qb, sizeof qb, o->baseline);
    gnuplot_quote(qh, sizeof qh, o->highlight ? o->highlight : "-");
    snprintf(qu, sizeof qu, "%s (%s)", o->upper, ref);
    char quq[300];
    gnuplot_quote(quq, sizeof quq, qu);
    snprintf(plot, sizeof plot,
             "plot '%s.dat' index 2 using 2:3 with steps lw 1.5 lc rgb '#777777' dt 2 title 'Pareto front', \\\n"
             "  '' index 0 using 2:3:(0):($4-$3) with vectors head filled size screen 0.008,25 lw 1.5 lc rgb '#aaaaaa' notitle, \\\n"
             "  '' index 0 using 2:3 with points pt 7 ps 1.4 lc rgb '#ff7f0e' title %s, \\\n"
             "  '' index 0 using 2:4 with points pt 13 ps 1.8 lc rgb '#2ca02c' title %s, \\\n"
             "  '' index 1 using 2:3 with points pt 5 ps 1.8 lc rgb '#1f77b4' title %s, \\\n"
             "  '' index 0 using 2:4:1 with labels left offset 0.9,0.3 font ',7' tc rgb '#2ca02c' notitle",
             name, qb, qh, quq);
    fprintf(af.fp, "# cpet report --by compression: accuracy (task average) against the model's bytes, from %s.dat\n"
                   "set datafile separator \"\\t\"\nset grid lc rgb '#dddddd'\nset border 3\nset xtics nomirror\nset ytics nomirror\n"
                   "set logscale x\nset format x '%%.1s %%cB'\nset xlabel 'model bytes (log scale; lower is better)'\n"
                   "set ylabel 'accuracy, average over tasks'\nset key outside right top font ',9'\nset offsets graph 0.03, graph 0.12, graph 0.06, graph 0.04\n"
                   "set title 'Accuracy against size: each arrow is one compression, from %s to %s'\n",
            name, o->baseline, o->highlight ? o->highlight : "-");
    gnuplot_terminals(af.fp, 1100, 620, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(out_dir, name, err);
}

/* One column per compression (sorted by bytes): the adapter carried over untrained, the baseline and the
 * highlight as points, the upper bound as a line: who wins where, and by how much, at a glance. */
static int dumbbell_plot(const group *g, int n, const char *carried, double upper_acc, const char *ref, const char *out_dir,
                         const report_options *o, cpet_err *err)
{
    const char *name = "by_compression";
    int order[MAX_GROUPS], m = 0;
    for (int i = 0; i < n; i++) order[m++] = i;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && g[order[j]].bytes > g[order[j - 1]].bytes; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", out_dir, name);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    fprintf(af.fp, "# x\tcompression\tcarried\tbaseline\thighlight\n");
    for (int k = 0; k < m; k++) {
        const group *x = &g[order[k]];
        const int c = row_of(x->t, carried);
        const double v[3] = {c >= 0 ? x->t->avg[c] : NAN, x->baseline >= 0 ? x->t->avg[x->baseline] : NAN,
                             x->highlight >= 0 ? x->t->avg[x->highlight] : NAN};
        fprintf(af.fp, "%d\t\"%s\\n%.1f MB\"", k, x->label, x->bytes / 1e6);
        for (int j = 0; j < 3; j++) isnan(v[j]) ? fprintf(af.fp, "\tNaN") : fprintf(af.fp, "\t%.6f", v[j]);
        fputc('\n', af.fp);
    }
    if (atomic_commit(&af, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s.gp", out_dir, name);
    if (atomic_open(&af, path, err) != 0) return -1;
    char qc[300], qb[300], qh[300], qu[300], up[300], plot[2048];
    gnuplot_quote(qc, sizeof qc, carried ? carried : "carried");
    gnuplot_quote(qb, sizeof qb, o->baseline);
    gnuplot_quote(qh, sizeof qh, o->highlight ? o->highlight : "-");
    snprintf(up, sizeof up, "%s (%s)", o->upper, ref);
    gnuplot_quote(qu, sizeof qu, up);
    snprintf(plot, sizeof plot,
             "plot %.6f with lines lw 2 dt 2 lc rgb '#1f77b4' title %s, \\\n"
             "  '%s.dat' using 1:4:(0):($5-$4) with vectors nohead lw 3 lc rgb '#cccccc' notitle, \\\n"
             "  '' using 1:3:xtic(2) with points pt 6 ps 1.6 lw 2 lc rgb '#7f7f7f' title %s, \\\n"
             "  '' using 1:4 with points pt 7 ps 1.6 lc rgb '#ff7f0e' title %s, \\\n"
             "  '' using 1:5 with points pt 13 ps 1.9 lc rgb '#2ca02c' title %s",
             upper_acc, qu, name, qc, qb, qh);
    fprintf(af.fp, "# cpet report --by compression: per compression (by bytes, largest first) the task-average accuracy, from %s.dat\n"
                   "set datafile separator \"\\t\"\nset grid ytics lc rgb '#dddddd'\nset border 3\nset xtics nomirror font ',8' rotate by 25 right\n"
                   "set ytics nomirror\nset xrange [-0.6:%d.6]\nset ylabel 'accuracy, average over tasks'\nset key outside right top font ',9'\n"
                   "set bmargin 7\nset title 'Per compression: the adapter carried over untrained, retrained from scratch, and adapted'\n",
            name, m - 1);
    gnuplot_terminals(af.fp, 1200, 560, plot);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot_run(out_dir, name, err);
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
        if (g[i].upper >= 0 && g[i].baseline >= 0 && g[i].highlight >= 0 && t->paired_avg[g[i].upper].ci.excludes_zero &&
            !isnan(t->avg[g[i].highlight])) {
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
    const char *named[3][2] = {{"--baseline", o->baseline}, {"--highlight", o->highlight}, {"--also", o->carried}};
    for (int k = 0; k < 3; k++) { /* every method the overview names must be one of the run's */
        int found = !named[k][1];
        for (int a = 0; a < layout->n_rows && !found; a++) found = !strcmp(layout->rows[a].method, named[k][1]);
        if (!found) return cpet_fail(err, "report: %s '%s' is no method of this run", named[k][0], named[k][1]);
    }
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
    const double upper_acc = ref_table && row_of(ref_table, o->upper) >= 0 ? ref_table->avg[row_of(ref_table, o->upper)] : NAN;
    if (rc == 0 && !sum->plots_skipped && ref_table) rc = pareto_plot(g, n, ref, ref_bytes, upper_acc, out_dir, o, err);
    if (rc == 0 && !sum->plots_skipped && ref_table) rc = dumbbell_plot(g, n, o->carried, upper_acc, ref, out_dir, o, err);
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
        /* summary.md (a docs page includes it): the reference line, the findings, the compact table; index.md adds
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
                fprintf(f, "\n## Plots\n\n![per compression](by_compression.png)\n\n![accuracy vs bytes, Pareto front](pareto_acc_vs_bytes.png)\n");
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
