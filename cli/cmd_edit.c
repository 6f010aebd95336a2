/* cpet edit-reader: instruction-tune a model as EREN's reader on the world's train-split subjects
 * (datasets/editing.h), then measure it on dev-split subjects, kind by kind. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "corpus.h"
#include "cli.h"
#include "edit_eval.h"
#include "edit_reader.h"
#include "editing.h"
#include "fileio.h"
#include "finetune.h"
#include "gguf.h"
#include "method_door.h"
#include "methods/eren.h"
#include "train.h"

/* the world a directory holds: its world.json's seed and entity count (the scale) */
static int world_of_dir(const char *dir, world *w, uint64_t *seed, cpet_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/world.json", dir);
    json_t *j = json_read_file(path, err);
    if (!j) return -1;
    const json_t *s = json_object_get(j, "seed"), *n = json_object_get(j, "entities");
    world_sizes sizes = world_default_sizes();
    int total = 0;
    for (int t = 0; t < N_ENTITY_TYPES; t++) total += sizes.n_per_type[t];
    int rc = json_is_integer(s) && json_is_integer(n) && json_integer_value(n) % total == 0 && json_integer_value(n) > 0
                 ? 0
                 : cpet_fail(err, "%s: needs an integer 'seed' and 'entities' (a multiple of %d)", path, total);
    if (rc == 0) {
        const int scale = (int)(json_integer_value(n) / total);
        for (int t = 0; t < N_ENTITY_TYPES; t++) sizes.n_per_type[t] *= scale;
        *seed = (uint64_t)json_integer_value(s);
        rc = world_generate(w, *seed, sizes, err);
    }
    json_decref(j);
    return rc;
}

typedef struct {
    double t0;
} progress;

static void on_step(void *ctx, int step, int steps, double loss)
{
    progress *p = ctx;
    if (!stderr_is_tty() && step != steps) return;
    const double el = now_seconds() - p->t0;
    fprintf(stderr, "\rreader: step %d/%d  loss %.4f  ETA %.0fs   %s", step, steps, loss, el / step * (steps - step), step == steps ? "\n" : "");
}

/* The reader on dev subjects' examples: greedy exact match per kind, each answer given the room the longest
 * fixed answer needs (eren_answer_budget). {kind: {accuracy, n}}; one line on stdout. */
static int reader_dev_accuracy(model *m, const tokenizer *tok, const task_set *dev, int max_new, json_t **acc_out, cpet_err *err)
{
    enum { N_KINDS = 8 };
    static const char *const kinds[N_KINDS] = {"read", "decline", "closed_book", "one_step", "fc_read", "fc_decline", "fc_closed_book", "fc_one_step"};
    eren_model_reader reader = {m, tok, eren_answer_budget(tok, EREN_FC, max_new)};
    long right[N_KINDS] = {0}, total[N_KINDS] = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < dev->n; i++) {
        int kind = 0;
        while (kind < N_KINDS - 1 && strcmp(dev->items[i].task, kinds[kind])) kind++;
        char *output = NULL;
        if ((rc = eren_model_read(&reader, dev->items[i].prompt, &output, err)) != 0) break;
        right[kind] += edit_answer_matches(output, dev->items[i].choices[0]);
        total[kind]++;
        free(output);
    }
    if (rc != 0) return -1;
    json_t *acc = json_object();
    printf("reader dev exact match:");
    for (int q = 0; q < N_KINDS; q++) {
        json_object_set_new(acc, kinds[q], json_pack("{s:o, s:I}", "accuracy", total[q] ? json_real((double)right[q] / total[q]) : json_null(), "n",
                                                     (json_int_t)total[q]));
        printf(" %s %.1f%%", kinds[q], total[q] ? 100.0 * right[q] / total[q] : NAN);
    }
    printf("\n");
    *acc_out = acc;
    return 0;
}

/* edit-reader --evaluate-only: the dev accuracies of a tuned reader, again, with this code; its reader.json
 * gains them (the dev examples rebuilt from the seed, k and max_new it was tuned with) */
