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
    const char *spec_path = NULL, *out = NULL, *profile = NULL, *shard = NULL;
    run_options o = {0};
    o.progress = stderr_is_tty();
    const opt opts[] = {
        OPT_POSITIONAL(&spec_path, "SPEC.json", "the study: models x compressions x methods x tasks x seeds"),
        OPT_STRING("-o", &out, "runs/NAME", "the run's directory (records.jsonl, spec.json, examples/); required unless --dry-run"),
        OPT_STRING("--profile", &profile, "NAME", "run the spec's reduced budget of that name (quick)"),
        OPT_SWITCH("--dry-run", &o.dry_run, "list the cells and what is recorded; run nothing"),
        OPT_STRING("--only", &o.only, "3,5-7", "only these cell indices"),
        OPT_REPEAT("--filter", o.filters, &o.n_filters, 8, "TEXT", "only cells whose description contains TEXT"),
        OPT_STRING("--shard", &shard, "I/N", "only shard I of N (a stable partition by cell hash), into records.shard-I-of-N.jsonl"),
        OPT_INT32("--jobs", &o.jobs, 1, 256, "cells at once (a work queue; this process alone writes the records)"),
        OPT_SWITCH("--retry-failed", &o.retry_failed, "run failed cells again"),
        OPT_SWITCH("--repair", &o.repair, "set aside a torn last record line"),
        OPT_END};
    const opt_command cmd = {
        .name = "run",
        .about = "Expands models x compressions x methods x tasks x seeds and runs every cell in its own process,\n"
                 "appending one JSON record per cell to runs/NAME/records.jsonl (metrics, timings, peak RSS, config\n"
                 "hash, version, git revision, host). Recorded cells are skipped, so a killed run resumes; failed\n"
                 "cells are recorded and the run goes on. `cpet merge` joins shards. Per-example outputs go to\n"
                 "runs/NAME/examples/<hash>.jsonl.\n\n"
                 "Spec: {\"name\", \"models\": [dir...], \"compressions\": [\"none\"], \"methods\": [name | {\"name\",\n"
                 "\"label\", params...}], \"tasks\": [file.jsonl | {\"name\", \"file\", \"train_split\", \"eval_split\",\n"
                 "\"limit\"}], \"seeds\": [0, 1, 2], \"threads\": 2, \"profiles\": {NAME: {\"compressions\", \"methods\", \"tasks\":\n"
                 "[labels kept], \"seeds\": [...], \"method_params\": {key: value}}}}. The run's spec.json records the\n"
                 "profile, so reports and merges see the same cells.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p == OPT_HELP) {
        printf("\nmethods (their parameters are a spec's method keys; `cpet method NAME --help` shows them as flags):\n");
        print_methods();
    }
    if (p != OPT_OK) return cli_exit_status(p);
    if (shard) {
        cpet_err e;
        if (parse_shard(shard, &o.shard, &o.n_shards, &e) != 0) return cli_report(&e);
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
    const char *run_dir = NULL, *out = NULL, *history = NULL, *pretrain = NULL, *by = NULL;
    report_options o = {0};
    o.metric = "acc";
    opt run_arg = OPT_POSITIONAL(&run_dir, "runs/NAME", "the run whose records are rendered");
    run_arg.required = 0; /* --history and --pretrain render other inputs */
    const opt opts[] = {
        run_arg,
        OPT_STRING("-o", &out, "DIR", "where tables, plots and index.md go (required)"),
        OPT_STRING("--metric", &o.metric, "M[,M...]", "the metrics, one table each (the first is table.*)"),
        OPT_STRING("--task", &o.task, "NAME", "only that task's cells (one dataset of a spec with several)"),
        OPT_STRING("--baseline", &o.baseline, "LABEL", "compare every row with that row, paired (same examples, same seeds): "
                                                       "bootstrap 95% CI over examples and seeds, McNemar's exact p for accuracy"),
        OPT_REPEAT("--scatter", o.scatter, &o.n_scatter, 8, "X,Y", "a scatter of two metrics (row averages) with the Pareto front"),
        OPT_STRING("--overlay", &o.overlay, "Y1,Y2", "curve Y1 (left axis) and Y2 (right, dashed) per row, mean over seeds"),
        OPT_STRING("--by-index", &o.by_index, "P", "metrics P0, P1, ... against the index per row (e.g. sparsity_layer_)"),
        OPT_STRING("--by", &by, "compression", "one report per compression in OUT/<compression>/, with OUT/index.md"),
        OPT_STRING("--upper", &o.upper, "LABEL", "with --by: the upper bound's row (e.g. LLM+LoRA uncompressed)"),
        OPT_STRING("--highlight", &o.highlight, "LABEL", "with --by: the method the findings are about"),
        OPT_STRING("--also", &o.carried, "LABEL", "with --by: a method's points shown beside them (the adapter untrained)"),
        OPT_SWITCH("--lower-is-better", &o.lower_is_better, "the metric is better lower"),
        OPT_SWITCH("--no-plots", &o.no_plots, "tables only"),
        OPT_STRING("--history", &history, "FILE", "plot every benchmark figure of bench/history.jsonl over revisions"),
        OPT_STRING("--pretrain", &pretrain, "FILE", "render a pretrain.json (cpet pretrain) as DIR/pretrain.md"),
        OPT_END};
    const opt_command cmd = {
        .name = "report",
        .usage = "runs/NAME -o reports/NAME [options] | --history FILE -o DIR | --pretrain FILE -o DIR",
        .about = "Renders tables (CSV, JSON, Markdown: rows = methods, columns = tasks + average, mean +- 95% CI\n"
                 "over seeds, best per column marked, n = examples x seeds) and gnuplot plots (PNG + SVG, scripts\n"
                 "and data kept beside them) from the records of the run's spec.json cells only: records of other\n"
                 "configurations are ignored and counted as stale. --by compression's index.md holds average accuracy per\n"
                 "method and compression with bytes, highlight - baseline and upper - baseline paired, the share of that\n"
                 "gap closed, and a finding per compression written from those numbers.\n",
        .after = "Without gnuplot the tables are still written and the plots are reported as skipped.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    if (by) {
        if (strcmp(by, "compression") != 0) return cli_error("report: --by '%s': only 'compression' is supported", by);
        o.by_compression = 1;
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
    const opt opts[] = {{.name = "", .type = OPT_T_REPEAT, .dst = runs, .count = &n, .hi = 256, .metavar = "RUN...", .help = "runs of one spec"},
                        OPT_OUT(&out),
                        OPT_END};
    const opt_command cmd = {
        .name = "merge",
        .usage = "RUN... -o RUN",
        .about = "Merges runs of one spec (typically its shards: `cpet run SPEC --shard I/N`) into one run: every\n"
                 "records*.jsonl of each RUN, deduplicated by cell hash (an ok record beats a failed one, then the\n"
                 "later wins), written to OUT/records.jsonl with spec.json and the per-example files. Two ok records\n"
                 "of one cell with different results are reported as conflicts. Runs of different specs are refused.\n"
                 "OUT may be one of the RUNs (shards that shared a directory merge in place).\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    if (!n || !out) return cli_error("merge: RUN... and -o RUN are required");
    merge_summary sum;
    cpet_err err;
    if (runs_merge(runs, n, out, stderr, &sum, &err) != 0) return cli_report(&err);
    fprintf(stderr, "merge: %d records from %d run%s -> %d of %d cells in %s/records.jsonl (%d duplicates, %d conflicts; %d stale records kept, reports ignore them)\n",
            sum.records_in, n, n == 1 ? "" : "s", sum.merged, sum.cells, out, sum.duplicates, sum.conflicts, sum.stale);
    return 0;
}
