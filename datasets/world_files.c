/* The world written out: its corpora (documents from world_corpus.c), its tasks and world.json. */
#include "world_files.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "strbuf.h"
#include "tensor.h"
#include "world_corpus.h"

static int write_text_file(const char *path, const strbuf *t, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    if (t->len && fwrite(t->s, 1, t->len, af.fp) != t->len) {
        atomic_abort(&af);
        return cpet_fail(err, "%s: write failed", path);
    }
    return atomic_commit(&af, err);
}


/* Documents as JSONL lines ({"text": ...}), so a document may hold newlines. */
static void put_jsonl(strbuf *out, const char *text)
{
    json_t *o = json_pack("{s:s}", "text", text);
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    strbuf_puts(out, line);
    strbuf_puts(out, "\n");
    free(line);
    json_decref(o);
}

int world_default_docs(const world *w) { return 200 * w->n_entities; }

/* Documents drawn from the mixture (world_doc_mix); counts per kind into kinds (may be NULL). */
static void corpus_documents(const world *w, int n_docs, int templates, cpet_rng *r, strbuf *out, int *kinds, int *read_kinds)
{
    strbuf doc = {0};
    for (int d = 0; d < n_docs; d++) {
        int pick = rng_below(r, 100), k = 0;
        while (k < N_DOC_KINDS - 1 && pick >= world_doc_mix[k]) pick -= world_doc_mix[k++];
        world_reading info;
        doc.len = 0;
        world_document(w, (world_doc_kind)k, templates, r, &doc, &info);
        put_jsonl(out, doc.s);
        if (kinds) kinds[k]++;
        if (read_kinds && k == DOC_READING) read_kinds[info.kind]++;
    }
    free(doc.s);
}

/* Every fact of each entity in one document, a sentence per fact in template t(fact) = pick(e, r): the
 * paraphrase file uses the held-out templates, its control the corpus templates, in the same order. */
static void facts_document(const world *w, int e, int heldout, strbuf *out)
{
    strbuf doc = {0};
    char sent[320];
    strbuf_puts(&doc, "");
    for (int rel = 0; rel < world_n_relations; rel++) {
        if (w->entities[e].value[rel] < 0) continue;
        const int k = (e + rel) % WORLD_HELDOUT_TEMPLATES;
        const int t = heldout ? world_heldout_template(rel, k) : k;
        world_render(w, e, rel, t, sent, sizeof sent);
        strbuf_printf(&doc, "%s%s.", doc.len ? " " : "", sent);
    }
    put_jsonl(out, doc.s);
    free(doc.s);
}

#define N_TASK_FILES 6

/* The correct object and three distinct distractors of the same kind, shuffled; returns the label. */
static int make_choices(const world *w, int e, int r, cpet_rng *rng, char choices[4][64])
{
    const relation_def *d = &world_relations[r];
    char ybuf[16], cand[64];
    snprintf(choices[0], 64, " %s", world_object(w, e, r, ybuf, sizeof ybuf));
    int n = 1;
    while (n < 4) {
        if (d->kind == VAL_ENTITY) snprintf(cand, sizeof cand, " %s", w->entities[world_pick_of_type(w, rng, d->object_type)].name);
        else if (d->kind == VAL_WORD) snprintf(cand, sizeof cand, " %s", d->words[rng_next(rng) % (uint64_t)d->n_words]);
        else snprintf(cand, sizeof cand, " %d", 1100 + (int)(rng_next(rng) % 800));
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= strcmp(cand, choices[i]) == 0;
        if (!dup) snprintf(choices[n++], 64, "%s", cand);
    }
    int label = (int)(rng_next(rng) % 4);
    char tmp[64];
    memcpy(tmp, choices[0], 64);
    memcpy(choices[0], choices[label], 64);
    memcpy(choices[label], tmp, 64);
    return label;
}

static void add_example(task_set *s, const char *task, int idx, const entity *e, const char *relation,
                        const char *prompt, char **choices, int n_choices, int label)
{
    char id[64];
    snprintf(id, sizeof id, "%s/%05d", task, idx);
    task_example ex = {id, (char *)task, (char *)split_names[e->split], (char *)prompt, (char *)e->name,
                       (char *)relation, choices, n_choices, label};
    tasks_add(s, &ex);
}

