/* The world's corpus (datasets/world_corpus.h): every kind of document states the world's facts, reading
 * documents use what their passage says, held-out phrasings stay out, and the JSONL corpus reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "helpers.h"
#include "world.h"
#include "world_files.h"
#include "world_corpus.h"

static world make_world(uint64_t seed)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, seed, world_default_sizes(), &err), 0, "%s", err.msg);
    return w;
}

/* The (subject, relation) a question names, searching every question form the corpus uses; -1 if none. */
static int question_fact(const world *w, const char *question, int *rel)
{
    char q[320];
    for (int r = 0; r < world_n_relations; r++)
        for (int k = 0; k < WORLD_CORPUS_QUESTIONS; k++)
            for (int e = 0; e < w->n_entities; e++) {
                if (w->entities[e].type != world_relations[r].subject) continue;
                world_fill(world_relations[r].corpus_questions[k], w->entities[e].name, "", q, sizeof q);
                if (!strcmp(q, question)) {
                    *rel = r;
                    return e;
                }
            }
    return -1;
}

/* Q&A documents and dialogues answer with the world's fact. */
Test(world_corpus, questions_in_qa_documents_are_answered_with_the_worlds_facts)
{
    world w = make_world(5);
    cpet_rng r;
    rng_seed(&r, 1);
    int checked = 0;
    for (int d = 0; d < 60; d++) {
        strbuf doc = {0};
        world_document(&w, DOC_QA, 0, &r, &doc, NULL);
        for (char *q = strstr(doc.s, "Question: "); q; q = strstr(q + 1, "Question: ")) {
            char question[320], answer[320];
            cr_assert_eq(sscanf(q, "Question: %319[^\n]\nAnswer: %319[^\n]", question, answer), 2, "%s", doc.s);
            int rel = -1, e = question_fact(&w, question, &rel);
            cr_assert_geq(e, 0, "'%s' is no corpus question form", question);
            char obuf[16];
            const char *truth = world_object(&w, e, rel, obuf, sizeof obuf);
            cr_assert(strstr(answer, truth), "'%s' answered '%s', the world says %s", question, answer, truth);
            checked++;
        }
        free(doc.s);
    }
    cr_assert_gt(checked, 40);
    world_free(&w);
}

/* A list names exactly the subjects sharing its object; a fact box lists every fact of its entity. */
Test(world_corpus, lists_and_fact_boxes_hold_exactly_the_worlds_facts)
{
    world w = make_world(5);
    cpet_rng r;
    rng_seed(&r, 2);
    int lists = 0, boxes = 0;
    for (int d = 0; d < 200; d++) {
        strbuf doc = {0};
        world_document(&w, DOC_LIST, 0, &r, &doc, NULL);
        const char *type = strstr(doc.s, "\nType: ");
        if (type) { /* fact box: "Name\nType: t\nField: value..." */
            char name[64];
            cr_assert_eq(sscanf(doc.s, "%63[^\n]", name), 1);
            const int e = world_entity_index(&w, name);
            cr_assert_geq(e, 0, "%s", doc.s);
            for (int rel = 0; rel < world_n_relations; rel++) {
                if (w.entities[e].value[rel] < 0) continue;
                char line[160], obuf[16];
                snprintf(line, sizeof line, "\n%s: %s", world_relations[rel].field, world_object(&w, e, rel, obuf, sizeof obuf));
                cr_assert(strstr(doc.s, line), "the box lacks '%s':\n%s", line + 1, doc.s);
            }
            boxes++;
        } else if (strstr(doc.s, ":\n- ")) { /* a bulleted list: heading filled with the object */
            int rel = -1, v = -1;
            for (int q = 0; q < world_n_relations && rel < 0; q++)
                for (int e = 0; e < w.n_entities && rel < 0; e++) {
                    if (w.entities[e].value[q] < 0) continue;
                    char head[200], obuf[16];
                    world_fill(world_relations[q].list_heading, "", world_object(&w, e, q, obuf, sizeof obuf), head, sizeof head);
                    strcat(head, ":\n");
                    if (!strncmp(doc.s, head, strlen(head))) rel = q, v = w.entities[e].value[q];
                }
            cr_assert_geq(rel, 0, "no heading matches:\n%s", doc.s);
            int want = 0, got = 0;
            for (int e = 0; e < w.n_entities; e++) {
                char item[80];
                snprintf(item, sizeof item, "\n- %s", w.entities[e].name);
                const char *at = strstr(doc.s, item);
                const int listed = at && (at[strlen(item)] == '\n' || at[strlen(item)] == 0);
                cr_assert_eq(listed, w.entities[e].value[rel] == v, "%s %s:\n%s", w.entities[e].name,
                             listed ? "listed wrongly" : "missing", doc.s);
                want += w.entities[e].value[rel] == v, got += listed;
            }
            cr_assert_eq(got, want);
            lists++;
        }
        free(doc.s);
    }
    cr_assert(lists > 5 && boxes > 5, "%d lists, %d boxes", lists, boxes);
    world_free(&w);
}

