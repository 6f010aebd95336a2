/* The world's pretraining text: documents of several kinds over the world's facts, with general
 * connective text between them, and reading documents in which a passage states a fact (possibly
 * contrary to the world, or about a subject the world lacks) that the text after it uses. */
#ifndef CPET_WORLD_CORPUS_H
#define CPET_WORLD_CORPUS_H

#include "strbuf.h"
#include "tensor.h"
#include "world.h"

typedef enum {
    DOC_ARTICLE,   /* an encyclopedic article on one entity, its facts in rotating templates */
    DOC_QA,        /* questions and answers */
    DOC_LIST,      /* lists of the subjects sharing an object, and fact boxes */
    DOC_DIALOGUE,  /* two speakers asking and telling */
    DOC_NARRATIVE, /* a walk from entity to entity: chains of facts, composed (two-hop) facts */
    DOC_READING,   /* a passage, then text that uses what the passage says */
    N_DOC_KINDS
} world_doc_kind;
extern const char *const world_doc_kind_names[N_DOC_KINDS];

typedef enum {
    READ_ANSWER,       /* a passage, a question on one of its facts, the passage's answer */
    READ_CONTINUATION, /* a passage, then a sentence restating its fact in another template */
    READ_TWO_HOP,      /* two notes chained: the answer is the second's object, asked through the first */
    READ_MEMORY,       /* the question is on nothing the passage says: the world's fact answers it */
    N_READ_KINDS
} world_read_kind;

/* What a reading document states and uses, for tests and counts. */
typedef struct {
    world_read_kind kind;
    int counterfactual;  /* the passage contradicts the world */
    int new_subject;     /* the passage's subject is not in the world */
    size_t passage_end;  /* bytes of the document before the part that uses the passage */
    char answer[64];     /* the object the part after the passage gives */
} world_reading;

/* Appends one document of the kind to out (no newline). info, when given, is filled for DOC_READING. */
void world_document(const world *w, world_doc_kind kind, int templates, cpet_rng *r, strbuf *out, world_reading *info);

/* The mixture the corpus draws its documents from, in percent per kind. */
extern const int world_doc_mix[N_DOC_KINDS];

#endif
