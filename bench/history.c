#include "history.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "fileio.h"
#include "gnuplot.h"
#include "records.h"

#define TABLE_RUNS 8   /* runs shown in history.md */
#define MAX_XLABELS 25 /* beyond this, only every k-th run is labelled */

typedef struct {
    int runs, n;   /* runs (history lines) and distinct figures */
    char **names;  /* figure names, sorted */
    double *v;     /* v[run * n + figure], NaN where a run lacks the figure */
    char (*rev)[16]; /* short revision per run */
    char (*date)[32];
} history;

/* a panel: one figure kind (last name component) of one result file, a line per variant */
typedef struct {
    char file[128], leaf[128];
    int ratio;
    int *figs, n_figs;
} panel;

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "gemv.formats.int8.gb_s" -> file "gemv", variant "formats.int8", leaf "gb_s" */
static void split_name(const char *name, char *file, char *variant, char *leaf, size_t n)
{
    const char *first = strchr(name, '.'), *last = strrchr(name, '.');
    if (!first) {
        snprintf(file, n, "figures");
        snprintf(variant, n, "%s", "");
        snprintf(leaf, n, "%s", name);
        return;
    }
    snprintf(file, n, "%.*s", (int)(first - name), name);
    snprintf(leaf, n, "%s", last + 1);
    if (first == last) snprintf(variant, n, "%s", "");
    else snprintf(variant, n, "%.*s", (int)(last - first - 1), first + 1);
}

static void history_free(history *h)
{
    for (int i = 0; i < h->n; i++) free(h->names[i]);
    free(h->names);
    free(h->v);
    free(h->rev);
    free(h->date);
}

static int history_load(history *h, const char *path, cpet_err *err)
{
    memset(h, 0, sizeof *h);
    json_t *runs = records_read(path, RECORDS_STRICT, err); /* appended like run records: one object a line */
    if (!runs) return -1;
    json_t *all = json_object(); /* the union of figure names */
    int rc = 0;
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        json_t *figs = json_object_get(r, "figures");
        if (!json_is_string(json_object_get(r, "revision")) || !json_is_object(figs)) {
            rc = cpet_fail(err, "%s:%zu: not a benchmark run (needs a revision string and a figures object)", path, i + 1);
            break;
        }
        const char *key;
        json_t *x;
        json_object_foreach(figs, key, x)
        {
            if (json_is_number(x)) json_object_set_new(all, key, json_true());
        }
    }
    if (rc == 0 && json_array_size(runs) == 0) rc = cpet_fail(err, "%s: no runs recorded", path);
    if (rc == 0 && json_object_size(all) == 0) rc = cpet_fail(err, "%s: no numeric figures in any run", path);
    if (rc == 0) {
        h->runs = (int)json_array_size(runs);
        h->n = (int)json_object_size(all);
        h->names = malloc((size_t)h->n * sizeof *h->names);
        int k = 0;
        const char *key;
        json_t *x;
        json_object_foreach(all, key, x) h->names[k++] = strdup(key);
        qsort(h->names, (size_t)h->n, sizeof *h->names, by_string);
        h->v = malloc((size_t)h->runs * h->n * sizeof *h->v);
        h->rev = calloc((size_t)h->runs, sizeof *h->rev);
        h->date = calloc((size_t)h->runs, sizeof *h->date);
        for (int r = 0; r < h->runs; r++) {
            json_t *run = json_array_get(runs, (size_t)r), *figs = json_object_get(run, "figures");
            snprintf(h->rev[r], sizeof h->rev[r], "%.7s", json_string_value(json_object_get(run, "revision")));
            snprintf(h->date[r], sizeof h->date[r], "%s", json_string_value(json_object_get(run, "date")) ?: "");
            for (int f = 0; f < h->n; f++) {
                json_t *x = json_object_get(figs, h->names[f]);
                h->v[(size_t)r * h->n + f] = json_is_number(x) ? json_number_value(x) : NAN;
            }
        }
    }
    json_decref(runs);
    json_decref(all);
    if (rc != 0) history_free(h);
    return rc;
}

