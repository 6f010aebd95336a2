#ifndef CPET_WORLD_FILES_H
#define CPET_WORLD_FILES_H

#include "error.h"
#include "world.h"

typedef struct {
    int docs;            /* training documents (0: world_default_docs) */
    int templates;       /* corpus templates per relation, 1 .. the relation's corpus templates (0: all) */
} world_corpus_options;
int world_default_docs(const world *w);

/* Writes into dir: corpus_train.jsonl ({"text": ...} per document), corpus_heldout.jsonl (new documents
 * from the corpus's distribution), corpus_paraphrase.jsonl (every fact in the held-out templates),
 * corpus_seen_templates.jsonl (the same facts and layout in corpus templates: its control),
 * corpus_dev.jsonl (as many new documents again, for choosing settings without touching the held-out file),
 * entities.jsonl, tasks/{cloze_facts,cloze_paraphrase,qa_facts,entity_type,relation_type}.jsonl and
 * world.json (seed, sizes, corpus options, token-free counts). All files atomically. */
int world_write(const world *w, const char *dir, const world_corpus_options *opt, cpet_err *err);

#endif
