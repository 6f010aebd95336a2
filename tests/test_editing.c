/* The editing cases built from the world (datasets/editing.h): every question's answer checked against the
 * world's own facts, the kinds of hard irrelevant questions as defined, the file round trip and bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit_reader.h"
#include "editing.h"
#include "fileio.h"
#include "helpers.h"
#include "world.h"

static int entity_named(const world *w, const char *name)
{
    for (int i = 0; i < w->n_entities; i++)
        if (!strcmp(w->entities[i].name, name)) return i;
    return -1;
}

/* the entity a question is about: the longest entity name in it, or -1 */
static int subject_in(const world *w, const char *q)
{
    int best = -1;
    for (int i = 0; i < w->n_entities; i++)
        if (strstr(q, w->entities[i].name) && (best < 0 || strlen(w->entities[i].name) > strlen(w->entities[best].name))) best = i;
    return best;
}

Test(editing, every_answer_is_the_worlds_and_the_kinds_are_what_they_claim)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 0, world_default_sizes(), &err), 0, "%s", err.msg);
    edit_set s;
    cr_assert_eq(editing_build(&w, 0, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 744, "one edit per fact");
    int kinds[8] = {0}, portable = 0;
    const char *names[] = {"same_subject", "same_relation", "note_prefixed", "neighbour", "lexical_overlap"};
    for (int i = 0; i < s.n; i++) {
        const edit_case *c = &s.cases[i];
        const int e = entity_named(&w, c->subject), r = world_relation_index(c->relation);
        cr_assert(e >= 0 && r >= 0);
        char buf[512], ob[16];
        cr_assert_str_eq(c->target_true, world_object(&w, e, r, ob, sizeof ob));
        cr_assert_str_neq(c->target_new, c->target_true, "%s: a counterfactual", c->id);
        world_fill(world_relations[r].templates[0], c->subject, c->target_new, buf, sizeof buf);
        cr_assert_str_eq(c->statement, buf, "the statement is the first corpus template with the new object");
        cr_assert_eq(c->n_in_scope, EDIT_QUESTIONS);
        for (int k = 0; k < c->n_in_scope; k++) {
            cr_assert_str_eq(c->in_scope[k].answer, c->target_new);
            cr_assert(strstr(c->in_scope[k].question, c->subject), "%s", c->in_scope[k].question);
        }
        for (int k = 0; k < c->n_out_of_scope; k++) {
            const edit_question *q = &c->out_of_scope[k];
            int kind = -1;
            for (int j = 0; j < 5; j++)
                if (!strcmp(q->kind, names[j])) kind = j;
            cr_assert(kind >= 0, "kind %s", q->kind);
            kinds[kind]++;
            /* the answer is the world's fact of the question's subject, for the relation whose question it is */
            const char *text = kind == 2 ? q->question + strlen(c->statement) + 2 : q->question;
            if (kind == 2) cr_assert(!strncmp(q->question, c->statement, strlen(c->statement)) && !strncmp(q->question + strlen(c->statement), ". ", 2));
            const int subj = subject_in(&w, text);
            cr_assert_geq(subj, 0, "%s", text);
            int found = 0;
            for (int r2 = 0; r2 < world_n_relations && !found; r2++) {
                if (w.entities[subj].value[r2] < 0) continue;
                char qb[512];
                world_fill(world_relations[r2].question, w.entities[subj].name, "", qb, sizeof qb);
                if (strcmp(qb, text)) continue;
                found = 1;
                cr_assert_str_eq(q->answer, world_object(&w, subj, r2, ob, sizeof ob), "%s", text);
                if (kind == 0) cr_assert(subj == e && r2 != r);
                if (kind == 1 || kind == 2 || kind == 3) cr_assert(subj != e && r2 == r);
                if (kind == 3) cr_assert_str_eq(q->answer, c->target_true, "a neighbour shares the true object");
                if (kind == 4) cr_assert_str_eq(w.entities[subj].name, c->target_new, "about the new object");
            }
            cr_assert(found, "%s: %s matches no relation's question", c->id, text);
        }
        for (int k = 0; k < c->n_portability; k++) { /* the second hop from the new object (multi-edit: below) */
            if (!strcmp(c->portability[k].kind, "multi_edit")) continue;
            const int o = entity_named(&w, c->target_new);
            cr_assert(o >= 0);
            int hit = 0;
            for (int r2 = 0; r2 < world_n_relations; r2++)
                if (w.entities[o].value[r2] >= 0 && !strcmp(c->portability[k].answer, world_object(&w, o, r2, ob, sizeof ob))) hit = 1;
            cr_assert(hit, "%s: %s", c->id, c->portability[k].question);
            portable++;
        }
    }
    for (int j = 0; j < 5; j++) cr_assert_gt(kinds[j], 50, "%s: %d", names[j], kinds[j]);
    cr_assert_gt(portable, 250);
    edit_set_free(&s);
    world_free(&w);
}