/* Reading documents: the answer the text after the passage gives is the passage's (counterfactual or about an
 * invented subject included), except for questions on nothing the passage says, which the world answers. */
Test(world_corpus, reading_documents_use_what_their_passage_states)
{
    world w = make_world(5);
    cpet_rng r;
    rng_seed(&r, 3);
    int by_kind[N_READ_KINDS] = {0}, counterfactual = 0, invented = 0;
    for (int d = 0; d < 2000; d++) {
        strbuf doc = {0};
        world_reading x;
        world_document(&w, DOC_READING, 0, &r, &doc, &x);
        by_kind[x.kind]++;
        cr_assert(x.passage_end > 0 && x.passage_end < doc.len, "%s", doc.s);
        const char *after = doc.s + x.passage_end;
        cr_assert(strstr(after, x.answer), "the text after the passage does not give '%s':\n%s", x.answer, doc.s);
        char passage[4096];
        snprintf(passage, sizeof passage, "%.*s", (int)x.passage_end, doc.s);
        if (x.kind == READ_MEMORY) { /* the question's subject is not in the passage; the answer is the world's */
            char question[320];
            cr_assert_eq(sscanf(after, "\nQuestion: %319[^\n]", question), 1, "%s", doc.s);
            int rel = -1, e = question_fact(&w, question, &rel);
            cr_assert_geq(e, 0, "%s", question);
            for (int t = 0; t < world_corpus_templates(rel); t++) { /* no sentence of the passage states it */
                char stated[320];
                world_fill(world_relations[rel].templates[t], w.entities[e].name, "", stated, sizeof stated);
                cr_assert(!strstr(passage, stated), "the passage states '%s':\n%s", stated, doc.s);
            }
            char obuf[16];
            cr_assert_str_eq(x.answer, world_object(&w, e, rel, obuf, sizeof obuf));
        } else {
            cr_assert(strstr(passage, x.answer), "the passage does not state '%s':\n%s", x.answer, doc.s);
        }
        if (x.kind == READ_ANSWER && (x.counterfactual || x.new_subject)) { /* the world would answer otherwise */
            char question[320];
            cr_assert_eq(sscanf(after, "\nQuestion: %319[^\n]", question), 1);
            int rel = -1, e = question_fact(&w, question, &rel);
            if (x.new_subject) cr_assert_lt(e, 0, "an invented subject is not in the world: %s", question);
            else {
                char obuf[16];
                cr_assert_str_neq(x.answer, world_object(&w, e, rel, obuf, sizeof obuf), "%s", doc.s);
            }
        }
        counterfactual += x.counterfactual, invented += x.new_subject;
        free(doc.s);
    }
    for (int k = 0; k < N_READ_KINDS; k++) cr_assert_gt(by_kind[k], 150, "kind %d: %d", k, by_kind[k]);
    cr_assert(counterfactual > 300 && invented > 200, "%d counterfactual, %d invented", counterfactual, invented);
    world_free(&w);
}

