/* cpet run / report: the matrix harness. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "matrix.h"
#include "history.h"
#include "merge.h"
#include "pretrain_report.h"
#include "report.h"
#include "spec.h"

static const char *param_type_name(param_type t)
{
    return t == PARAM_INT ? "int" : t == PARAM_NUMBER ? "number" : t == PARAM_STRING ? "string" : t == PARAM_BOOL ? "bool" : "[string]";
}

static void print_methods(void)
{
    for (int i = 0; i < method_registry_size; i++) {
        const method *m = method_registry[i];
        printf("  %-10s %s\n", m->name, m->doc);
        for (int p = 0; p < m->n_params; p++)
            printf("      %-13s %-8s %s (default %s)\n", m->params[p].key, param_type_name(m->params[p].type), m->params[p].doc,
                   m->params[p].default_json);
    }
}

int cmd_run(int argc, char **argv)
{
    const char *spec_path = NULL, *out = NULL, *profile = NULL;
    run_options o = {0};
    o.progress = stderr_is_tty();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet run SPEC.json -o runs/NAME [--profile NAME] [--dry-run] [--only 3,5-7] [--filter TEXT]...\n"
                   "                [--shard I/N] [--jobs N] [--retry-failed] [--repair]\n\n"
                   "Expands models x compressions x methods x tasks x seeds and runs every cell in its own process,\n"
                   "appending one JSON record per cell to runs/NAME/records.jsonl (metrics, timings, peak RSS, config\n"
                   "hash, version, git revision, host). Recorded cells are skipped, so a killed run resumes; failed\n"
                   "cells are recorded and the run goes on (--retry-failed runs them again). --repair sets aside a\n"
                   "torn last record line. --shard I/N runs only the cells of shard I (1..N, a stable partition by cell\n"
                   "hash) into runs/NAME/records.shard-I-of-N.jsonl, so N processes or machines can share the run;\n"
                   "`cpet merge` joins them. --jobs N runs N cells at once (a work queue: the next cell starts when one\n"
                   "ends; this process alone writes the records). Per-example outputs go to runs/NAME/examples/<hash>.jsonl.\n\n"
                   "Spec: {\"name\", \"models\": [dir...], \"compressions\": [\"none\"], \"methods\": [name | {\"name\",\n"
                   "\"label\", params...}], \"tasks\": [file.jsonl | {\"name\", \"file\", \"train_split\", \"eval_split\",\n"
                   "\"limit\"}], \"seeds\": [0, 1, 2], \"threads\": 2, \"profiles\": {NAME: {\"compressions\", \"methods\", \"tasks\":\n"
                   "[labels kept], \"seeds\": [...], \"method_params\": {key: value}}}}. --profile NAME runs that reduced budget\n"
                   "(the run's spec.json records it, so reports and merges see the same cells).\n\nmethods:\n");
            print_methods();
            return 0;
        }
        if (strcmp(a, "-o") == 0) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--profile") == 0) {
            if (!(profile = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--dry-run") == 0) o.dry_run = 1;
        else if (strcmp(a, "--retry-failed") == 0) o.retry_failed = 1;
        else if (strcmp(a, "--repair") == 0) o.repair = 1;
        else if (strcmp(a, "--shard") == 0) {
            const char *v = cli_value(argc, argv, &i);
            cpet_err e;
            if (!v) return 1;
            if (parse_shard(v, &o.shard, &o.n_shards, &e) != 0) return cli_report(&e);
        }
        else if (strcmp(a, "--jobs") == 0) {
            long jobs = 0;
            if (cli_int(a, cli_value(argc, argv, &i), 1, 256, &jobs) != 0) return 1;
            o.jobs = (int)jobs;
        } else if (strcmp(a, "--only") == 0) {
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
    if (spec_load_profile(&s, spec_path, profile, &err) != 0) return cli_report(&err);
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
    const char *run_dir = NULL, *out = NULL, *history = NULL, *pretrain = NULL;
    report_options o = {0};
    o.metric = "acc";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet report runs/NAME -o reports/NAME [--metric acc[,perplexity,...]] [--baseline LABEL] [--task NAME]\n"
                   "                  [--scatter X,Y]... [--overlay Y1,Y2] [--by-index PREFIX] [--lower-is-better] [--no-plots]\n"
                   "                  [--by compression --upper LABEL --baseline LABEL [--highlight LABEL] [--also LABEL]]\n"
                   "       cpet report --history bench/history.jsonl -o reports/bench-history\n"
                   "       cpet report --pretrain runs/default/model/pretrain.json -o reports/default\n\n"
                   "Renders tables (CSV, JSON, Markdown: rows = methods, columns = tasks + average, mean +- 95%% CI\n"
                   "over seeds, best per column marked, n = examples x seeds) and gnuplot plots (PNG + SVG, scripts\n"
                   "and data kept beside them) from the records of the run's spec.json cells only: records of other\n"
                   "configurations are ignored and counted as stale.\n"
                   "--task NAME      only that task's cells (one dataset of a spec with several)\n"
                   "--baseline LABEL  compare every row with that row, paired (same examples, same seeds): the\n"
                   "                  difference with a paired bootstrap 95%% CI over examples and seeds (10k\n"
                   "                  resamples, fixed seed), McNemar's exact p for accuracy; paired*.csv and plots.\n"
                   "--scatter X,Y     a scatter of two metrics (row averages) with the Pareto front drawn.\n"
                   "--overlay Y1,Y2   one plot of recorded curve Y1 (left axis) and Y2 (right axis, dashed) per row, mean\n"
                   "                  over seeds, from the first task holding them (e.g. sparsity and lambda per step).\n"
                   "--by-index P      one plot of metrics P0, P1, ... against the index per row (e.g. sparsity_layer_).\n"
                   "--by compression  one report per compression in OUT/<compression>/ (rows: its methods, plus the\n"
                   "                  rows of the compression holding --upper, e.g. LLM+LoRA uncompressed), each\n"
                   "                  compared with its --baseline row; OUT/index.md: average accuracy per method and\n"
                   "                  compression with bytes, --highlight - baseline and upper - baseline paired (the\n"
                   "                  task average, bootstrap CI), the share of that gap closed, a finding per\n"
                   "                  compression written from those numbers; plots: per compression (--also adds a\n"
                   "                  method's points, e.g. the adapter untrained) and accuracy against bytes (Pareto).\n"
                   "--history FILE    plot every benchmark figure of bench/history.jsonl over revisions.\n"
                   "--pretrain FILE   render a pretrain.json (cpet pretrain) as DIR/pretrain.md.\n"
                   "Without gnuplot the tables are still written and the plots are reported as skipped.\n");
            return 0;
        }
        if (strcmp(a, "-o") == 0) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--metric") == 0) {
            if (!(o.metric = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--task") == 0) {
            if (!(o.task = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--baseline") == 0) {
            if (!(o.baseline = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--scatter") == 0) {
            if (o.n_scatter == 8) return cli_error("report: at most 8 --scatter options");
            if (!(o.scatter[o.n_scatter++] = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--overlay") == 0) {
            if (!(o.overlay = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--by-index") == 0) {
            if (!(o.by_index = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--history") == 0) {
            if (!(history = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--pretrain") == 0) {
            if (!(pretrain = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--by") == 0) {
            const char *by = cli_value(argc, argv, &i);
            if (!by) return 1;
            if (strcmp(by, "compression") != 0) return cli_error("report: --by '%s': only 'compression' is supported", by);
            o.by_compression = 1;
        } else if (strcmp(a, "--upper") == 0) {
            if (!(o.upper = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--highlight") == 0) {
            if (!(o.highlight = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--also") == 0) {
            if (!(o.carried = cli_value(argc, argv, &i))) return 1;
        } else if (strcmp(a, "--lower-is-better") == 0) o.lower_is_better = 1;
        else if (strcmp(a, "--no-plots") == 0) o.no_plots = 1;
        else if (a[0] == '-') return cli_error("report: unknown option %s", a);
        else run_dir = a;
    }
    cpet_err err;
    if (history) {
        if (!out) return cli_error("report: --history FILE needs -o DIR");
        if (history_render(history, out, &err) != 0) return cli_report(&err);
        fprintf(stderr, "report -> %s/index.md\n", out);
        return 0;
    }
    if (pretrain) {
        if (!out) return cli_error("report: --pretrain FILE needs -o DIR");
        if (pretrain_report(pretrain, out, &err) != 0) return cli_report(&err);
        fprintf(stderr, "report -> %s/pretrain.md\n", out);
        return 0;
    }
    if (!run_dir || !out) return cli_error("report: runs/NAME and -o reports/NAME are required");
    report_summary sum;
    if (report_render(run_dir, out, &o, &sum, &err) != 0) return cli_report(&err);
    if (sum.plots_skipped && !o.no_plots) fprintf(stderr, "report: gnuplot not found, plots skipped (tables written)\n");
    if (sum.stale) fprintf(stderr, "report: %d stale records ignored (configs not in %s/spec.json)\n", sum.stale, run_dir);
    if (sum.failed || sum.missing) fprintf(stderr, "report: %d cells failed, %d not run\n", sum.failed, sum.missing);
    fprintf(stderr, "report -> %s/index.md\n", out);
    return 0;
}

int cmd_merge(int argc, char **argv)
{
    const char *runs[256], *out = NULL;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: cpet merge RUN... -o RUN\n"
                   "Merges runs of one spec (typically its shards: `cpet run SPEC --shard I/N`) into one run: every\n"
                   "records*.jsonl of each RUN, deduplicated by cell hash (an ok record beats a failed one, then the\n"
                   "later wins), written to OUT/records.jsonl with spec.json and the per-example files. Two ok records\n"
                   "of one cell with different results are reported as conflicts. Runs of different specs are refused.\n"
                   "OUT may be one of the RUNs (shards that shared a directory merge in place).\n");
            return 0;
        }
        if (strcmp(a, "-o") == 0) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (a[0] == '-') return cli_error("merge: unknown option %s", a);
        else if (n == 256) return cli_error("merge: at most 256 runs");
        else runs[n++] = a;
    }
    if (!n || !out) return cli_error("merge: RUN... and -o RUN are required");
    merge_summary sum;
    cpet_err err;
    if (runs_merge(runs, n, out, stderr, &sum, &err) != 0) return cli_report(&err);
    fprintf(stderr, "merge: %d records from %d run%s -> %d of %d cells in %s/records.jsonl (%d duplicates, %d conflicts; %d stale records kept, reports ignore them)\n",
            sum.records_in, n, n == 1 ? "" : "s", sum.merged, sum.cells, out, sum.duplicates, sum.conflicts, sum.stale);
    return 0;
}
