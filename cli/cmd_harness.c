/* cpet run / report: the matrix harness. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "matrix.h"
#include "report.h"
#include "spec.h"

static void print_methods(void)
{
    for (int i = 0; i < spec_n_methods; i++) {
        printf("  %-10s %s\n", spec_methods[i].name, spec_methods[i].summary);
        for (int p = 0; p < spec_methods[i].n_params; p++)
            printf("      %-13s %s (default %s)\n", spec_methods[i].params[p].key, spec_methods[i].params[p].help,
                   spec_methods[i].params[p].default_json);
    }
}

int cmd_run(int argc, char **argv)
{
    const char *spec_path = NULL, *out = NULL;
    run_options o = {0};
    o.progress = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet run SPEC.json -o runs/NAME [--dry-run] [--only 3,5-7] [--filter TEXT]...\n"
                   "                [--retry-failed] [--repair]\n\n"
                   "Expands models x compressions x methods x tasks x seeds and runs every cell in its own process,\n"
                   "appending one JSON record per cell to runs/NAME/records.jsonl (metrics, timings, peak RSS, config\n"
                   "hash, version, git revision, host). Recorded cells are skipped, so a killed run resumes; failed\n"
                   "cells are recorded and the run goes on (--retry-failed runs them again). --repair sets aside a\n"
                   "torn last record line.\n\n"
                   "Spec: {\"name\", \"models\": [dir...], \"compressions\": [\"none\"], \"methods\": [name | {\"name\",\n"
                   "\"label\", params...}], \"tasks\": [file.jsonl | {\"name\", \"file\", \"train_split\", \"eval_split\",\n"
                   "\"limit\"}], \"seeds\": [0, 1, 2], \"threads\": 2}\n\nmethods:\n");
            print_methods();
            return 0;
        }
        if (strcmp(a, "-o") == 0) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--dry-run") == 0) o.dry_run = 1;
        else if (strcmp(a, "--retry-failed") == 0) o.retry_failed = 1;
        else if (strcmp(a, "--repair") == 0) o.repair = 1;
        else if (strcmp(a, "--only") == 0) {
            if (!(o.only = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--filter") == 0) {
            if (o.n_filters == 8) return cli_error("run: at most 8 --filter options");
            if (!(o.filters[o.n_filters++] = cli_value(argc, argv, &i))) return 1;
        } else if (a[0] == '-') return cli_error("run: unknown option %s", a);
        else spec_path = a;
    }
    if (!spec_path || (!out && !o.dry_run)) return cli_error("run: SPEC.json and -o runs/NAME are required");
    spec s;
    cpet_err err;
    if (spec_load(&s, spec_path, &err) != 0) return cli_report(&err);
    json_t *facts = run_facts();
    int failed = 0;
    int rc = matrix_run(&s, spec_path, out ? out : ".", &o, facts, &failed, &err);
    json_decref(facts);
    spec_free(&s);
    if (rc != 0) return cli_report(&err);
    return failed ? 3 : 0; /* 3: the run finished but some cells failed (see their records) */
}

int cmd_report(int argc, char **argv)
{
    const char *run_dir = NULL, *out = NULL;
    report_options o = {"acc", 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet report runs/NAME -o reports/NAME [--metric acc] [--lower-is-better] [--no-plots]\n"
                   "Renders tables (CSV, JSON, Markdown: rows = methods, columns = tasks + average, mean +- 95%% CI\n"
                   "over seeds, best per column marked) and gnuplot plots (PNG + SVG, scripts kept beside them) from\n"
                   "the run's records alone, with an index.md linking everything. Without gnuplot the tables are\n"
                   "still written and the plots are reported as skipped.\n");
            return 0;
        }
        if (strcmp(a, "-o") == 0) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--metric") == 0) {
            if (!(o.metric = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--lower-is-better") == 0) o.lower_is_better = 1;
        else if (strcmp(a, "--no-plots") == 0) o.no_plots = 1;
        else if (a[0] == '-') return cli_error("report: unknown option %s", a);
        else run_dir = a;
    }
    if (!run_dir || !out) return cli_error("report: runs/NAME and -o reports/NAME are required");
    int skipped = 0;
    cpet_err err;
    if (report_render(run_dir, out, &o, &skipped, &err) != 0) return cli_report(&err);
    if (skipped) fprintf(stderr, "report: gnuplot not found, plots skipped (tables written)\n");
    fprintf(stderr, "report -> %s/index.md\n", out);
    return 0;
}

int cmd_merge(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("merge: not built yet");
}
