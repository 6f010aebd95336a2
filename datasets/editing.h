/* Model-editing cases in the style of EREN's CounterFact-Hard (Chen et al., arXiv 2403.17431; its
 * reference code, thunlp/EREN), built from the synthetic world: one counterfactual edit per fact.
 *
 * An edit is a statement in a corpus template with a new object ("The capital of Talim is Grimhend"),
 * with no trailing period (EREN strips it). Its questions:
 *   in_scope     the relation's question and two paraphrases about the subject; answer: the new object;
 *   out_of_scope hard irrelevant questions whose answers the edit must not change (the world's facts):
 *                  same_subject    another relation of the same subject;
 *                  same_relation   the same question template about another subject;
 *                  neighbour       the same relation of a subject that shares the true object;
 *                  lexical_overlap a question about the new object itself (it is named in the note);
 *                  note_prefixed   a same_relation question with an unrelated note (this edit's own
 *                                  statement) prepended to it;
 *   portability  two-hop questions through the edited fact ("In which country was X born?" after an
 *                edit of X's birthplace): kind two_hop, answered with the world's second hop from the new
 *                object; or kind multi_edit, "with" the edit of that second hop (the new object's own fact,
 *                edited too), answered with that edit's new object: two notes aggregated (EREN's multi-edit
 *                questions). A case takes one kind per chain, alternating over cases.
 * Splits follow the subject entity (train / dev / test), so a reader tuned on train edits is scored on
 * entities it never saw in that format.
 *
 * The file is JSONL, one edit per line (datasets/README.md documents it):
 *   {"id", "split", "subject", "relation", "statement", "target_new", "target_true",
 *    "in_scope": [{"question", "answer", "kind"}], "out_of_scope": [...], "portability": [...]} */
#ifndef CPET_EDITING_H
#define CPET_EDITING_H

#include <stdint.h>

#include "error.h"
#include "world.h"

typedef struct {
    char *question, *answer, *kind;
    char *with; /* NULL, or the id of another edit whose note (or weight edit) the question also needs */
} edit_question;

typedef struct {
    char *id, *split, *subject, *relation, *statement, *target_new, *target_true;
    edit_question *in_scope, *out_of_scope, *portability;
    int n_in_scope, n_out_of_scope, n_portability;
} edit_case;

typedef struct {
    edit_case *cases;
    int n;
    int fact_check; /* the questions are claims and their answers "yes" / "no" (EREN's FC task) */
} edit_set;

/* Appends a question to q[0..*n) (a NULL string as ""); -1 when out of memory. */
int edit_question_push(edit_question **q, int *n, const char *question, const char *answer, const char *kind);

/* The question templates of a relation: the world's question, then two paraphrases ({s}: the subject). */
#define EDIT_QUESTIONS 3
const char *edit_question_template(int relation, int k);

/* Every fact of the world as an edit, new objects drawn from the seed (same seed, same set). */
int editing_build(const world *w, uint64_t seed, edit_set *out, cpet_err *err);
/* The same edits (the same seed, the same new objects) as fact checking, EREN's FC task in the style of
 * its FEVER set: every question is a claim (a sentence in one of the relation's corpus templates, the
 * held-out one included, ending with "."), every answer "yes" or "no".
 *   in_scope     question    the edit's statement                                  yes
 *                paraphrase  the new object in the relation's other templates       yes
 *                old_fact    the true object (no longer so once edited)            no
 *                other_value a third object                                        no
 *   out_of_scope same_subject, same_relation (one true, one false claim each), neighbour (a subject sharing
 *                the true object, stated with it) and lexical_overlap (a fact of the new object): the
 *                world's truth. There are no note_prefixed claims and no portability.
 * The file carries "task": "fact_check" on every line. */
int editing_build_claims(const world *w, uint64_t seed, edit_set *out, cpet_err *err);
/* JSONL, atomically. */
int editing_write(const edit_set *s, const char *path, cpet_err *err);
/* Reads the JSONL above; errors name file:line and the problem (an empty statement, a missing field, a
 * file mixing fact checking with questions). */
int editing_read(edit_set *s, const char *path, cpet_err *err);
void edit_set_free(edit_set *s);
/* The index of the edit with this id, or -1. */
int edit_set_find(const edit_set *s, const char *id);

/* Any editing file cpet reads (datasets/editing_formats.c): format "cpet" (the JSONL above), "eren-cfh"
 * and "eren-hotpot" (thunlp/EREN's data files), "counterfact" (ROME's), "zsre" (MEND's), "eren-fever" (EREN's FEVER and
 * FEVER-Clean: fact checking) or "auto" / NULL (JSONL is ours; a JSON list is recognised by its fields).
 * EREN's FEVER and HotpotQA files are split as its test script splits them: the first half are edits, the
 * second half's questions are out of scope (the second half's record i + n/2 becomes out-of-scope questions
 * of edit i, kind "unrelated"). *unaligned counts CounterFact-Hard records whose answer lists cannot be paired with their
 * questions. Errors name the file and the entry. */
int editing_read_any(edit_set *s, const char *path, const char *format, int *unaligned, cpet_err *err);

/* a claim: relation r of entity e with value v in template t, with a final period */
void editing_claim_text(const world *w, int e, int r, int v, int t, char *buf, size_t n);

#endif
