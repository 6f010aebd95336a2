/* The synthetic world: a seeded set of fictional entities (countries, cities, people, companies, rivers)
 * with typed attributes, rendered into a pretraining corpus of several document kinds (world_corpus.h) and
 * multiple-choice tasks. Every relation has ten sentence templates; the last two never appear in the
 * corpus, so paraphrase generalisation can be measured. Splits are by subject entity. */
#ifndef CPET_WORLD_H
#define CPET_WORLD_H

#include <stdint.h>

#include "error.h"
#include "tasks.h"
#include "tensor.h"

typedef enum { ENT_COUNTRY, ENT_CITY, ENT_PERSON, ENT_COMPANY, ENT_RIVER, N_ENTITY_TYPES } entity_type;
typedef enum { VAL_ENTITY, VAL_WORD, VAL_YEAR } value_kind;

#define WORLD_MAX_TEMPLATES 10
#define WORLD_HELDOUT_TEMPLATES 2 /* the last two of every relation's templates stay out of the corpus */
#define WORLD_CORPUS_QUESTIONS 3

typedef struct {
    const char *name;        /* capital, born_in, ... */
    const char *display;     /* words for the relation-classification task */
    entity_type subject;
    value_kind kind;
    entity_type object_type; /* VAL_ENTITY */
    const char *const *words; /* VAL_WORD: the value vocabulary */
    int n_words;
    /* templates with {s} and {o}; {o} ends every one so the text before it is a cloze prompt.
     * The last WORLD_HELDOUT_TEMPLATES are held out of the corpus. */
    const char *templates[WORLD_MAX_TEMPLATES];
    int n_templates;
    const char *question; /* "What is the capital of {s}?": the tasks' question, never in the corpus */
    const char *corpus_questions[WORLD_CORPUS_QUESTIONS]; /* the forms the corpus's questions take */
    const char *list_heading; /* "Cities in {o}": the subjects sharing an object, in the corpus's lists */
    const char *field;        /* "Capital": the relation as a fact-box field */
} relation_def;

/* Two-hop facts: relation first, then second read from its object ("In which country was {s} born?"). */
typedef struct {
    const char *first, *second;
    const char *statement; /* "{s} was born in a city of {o}": the composed fact, {o} the second hop's object */
    const char *question;
} world_chain;
extern const world_chain world_chains[];
extern const int world_n_chains;

extern const relation_def world_relations[];
extern const int world_n_relations;
extern const char *const entity_type_names[N_ENTITY_TYPES];

typedef struct {
    char name[48];
    entity_type type;
    int gender;         /* people: 0 he, 1 she (pronouns in the corpus only) */
    int split;          /* 0 train, 1 dev, 2 test */
    int *value;         /* per relation: entity index, word index or year; -1 if not this type's relation */
} entity;

typedef struct {
    uint64_t seed;
    entity *entities;
    int n_entities;
    int *values;        /* n_entities * world_n_relations */
} world;

typedef struct {
    int n_per_type[N_ENTITY_TYPES];
} world_sizes;

world_sizes world_default_sizes(void);
int world_generate(world *w, uint64_t seed, world_sizes sizes, cpet_err *err);
void world_free(world *w);
extern const char *const split_names[3];

/* Templates 0 .. world_corpus_templates(r) - 1 appear in the corpus; the rest are held out. */
int world_corpus_templates(int r);
/* The k-th held-out template of relation r (k < WORLD_HELDOUT_TEMPLATES). */
int world_heldout_template(int r, int k);
/* The index of the relation named name ("capital"), or -1. */
int world_relation_index(const char *name);
/* Fills a template's {s} and {o} into buf; returns the offset where {o}'s text starts (-1: no {o}). */
int world_fill(const char *tmpl, const char *s, const char *o, char *buf, size_t n);
/* Renders relation r of entity e with template t into buf; returns the offset where {o} starts. */
int world_render(const world *w, int e, int r, int t, char *buf, size_t n);
/* The object's surface form ("Berin", "painter", "1432"). */
const char *world_object(const world *w, int e, int r, char *buf, size_t n);
/* Any value v of relation r as text (an entity index, a word index or a year): a counterfactual's too. */
const char *world_value_text(const world *w, int r, int v, char *buf, size_t n);

/* A fresh name of the type's form (a person's two parts, a company's suffix), drawn from r. */
void world_make_name(cpet_rng *r, entity_type type, char *out, size_t n);
/* An entity of type t with one draw from r (what generation and the tasks' choices use). */
int world_pick_of_type(const world *w, cpet_rng *r, entity_type t);
/* An entity of type t, drawn uniformly (by rejection: the draws the corpus and the editing set rely on). */
int world_random_of_type(const world *w, entity_type t, cpet_rng *r);
/* A value of relation rel other than v (an entity of the object type, a word, a year): a counterfactual. */
int world_other_value(const world *w, int rel, int v, cpet_rng *r);
/* The number of (entity, relation) facts. */
int world_n_facts(const world *w);
/* The entity named name, or -1. */
int world_entity_index(const world *w, const char *name);

#endif