Test(editing, same_seed_same_bytes_and_a_round_trip)
{
    char dir[256], a[600], b[600];
    make_temp_dir(dir, sizeof dir);
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 3, world_default_sizes(), &err), 0, "%s", err.msg);
    edit_set s, t, back;
    cr_assert_eq(editing_build(&w, 3, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(editing_build(&w, 3, &t, &err), 0, "%s", err.msg);
    snprintf(a, sizeof a, "%s/a.jsonl", dir), snprintf(b, sizeof b, "%s/b.jsonl", dir);
    cr_assert_eq(editing_write(&s, a, &err), 0, "%s", err.msg);
    cr_assert_eq(editing_write(&t, b, &err), 0, "%s", err.msg);
    size_t la, lb;
    char *ta = read_whole_file(a, &la), *tb = read_whole_file(b, &lb);
    cr_assert(la == lb && !memcmp(ta, tb, la));
    cr_assert_eq(editing_read(&back, a, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n, s.n);
    for (int i = 0; i < s.n; i++) {
        cr_assert_str_eq(back.cases[i].statement, s.cases[i].statement);
        cr_assert_eq(back.cases[i].n_out_of_scope, s.cases[i].n_out_of_scope);
        for (int k = 0; k < s.cases[i].n_out_of_scope; k++) {
            cr_assert_str_eq(back.cases[i].out_of_scope[k].question, s.cases[i].out_of_scope[k].question);
            cr_assert_str_eq(back.cases[i].out_of_scope[k].kind, s.cases[i].out_of_scope[k].kind);
        }
    }
    free(ta), free(tb);
    edit_set_free(&s), edit_set_free(&t), edit_set_free(&back);
    world_free(&w);
}

static void expect_read_error(const char *dir, const char *body, const char *part)
{
    char path[600];
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    write_text(path, body);
    edit_set s;
    cpet_err err;
    cr_assert_neq(editing_read(&s, path, &err), 0, "accepted: %s", body);
    cr_assert(strstr(err.msg, part) && strstr(err.msg, "bad.jsonl"), "'%s' should say '%s'", err.msg, part);
    cr_assert(!strchr(err.msg, '\n'), "one line: %s", err.msg);
}

Test(editing, bad_files_are_one_clear_line)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    const char *ok = "{\"subject\": \"A\", \"statement\": \"A is in B\", \"target_new\": \"B\"}\n";
    char two[512];
    snprintf(two, sizeof two, "%s{\"subject\": \"A\", \"statement\": \"  \", \"target_new\": \"B\"}\n", ok);
    expect_read_error(dir, two, "bad.jsonl:2: 'statement' is empty");
    expect_read_error(dir, "{\"subject\": \"A\", \"statement\": \"A is in B\"\n", "bad.jsonl:1: not a JSON object");
    expect_read_error(dir, "{\"subject\": \"A\", \"statement\": \"A is in B\", \"target_new\": \"B\", \"in_scope\": [{\"answer\": \"B\"}]}\n",
                      "bad.jsonl:1: in_scope[0] needs a non-empty 'question'");
    expect_read_error(dir, "{\"subject\": \"A\", \"target_new\": \"B\"}\n", "bad.jsonl:1: 'statement' is missing");
    expect_read_error(dir, "\n\n", "no edits");
}

/* ---- scoring (eval/edit_eval.h) ---- */
#include <math.h>

#include "edit_eval.h"
#include "generate.h"
#include "tokenizer.h"

Test(editing, es_bp_eq_and_answer_matching_on_a_known_example)
{
    /* 3 of 4 in-scope right, 1 of 2 out-of-scope unchanged: ES 0.75, BP 0.5, EQ 2 * 0.375 / 1.25 = 0.6 */
    cr_assert_float_eq(edit_eq(0.75, 0.5), 0.6, 1e-12);
    cr_assert_float_eq(edit_eq(0.969, 0.968), 2 * 0.969 * 0.968 / (0.969 + 0.968), 1e-12);
    cr_assert_eq(edit_eq(0, 0), 0.0);
    cr_assert_eq(edit_eq(1, 0), 0.0, "EREN's unedited row: ES 0, BP 100, EQ 0");
    cr_assert(edit_answer_matches(" Grimhend.", "grimhend") && edit_answer_matches("1429", " 1429 "));
    cr_assert(!edit_answer_matches("Grimhend Fugrum", "Grimhend") && !edit_answer_matches("", "x"));
}

/* Teacher-forced token accuracy and the mean log-probability against score_continuations, which computes
 * the same quantities on its own path (batched, padded) */
Test(editing, teacher_forced_scores_agree_with_the_continuation_scorer, .timeout = 300)
{
    cpet_err err;
    model m;
    tokenizer tok;
    load_tiny_model(32, 64, 2, &m, &tok);
    const char *prompts[] = {"Question: the river and the city?", "the the the the"};
    const char *targets[] = {"the city of rivers", "the"};
    for (int i = 0; i < 2; i++) {
        double acc, lp;
        cr_assert_eq(edit_token_accuracy(&m, &tok, prompts[i], targets[i], &acc, &err), 0, "%s", err.msg);
        cr_assert_eq(edit_mean_logprob(&m, &tok, prompts[i], targets[i], &lp, &err), 0, "%s", err.msg);
        int *p, np, *t, nt;
        char spaced[128];
        snprintf(spaced, sizeof spaced, " %s", targets[i]);
        cr_assert_eq(tokenizer_encode(&tok, prompts[i], strlen(prompts[i]), &p, &np, &err), 0);
        cr_assert_eq(tokenizer_encode(&tok, spaced, strlen(spaced), &t, &nt, &err), 0);
        int *ctx = malloc((size_t)(np + 1) * sizeof(int));
        ctx[0] = m.cfg.bos_token_id;
        memcpy(ctx + 1, p, (size_t)np * sizeof(int));
        score_request req = {ctx, np + 1, t, nt};
        double logprob;
        int greedy;
        cr_assert_eq(score_continuations(&m, &req, 1, 1, &logprob, &greedy, &err), 0, "%s", err.msg);
        cr_assert_float_eq(lp * nt, logprob, 1e-4 * nt, "mean %g x %d tokens vs sum %g", lp, nt, logprob);
        cr_assert_eq(acc == 1.0, greedy, "accuracy %g vs is_greedy %d", acc, greedy);
        cr_assert(acc >= 0 && acc <= 1 && fabs(acc * nt - round(acc * nt)) < 1e-9, "a share of %d tokens: %g", nt, acc);
        free(p), free(t), free(ctx);
    }
    tokenizer_free(&tok);
    model_free(&m);
}

/* ---- the formats users hold (datasets/editing_formats.c), on hand-written files of each structure ---- */

#define EDIT_FIXTURE(name) CPET_FIXTURES "/editing/" name

Test(editing, eren_counterfact_hard_with_its_unpaired_answers)
{
    edit_set s;
    cpet_err err;
    int unaligned;
    cr_assert_eq(editing_read_any(&s, EDIT_FIXTURE("cfh.json"), "auto", &unaligned, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(unaligned, 1, "record 0's same_subj has 3 answers for 2 questions");
    const edit_case *c = &s.cases[0];
    cr_assert_str_eq(c->statement, "Talim's capital is Grimhend.");
    cr_assert_str_eq(c->target_new, "Grimhend");
    cr_assert_str_eq(c->target_true, "Drisian");
    cr_assert_eq(c->n_in_scope, 2);
    cr_assert_str_eq(c->in_scope[1].kind, "paraphrase");
    cr_assert_eq(c->n_out_of_scope, 3);
    cr_assert_str_eq(c->out_of_scope[0].kind, "neighbour");
    cr_assert_str_eq(c->out_of_scope[0].answer, "Fugrum", "the neighbour answers pair");
    cr_assert_str_eq(c->out_of_scope[1].kind, "same_subject");
    cr_assert_str_eq(c->out_of_scope[1].answer, "", "unpaired: kept without an answer");
    cr_assert_eq(s.cases[1].n_in_scope, 0, "an edit with no in-scope question is kept");
    cr_assert_str_eq(s.cases[1].out_of_scope[0].answer, "Talim", "1 question, 1 answer: paired");
    edit_set_free(&s);
}

Test(editing, rome_counterfact_mend_zsre_and_eren_hotpot)
{
    edit_set s;
    cpet_err err;
    int unaligned;
    cr_assert_eq(editing_read_any(&s, EDIT_FIXTURE("counterfact.json"), NULL, &unaligned, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.cases[0].id, "counterfact/7");
    cr_assert_str_eq(s.cases[0].statement, "The mother tongue of Talim Drisian is Orran");
    cr_assert_str_eq(s.cases[0].in_scope[0].question, "The mother tongue of Talim Drisian is");
    cr_assert_eq(s.cases[0].n_in_scope, 3);
    cr_assert_str_eq(s.cases[0].out_of_scope[0].answer, "Quessan", "a neighbour keeps the true target");
    cr_assert_str_eq(s.cases[0].relation, "P103");
    edit_set_free(&s);
    cr_assert_eq(editing_read_any(&s, EDIT_FIXTURE("zsre.json"), "zsre", &unaligned, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 2, "the record with an empty alt is skipped, as EasyEdit does");
    cr_assert_str_eq(s.cases[0].statement, "What is the capital of Talim? Grimhend");
    cr_assert_str_eq(s.cases[0].out_of_scope[0].question, "who wrote the river song", "the 'nq question: ' prefix goes");
    cr_assert_str_eq(s.cases[0].target_true, "Drisian");
    cr_assert_eq(s.cases[1].n_portability, 1);
    cr_assert_str_eq(s.cases[1].portability[0].answer, "Fugrum");
    edit_set_free(&s);
    cr_assert_eq(editing_read_any(&s, EDIT_FIXTURE("hotpot.json"), "auto", &unaligned, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 1, "EREN's split: the first half are edits");
    cr_assert_str_eq(s.cases[0].statement, "Berin is a city founded in 1432. Orra is a city founded in 1610.");
    cr_assert_str_eq(s.cases[0].in_scope[0].answer, "Berin");
    cr_assert_eq(s.cases[0].n_out_of_scope, 1, "the second half's question is out of scope");
    cr_assert_str_eq(s.cases[0].out_of_scope[0].question, "Which river runs through the capital of Talim?");
    cr_assert(!s.fact_check);
    edit_set_free(&s);
}

Test(editing, eren_fever_is_fact_checking_split_in_halves)
{
    edit_set s;
    cpet_err err;
    int unaligned;
    cr_assert_eq(editing_read_any(&s, EDIT_FIXTURE("fever.json"), "auto", &unaligned, &err), 0, "%s", err.msg);
    cr_assert(s.fact_check);
    cr_assert_eq(s.n, 2);
    const edit_case *c = &s.cases[0];
    cr_assert_str_eq(c->statement, "Talim has no capital.");
    cr_assert_eq(c->n_in_scope, 3);
    cr_assert_str_eq(c->in_scope[2].question, "Grimhend is the capital of Talim.");
    cr_assert_str_eq(c->in_scope[2].answer, "no", "the label once edited");
    cr_assert_eq(c->n_out_of_scope, 2, "record 2's claims");
    cr_assert_str_eq(c->out_of_scope[1].question, "The Sael runs through Berin.");
    cr_assert_str_eq(c->out_of_scope[1].answer, "yes", "its answer before any edit");
    cr_assert_str_eq(s.cases[1].out_of_scope[0].question, "Quessan is a painter.");
    edit_set_free(&s);
    /* an odd count cannot be split */
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/odd_fever.json", dir);
    write_text(path, "[{\"id\": 0, \"edit_statement\": \"A is B.\", \"edit_scope\": [[\"A is B.\", \"yes\"]]}]");
    cr_assert_neq(editing_read_any(&s, path, "auto", &unaligned, &err), 0);
    cr_assert(strstr(err.msg, "odd_fever.json") && strstr(err.msg, "even"), "%s", err.msg);
}

Test(editing, the_claims_are_the_same_edits_as_fact_checking)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 0, world_default_sizes(), &err), 0);
    edit_set qa, fc;
    cr_assert_eq(editing_build(&w, 3, &qa, &err), 0);
    cr_assert_eq(editing_build_claims(&w, 3, &fc, &err), 0);
    cr_assert_eq(qa.n, fc.n);
    cr_assert(fc.fact_check && !qa.fact_check);
    for (int i = 0; i < fc.n; i++) {
        const edit_case *a = &qa.cases[i], *b = &fc.cases[i];
        cr_assert_str_eq(a->statement, b->statement, "the same edit");
        cr_assert_str_eq(a->target_new, b->target_new);
        char want[600];
        snprintf(want, sizeof want, "%s.", b->statement);
        cr_assert_str_eq(b->in_scope[0].question, want, "the statement is the first claim");
        int yes = 0, no = 0;
        for (int q = 0; q < b->n_in_scope; q++) {
            const char *ans = b->in_scope[q].answer;
            cr_assert(!strcmp(ans, "yes") || !strcmp(ans, "no"));
            yes += !strcmp(ans, "yes"), no += !strcmp(ans, "no");
            /* a "yes" claim names the new object, an "old_fact" one the true object */
            if (!strcmp(ans, "yes")) cr_assert(strstr(b->in_scope[q].question, b->target_new), "%s", b->in_scope[q].question);
            if (!strcmp(b->in_scope[q].kind, "old_fact")) cr_assert(strstr(b->in_scope[q].question, b->target_true), "%s", b->in_scope[q].question);
        }
        cr_assert(yes >= 2 && no == 2, "%d yes, %d no", yes, no);
        cr_assert_eq(b->n_portability, 0);
        for (int q = 0; q < b->n_out_of_scope; q++) {
            const char *kind = b->out_of_scope[q].kind;
            cr_assert(strcmp(kind, "note_prefixed"), "no note-prefixed claims");
            if (!strcmp(kind, "neighbour")) cr_assert(strstr(b->out_of_scope[q].question, b->target_true));
        }
    }
    /* the file round-trips with its task, and a file mixing the two is refused */
    char dir[256], path[600], mixed[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/claims.jsonl", dir);
    cr_assert_eq(editing_write(&fc, path, &err), 0);
    edit_set back;
    cr_assert_eq(editing_read(&back, path, &err), 0, "%s", err.msg);
    cr_assert(back.fact_check);
    cr_assert_eq(back.cases[5].n_in_scope, fc.cases[5].n_in_scope);
    edit_set_free(&back);
    snprintf(mixed, sizeof mixed, "%s/mixed.jsonl", dir);
    write_text(mixed, "{\"statement\": \"A is B\", \"target_new\": \"B\", \"subject\": \"A\", \"task\": \"fact_check\"}\n"
                      "{\"statement\": \"C is D\", \"target_new\": \"D\", \"subject\": \"C\"}\n");
    cr_assert_neq(editing_read(&back, mixed, &err), 0);
    cr_assert(strstr(err.msg, "mixed.jsonl:2") && strstr(err.msg, "fact checking"), "%s", err.msg);
    edit_set_free(&qa), edit_set_free(&fc);
    world_free(&w);
}

Test(editing, formats_that_cannot_run_are_one_clear_line)
{
    edit_set s;
    cpet_err err;
    int unaligned;
    cr_assert_neq(editing_read_any(&s, EDIT_FIXTURE("zsre.json"), "mquake", &unaligned, &err), 0);
    cr_assert(strstr(err.msg, "unknown format 'mquake'"), "%s", err.msg);
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/odd.json", dir);
    write_text(path, "[{\"requested_rewrite\": {\"prompt\": \"{} is\", \"subject\": \"A\", \"target_new\": {\"str\": \"B\"}}}, 7]");
    cr_assert_neq(editing_read_any(&s, path, "auto", &unaligned, &err), 0);
    cr_assert(strstr(err.msg, "odd.json: entry 1 is not an object"), "%s", err.msg);
    write_text(path, "[{\"edit_statement\": \"\", \"subject_name\": \"A\", \"unrelated\": {}, \"edit_scope\": [[\"q?\", \"a\"]]}]");
    cr_assert_neq(editing_read_any(&s, path, "auto", &unaligned, &err), 0);
    cr_assert(strstr(err.msg, "empty edit statement"), "%s", err.msg);
}

/* --k-min: contexts of k_min..k notes, every size drawn, the read example's note among them; k_min over k
 * is refused. Measuring (k_min = k) keeps k notes. */
Test(editing, reader_contexts_hold_k_min_to_k_notes)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 0, world_default_sizes(), &err), 0);
    for (int k_min = 1; k_min <= 5; k_min += 4) {
        task_set t;
        cr_assert_eq(editing_reader_examples(&w, 1, 4, k_min, 5, 1, NULL, NULL, 0, &t, &err), 0, "%s", err.msg);
        int seen[6] = {0};
        for (int i = 0; i < t.n; i++) {
            const task_example *ex = &t.items[i];
            if (strcmp(ex->task, "read") && strcmp(ex->task, "decline")) continue;
            const char *ctx = strstr(ex->prompt, "\n\n"), *end = ctx ? strstr(ctx + 2, "\n\n") : NULL;
            cr_assert(ctx && end, "%s", ex->prompt);
            int notes = 1;
            for (const char *c = ctx + 2; c < end; c++) notes += *c == '\n';
            cr_assert(notes >= k_min && notes <= 5, "%d notes: %s", notes, ex->prompt);
            seen[notes]++;
            if (!strcmp(ex->task, "read")) {
                char note_end[64];
                snprintf(note_end, sizeof note_end, "%s\n", ex->choices[0] + 1);
                cr_assert(strstr(ctx, note_end) || strstr(ctx, ex->choices[0] + 1), "the answer is in a note: %s", ex->prompt);
            }
        }
        for (int n = k_min; n <= 5; n++) cr_assert(seen[n] > 0, "k_min %d: no context of %d notes", k_min, n);
        tasks_free(&t);
    }
    task_set t;
    cr_assert_neq(editing_reader_examples(&w, 1, 4, 6, 5, 1, NULL, NULL, 0, &t, &err), 0);
    cr_assert(strstr(err.msg, "at least 6 notes of at most 5"), "%s", err.msg);
    world_free(&w);
}

/* text names word as a whole word: bounded by the start or a space, and by the end or punctuation */
static int names_word(const char *text, const char *word)
{
    const size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || p[-1] == ' ') && (!p[n] || strchr(" .,;'", p[n]))) return 1;
    return 0;
}