static int panel_order(const void *a, const void *b)
{
    const panel *p = a, *q = b;
    int c = strcmp(p->file, q->file);
    if (c) return c;
    if (p->ratio != q->ratio) return q->ratio - p->ratio; /* within-run ratios first: what the gate watches */
    return strcmp(p->leaf, q->leaf);
}

/* Panels of every result file, sorted by file, ratios first, then by figure kind. */
static panel *make_panels(const history *h, int *n_panels)
{
    panel *ps = calloc((size_t)h->n, sizeof *ps);
    int np = 0;
    for (int f = 0; f < h->n; f++) {
        char file[128], variant[128], leaf[128];
        split_name(h->names[f], file, variant, leaf, sizeof file);
        int p = 0;
        while (p < np && (strcmp(ps[p].file, file) || strcmp(ps[p].leaf, leaf))) p++;
        if (p == np) {
            snprintf(ps[p].file, sizeof ps[p].file, "%s", file);
            snprintf(ps[p].leaf, sizeof ps[p].leaf, "%s", leaf);
            ps[p].ratio = figure_is_ratio(leaf);
            ps[p].figs = malloc((size_t)h->n * sizeof(int));
            np++;
        }
        ps[p].figs[ps[p].n_figs++] = f;
    }
    qsort(ps, (size_t)np, sizeof *ps, panel_order);
    *n_panels = np;
    return ps;
}

/* ---- plots ---- */

/* file names keep [A-Za-z0-9_-] */
static void sanitize(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) *s = '_';
}

/* The variants' common leading components ("formats."), which say nothing in a key: their length. */
static size_t common_prefix(const history *h, const panel *p)
{
    if (p->n_figs < 2) return 0;
    char file[128], first[128], variant[128], leaf[128];
    split_name(h->names[p->figs[0]], file, first, leaf, sizeof file);
    size_t n = strlen(first);
    for (int k = 1; k < p->n_figs; k++) {
        split_name(h->names[p->figs[k]], file, variant, leaf, sizeof file);
        size_t i = 0;
        while (i < n && first[i] == variant[i]) i++;
        n = i;
    }
    while (n && first[n - 1] != '.') n--; /* whole components only; what is left of each variant is non-empty */
    return n;
}

/* The multiplot body for panels [p0, p1) of one file (gnuplot_terminals writes it once per terminal). */
static void plot_body(FILE *f, const history *h, const panel *ps, int p0, int p1, const char *base, int cols, int rows)
{
    char quoted[600];
    gnuplot_quote(quoted, sizeof quoted, ps[p0].file);
    fprintf(f, "set multiplot layout %d,%d title %s.\" across revisions (history order)\"\n", rows, cols, quoted);
    int block = 0, n_seen = 0;
    char seen[64][128]; /* variants in order of appearance: one colour per variant across the panels */
    for (int p = p0; p < p1; p++) {
        char title[400];
        const char *one = h->names[ps[p].figs[0]], *after_file = strchr(one, '.') ? strchr(one, '.') + 1 : one;
        snprintf(title, sizeof title, "%s%s", ps[p].n_figs == 1 ? after_file : ps[p].leaf, ps[p].ratio ? " (within-run ratio)" : "");
        gnuplot_quote(quoted, sizeof quoted, title);
        fprintf(f, "set title %s\n", quoted);
        fprintf(f, ps[p].n_figs == 1 ? "unset key\n" : "set key outside right top font \",7\" spacing 0.9\n");
        /* a y range of at least +-2% around the values: noise in the fourth digit must not fill a panel */
        double lo = INFINITY, hi = -INFINITY;
        for (int k = 0; k < ps[p].n_figs; k++)
            for (int r = 0; r < h->runs; r++) {
                double x = h->v[(size_t)r * h->n + ps[p].figs[k]];
                if (!isnan(x)) lo = fmin(lo, x), hi = fmax(hi, x);
            }
        double mid = 0.5 * (lo + hi), half = fmax(0.5 * (hi - lo), 0.02 * fabs(mid));
        if (isfinite(mid) && half > 0) fprintf(f, "set yrange [%.9g:%.9g]\n", mid - 1.2 * half, mid + 1.2 * half);
        else fprintf(f, "set yrange [*:*]\n");
        fprintf(f, "plot");
        size_t common = common_prefix(h, &ps[p]);
        for (int k = 0; k < ps[p].n_figs; k++, block++) {
            char file[128], variant[128], leaf[128];
            split_name(h->names[ps[p].figs[k]], file, variant, leaf, sizeof file);
            gnuplot_quote(quoted, sizeof quoted, *variant ? variant + common : leaf);
            int c = 0;
            while (c < n_seen && strcmp(seen[c], variant)) c++;
            if (c == n_seen && n_seen < 64) snprintf(seen[n_seen++], sizeof seen[0], "%s", variant);
            /* 20 colours, then the same dashed; point shapes cycle on their own */
            fprintf(f, "%s '%s.dat' index %d using 1:2 with linespoints lw 2 lc rgb '#%06x' dt %d pt %d ps 0.8 title %s",
                    k ? ", \\\n    " : " ", base, block, gnuplot_colour(c), c / 20 % 3 + 1, c % 6 + 4, quoted);
        }
        fputc('\n', f);
    }
    fprintf(f, "unset multiplot\n");
}