/* Hand-checked documents (world seed 5). The article, read against entities.jsonl when this was written:
 * Gruvaes Company was founded by Mikound Sasiadia, who was born in Brolfoth (the composed fact), and has its
 * head office in Taenaen; its industry is the fact this article leaves out; the rest is general text. Then a
 * two-hop reading document: the passage's two notes chain, and the question asks through both. */
Test(world_corpus, hand_checked_documents)
{
    world w = make_world(5);
    cpet_rng r;
    rng_seed(&r, 11);
    strbuf doc = {0};
    world_document(&w, DOC_ARTICLE, 0, &r, &doc, NULL);
    cr_assert_str_eq(doc.s, "Gruvaes Company\nGruvaes Company is a company. The founder of Gruvaes Company is Mikound Sasiadia. "
                            "The founder of Gruvaes Company was born in Brolfoth. Gruvaes Company opened new tools last year. "
                            "The head office of Gruvaes Company is in Taenaen. The line of people waiting at the farm was long.");
    world_reading x;
    int found = 0;
    for (int d = 0; d < 400 && !found; d++) {
        doc.len = 0;
        world_document(&w, DOC_READING, 0, &r, &doc, &x);
        found = x.kind == READ_TWO_HOP && !x.counterfactual && !x.new_subject;
    }
    cr_assert(found);
    /* the two-hop answer is what the world says through the chain the question names */
    int checked = 0;
    for (int c = 0; c < world_n_chains; c++) {
        const char *q = strstr(doc.s, "\nQuestion: ");
        for (int e = 0; e < w.n_entities && q; e++) {
            char want[320];
            world_fill(world_chains[c].question, w.entities[e].name, "", want, sizeof want);
            if (strncmp(q + 11, want, strlen(want))) continue;
            const int r1 = world_relation_index(world_chains[c].first), r2 = world_relation_index(world_chains[c].second);
            char obuf[16];
            cr_assert_str_eq(x.answer, world_object(&w, w.entities[e].value[r1], r2, obuf, sizeof obuf), "%s", doc.s);
            checked = 1;
        }
    }
    cr_assert(checked, "%s", doc.s);
    free(doc.s);
    world_free(&w);
}

/* The longest literal text of a template between its placeholders. */
static void longest_piece(const char *tmpl, char *piece, size_t n)
{
    piece[0] = 0;
    for (const char *p = tmpl; *p;) {
        const char *next = strchr(p, '{');
        const size_t len = next ? (size_t)(next - p) : strlen(p);
        if (len > strlen(piece) && len < n) snprintf(piece, n, "%.*s", (int)len, p);
        p = next ? next + 3 : p + len;
    }
}

/* No held-out phrasing reaches the corpus: neither a held-out template's longest literal piece nor the
 * tasks' question forms. */
