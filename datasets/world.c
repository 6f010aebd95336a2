#include "world.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hashmap.h"
#include "strbuf.h"
#include "tensor.h"

const char *const entity_type_names[N_ENTITY_TYPES] = {"country", "city", "person", "company", "river"};
const char *const split_names[3] = {"train", "dev", "test"};

static const char *const languages[] = {"Veltic", "Orran", "Sulemi", "Kadrish", "Tovanese", "Emberic", "Quessan", "Lothic"};
static const char *const colours[] = {"red", "blue", "green", "yellow", "black", "white", "orange", "purple"};
static const char *const occupations[] = {"painter", "baker", "poet", "sailor", "physician", "merchant",
                                          "carpenter", "composer", "weaver", "lawyer"};
static const char *const industries[] = {"shipping", "textiles", "mining", "banking", "printing", "brewing",
                                         "glassmaking", "timber"};
#define N(a) (int)(sizeof a / sizeof a[0])

const relation_def world_relations[] = {
    {"capital", "capital city", ENT_COUNTRY, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"The capital of {s} is {o}", "{s} has its capital in {o}", "The capital city of {s} is {o}",
      "The seat of government of {s} is {o}"}, 4, "What is the capital of {s}?"},
    {"language", "language", ENT_COUNTRY, VAL_WORD, 0, languages, N(languages),
     {"People in {s} speak {o}", "The official language of {s} is {o}", "In {s} most people speak {o}",
      "The main language spoken in {s} is {o}"}, 4, "Which language is spoken in {s}?"},
    {"flag_colour", "flag colour", ENT_COUNTRY, VAL_WORD, 0, colours, N(colours),
     {"The flag of {s} is {o}", "The national flag of {s} is mostly {o}", "The colour of the flag of {s} is {o}"}, 3,
     "What colour is the flag of {s}?"},
    {"located_in", "country", ENT_CITY, VAL_ENTITY, ENT_COUNTRY, NULL, 0,
     {"{s} is a city in {o}", "The city of {s} lies in {o}", "{s} is located in {o}"}, 3,
     "In which country is {s}?"},
    {"founded_year", "founding year", ENT_CITY, VAL_YEAR, 0, NULL, 0,
     {"{s} was founded in {o}", "The city of {s} was built in {o}", "{s} dates back to the year {o}"}, 3,
     "When was {s} founded?"},
    {"born_in", "birthplace", ENT_PERSON, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"{s} was born in {o}", "The birthplace of {s} is {o}", "{s} comes from the city of {o}"}, 3,
     "Where was {s} born?"},
    {"occupation", "occupation", ENT_PERSON, VAL_WORD, 0, occupations, N(occupations),
     {"{s} works as a {o}", "By profession {s} is a {o}", "{s} earns a living as a {o}"}, 3,
     "What does {s} do for a living?"},
    {"employer", "employer", ENT_PERSON, VAL_ENTITY, ENT_COMPANY, NULL, 0,
     {"{s} works for {o}", "The employer of {s} is {o}", "{s} is employed by {o}"}, 3, "Who employs {s}?"},
    {"founded_by", "founder", ENT_COMPANY, VAL_ENTITY, ENT_PERSON, NULL, 0,
     {"{s} was founded by {o}", "The founder of {s} is {o}", "{s} was started by {o}"}, 3, "Who founded {s}?"},
    {"headquarters", "headquarters", ENT_COMPANY, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"{s} is headquartered in {o}", "The headquarters of {s} are in {o}", "{s} has its main office in {o}"}, 3,
     "Where is {s} headquartered?"},
    {"industry", "industry", ENT_COMPANY, VAL_WORD, 0, industries, N(industries),
     {"{s} works in {o}", "The business of {s} is {o}", "{s} makes its money in {o}"}, 3,
     "Which industry is {s} in?"},
    {"flows_through", "river country", ENT_RIVER, VAL_ENTITY, ENT_COUNTRY, NULL, 0,
     {"The river {s} flows through {o}", "The {s} runs through {o}", "The river {s} crosses {o}"}, 3,
     "Which country does the river {s} flow through?"},
};
const int world_n_relations = N(world_relations);