static int file_plot(const history *h, const panel *ps, int p0, int p1, const char *out_dir, int gnuplot, char *base,
                     size_t base_n, cpet_err *err)
{
    snprintf(base, base_n, "history_%.100s", ps[p0].file);
    sanitize(base);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.dat", out_dir, base);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    /* one block per figure, in panel order: run index, value (runs without the figure are left out) */
    int block = 0;
    for (int p = p0; p < p1; p++)
        for (int k = 0; k < ps[p].n_figs; k++) {
            int f = ps[p].figs[k];
            fprintf(af.fp, "%s# %s\n", block++ ? "\n\n" : "", h->names[f]);
            for (int r = 0; r < h->runs; r++) {
                double x = h->v[(size_t)r * h->n + f];
                if (isfinite(x)) fprintf(af.fp, "%d\t%.9g\t%s\n", r, x, h->rev[r]);
            }
        }
    if (atomic_commit(&af, err) != 0) return -1;

    int n = p1 - p0, cols = n < 3 ? n : 3, rows = (n + cols - 1) / cols;
    int width = cols * 560, height = rows * 340 + 40;
    snprintf(path, sizeof path, "%s/%s.gp", out_dir, base);
    if (atomic_open(&af, path, err) != 0) return -1;
    fprintf(af.fp, "# cpet bench history: the %s figures across revisions (x: runs in history order), from %s.dat\n",
            ps[p0].file, base);
    fprintf(af.fp, "set datafile separator \"\\t\"\nset grid\nset xrange [-0.5:%d.5]\nset xtics rotate by 45 right (", h->runs - 1);
    int every = (h->runs + MAX_XLABELS - 1) / MAX_XLABELS;
    for (int r = 0, first = 1; r < h->runs; r++)
        if (r % every == 0 || r == h->runs - 1) {
            char label[40];
            gnuplot_quote(label, sizeof label, h->rev[r]);
            fprintf(af.fp, "%s%s %d", first ? "" : ", ", label, r);
            first = 0;
        }
    fprintf(af.fp, ")\n");
    char *body = NULL;
    size_t body_len = 0;
    FILE *bf = open_memstream(&body, &body_len);
    plot_body(bf, h, ps, p0, p1, base, cols, rows);
    fclose(bf);
    gnuplot_terminals(af.fp, width, height, body);
    free(body);
    if (atomic_commit(&af, err) != 0) return -1;
    return gnuplot ? gnuplot_run(out_dir, base, err) : 0;
}

/* ---- Markdown ---- */

static void md_value(FILE *f, double x)
{
    if (isfinite(x)) fprintf(f, " %.4g |", x);
    else fprintf(f, " – |");
}