static void build_tasks(const world *w, task_set sets[N_TASK_FILES], cpet_rng *rng)
{
    char prompt[512], sent[256], choices[4][64];
    char *cp[12];
    int counts[N_TASK_FILES] = {0};
    for (int e = 0; e < w->n_entities; e++) {
        const entity *ent = &w->entities[e];
        for (int r = 0; r < world_n_relations; r++) {
            if (ent->value[r] < 0) continue;
            const relation_def *d = &world_relations[r];
            for (int c = 0; c < 4; c++) cp[c] = choices[c];
            /* cloze_facts: a corpus template cut before the object */
            int label = make_choices(w, e, r, rng, choices);
            int at = world_render(w, e, r, 0, sent, sizeof sent);
            sent[at > 0 && sent[at - 1] == ' ' ? at - 1 : at] = 0;
            add_example(&sets[0], "cloze_facts", counts[0]++, ent, d->name, sent, cp, 4, label);
            /* cloze_paraphrase: a held-out template */
            label = make_choices(w, e, r, rng, choices);
            at = world_render(w, e, r, world_heldout_template(r, (e + r) % WORLD_HELDOUT_TEMPLATES), sent, sizeof sent);
            sent[at > 0 && sent[at - 1] == ' ' ? at - 1 : at] = 0;
            add_example(&sets[1], "cloze_paraphrase", counts[1]++, ent, d->name, sent, cp, 4, label);
            /* qa_facts: question / answer format (not in the corpus: for tuning) */
            label = make_choices(w, e, r, rng, choices);
            char q[256];
            world_fill(d->question, ent->name, "", q, sizeof q);
            snprintf(prompt, sizeof prompt, "Question: %s\nAnswer:", q);
            add_example(&sets[2], "qa_facts", counts[2]++, ent, d->name, prompt, cp, 4, label);
            /* relation_type: which relation does a held-out-template sentence state? */
            world_render(w, e, r, world_heldout_template(r, (e + r + 1) % WORLD_HELDOUT_TEMPLATES), sent, sizeof sent);
            snprintf(prompt, sizeof prompt, "Sentence: %s.\nRelation:", sent);
            char rel_choices[16][40];
            for (int k = 0; k < world_n_relations; k++) {
                snprintf(rel_choices[k], sizeof rel_choices[k], " %s", world_relations[k].display);
                cp[k] = rel_choices[k];
            }
            add_example(&sets[4], "relation_type", counts[4]++, ent, d->name, prompt, cp, world_n_relations, r);
        }
        /* entity_type */
        char type_choices[N_ENTITY_TYPES][24];
        for (int t = 0; t < N_ENTITY_TYPES; t++) {
            snprintf(type_choices[t], sizeof type_choices[t], " %s", entity_type_names[t]);
            cp[t] = type_choices[t];
        }
        snprintf(prompt, sizeof prompt, "Question: What kind of thing is %s?\nAnswer: a", ent->name);
        add_example(&sets[3], "entity_type", counts[3]++, ent, "type", prompt, cp, N_ENTITY_TYPES, (int)ent->type);
        /* qa_two_hop: a chain's question, answered through two facts (composition: the harder QA task) */
        for (int c = 0; c < world_n_chains; c++) {
            const int r1 = world_relation_index(world_chains[c].first), r2 = world_relation_index(world_chains[c].second);
            const int mid = ent->value[r1];
            if (mid < 0 || world_relations[r1].kind != VAL_ENTITY || w->entities[mid].value[r2] < 0) continue;
            for (int k = 0; k < 4; k++) cp[k] = choices[k];
            const int label = make_choices(w, mid, r2, rng, choices);
            char q[256];
            world_fill(world_chains[c].question, ent->name, "", q, sizeof q);
            snprintf(prompt, sizeof prompt, "Question: %s\nAnswer:", q);
            add_example(&sets[5], "qa_two_hop", counts[5]++, ent, world_chains[c].first, prompt, cp, 4, label);
        }
    }
}

static const char *const task_files[N_TASK_FILES] = {"cloze_facts", "cloze_paraphrase", "qa_facts", "entity_type", "relation_type", "qa_two_hop"};

#define N_CORPUS_FILES 5

