/* Class-incremental task sequences in ConPET's reference format (its reference code,
 * Raincleared-Song/ConPET), so FewNERD / FewRel files a user holds run unchanged:
 *   DIR/{ds}_class_split_p{N}_tags.json             [[tag, ...] per task]: disjoint label sets
 *   DIR/{ds}_split_{train,valid,test}_dataset_p{N}_key.json
 *                                                   [[[sample_key, tag, text], ...] per task]
 * Typing texts end "In this sentence, {entity} is a [MASK]."; relation texts "... is the [MASK] of {head}.".
 * As the reference does, training samples longer than max_words words are dropped (valid and test are
 * kept whole); here the words of the whole text are counted. */
#ifndef CPET_CONTINUAL_H
#define CPET_CONTINUAL_H

#include <stdint.h>

#include "error.h"
#include "classify.h"
#include "tokenizer.h"
#include "world.h"

typedef struct {
    char *key, *text;
    int tag;
} continual_sample;

typedef struct {
    continual_sample *s;
    int n;
} continual_split;

typedef struct {
    int n_tasks;
    int **tags, *n_tags;                 /* per task: its labels */
    continual_split *train, *valid, *test; /* per task */
    int dropped_long;                    /* training samples over max_words */
} continual_data;

/* Errors name the file and the task / sample: a label outside its task's set, a label in two tasks, files
 * that disagree on the number of tasks, malformed entries. max_words <= 0: no filter. */
int continual_read(continual_data *d, const char *dir, const char *dataset, int p, int max_words, cpet_err *err);
void continual_free(continual_data *d);
/* Keeps at most `limit` test samples per task, evenly spaced in file order (a reduced budget's evaluation);
 * limit <= 0 keeps them all. */
void continual_limit_test(continual_data *d, int limit);
/* The prompt a causal model classifies at: the text up to "[MASK]" with trailing spaces removed, BERT's
 * entity markers [unused0]..[unused3] (the reference's) taken out; the [MASK] is the next token. Returns a
 * malloc'd string, or NULL when the text has no [MASK]. */
char *continual_prompt(const char *text);

/* Every split's prompts (continual_prompt) as ids, BOS first, a prompt longer than max_len keeping its end
 * (the classified position); labels made global: task t's tags in class-split order become offsets[t] + i. */
int continual_tokenize(const continual_data *cd, const tokenizer *tok, int bos, int max_len, class_sequence *out, cpet_err *err);
void continual_tokens_free(class_sequence *d);

/* The synthetic world's two sequences in this format, p1, into dir (atomically, file by file):
 *   world_typing: fine-grained entity typing, 34 classes in 6 tasks (people by occupation, companies by
 *     industry, cities by founding century, countries by language); each text is a sentence of another
 *     fact about the entity, then "In this sentence, {entity} is a [MASK]."
 *   world_relation: relation classification, the world's 12 relations in 6 tasks of 2; "{fact}. In this
 *     sentence, {object} is the [MASK] of {subject}."
 * Classes go to tasks by a seeded shuffle. Test samples use each relation's held-out template (never in
 * the corpus), valid its first, train the rest. Also {ds}_tag_names_p1.json: each tag's name. */
int continual_write_world(const world *w, const char *dir, uint64_t seed, cpet_err *err);

#endif