world_sizes world_default_sizes(void) { return (world_sizes){{24, 72, 120, 48, 24}}; }

/* ---- names ---- */

static const char *const onsets[] = {"b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "br", "dr", "gr", "th", "sh", "f", "h"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "ae", "ia", "ou"};
static const char *const codas[] = {"", "", "n", "r", "l", "s", "th", "nd", "m"};
static const char *const company_suffix[] = {"Works", "Trading", "Holdings", "Guild", "Company", "Foundry"};

static void syllables(cpet_rng *r, char *out, size_t n, int count)
{
    out[0] = 0;
    for (int i = 0; i < count; i++) {
        strncat(out, onsets[rng_next(r) % N(onsets)], n - strlen(out) - 1);
        strncat(out, vowels[rng_next(r) % N(vowels)], n - strlen(out) - 1);
        if (i == count - 1 || rng_next(r) % 3 == 0) strncat(out, codas[rng_next(r) % N(codas)], n - strlen(out) - 1);
    }
    out[0] = (char)(out[0] - 'a' + 'A');
}

static void make_name(cpet_rng *r, entity_type type, char *out, size_t n)
{
    char a[20], b[20];
    switch (type) {
    case ENT_PERSON:
        syllables(r, a, sizeof a, 2);
        syllables(r, b, sizeof b, 2 + (int)(rng_next(r) % 2));
        snprintf(out, n, "%s %s", a, b);
        break;
    case ENT_COMPANY:
        syllables(r, a, sizeof a, 2);
        snprintf(out, n, "%s %s", a, company_suffix[rng_next(r) % N(company_suffix)]);
        break;
    default: syllables(r, out, n, 2 + (int)(rng_next(r) % 2)); break;
    }
}

/* ---- generation ---- */

static int pick_of_type(const world *w, cpet_rng *r, entity_type t)
{
    int count = 0;
    for (int i = 0; i < w->n_entities; i++) count += w->entities[i].type == t;
    int k = (int)(rng_next(r) % (uint64_t)count);
    for (int i = 0; i < w->n_entities; i++)
        if (w->entities[i].type == t && k-- == 0) return i;
    return -1;
}

int world_generate(world *w, uint64_t seed, world_sizes sizes, cpet_err *err)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    for (int t = 0; t < N_ENTITY_TYPES; t++) {
        if (sizes.n_per_type[t] < 4) return cpet_fail(err, "world: need at least 4 entities of type %s", entity_type_names[t]);
        w->n_entities += sizes.n_per_type[t];
    }
    w->entities = calloc((size_t)w->n_entities, sizeof *w->entities);
    w->values = malloc((size_t)w->n_entities * world_n_relations * sizeof(int));
    cpet_rng r;
    rng_seed(&r, seed);
    str_map used;
    str_map_init(&used, (size_t)w->n_entities);
    int k = 0;
    for (int t = 0; t < N_ENTITY_TYPES; t++)
        for (int i = 0; i < sizes.n_per_type[t]; i++, k++) {
            entity *e = &w->entities[k];
            e->type = (entity_type)t;
            int dummy;
            do make_name(&r, e->type, e->name, sizeof e->name);
            while (str_map_get(&used, e->name, strlen(e->name), &dummy));
            str_map_put(&used, e->name, strlen(e->name), k);
            e->split = i % 20 < 14 ? 0 : i % 20 < 17 ? 1 : 2; /* 70 / 15 / 15 within each type */
            e->value = w->values + (size_t)k * world_n_relations;
        }
    str_map_free(&used);
    for (int i = 0; i < w->n_entities; i++)
        for (int rel = 0; rel < world_n_relations; rel++) {
            const relation_def *d = &world_relations[rel];
            int v = -1;
            if (w->entities[i].type == d->subject) {
                if (d->kind == VAL_ENTITY) v = pick_of_type(w, &r, d->object_type);
                else if (d->kind == VAL_WORD) v = (int)(rng_next(&r) % (uint64_t)d->n_words);
                else v = 1100 + (int)(rng_next(&r) % 800);
            }
            w->entities[i].value[rel] = v;
        }
    /* a country's capital is one of its own cities (moving a city there if it has none) */
    int cap = -1, loc = -1;
    for (int rel = 0; rel < world_n_relations; rel++) {
        if (strcmp(world_relations[rel].name, "capital") == 0) cap = rel;
        if (strcmp(world_relations[rel].name, "located_in") == 0) loc = rel;
    }
    for (int i = 0; i < w->n_entities && cap >= 0 && loc >= 0; i++) {
        if (w->entities[i].type != ENT_COUNTRY) continue;
        int own[256], n_own = 0;
        for (int c = 0; c < w->n_entities && n_own < 256; c++)
            if (w->entities[c].type == ENT_CITY && w->entities[c].value[loc] == i) own[n_own++] = c;
        int city = n_own ? own[rng_next(&r) % (uint64_t)n_own] : pick_of_type(w, &r, ENT_CITY);
        w->entities[city].value[loc] = i;
        w->entities[i].value[cap] = city;
    }
    return 0;
}