Test(editing, reader_examples_answer_what_their_prompts_ask)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 0, world_default_sizes(), &err), 0);
    task_set t;
    cr_assert_eq(editing_reader_examples(&w, 1, 4, 5, 5, 1, NULL, NULL, 0, &t, &err), 0, "%s", err.msg);
    static const char *const kinds[] = {"read", "one_step", "decline", "closed_book", "fc_read", "fc_one_step", "fc_decline", "fc_closed_book"};
    int count[8] = {0}, yes = 0, no = 0, fc_yes = 0, fc_no = 0;
    char read_object[64] = "";
    const char *read_id = NULL;
    for (int i = 0; i < t.n; i++) {
        const task_example *ex = &t.items[i];
        int k = 0;
        while (k < 8 && strcmp(ex->task, kinds[k])) k++;
        cr_assert(k < 8, "kind %s", ex->task);
        count[k]++;
        if (getenv("CPET_SHOW_READER") && i < 16) fprintf(stderr, "---- %s\n%s\n=>%s\n", ex->task, ex->prompt, ex->choices[0]);
        const char *ans = ex->choices[0] + 1; /* " " + the answer */
        const int r = world_relation_index(ex->relation);
        int e = 0;
        while (e < w.n_entities && strcmp(w.entities[e].name, ex->subject)) e++;
        cr_assert(r >= 0 && e < w.n_entities);
        char tb[32];
        const char *truth = world_value_text(&w, r, w.entities[e].value[r], tb, sizeof tb);
        if (!strcmp(ex->task, "closed_book")) cr_assert_str_eq(ans, truth);
        if (!strcmp(ex->task, "decline")) cr_assert_str_eq(ans, "unanswerable");
        if (!strcmp(ex->task, "fc_decline")) {
            cr_assert_str_eq(ans, "It's impossible to say");
            cr_assert(strstr(ex->prompt, "\n- It's impossible to say\n- No"));
        }
        if (!strcmp(ex->task, "fc_one_step")) cr_assert(strstr(ex->prompt, "OPTIONS:\n- Yes\n- No") && (!strcmp(ans, "Yes") || !strcmp(ans, "No")));
        if (!strcmp(ex->task, "fc_closed_book")) {
            /* "Is it true that <claim>?": yes exactly when the claim ends with the world's object */
            cr_assert(!strncmp(ex->prompt, "Is it true that ", 16));
            const char *q = strstr(ex->prompt, "?\n\nOPTIONS:\n- yes\n- no");
            cr_assert(q);
            const size_t nt = strlen(truth);
            const int states_truth = (size_t)(q - ex->prompt) > nt && !strncmp(q - nt, truth, nt) && q[-(long)nt - 1] == ' ';
            cr_assert_str_eq(ans, states_truth ? "yes" : "no", "%s", ex->prompt);
            yes += states_truth, no += !states_truth;
        }
        if (!strcmp(ex->task, "read")) snprintf(read_object, sizeof read_object, "%s", ans), read_id = ex->id + strlen("reader/read/");
        if (!strcmp(ex->task, "fc_read")) {
            /* over the same notes as the read example of its id, whose answer is the object the context's
             * note for (s, r) states: Yes exactly when the claim states that object */
            cr_assert(read_id && !strcmp(ex->id + strlen("reader/fc_read/"), read_id), "%s follows its read example", ex->id);
            const char *open = strstr(ex->prompt, "Can we conclude that \""), *close = open ? strstr(open, ".\"?") : NULL;
            cr_assert(close);
            char claim[600];
            snprintf(claim, sizeof claim, "%.*s", (int)(close - open - 22), open + 22);
            const int states = names_word(claim, read_object);
            cr_assert_str_eq(ans, states ? "Yes" : "No", "claim '%s', the note's object '%s'", claim, read_object);
            fc_yes += states, fc_no += !states;
        }
    }
    for (int k = 0; k < 8; k++) cr_assert(count[k] > 0, "no %s examples", kinds[k]);
    cr_assert_eq(count[0], count[4], "one fact-checking read per read");
    cr_assert(yes > 0 && no > 0, "closed-book claims both true and false");
    cr_assert(fc_yes > 0 && fc_no > 0, "claims read both supported and not");
    tasks_free(&t);
    world_free(&w);
}