static int reevaluate_reader(const char *reader_dir, const world *w, cpet_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/reader.json", reader_dir);
    json_t *log = json_read_file(path, err), *train = json_object_get(log, "train");
    if (!log) return -1;
    if (!json_is_integer(json_object_get(train, "seed")) || !json_is_integer(json_object_get(train, "k")) || !json_is_integer(json_object_get(train, "max_new"))) {
        json_decref(log);
        return cpet_fail(err, "%s: no train.seed / k / max_new: not an edit-reader log", path);
    }
    const int seed = (int)json_integer_value(json_object_get(train, "seed")), k = (int)json_integer_value(json_object_get(train, "k")),
              max_new = (int)json_integer_value(json_object_get(train, "max_new"));
    model m;
    tokenizer tok;
    if (model_load(&m, reader_dir, err) != 0) return json_decref(log), -1;
    int rc = tokenizer_load_for(&tok, reader_dir, NULL, err), have_tok = rc == 0;
    eren_model_reader sizing = {&m, &tok, max_new};
    task_set dev = {0};
    json_t *acc = NULL;
    if (rc == 0) rc = editing_reader_examples(w, 1, (uint64_t)seed + 1, k, k, 1, eren_model_measure, &sizing, m.rope_len - max_new, &dev, err);
    if (rc == 0) rc = reader_dev_accuracy(&m, &tok, &dev, max_new, &acc, err);
    if (rc == 0) {
        json_object_set_new(log, "dev_accuracy", acc);
        json_object_set_new(log, "dev_evaluated_by", run_facts());
        rc = json_write_file(path, log, err);
    }
    tasks_free(&dev);
    if (have_tok) tokenizer_free(&tok);
    model_free(&m);
    json_decref(log);
    return rc;
}

