#include "report.h"

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

/* ---- which records count ---- */

static void run_view_free(run_view *v)
{
    cells_free(v->cells, v->n_all_cells > v->n_cells ? v->n_all_cells : v->n_cells);
    spec_free(&v->s);
    free(v->latest);
    free(v->row);
    free(v->col);
    json_decref(v->records);
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

/* A row's label names only what varies across rows: the model's directory, the compression, the method. */
static void label_rows(table *t)
{
    int models = 0, comps = 0, methods = 0;
    for (int i = 0; i < t->n_rows; i++) {
        int new_model = 1, new_comp = 1, new_method = 1;
        for (int j = 0; j < i; j++) {
            new_model &= strcmp(t->rows[i].model, t->rows[j].model) != 0;
            new_comp &= strcmp(t->rows[i].compression, t->rows[j].compression) != 0;
            new_method &= strcmp(t->rows[i].method, t->rows[j].method) != 0;
        }
        models += new_model;
        comps += new_comp;
        methods += new_method;
    }
    for (int i = 0; i < t->n_rows; i++) {
        row_info *r = &t->rows[i];
        char buf[1400] = "";
        if (models > 1) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s / ", path_base(r->model));
        if (comps > 1) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s / ", r->compression);
        if (methods > 1 || (models < 2 && comps < 2)) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", r->method);
        else buf[strlen(buf) - 3] = 0;
        snprintf(r->label, sizeof r->label, "%s", buf);
    }
}

/* The current spec's cells, the latest record of each, the stale count, and the table's rows and
 * columns; refuses cells that would be pooled into one table cell. */
static int run_view_load(run_view *v, table *layout, const char *run_dir, const char *task, cpet_err *err)
{
    memset(v, 0, sizeof *v);
    v->run_dir = run_dir;
    char path[4400];
    snprintf(path, sizeof path, "%s/spec.json", run_dir);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing (a run directory keeps the spec it ran; run `cpet run SPEC -o %s`)", path, run_dir);
    if (spec_load(&v->s, path, err) != 0) return -1;
    v->cells = spec_expand(&v->s, &v->n_cells);
    v->records = run_records_read(run_dir, NULL, 0, err);
    if (!v->records) return -1;
    v->latest = records_by_cell(v->records, v->cells, v->n_cells, &v->stale);
    v->row = calloc((size_t)v->n_cells + 1, sizeof *v->row);
    v->col = calloc((size_t)v->n_cells + 1, sizeof *v->col);
    if (!v->latest || !v->row || !v->col) return cpet_fail(err, "out of memory indexing %d cells", v->n_cells);
    v->n_all_cells = v->n_cells;
    if (task) { /* one task's cells first, the others kept only to be freed */
        int kept = 0;
        for (int k = 0; k < v->n_cells; k++) {
            if (strcmp(v->cells[k].task->name, task) != 0) continue;
            const cell c = v->cells[kept];
            const json_t *l = v->latest[kept];
            v->cells[kept] = v->cells[k], v->latest[kept] = v->latest[k];
            v->cells[k] = c, v->latest[k] = l;
            kept++;
        }
        if (!kept) return cpet_fail(err, "%s: --task '%s': no cell of the spec has that task", run_dir, task);
        v->n_cells = kept;
    }
    for (int k = 0; k < v->n_cells; k++) {
        const cell *c = &v->cells[k];
        v->row[k] = find_or_add_row(layout, c->model, c->compression, c->method->label);
        v->col[k] = find_or_add_col(layout, c->task->name);
        if (v->row[k] < 0 || v->col[k] < 0) return cpet_fail(err, "report: more than %d rows or %d columns", MAX_ROWS, MAX_COLS);
    }
    label_rows(layout);
    for (int a = 0; a < v->n_cells; a++)
        for (int b = 0; b < a; b++) {
            const cell *x = &v->cells[a], *y = &v->cells[b];
            if (x->seed != y->seed || strcmp(layout->cols[v->col[a]], layout->cols[v->col[b]]) != 0 ||
                strcmp(layout->rows[v->row[a]].label, layout->rows[v->row[b]].label) != 0)
                continue;
            return cpet_fail(err, "report: cells %d (%s, task file %s, hash %s) and %d (%s, task file %s, hash %s) have different "
                                  "configs but share row '%s', column '%s' and seed %lld: give them distinct labels or task names",
                             y->index, y->key, y->task->file, y->config_hash, x->index, x->key, x->task->file, x->config_hash,
                             layout->rows[v->row[a]].label, layout->cols[v->col[a]], (long long)x->seed);
        }
    return 0;
}

int report_render(const char *run_dir, const char *out_dir, const report_options *o, report_summary *sum, cpet_err *err)
{
    run_view view;
    table *layout = calloc(1, sizeof *layout);
    int rc = layout ? run_view_load(&view, layout, run_dir, o->task, err) : cpet_fail(err, "out of memory");
    if (rc == 0) rc = o->by_compression ? report_render_groups(&view, layout, out_dir, o, sum, err)
                                        : report_render_view(&view, layout, out_dir, NULL, o, sum, NULL, err);
    free(layout);
    run_view_free(&view);
    return rc;
}
