/* The synthetic world: a seeded set of fictional entities (countries, cities, people, companies, rivers)
 * with typed attributes, rendered into a pretraining corpus and multiple-choice tasks.
 * Every relation has several sentence templates; the last one never appears in the corpus, so
 * paraphrase generalisation can be measured. Splits are by subject entity. */
#ifndef CPET_WORLD_H
#define CPET_WORLD_H

#include <stdint.h>

#include "error.h"
#include "tasks.h"

typedef enum { ENT_COUNTRY, ENT_CITY, ENT_PERSON, ENT_COMPANY, ENT_RIVER, N_ENTITY_TYPES } entity_type;
typedef enum { VAL_ENTITY, VAL_WORD, VAL_YEAR } value_kind;

#define WORLD_MAX_TEMPLATES 4

typedef struct {
    const char *name;        /* capital, born_in, ... */
    const char *display;     /* words for the relation-classification task */
    entity_type subject;
    value_kind kind;
    entity_type object_type; /* VAL_ENTITY */
    const char *const *words; /* VAL_WORD: the value vocabulary */
    int n_words;
    /* templates with {s} and {o}; {o} ends every one so the text before it is a cloze prompt.
     * The last template is held out of the corpus. */
    const char *templates[WORLD_MAX_TEMPLATES];
    int n_templates;
    const char *question; /* "What is the capital of {s}?" */
} relation_def;

extern const relation_def world_relations[];
extern const int world_n_relations;
extern const char *const entity_type_names[N_ENTITY_TYPES];

typedef struct {
    char name[48];
    entity_type type;
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

/* Writes into dir: corpus_train.txt (one document per line), corpus_heldout.txt (new documents from the
 * corpus's distribution), corpus_paraphrase.txt (the held-out templates only),
 * entities.jsonl, tasks/{cloze_facts,cloze_paraphrase,qa_facts,entity_type,relation_type}.jsonl and
 * world.json (seed, sizes, files). All files atomically. */
int world_write(const world *w, const char *dir, cpet_err *err);

#endif