static int write_table(const history *h, const panel *ps, int np, const char *history_path, const char *out_dir, cpet_err *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/history.md", out_dir);
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *f = af.fp;
    int r0 = h->runs > TABLE_RUNS ? h->runs - TABLE_RUNS : 0;
    fprintf(f, "# Benchmark history\n\nFrom `%s`: %d runs; the last %d are shown (oldest left). Change: the last run "
               "against the run before it. Within-run ratios (fraction, ratio, speedup) are what `bench-compare` gates on "
               "by default.\n\n",
            history_path, h->runs, h->runs - r0);
    fprintf(f, "| run | revision | date |\n|---:|---|---|\n");
    for (int r = r0; r < h->runs; r++) fprintf(f, "| %d | `%s` | %s |\n", r + 1, h->rev[r], h->date[r]);
    for (int p = 0; p < np; p++) {
        if (p == 0 || strcmp(ps[p].file, ps[p - 1].file)) {
            fprintf(f, "\n## %s\n\n| figure |", ps[p].file);
            for (int r = r0; r < h->runs; r++) fprintf(f, " `%s` |", h->rev[r]);
            fprintf(f, " change |\n|---|");
            for (int r = r0; r <= h->runs; r++) fprintf(f, "---:|");
            fputc('\n', f);
        }
        for (int k = 0; k < ps[p].n_figs; k++) {
            int fig = ps[p].figs[k];
            fprintf(f, "| %s%s |", h->names[fig], ps[p].ratio ? " (ratio)" : "");
            for (int r = r0; r < h->runs; r++) md_value(f, h->v[(size_t)r * h->n + fig]);
            double last = h->v[(size_t)(h->runs - 1) * h->n + fig], prev = NAN;
            for (int r = h->runs - 2; r >= 0 && !isfinite(prev); r--) prev = h->v[(size_t)r * h->n + fig];
            if (isfinite(last) && isfinite(prev) && prev != 0) fprintf(f, " %+.1f%% |\n", 100 * (last - prev) / fabs(prev));
            else fprintf(f, " – |\n");
        }
    }
    return atomic_commit(&af, err);
}

int history_render(const char *history_path, const char *out_dir, cpet_err *err)
{
    history h;
    if (history_load(&h, history_path, err) != 0) return -1;
    if (make_dirs(out_dir, err) != 0) {
        history_free(&h);
        return -1;
    }
    int np, rc = 0, gnuplot = gnuplot_available();
    panel *ps = make_panels(&h, &np);
    char *index = NULL;
    size_t index_len = 0;
    FILE *idx = open_memstream(&index, &index_len);
    fprintf(idx, "# Benchmark history\n\nRendered from `%s` (%d runs, `%s` .. `%s`); each plot is one result file, a panel "
                 "per figure kind, runs on x in history order. Values: [history.md](history.md).\n\n",
            history_path, h.runs, h.rev[0], h.rev[h.runs - 1]);
    if (!gnuplot) fprintf(idx, "Plots skipped: gnuplot is not on PATH; `gnuplot history_*.gp` renders them.\n\n");
    for (int p0 = 0, p1; p0 < np && rc == 0; p0 = p1) {
        for (p1 = p0 + 1; p1 < np && !strcmp(ps[p1].file, ps[p0].file);) p1++;
        char base[160];
        rc = file_plot(&h, ps, p0, p1, out_dir, gnuplot, base, sizeof base, err);
        fprintf(idx, "## %s\n\n", ps[p0].file);
        if (gnuplot) fprintf(idx, "![%s](%s.png)\n\n[svg](%s.svg) · [script](%s.gp) · [data](%s.dat)\n\n", ps[p0].file, base, base, base, base);
        else fprintf(idx, "[script](%s.gp) · [data](%s.dat)\n\n", base, base);
    }
    fclose(idx);
    if (rc == 0) rc = write_table(&h, ps, np, history_path, out_dir, err);
    if (rc == 0) {
        char path[4300];
        snprintf(path, sizeof path, "%s/index.md", out_dir);
        atomic_file af;
        rc = atomic_open(&af, path, err);
        if (rc == 0) {
            fwrite(index, 1, index_len, af.fp);
            rc = atomic_commit(&af, err);
        }
    }
    free(index);
    for (int p = 0; p < np; p++) free(ps[p].figs);
    free(ps);
    history_free(&h);
    return rc;
}