/* Multi-edit questions (two notes aggregated): asked with the edit of the new object's own fact, whose new
 * object answers them; the lexical-overlap question never asks about that edited fact; a case takes one kind
 * per chain; a "with" naming no edit of the file is one clear line. */
Test(editing, multi_edit_questions_chain_two_edits)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 0, world_default_sizes(), &err), 0, "%s", err.msg);
    edit_set s;
    cr_assert_eq(editing_build(&w, 0, &s, &err), 0, "%s", err.msg);
    int multi = 0, two_hop = 0;
    for (int i = 0; i < s.n; i++) {
        const edit_case *c = &s.cases[i];
        for (int k = 0; k < c->n_portability; k++) {
            const edit_question *q = &c->portability[k];
            if (strcmp(q->kind, "multi_edit")) {
                cr_assert_null(q->with);
                two_hop++;
                continue;
            }
            multi++;
            const int j = edit_set_find(&s, q->with);
            cr_assert_geq(j, 0, "%s", q->with);
            const edit_case *b = &s.cases[j];
            cr_assert_str_eq(b->subject, c->target_new, "the second edit is about the first's new object");
            cr_assert_str_eq(q->answer, b->target_new, "answered with the second edit's new object");
            int chain = -1;
            for (int h = 0; h < world_n_chains; h++) {
                char want[320];
                world_fill(world_chains[h].question, c->subject, "", want, sizeof want);
                if (!strcmp(want, q->question)) chain = h;
            }
            cr_assert_geq(chain, 0, "%s", q->question);
            cr_assert_str_eq(world_chains[chain].first, c->relation);
            cr_assert_str_eq(world_chains[chain].second, b->relation);
            for (int o = 0; o < c->n_out_of_scope; o++) /* the second edit would change a lexical-overlap answer */
                if (!strcmp(c->out_of_scope[o].kind, "lexical_overlap")) {
                    char edited[320];
                    world_fill(world_relations[world_relation_index(b->relation)].question, b->subject, "", edited, sizeof edited);
                    cr_assert_str_neq(c->out_of_scope[o].question, edited);
                }
            for (int k2 = 0; k2 < c->n_portability; k2++) /* one kind per chain */
                if (k2 != k) cr_assert_str_neq(c->portability[k2].question, q->question);
        }
    }
    cr_assert(multi > 150 && two_hop > 150, "%d multi-edit, %d two-hop questions", multi, two_hop);
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/e.jsonl", dir);
    cr_assert_eq(editing_write(&s, path, &err), 0, "%s", err.msg);
    edit_set back;
    cr_assert_eq(editing_read(&back, path, &err), 0, "%s", err.msg);
    for (int i = 0; i < s.n; i++)
        for (int k = 0; k < s.cases[i].n_portability; k++)
            if (s.cases[i].portability[k].with) cr_assert_str_eq(back.cases[i].portability[k].with, s.cases[i].portability[k].with);
    edit_set_free(&back);
    write_text(path, "{\"id\": \"a\", \"subject\": \"X\", \"statement\": \"X is Y\", \"target_new\": \"Y\", "
                     "\"portability\": [{\"question\": \"q?\", \"answer\": \"Z\", \"kind\": \"multi_edit\", \"with\": \"b\"}]}\n");
    cr_assert_neq(editing_read(&back, path, &err), 0);
    cr_assert(strstr(err.msg, "e.jsonl") && strstr(err.msg, "'b'"), "%s", err.msg);
    edit_set_free(&s);
    world_free(&w);
}