int cmd_edit_reader(int argc, char **argv)
{
    const char *model_dir = NULL, *world_dir = NULL, *out = NULL;
    long steps = 600, read_steps = 0, batch = 16, seed = 0, k = EREN_TOP_K, k_min = 0, max_new = 12, threads = 0, reps = 4;
    int evaluate_only = 0;
    double lr = 3e-4, read_lr = 0.0, wd = 0.0;
    const opt opts[] = {
        OPT_POSITIONAL(&model_dir, "MODEL", "the model tuned (with --evaluate-only: a tuned READER)"),
        OPT_REQUIRED("--world", &world_dir, "DIR", "the world (its world.json) whose train-split subjects it is tuned on"),
        OPT_INT("--steps", &steps, 1, 10000000, "optimizer steps"),
        OPT_INT("--read-steps", &read_steps, 0, 10000000, "the first N steps tune on read and one-step examples only"),
        OPT_INT("--batch", &batch, 1, 1024, "examples per step"),
        OPT_NUMBER("--lr", &lr, "learning rate"),
        OPT_NUMBER("--read-lr", &read_lr, "the read phase's learning rate (0: --lr)"),
        OPT_NUMBER("--weight-decay", &wd, "AdamW weight decay"),
        OPT_INT("--k", &k, 1, EREN_MAX_K, "notes per context"),
        OPT_INT("--k-min", &k_min, 0, EREN_MAX_K, "training contexts hold K..k notes, uniformly (0: k)"),
        OPT_INT("--reps", &reps, 1, 1000, "draws per fact, each with fresh notes, question template and counterfactual"),
        OPT_INT("--max-new", &max_new, 1, 256, "tokens generated per dev answer"),
        OPT_SEED(&seed),
        OPT_THREADS(&threads),
        OPT_SWITCH("--evaluate-only", &evaluate_only, "score a tuned READER again and update its reader.json"),
        OPT_STRING("-o", &out, "OUT", "the reader: model, tokenizer and reader.json (required unless --evaluate-only)"),
        OPT_END};
    const opt_command cmd = {
        .name = "edit-reader",
        .usage = "MODEL --world DIR -o OUT [options]   |   cpet edit-reader READER --world DIR --evaluate-only",
        .about = "Instruction-tunes MODEL (all weights) as EREN's reader on the world in DIR: for every fact of a train-split\n"
                 "subject, a read example (k notes, one stating the fact, true or counterfactual), a decline example (k hard\n"
                 "distractors, answer \"unanswerable\"), a closed-book question and a one-step read example, with EREN's\n"
                 "templates; answers end with EOS. The same for fact checking: claims read with three options, declined\n"
                 "(\"It's impossible to say\"), checked closed-book, and read with two options. Then scores the reader on\n"
                 "dev-split subjects' examples by greedy exact match, kind by kind. reader.json: arguments, seed, loss curve,\n"
                 "dev accuracies, git revision, threads.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    if (!out && !evaluate_only) return cli_error("edit-reader: MODEL, --world and -o are required");
    if (!k_min) k_min = k;
    if (read_lr <= 0) read_lr = lr;
    if (k_min > k) return cli_error("edit-reader: --k-min %ld is over --k %ld", k_min, k);
    if (read_steps >= steps) return cli_error("edit-reader: --read-steps %ld leaves none of --steps %ld for the other kinds", read_steps, steps);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    world w;
    uint64_t world_seed;
    if (world_of_dir(world_dir, &w, &world_seed, &err) != 0) return cli_report(&err);
    if (evaluate_only) {
        const int rc = reevaluate_reader(model_dir, &w, &err);
        world_free(&w);
        return rc != 0 ? cli_report(&err) : 0;
    }
    model m;
    tokenizer tok;
    if (model_load(&m, model_dir, &err) != 0) {
        world_free(&w);
        return cli_report(&err);
    }
    int rc = tokenizer_load_for(&tok, model_dir, NULL, &err), have_tok = rc == 0;
    eren_model_reader reader = {&m, &tok, (int)max_new};
    const int max_prompt = m.rope_len - (int)max_new;
    task_set train = {0}, dev = {0};
    if (rc == 0) rc = editing_reader_examples(&w, 0, (uint64_t)seed, (int)k_min, (int)k, (int)reps, eren_model_measure, &reader, max_prompt, &train, &err);
    if (rc == 0) rc = editing_reader_examples(&w, 1, (uint64_t)seed + 1, (int)k, (int)k, 1, eren_model_measure, &reader, max_prompt, &dev, &err);
    adamw opt = {0};
    adamw_config oc = adamw_defaults();
    oc.lr = (float)lr, oc.weight_decay = (float)wd;
    if (rc == 0) rc = model_set_trainable(&m, NULL, 1, &err);
    if (rc == 0) rc = adamw_init(&opt, oc, &err);
    if (rc == 0) rc = adamw_add(&opt, m.tensors, m.n_tensors, &err);
    json_t *curve = json_array();
    long tokens = 0;
    progress pr = {now_seconds()};
    finetune_config fc = {.steps = (int)steps, .batch = (int)batch, .lr = (float)lr, .weight_decay = (float)wd, .clip = 1.0f, .seed = (uint64_t)seed,
                          .bos_id = m.cfg.bos_token_id, .eos_id = m.cfg.eos_token_id, .append_eos = 1, .on_step = on_step, .on_step_ctx = &pr};
    /* phase 1 (--read-steps): the read and one-step examples alone, so that copying from a note is learnt
     * before declining competes with it; phase 2: every kind. Each phase has its own cosine schedule. */
    task_set reading = {0};
    for (int i = 0; rc == 0 && read_steps > 0 && i < train.n; i++)
        if (!strcmp(train.items[i].task, "read") || !strcmp(train.items[i].task, "one_step")) tasks_add(&reading, &train.items[i]);
    long phase_tokens = 0;
    if (rc == 0 && read_steps > 0) {
        fc.steps = (int)read_steps, fc.lr = (float)read_lr;
        rc = finetune_multiple_choice(&m, &opt, &tok, &reading, &fc, curve, &phase_tokens, &err);
        fc.steps = (int)(steps - read_steps), fc.seed = (uint64_t)seed + 1, fc.lr = (float)lr;
    }
    tasks_free(&reading);
    if (rc == 0) rc = finetune_multiple_choice(&m, &opt, &tok, &train, &fc, curve, &tokens, &err);
    tokens += phase_tokens;
    for (size_t i = 0; rc == 0 && i < json_array_size(curve); i++) /* one step count across the phases */
        json_array_set_new(json_array_get(curve, i), 0, json_integer((json_int_t)i + 1));
    const double train_seconds = now_seconds() - pr.t0;
    adamw_free(&opt);
    if (rc == 0) rc = model_set_trainable(&m, NULL, 0, &err);
    json_t *acc = NULL;
    if (rc == 0) rc = reader_dev_accuracy(&m, &tok, &dev, (int)max_new, &acc, &err);
    char staged[4200], path[4400];
    if (rc == 0) rc = cli_stage_model(&m, &tok, out, staged, sizeof staged, &err);
    if (rc == 0) {
        json_t *log = json_pack("{s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:f, s:I, s:o, s:o, s:o}", "command",
                                "edit-reader", "model", model_dir, "world", world_dir, "world_seed", (json_int_t)world_seed, "train", "steps",
                                (json_int_t)steps, "read_steps", (json_int_t)read_steps, "batch", (json_int_t)batch, "lr", lr, "read_lr", read_lr, "weight_decay", wd, "k", (json_int_t)k, "k_min", (json_int_t)k_min, "reps", (json_int_t)reps,
                                "max_new", (json_int_t)max_new, "seed", (json_int_t)seed, "train_examples", (json_int_t)train.n, "dev_examples", (json_int_t)dev.n,
                                "train_seconds", train_seconds, "tokens", (json_int_t)tokens, "dev_accuracy", acc, "loss_curve", curve, "facts", run_facts());
        snprintf(path, sizeof path, "%s/reader.json", staged);
        rc = json_write_file(path, log, &err);
        json_decref(log);
        curve = acc = NULL;
    }
    if (rc == 0) rc = replace_dir(staged, out, &err);
    if (rc == 0) printf("edit-reader %s -> %s: %ld steps on %d examples\n", model_dir, out, steps, train.n);
    json_decref(curve), json_decref(acc);
    tasks_free(&train), tasks_free(&dev);
    if (have_tok) tokenizer_free(&tok);
    model_free(&m);
    world_free(&w);
    return rc != 0 ? cli_report(&err) : 0;
}

/* cpet edit: make edits with a method, ask every question of them, score (eval/edit_eval.h) */
/* cpet edit: the harness method eren (harness/methods/eren.c) on the command line; its options are the
 * method's parameters, and OUT.json is the run's record with the fields this command's file has always had */
extern const method method_eren;

int cmd_edit(int argc, char **argv)
{
    door_inputs in = {0};
    const char *out = NULL;
    const opt own[] = {
        OPT_REQUIRED("--edits", &in.task, "FILE.jsonl", "edit cases (cpet world --editing, or a public format: --format)"),
        OPT_REQUIRED("--model", &in.model, "READER", "the model (for eren and one-step: the reader cpet edit-reader tuned)"),
        OPT_SEED(&in.seed),
        OPT_THREADS(&in.threads),
        OPT_REQUIRED("-o", &out, "OUT.json", "config, metrics, every question with its output, seed, git revision, threads"),
        OPT_END};
    const opt_command cmd = {
        .name = "edit",
        .usage = "--method eren|one-step|unedited|ft|rome --edits FILE.jsonl --model READER -o OUT.json [options]",
        .about = "Makes the first N edits of the split and asks every question of them (datasets/README.md: in-scope, hard\n"
                 "out-of-scope, two-hop). eren: the edits become notes; the reader reads the top-k retrieved notes with\n"
                 "EREN's template and falls back to closed-book QA when it says \"unanswerable\". one-step: the one-step MRC\n"
                 "template, no option, no fallback. unedited: closed-book. ft: every weight tuned on the statements (the\n"
                 "loss on the new object), then closed-book. rome: a rank-one update of a layer's down projection per edit,\n"
                 "then closed-book; batch computes every update on the unedited model, --sequential each on the model the\n"
                 "earlier ones left. A file of claims (fact checking) is answered with the FC template and the yes/no\n"
                 "question closed-book. Scored by greedy exact match: ES, BP, EQ, reliability, generalization, portability,\n"
                 "multi-edit, BP by kind of out-of-scope question.\n",
        .after = "The matrix runs the same method (`cpet run --help`, method eren).\n"};
    json_t *params;
    cpet_err err;
    const int p = method_parse_args(&method_eren, &cmd, own, argc, argv, &params, &err);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : cli_report(&err);
    json_t *record = NULL;
    int rc = method_door_run(&method_eren, &in, params, &record, &err);
    if (rc == 0) {
        json_t *m = json_object_get(record, "metrics"), *kinds = json_object();
        if (json_integer_value(json_object_get(m, "unaligned_records")))
            fprintf(stderr, "edit: %s: %lld records' out-of-scope answers do not pair with their questions; kept without answers\n", in.task,
                    (long long)json_integer_value(json_object_get(m, "unaligned_records")));
        for (int k = 0; k < EDIT_OOS_KINDS; k++) {
            char bp[64], n[64];
            snprintf(bp, sizeof bp, "bp_%s", edit_oos_kinds[k]), snprintf(n, sizeof n, "n_%s", edit_oos_kinds[k]);
            json_object_set_new(kinds, edit_oos_kinds[k], json_pack("{s:O, s:O}", "bp", json_object_get(m, bp), "n", json_object_get(m, n)));
        }
        /* the fields cpet edit's file has always had, beside the record's own */
        json_object_set_new(record, "command", json_string("edit"));
        json_object_set(record, "method", json_object_get(params, "method"));
        json_object_set_new(record, "edits", json_string(in.task));
        json_object_set(record, "config", params);
        json_object_set(record, "questions", json_object_get(m, "n"));
        json_object_set(record, "edits_made", json_object_get(m, "edits"));
        json_object_set(record, "seconds_per_question", json_object_get(m, "seconds_per_question"));
        json_object_set_new(record, "bp_by_kind", kinds);
        json_object_set(record, "items", json_object_get(record, "examples"));
        json_object_del(record, "examples");
        json_object_set_new(record, "protocol",
                            json_string("es, bp, eq, reliability, generalization, portability: generation (greedy, exact match ignoring case, "
                                        "surrounding spaces and a final period); es_teacher_forced: EasyEdit's token accuracy; es_rome_prob: "
                                        "ROME's new-vs-true mean log-probability; both after the prompt each answer came from (null when fact "
                                        "checking: a verdict is a label, not an object)"));
        rc = json_write_file(out, record, &err);
        if (rc == 0)
            printf("edit %s: %lld edits, %lld questions: ES %.1f%%, BP %.1f%%, EQ %.1f%%, portability %.1f%% -> %s\n",
                   json_string_value(json_object_get(params, "method")), (long long)json_integer_value(json_object_get(m, "edits")),
                   (long long)json_integer_value(json_object_get(m, "n")), 100 * json_number_value(json_object_get(m, "es")),
                   100 * json_number_value(json_object_get(m, "bp")), 100 * json_number_value(json_object_get(m, "eq")),
                   100 * json_number_value(json_object_get(m, "portability")), out);
    }
    json_decref(record);
    json_decref(params);
    return rc != 0 ? cli_report(&err) : 0;
}

/* cpet notebook FILE add|delete|list: EREN's notebook kept in a file */
int cmd_notebook(int argc, char **argv)
{
    if (argc >= 2 && cli_is_help(argv[1])) {
        printf("usage: cpet notebook FILE add TEXT [--key KEY]\n"
               "       cpet notebook FILE delete INDEX\n"
               "       cpet notebook FILE list\n\n"
               "EREN's notebook as a JSON file (written atomically). A note is stored without its final period. A\n"
               "note added with a key another active note holds supersedes it: the newer note wins; the older stays\n"
               "listed (marked superseded) and is never retrieved. Deleting the active note of a key gives the floor\n"
               "back to the newest older one. list prints index, state, key and text.\n");
        return 0;
    }
    if (argc < 3) return cli_error("notebook: FILE and add|delete|list are required (cpet notebook --help)");
    const char *path = argv[1], *verb = argv[2];
    cpet_err err;
    eren_notebook nb;
    const int exists = path_exists(path);
    if (exists ? notebook_load(&nb, path, &err) != 0 : (notebook_init(&nb), 0)) return cli_report(&err);
    int rc = 0;
    if (!strcmp(verb, "list")) {
        if (!exists) rc = cpet_fail(&err, "%s: no such notebook", path);
        for (int i = 0; rc == 0 && i < nb.n; i++)
            printf("%d\t%s\t%s\t%s\n", i, nb.notes[i].superseded ? "superseded" : "active", nb.notes[i].key ? nb.notes[i].key : "-", nb.notes[i].text);
    } else if (!strcmp(verb, "add")) {
        const char *text = NULL, *key = NULL;
        opt text_arg = OPT_POSITIONAL(&text, "TEXT", "the note");
        text_arg.required = 0; /* "no text" below says it in the notebook's words */
        const opt opts[] = {text_arg, OPT_STRING("--key", &key, "KEY", "a note with the key of an active note supersedes it"), OPT_END};
        const opt_command cmd = {.name = "notebook add"};
        if (opt_parse(&cmd, opts, argc - 2, argv + 2, &err) != OPT_OK) rc = -1;
        if (rc == 0 && !text) rc = cpet_fail(&err, "notebook add: no text");
        int at = rc == 0 ? notebook_add(&nb, text, key, &err) : -1;
        if (at < 0) rc = -1;
        if (rc == 0 && (rc = notebook_save(&nb, path, &err)) == 0) printf("note %d added to %s (%d active)\n", at, path, notebook_active(&nb));
    } else if (!strcmp(verb, "delete")) {
        long i = -1;
        if (argc != 4) rc = cpet_fail(&err, "notebook delete: one INDEX");
        else if (opt_read_int("notebook delete: INDEX", argv[3], 0, 1L << 30, &i, &err) != 0) rc = -1;
        if (rc == 0 && !exists) rc = cpet_fail(&err, "%s: no such notebook", path);
        if (rc == 0) rc = notebook_delete(&nb, (int)i, &err);
        if (rc == 0 && (rc = notebook_save(&nb, path, &err)) == 0) printf("note %ld deleted from %s (%d left)\n", i, path, nb.n);
    } else {
        rc = cpet_fail(&err, "notebook: '%s': add, delete or list", verb);
    }
    notebook_free(&nb);
    if (rc != 0 && err.msg[0]) {
        if (!strstr(err.msg, path)) cpet_prefix(&err, "%s", path);
        return cli_report(&err);
    }
    return rc != 0;
}

/* cpet ask: one question against a notebook */
int cmd_ask(int argc, char **argv)
{
    const char *nb_path = NULL, *model_dir = NULL, *question = NULL, *method = "eren", *retriever = "bm25";
    long top_k = EREN_TOP_K, hops = 1, max_new = 12, threads = 0;
    int verbose = 0, fact_check = 0;
    const opt opts[] = {
        OPT_POSITIONAL(&question, "QUESTION", "the question (with --fact-check: a claim)"),
        OPT_REQUIRED("--notebook", &nb_path, "FILE", "the notebook (cpet notebook)"),
        OPT_REQUIRED("--model", &model_dir, "READER", "the reader"),
        OPT_STRING("--method", &method, "eren|one-step|unedited", "how it is answered"),
        OPT_STRING("--retriever", &retriever, "bm25|dense", "how notes are retrieved"),
        OPT_SWITCH("--fact-check", &fact_check, "QUESTION is a claim: the FC template, the yes/no question as the fallback"),
        OPT_INT("--top-k", &top_k, 1, EREN_MAX_K, "notes retrieved"),
        OPT_INT("--hops", &hops, 1, 2, "retrieval rounds"),
        OPT_INT("--max-new", &max_new, 1, 256, "tokens generated"),
        OPT_THREADS(&threads),
        OPT_SWITCH("--verbose", &verbose, "also the notes used and the reading step"),
        OPT_END};
    const opt_command cmd = {.name = "ask",
                             .about = "Answers QUESTION as EREN does: the top-k notes retrieved, the reader's MRC prompt, the closed-book\n"
                                      "fallback when it says \"unanswerable\".\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    edit_method em;
    if (edit_method_parse(method, &em) != 0) return cli_error("ask: --method '%s': eren, one-step or unedited", method);
    eren_retriever rk;
    if (eren_retriever_parse(retriever, &rk) != 0) return cli_error("ask: --retriever '%s': bm25 or dense", retriever);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    eren_notebook nb;
    if (notebook_load(&nb, nb_path, &err) != 0) return cli_report(&err);
    model m;
    tokenizer tok;
    if (model_load(&m, model_dir, &err) != 0) {
        notebook_free(&nb);
        return cli_report(&err);
    }
    int rc = tokenizer_load_for(&tok, model_dir, NULL, &err), have_tok = rc == 0;
    eren_index x = {0};
    if (rc == 0) rc = rk == EREN_DENSE ? eren_index_dense(&x, &nb, &m, &tok, &err) : eren_index_bm25(&x, &nb, &err);
    eren_model_reader reader = {&m, &tok, eren_answer_budget(&tok, fact_check ? EREN_FC : EREN_QA, (int)max_new)};
    eren_config c = {.mode = em == EDIT_EREN ? EREN_TWO_STEP : em == EDIT_ONE_STEP ? EREN_ONE_STEP : EREN_CLOSED_BOOK,
                     .task = fact_check ? EREN_FC : EREN_QA, .top_k = (int)top_k, .max_prompt = m.rope_len - reader.max_new,
                     .read = eren_model_read, .measure = eren_model_measure, .ctx = &reader, .hops = (int)hops};
    eren_answer a = {0};
    if (rc == 0) rc = eren_answer_question(&c, &nb, &x, question, &a, &err);
    if (rc == 0) {
        if (verbose) {
            for (int i = 0; i < a.notes_used; i++) fprintf(stderr, "note %d: %s\n", a.retrieved[i], nb.notes[a.retrieved[i]].text);
            if (a.first) fprintf(stderr, "reading: %s%s\n", a.first, a.fell_back ? "  -> closed-book fallback" : "");
        }
        printf("%s\n", a.answer);
    }
    eren_answer_free(&a);
    eren_index_free(&x);
    if (have_tok) tokenizer_free(&tok);
    model_free(&m);
    notebook_free(&nb);
    return rc != 0 ? cli_report(&err) : 0;
}
