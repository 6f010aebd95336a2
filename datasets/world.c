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

/* Ten templates per relation: eight for the corpus, then two held out (their words appear elsewhere in the
 * corpus, their phrasing never). The tasks' question is held out too; the corpus asks the corpus_questions. */
const relation_def world_relations[] = {
    {"capital", "capital city", ENT_COUNTRY, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"The capital of {s} is {o}", "{s} has its capital in {o}", "The capital city of {s} is {o}",
      "The government of {s} sits in {o}", "{s} is governed from {o}", "The most important city of {s} is {o}",
      "{s} chose as its capital the city of {o}", "The parliament of {s} meets in {o}",
      "The city that serves as the capital of {s} is {o}", "Among all the cities of {s}, the capital is {o}"}, 10,
     "What is the capital of {s}?",
     {"Where does the government of {s} sit?", "Which city governs {s}?", "Where does the parliament of {s} meet?"},
     "Capitals of {o}", "Capital"},
    {"language", "language", ENT_COUNTRY, VAL_WORD, 0, languages, N(languages),
     {"People in {s} speak {o}", "The official language of {s} is {o}", "In {s} most people speak {o}",
      "The language of {s} is {o}", "{s} is a country where people speak {o}",
      "Children in {s} learn to read and write in {o}", "The people of {s} talk to each other in {o}",
      "Most books in {s} are written in {o}",
      "The main language spoken in {s} is {o}", "If you visit {s}, you will hear people speaking {o}"}, 10,
     "Which language is spoken in {s}?",
     {"What do people speak in {s}?", "In which language are the books of {s} written?", "What is the language of {s}?"},
     "Countries where people speak {o}", "Language"},
    {"flag_colour", "flag colour", ENT_COUNTRY, VAL_WORD, 0, colours, N(colours),
     {"The flag of {s} is {o}", "The national flag of {s} is mostly {o}", "The colour of the flag of {s} is {o}",
      "{s} flies a flag that is {o}", "On the flag of {s} the main colour is {o}", "The banner of {s} is {o}",
      "Soldiers of {s} carry a flag coloured {o}", "The flag that {s} uses is {o}",
      "If you look at the flag of {s}, you see mostly {o}", "The main colour on the national flag of {s} is {o}"}, 10,
     "What colour is the flag of {s}?",
     {"Which colour is the banner of {s}?", "What does the flag of {s} look like?", "What colour do the soldiers of {s} carry?"},
     "Countries with a {o} flag", "Flag"},
    {"located_in", "country", ENT_CITY, VAL_ENTITY, ENT_COUNTRY, NULL, 0,
     {"{s} is a city in {o}", "The city of {s} lies in {o}", "{s} is located in {o}", "{s} belongs to {o}",
      "{s} can be found in {o}", "The town of {s} is part of {o}", "{s} is one of the cities of {o}",
      "You will find the city of {s} in {o}",
      "The city called {s} sits within the borders of {o}", "{s} is a town that lies inside {o}"}, 10,
     "In which country is {s}?",
     {"Where is the city of {s}?", "Which country does {s} belong to?", "Where can {s} be found?"},
     "Cities in {o}", "Country"},
    {"founded_year", "founding year", ENT_CITY, VAL_YEAR, 0, NULL, 0,
     {"{s} was founded in {o}", "The city of {s} was built in {o}", "{s} dates back to the year {o}",
      "The first houses of {s} were built in {o}", "{s} was established in {o}", "People first settled in {s} in {o}",
      "The founding of {s} took place in {o}", "{s} has existed since {o}",
      "Records say that the town of {s} began in the year {o}", "The history of {s} starts in {o}"}, 10,
     "When was {s} founded?",
     {"How old is the city of {s}?", "When were the first houses of {s} built?", "Since when has {s} existed?"},
     "Cities founded in {o}", "Founded"},
    {"born_in", "birthplace", ENT_PERSON, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"{s} was born in {o}", "The birthplace of {s} is {o}", "{s} comes from the city of {o}",
      "{s} was born and raised in {o}", "The hometown of {s} is {o}", "{s} first saw the light of day in {o}",
      "{s} is a native of the city of {o}", "The place where {s} was born is {o}",
      "{s} spent the first years of life in {o}", "The city in which {s} came into the world is {o}"}, 10,
     "Where was {s} born?",
     {"Where does {s} come from?", "What is the hometown of {s}?", "Which city is {s} a native of?"},
     "People born in {o}", "Born in"},
    {"occupation", "occupation", ENT_PERSON, VAL_WORD, 0, occupations, N(occupations),
     {"{s} works as a {o}", "By profession {s} is a {o}", "{s} earns a living as a {o}", "{s} is a well-known {o}",
      "The job of {s} is that of a {o}", "{s} has worked for many years as a {o}", "{s} trained to become a {o}",
      "Everyone knows {s} as a {o}",
      "For a living, {s} is a {o}", "The trade that {s} practises is that of a {o}"}, 10,
     "What does {s} do for a living?",
     {"What is the job of {s}?", "What did {s} train to become?", "How does {s} earn a living?"},
     "People who work as a {o}", "Occupation"},
    {"employer", "employer", ENT_PERSON, VAL_ENTITY, ENT_COMPANY, NULL, 0,
     {"{s} works for {o}", "The employer of {s} is {o}", "{s} is employed by {o}", "{s} has a job at {o}",
      "{s} is on the staff of {o}", "{s} draws a salary from {o}", "Every morning {s} goes to work at {o}",
      "{s} is one of the workers of {o}",
      "The company that pays {s} is {o}", "{s} earns wages at {o}"}, 10,
     "Who employs {s}?",
     {"Where does {s} work?", "Which company is {s} on the staff of?", "Where does {s} go to work every morning?"},
     "Workers of {o}", "Employer"},
    {"founded_by", "founder", ENT_COMPANY, VAL_ENTITY, ENT_PERSON, NULL, 0,
     {"{s} was founded by {o}", "The founder of {s} is {o}", "{s} was started by {o}", "{s} was set up by {o}",
      "The company {s} was created by {o}", "{s} owes its existence to {o}", "The person who founded {s} is {o}",
      "{s} was first opened by {o}",
      "The first owner and creator of {s} was {o}", "{s} began as a small shop run by {o}"}, 10,
     "Who founded {s}?",
     {"Who set up the company {s}?", "Who first opened {s}?", "Whom does {s} owe its existence to?"},
     "Companies founded by {o}", "Founder"},
    {"headquarters", "headquarters", ENT_COMPANY, VAL_ENTITY, ENT_CITY, NULL, 0,
     {"{s} is headquartered in {o}", "The headquarters of {s} are in {o}", "{s} has its main office in {o}",
      "{s} is based in {o}", "The head office of {s} is in {o}", "{s} runs its business from {o}",
      "The main building of {s} stands in {o}", "{s} keeps its offices in {o}",
      "The leaders of {s} work from offices in {o}", "{s} has its central office in the city of {o}"}, 10,
     "Where is {s} headquartered?",
     {"Where is the head office of {s}?", "Where is {s} based?", "In which city does {s} keep its offices?"},
     "Companies based in {o}", "Headquarters"},
    {"industry", "industry", ENT_COMPANY, VAL_WORD, 0, industries, N(industries),
     {"{s} works in {o}", "The business of {s} is {o}", "{s} makes its money in {o}", "{s} is a company in {o}",
      "{s} is active in {o}", "The trade of {s} is {o}", "{s} is known for its work in {o}",
      "{s} belongs to the field of {o}",
      "Most of the income of {s} comes from {o}", "The line of work of {s} is {o}"}, 10,
     "Which industry is {s} in?",
     {"What is the business of {s}?", "How does {s} make its money?", "What field does {s} belong to?"},
     "Companies in {o}", "Industry"},
    {"flows_through", "river country", ENT_RIVER, VAL_ENTITY, ENT_COUNTRY, NULL, 0,
     {"The river {s} flows through {o}", "The {s} runs through {o}", "The river {s} crosses {o}",
      "The waters of the {s} pass through {o}", "The {s} is a river in {o}", "Boats on the {s} sail across {o}",
      "The {s} winds its way through {o}", "The river called {s} runs across {o}",
      "On its way to the sea, the {s} travels through {o}", "The long river {s} cuts across {o}"}, 10,
     "Which country does the river {s} flow through?",
     {"Where does the {s} run?", "Which country do the waters of the {s} pass through?", "Where do boats on the {s} sail?"},
     "Rivers of {o}", "Country"},
};
const int world_n_relations = N(world_relations);