Test(world_corpus, held_out_templates_and_task_questions_never_appear_in_the_corpus)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    world w = make_world(5);
    cpet_err err;
    world_corpus_options opt = {4000, 0};
    cr_assert_eq(world_write(&w, dir, &opt, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/corpus_train.jsonl", dir);
    char *train = read_all(path, NULL);
    cr_assert_not_null(train);
    for (int rel = 0; rel < world_n_relations; rel++) {
        for (int k = 0; k < WORLD_HELDOUT_TEMPLATES; k++) {
            const char *t = world_relations[rel].templates[world_heldout_template(rel, k)];
            char piece[200];
            longest_piece(t, piece, sizeof piece);
            cr_assert_gt(strlen(piece), 8, "%s: a held-out template needs a distinctive piece", t);
            cr_expect(!strstr(train, piece), "held-out piece '%s' (of '%s') is in the corpus", piece, t);
        }
        /* the tasks' question, filled for every subject */
        for (int e = 0; e < w.n_entities; e++) {
            if (w.entities[e].type != world_relations[rel].subject) continue;
            char q[320];
            world_fill(world_relations[rel].question, w.entities[e].name, "", q, sizeof q);
            cr_expect(!strstr(train, q), "the task question '%s' is in the corpus", q);
        }
        /* while every corpus template does appear */
        for (int t = 0; t < world_corpus_templates(rel); t++) {
            const char *tm = world_relations[rel].templates[t];
            char piece[200];
            longest_piece(tm, piece, sizeof piece);
            cr_expect(strstr(train, piece), "corpus template piece '%s' never used", piece);
        }
    }
    free(train);
    world_free(&w);
}

/* --templates T: only the first T corpus templates of each relation are used. */
Test(world_corpus, the_templates_knob_limits_the_phrasings)
{
    world w = make_world(5);
    cpet_rng r;
    rng_seed(&r, 4);
    strbuf all = {0};
    for (int d = 0; d < 300; d++) {
        world_document(&w, DOC_ARTICLE, 2, &r, &all, NULL);
        strbuf_puts(&all, "\n");
    }
    const int born = world_relation_index("born_in");
    cr_assert(strstr(all.s, " was born in ") || strstr(all.s, "The birthplace of "));
    cr_assert(!strstr(all.s, " comes from the city of "), "template 2 of born_in is beyond --templates 2");
    cr_assert(!strstr(all.s, " was born and raised in "), "template 3 of born_in is beyond --templates 2");
    (void)born;
    free(all.s);
    world_free(&w);
}

/* A reduced budget of a text: 10 documents, 4 kept -> documents 0, 2, 5, 7 (i * 10 / 4), lengths with them. */
Test(corpus, keep_evenly_takes_documents_spread_over_the_file)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.txt", dir);
    write_text(path, "d0\nd1\nd2\nd3\nd4\nd5 five\nd6\nd7 seven!\nd8\nd9\n");
    corpus c;
    cpet_err err;
    cr_assert_eq(corpus_read(&c, path, &err), 0, "%s", err.msg);
    corpus_keep_evenly(&c, 0);
    cr_assert_eq(c.n, 10, "0: every document");
    corpus_keep_evenly(&c, 4);
    cr_assert_eq(c.n, 4);
    const char *want[4] = {"d0", "d2", "d5 five", "d7 seven!"};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(c.docs[i], want[i]);
        cr_assert_eq(c.lens[i], strlen(want[i]));
    }
    corpus_keep_evenly(&c, 9);
    cr_assert_eq(c.n, 4, "a limit over the count keeps all");
    corpus_free(&c);
}

/* The JSONL corpus reader: documents keep their newlines; a line without "text" names file and line. */
Test(corpus, jsonl_documents_keep_newlines_and_bad_lines_are_named)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.jsonl", dir);
    write_text(path, "{\"text\": \"Question: a?\\nAnswer: b\"}\n\n{\"text\": \"caf\\u00e9 \\\"x\\\"\", \"id\": 3}\n{\"text\": \"\"}\n");
    corpus c;
    cpet_err err;
    cr_assert_eq(corpus_read(&c, path, &err), 0, "%s", err.msg);
    cr_assert_eq(c.n, 2, "the empty document is skipped");
    cr_assert_str_eq(c.docs[0], "Question: a?\nAnswer: b");
    cr_assert_eq(c.lens[0], strlen("Question: a?\nAnswer: b"));
    cr_assert_str_eq(c.docs[1], "caf\xc3\xa9 \"x\"");
    corpus_free(&c);
    write_text(path, "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n");
    cr_assert_neq(corpus_read(&c, path, &err), 0);
    cr_assert(strstr(err.msg, "c.jsonl:2:") && strstr(err.msg, "text"), "%s", err.msg);
    write_text(path, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
    cr_assert_neq(corpus_read(&c, path, &err), 0);
    cr_assert(strstr(err.msg, "c.jsonl:2:"), "%s", err.msg);
}
