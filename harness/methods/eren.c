/* eren: model editing over an editing-case file (the spec's task entry: "file" = the JSONL of
 * datasets/editing.h, e.g. `cpet world --editing`; the cell's model = the reader). The cell's seed orders
 * the edits; the first n_edits of the split are made, then every question of them is asked (edit_run).
 * Metrics: ES, BP, EQ, reliability, generalization, portability, BP per kind of out-of-scope question,
 * the fallback rate and seconds per question; per question, "es" (in-scope) and "bp" (out-of-scope) values
 * so that reports pair methods question by question. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "edit_eval.h"
#include "method.h"

static const method_param params[] = {
    {.key = "method", .type = PARAM_STRING, .default_json = "\"eren\"", .doc = "eren (notes, reader, closed-book fallback), one-step (one-step MRC), unedited (closed-book), ft (fine-tuning on the statements) or rome",
     .choices = "eren|one-step|unedited|ft|rome"},
    {.key = "retriever", .type = PARAM_STRING, .default_json = "\"bm25\"", .doc = "bm25 or dense (the reader's mean-pooled hidden states)", .choices = "bm25|dense"},
    {.key = "top_k", .type = PARAM_INT, .default_json = "5", .doc = "notes retrieved per question (the reference's 5)", .min = 1, .max = 64},
    {.key = "hops", .type = PARAM_INT, .default_json = "1", .doc = "retrieval rounds: 1 (the reference) or 2 (the best note's text joins the question for a second round)", .hashed_only_when_set = 1, .min = 1, .max = 2},
    {.key = "n_edits", .type = PARAM_INT, .default_json = "0", .doc = "edits made: the first n of the split in the seed's order (0: every one)"},
    {.key = "notebook_size", .type = PARAM_INT, .default_json = "0", .doc = "eren / one-step: other cases' edits fill the notebook up to this many notes (not asked about)", .hashed_only_when_set = 1},
    {.key = "filler", .type = PARAM_STRING, .default_json = "\"\"", .doc = "an editing file of another world whose edits fill the notebook past the cases' own", .hashed_only_when_set = 1},
    {.key = "ft_epochs", .type = PARAM_INT, .default_json = "10", .doc = "ft, batch: passes over the edits", .hashed_only_when_set = 1},
    {.key = "ft_steps", .type = PARAM_INT, .default_json = "10", .doc = "ft, sequential: steps per edit", .hashed_only_when_set = 1},
    {.key = "ft_lr", .type = PARAM_NUMBER, .default_json = "0.0001", .doc = "ft: the learning rate", .hashed_only_when_set = 1},
    {.key = "rome_layer", .type = PARAM_INT, .default_json = "-1", .doc = "rome: the edited layer (-1: a third of the way up)", .hashed_only_when_set = 1},
    {.key = "rome_prefixes", .type = PARAM_INT, .default_json = "-1", .doc = "rome: generated context prefixes the key and value average over (-1: rome_defaults' 10)", .hashed_only_when_set = 1},
    {.key = "rome_steps", .type = PARAM_INT, .default_json = "0", .doc = "rome: value optimization steps (0: rome_defaults')", .hashed_only_when_set = 1, .min = 0, .max = 100000},
    {.key = "rome_clamp", .type = PARAM_NUMBER, .default_json = "0", .doc = "rome: the value's norm clamp (0: rome_defaults')", .hashed_only_when_set = 1, .min = 0, .max = INFINITY},
    {.key = "corpus", .type = PARAM_STRING, .default_json = "\"\"", .doc = "rome: the text its key statistics come from", .hashed_only_when_set = 1},
    {.key = "sequential", .type = PARAM_BOOL, .default_json = "false", .doc = "edits one at a time (each on what the earlier ones left), else all at once", .hashed_only_when_set = 1},
    {.key = "split", .type = PARAM_STRING, .default_json = "\"test\"", .doc = "the edit cases' split: test, dev, train or all", .choices = "test|dev|train|all"},
    {.key = "max_new", .type = PARAM_INT, .default_json = "12", .doc = "tokens the reader may generate per answer", .min = 1, .max = 4096},
    {.key = "format", .type = PARAM_STRING, .default_json = "\"auto\"", .doc = "the file's format: auto, cpet, eren-cfh, eren-fever, eren-hotpot, counterfact or zsre", .hashed_only_when_set = 1},
};

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    const char *name = json_string_value(json_object_get(c->params, "method")), *retr = json_string_value(json_object_get(c->params, "retriever")),
               *split = json_string_value(json_object_get(c->params, "split"));
    edit_run_config cfg = {.top_k = method_param_int(c, "top_k"), .hops = method_param_int(c, "hops"), .max_new = method_param_int(c, "max_new"), .n_edits = method_param_int(c, "n_edits"),
                           .split = split && strcmp(split, "all") ? split : NULL, .seed = c->seed,
                           .notebook_size = method_param_int(c, "notebook_size"), .ft_epochs = method_param_int(c, "ft_epochs"),
                           .ft_steps = method_param_int(c, "ft_steps"), .ft_lr = (float)method_param_number(c, "ft_lr"),
                           .rome_layer = method_param_int(c, "rome_layer"), .rome_prefixes = method_param_int(c, "rome_prefixes"), .sequential = json_is_true(json_object_get(c->params, "sequential")),
                           .rome_steps = method_param_int(c, "rome_steps"), .rome_clamp = (float)method_param_number(c, "rome_clamp")};
    if (!name || edit_method_parse(name, &cfg.method) != 0)
        return cpet_fail(err, "params.method '%s': eren, one-step, unedited, ft or rome", name ? name : "");
    if (eren_retriever_parse(retr, &cfg.retriever) != 0) return cpet_fail(err, "params.retriever '%s': bm25 or dense", retr ? retr : "");
    edit_set cases;
    int unaligned;
    if (editing_read_any(&cases, c->task_file, json_string_value(json_object_get(c->params, "format")), &unaligned, err) != 0) return -1;
    edit_set filler = {0};
    const char *filler_path = json_string_value(json_object_get(c->params, "filler"));
    if (filler_path && *filler_path) {
        if (editing_read(&filler, filler_path, err) != 0) return edit_set_free(&cases), -1;
        cfg.filler = &filler;
    }
    int *stream = NULL, rc = 0;
    const char *corpus = json_string_value(json_object_get(c->params, "corpus"));
    if (cfg.method == EDIT_ROME && (!corpus || !corpus[0])) rc = cpet_fail(err, "rome needs params.corpus: a text for its key statistics");
    else if (cfg.method == EDIT_ROME) {
        rc = edit_stats_stream(json_string_value(json_object_get(c->params, "corpus")), c->tok, c->m->cfg.bos_token_id, &stream, &cfg.stats_tokens, err);
        if (rc != 0) cpet_prefix(err, "params.corpus");
        cfg.stats_stream = stream;
    }
    edit_run_result res = {0};
    if (rc == 0) rc = edit_run(c->m, c->tok, &cases, &cfg, &res, err);
    free(stream);
    if (rc == 0) {
        json_t *metrics = edit_run_metrics_json(&res);
        json_object_set_new(metrics, "unaligned_records", json_integer(unaligned));
        for (int k = 0; k < EDIT_OOS_KINDS; k++) { /* how many questions each bp_<kind> is over */
            char key[64];
            snprintf(key, sizeof key, "n_%s", edit_oos_kinds[k]);
            json_object_set_new(metrics, key, json_integer(res.n_kind[k]));
        }
        json_object_set_new(metrics, "fact_check", json_integer(cases.fact_check)); /* 1: claims, 0: questions */
        json_object_update(r->metrics, metrics);
        json_decref(metrics);
        for (int i = 0; i < res.n; i++) {
            const edit_item *it = &res.items[i];
            char id[256];
            snprintf(id, sizeof id, "%s/%s/%d", it->case_id, it->group, i);
            json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:i}", "id", id, "case", it->case_id, "group", it->group,
                                  "kind", it->kind, "question", it->question, "output", it->output, "unedited", it->unedited, "expected",
                                  it->expected, "correct", it->correct, "unchanged", it->unchanged, "fell_back", it->fell_back, "notes_used",
                                  it->notes_used);
            if (!strcmp(it->group, "in_scope")) json_object_set_new(e, "es", json_integer(it->correct));
            if (!strcmp(it->group, "out_of_scope")) json_object_set_new(e, "bp", json_integer(it->unchanged));
            json_array_append_new(r->examples, e);
        }
    }
    edit_run_result_free(&res);
    edit_set_free(&cases), edit_set_free(&filler);
    return rc;
}

const method method_eren = {
    .name = "eren",
    .doc = "model editing over an editing-case file (eren, one-step MRC, unedited, ft, rome); task entry = the file; model = the reader",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
    .takes_sequence = 1,
};