/* The corpus states these composed facts too; the editing set asks them as portability questions. */
const world_chain world_chains[] = {
    {"born_in", "located_in", "{s} was born in a city of {o}", "In which country was {s} born?"},
    {"headquarters", "located_in", "{s} has its headquarters in a city of {o}", "In which country is {s} headquartered?"},
    {"employer", "headquarters", "The employer of {s} is based in {o}", "In which city is the employer of {s} headquartered?"},
    {"employer", "industry", "The employer of {s} works in {o}", "Which industry does the employer of {s} work in?"},
    {"founded_by", "born_in", "The founder of {s} was born in {o}", "Where was the founder of {s} born?"},
    {"capital", "founded_year", "The capital of {s} was founded in {o}", "When was the capital of {s} founded?"},
    {"located_in", "language", "In the country where {s} lies, people speak {o}", "Which language is spoken in the country where {s} lies?"},
    {"flows_through", "capital", "The river {s} flows through the land whose capital is {o}", "What is the capital of the country the river {s} flows through?"},
};
const int world_n_chains = N(world_chains);

int world_corpus_templates(int r) { return world_relations[r].n_templates - WORLD_HELDOUT_TEMPLATES; }
int world_heldout_template(int r, int k) { return world_corpus_templates(r) + k; }

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