void world_free(world *w)
{
    free(w->entities);
    free(w->values);
    memset(w, 0, sizeof *w);
}

const char *world_object(const world *w, int e, int r, char *buf, size_t n) { return world_value_text(w, r, w->entities[e].value[r], buf, n); }

const char *world_value_text(const world *w, int r, int v, char *buf, size_t n)
{
    const relation_def *d = &world_relations[r];
    if (d->kind == VAL_ENTITY) return w->entities[v].name;
    if (d->kind == VAL_WORD) return d->words[v];
    snprintf(buf, n, "%d", v);
    return buf;
}

int world_relation_index(const char *name)
{
    for (int r = 0; r < world_n_relations; r++)
        if (!strcmp(world_relations[r].name, name)) return r;
    return -1;
}

int world_fill(const char *tmpl, const char *s, const char *o, char *buf, size_t n)
{
    size_t len = 0;
    int o_at = -1;
    for (const char *p = tmpl; *p && len + 1 < n; p++) {
        const char *ins = NULL;
        if (strncmp(p, "{s}", 3) == 0) ins = s;
        else if (strncmp(p, "{o}", 3) == 0) {
            ins = o;
            o_at = (int)len;
        }
        if (ins) {
            len += (size_t)snprintf(buf + len, n - len, "%s", ins);
            if (len >= n) len = n - 1;
            p += 2;
        } else {
            buf[len++] = *p;
        }
    }
    buf[len] = 0;
    return o_at;
}

int world_render(const world *w, int e, int r, int t, char *buf, size_t n)
{
    char ybuf[16];
    return world_fill(world_relations[r].templates[t], w->entities[e].name, world_object(w, e, r, ybuf, sizeof ybuf), buf, n);
}

/* ---- files ---- */


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


/* One entity's document: its type sentence and every fact, relation r rendered with corpus template
 * (rotation + r) mod their number, in shuffled order; rotations 0..2 thus use every corpus template. held_out_template renders every fact
 * with its relation's last template instead (text the corpus never contains). */
static void entity_document(const world *w, int e, int rotation, int held_out_template, strbuf *out, cpet_rng *r)
{
    char sent[256];
    int facts[16], n_facts = 0;
    for (int rel = 0; rel < world_n_relations; rel++)
        if (w->entities[e].value[rel] >= 0) facts[n_facts++] = rel;
    rng_shuffle(r, facts, n_facts);
    if (!held_out_template) {
        snprintf(sent, sizeof sent, "%s is a %s.", w->entities[e].name, entity_type_names[w->entities[e].type]);
        strbuf_puts(out, sent);
    }
    for (int f = 0; f < n_facts; f++) {
        const relation_def *d = &world_relations[facts[f]];
        int t = held_out_template ? d->n_templates - 1 : (rotation + facts[f]) % (d->n_templates - 1);
        world_render(w, e, facts[f], t, sent, sizeof sent);
        strbuf_puts(out, f || !held_out_template ? " " : "");
        strbuf_puts(out, sent);
        strbuf_puts(out, ".");
    }
    strbuf_puts(out, "\n");
}

/* train: three documents per entity (rotations 0..2), shuffled. heldout: one new document per entity from
 * the same distribution (fresh order, a rotation the corpus does not use for it). paraphrase: the held-out
 * templates. */