int world_write(const world *w, const char *dir, const world_corpus_options *opt, cpet_err *err)
{
    char path[4200], sub[4000];
    if (path_join(sub, sizeof sub, dir, "tasks") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (make_dirs(sub, err) != 0) return -1;
    const int n_docs = opt && opt->docs > 0 ? opt->docs : world_default_docs(w);
    const int templates = opt && opt->templates > 0 ? opt->templates : 0;
    const int n_heldout = n_docs / 50 > 200 ? n_docs / 50 : 200;
    /* one stream per file, so the tasks do not move when the corpus's size does */
    cpet_rng rng, rng_held, rng_tasks;
    rng_seed(&rng, w->seed ^ 0x5eedc0de);
    rng_seed(&rng_held, w->seed ^ 0x4e1d07);
    rng_seed(&rng_tasks, w->seed ^ 0x7a5c5);
    int kinds[N_DOC_KINDS] = {0}, read_kinds[N_READ_KINDS] = {0};
    strbuf text = {0};
    int rc = 0;
    static const char *const corpus_files[N_CORPUS_FILES] = {"corpus_train.jsonl", "corpus_heldout.jsonl", "corpus_paraphrase.jsonl",
                                                             "corpus_seen_templates.jsonl", "corpus_dev.jsonl"};
    long bytes[N_CORPUS_FILES] = {0};
    for (int f = 0; f < N_CORPUS_FILES && rc == 0; f++) {
        text.len = 0;
        strbuf_puts(&text, "");
        if (f == 0) corpus_documents(w, n_docs, templates, &rng, &text, kinds, read_kinds);
        /* dev continues the held-out stream: the held-out file keeps its bytes, and dev is the same distribution */
        else if (f == 1 || f == 4) corpus_documents(w, n_heldout, templates, &rng_held, &text, NULL, NULL);
        else
            for (int e = 0; e < w->n_entities; e++) facts_document(w, e, f == 2, &text);
        bytes[f] = (long)text.len;
        path_join(path, sizeof path, dir, corpus_files[f]);
        rc = write_text_file(path, &text, err);
    }
    free(text.s);
    if (rc != 0) return -1;

    task_set sets[N_TASK_FILES];
    memset(sets, 0, sizeof sets);
    build_tasks(w, sets, &rng_tasks);
    json_t *files = json_object();
    for (int i = 0; i < N_TASK_FILES && rc == 0; i++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", sub, task_files[i]);
        rc = tasks_write(&sets[i], path, err);
        json_object_set_new(files, task_files[i], json_integer(sets[i].n));
        tasks_free(&sets[i]);
    }
    if (rc != 0) {
        json_decref(files);
        return -1;
    }
    /* entities.jsonl: every attribute, for later studies (editing, continual tasks) */
    atomic_file af;
    path_join(path, sizeof path, dir, "entities.jsonl");
    if (atomic_open(&af, path, err) != 0) {
        json_decref(files);
        return -1;
    }
    for (int e = 0; e < w->n_entities; e++) {
        json_t *attrs = json_object();
        char ybuf[16];
        for (int r = 0; r < world_n_relations; r++)
            if (w->entities[e].value[r] >= 0)
                json_object_set_new(attrs, world_relations[r].name, json_string(world_object(w, e, r, ybuf, sizeof ybuf)));
        json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "name", w->entities[e].name, "type",
                              entity_type_names[w->entities[e].type], "split", split_names[w->entities[e].split],
                              "attributes", attrs);
        json_dumpf(o, af.fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', af.fp);
        json_decref(o);
    }
    if (atomic_commit(&af, err) != 0) {
        json_decref(files);
        return -1;
    }
    json_t *docs = json_object(), *reads = json_object(), *sizes = json_object();
    for (int k = 0; k < N_DOC_KINDS; k++) json_object_set_new(docs, world_doc_kind_names[k], json_integer(kinds[k]));
    static const char *const read_names[N_READ_KINDS] = {"answer", "continuation", "two_hop", "memory"};
    for (int k = 0; k < N_READ_KINDS; k++) json_object_set_new(reads, read_names[k], json_integer(read_kinds[k]));
    for (int f = 0; f < N_CORPUS_FILES; f++) json_object_set_new(sizes, corpus_files[f], json_integer(bytes[f]));
    json_t *meta = json_pack("{s:s, s:i, s:I, s:i, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o}, s:o}",
                             "generator", "cpet world", "version", 2, "seed", (json_int_t)w->seed, "entities", w->n_entities,
                             "relations", world_n_relations, "facts", world_n_facts(w), "corpus", "documents", n_docs,
                             "heldout_documents", n_heldout, "dev_documents", n_heldout, "templates_per_relation",
                             templates ? templates : world_corpus_templates(0), "heldout_templates_per_relation",
                             WORLD_HELDOUT_TEMPLATES, "kinds", docs, "reading", reads, "bytes", sizes, "task_examples", files);
    path_join(path, sizeof path, dir, "world.json");
    rc = json_write_file(path, meta, err);
    json_decref(meta);
    return rc;
}