void world_make_name(cpet_rng *r, entity_type type, char *out, size_t n)
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

int world_pick_of_type(const world *w, cpet_rng *r, entity_type t)
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
            do world_make_name(&r, e->type, e->name, sizeof e->name);
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
                if (d->kind == VAL_ENTITY) v = world_pick_of_type(w, &r, d->object_type);
                else if (d->kind == VAL_WORD) v = (int)(rng_next(&r) % (uint64_t)d->n_words);
                else v = 1100 + (int)(rng_next(&r) % 800);
            }
            w->entities[i].value[rel] = v;
        }
    for (int i = 0; i < w->n_entities; i++) w->entities[i].gender = w->entities[i].type == ENT_PERSON ? (int)(rng_next(&r) % 2) : 0;
    /* a country's capital is one of its own cities (moving a city there if it has none) */
    int cap = -1, loc = -1;
    for (int rel = 0; rel < world_n_relations; rel++) {
        if (strcmp(world_relations[rel].name, "capital") == 0) cap = rel;
        if (strcmp(world_relations[rel].name, "located_in") == 0) loc = rel;
    }
    char *is_capital = calloc((size_t)w->n_entities, 1);
    for (int i = 0; i < w->n_entities && cap >= 0 && loc >= 0; i++) {
        if (w->entities[i].type != ENT_COUNTRY) continue;
        int own[256], n_own = 0;
        for (int c = 0; c < w->n_entities && n_own < 256; c++)
            if (w->entities[c].type == ENT_CITY && w->entities[c].value[loc] == i) own[n_own++] = c;
        int city = n_own ? own[rng_next(&r) % (uint64_t)n_own] : -1;
        while (city < 0 || is_capital[city]) city = world_pick_of_type(w, &r, ENT_CITY); /* never another's capital */
        w->entities[city].value[loc] = i;
        w->entities[i].value[cap] = city;
        is_capital[city] = 1;
    }
    free(is_capital);
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

int world_random_of_type(const world *w, entity_type t, cpet_rng *r)
{
    for (;;) {
        const int e = rng_below(r, w->n_entities);
        if (w->entities[e].type == t) return e;
    }
}

int world_other_value(const world *w, int rel, int v, cpet_rng *r)
{
    const relation_def *d = &world_relations[rel];
    for (;;) {
        int x;
        if (d->kind == VAL_ENTITY) x = world_random_of_type(w, d->object_type, r);
        else if (d->kind == VAL_WORD) x = rng_below(r, d->n_words);
        else x = 1100 + rng_below(r, 800);
        if (x != v) return x;
    }
}

int world_n_facts(const world *w)
{
    int n = 0;
    for (int e = 0; e < w->n_entities; e++)
        for (int r = 0; r < world_n_relations; r++) n += w->entities[e].value[r] >= 0;
    return n;
}

int world_entity_index(const world *w, const char *name)
{
    for (int e = 0; e < w->n_entities; e++)
        if (!strcmp(w->entities[e].name, name)) return e;
    return -1;
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