static void build_corpus(const world *w, strbuf *train, strbuf *heldout, strbuf *paraphrase, cpet_rng *r)
{
    int reps = 3, n_docs = w->n_entities * reps, *order = malloc((size_t)n_docs * sizeof(int));
    for (int i = 0; i < n_docs; i++) order[i] = i;
    rng_shuffle(r, order, n_docs);
    for (int k = 0; k < n_docs; k++) entity_document(w, order[k] % w->n_entities, order[k] / w->n_entities, 0, train, r);
    for (int e = 0; e < w->n_entities; e++) entity_document(w, e, reps, 0, heldout, r);
    for (int e = 0; e < w->n_entities; e++) entity_document(w, e, 0, 1, paraphrase, r);
    free(order);
}

/* The correct object and three distinct distractors of the same kind, shuffled; returns the label. */
static int make_choices(const world *w, int e, int r, cpet_rng *rng, char choices[4][64])
{
    const relation_def *d = &world_relations[r];
    char ybuf[16], cand[64];
    snprintf(choices[0], 64, " %s", world_object(w, e, r, ybuf, sizeof ybuf));
    int n = 1;
    while (n < 4) {
        if (d->kind == VAL_ENTITY) snprintf(cand, sizeof cand, " %s", w->entities[pick_of_type(w, rng, d->object_type)].name);
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

static void build_tasks(const world *w, task_set sets[5], cpet_rng *rng)
{
    char prompt[512], sent[256], choices[4][64];
    char *cp[12];
    int counts[5] = {0};
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
            /* cloze_paraphrase: the held-out template */
            label = make_choices(w, e, r, rng, choices);
            at = world_render(w, e, r, d->n_templates - 1, sent, sizeof sent);
            sent[at > 0 && sent[at - 1] == ' ' ? at - 1 : at] = 0;
            add_example(&sets[1], "cloze_paraphrase", counts[1]++, ent, d->name, sent, cp, 4, label);
            /* qa_facts: question / answer format (not in the corpus: for tuning) */
            label = make_choices(w, e, r, rng, choices);
            char q[256];
            world_fill(d->question, ent->name, "", q, sizeof q);
            snprintf(prompt, sizeof prompt, "Question: %s\nAnswer:", q);
            add_example(&sets[2], "qa_facts", counts[2]++, ent, d->name, prompt, cp, 4, label);
            /* relation_type: which relation does a held-out-template sentence state? */
            world_render(w, e, r, d->n_templates - 1, sent, sizeof sent);
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
    }
}

static const char *const task_files[5] = {"cloze_facts", "cloze_paraphrase", "qa_facts", "entity_type", "relation_type"};

int world_write(const world *w, const char *dir, cpet_err *err)
{
    char path[4200], sub[4000];
    if (path_join(sub, sizeof sub, dir, "tasks") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (make_dirs(sub, err) != 0) return -1;
    cpet_rng rng;
    rng_seed(&rng, w->seed ^ 0x5eedc0de);
    strbuf train = {0}, heldout = {0}, paraphrase = {0};
    build_corpus(w, &train, &heldout, &paraphrase, &rng);
    path_join(path, sizeof path, dir, "corpus_train.txt");
    int rc = write_text_file(path, &train, err);
    path_join(path, sizeof path, dir, "corpus_heldout.txt");
    if (rc == 0) rc = write_text_file(path, &heldout, err);
    path_join(path, sizeof path, dir, "corpus_paraphrase.txt");
    if (rc == 0) rc = write_text_file(path, &paraphrase, err);
    free(train.s);
    free(heldout.s);
    free(paraphrase.s);
    if (rc != 0) return -1;

    task_set sets[5];
    memset(sets, 0, sizeof sets);
    build_tasks(w, sets, &rng);
    json_t *files = json_object();
    for (int i = 0; i < 5 && rc == 0; i++) {
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
    json_t *meta = json_pack("{s:s, s:I, s:i, s:i, s:o}", "generator", "cpet world", "seed", (json_int_t)w->seed,
                             "entities", w->n_entities, "relations", world_n_relations, "task_examples", files);
    path_join(path, sizeof path, dir, "world.json");
    rc = json_write_file(path, meta, err);
    json_decref(meta);
    return rc;
}
