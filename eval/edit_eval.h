/* Scoring model edits: a method edits (or takes notes of) a set of edit cases, then answers their
 * questions; each answer is scored under the protocols editing papers use, each named in the record:
 *   generation      greedy decoding, exact match after normalisation (edit_answer_matches): EREN's ES/BP;
 *   teacher_forced  EasyEdit's token accuracy: the prompt + " " + target fed whole, the share of target
 *                   tokens that are the argmax at their position;
 *   rome_prob       ROME's CounterFact test: is the mean token log-probability of the new target above the
 *                   true target's (in-scope), or of the true above the new (out-of-scope)?
 * Metrics: ES (in-scope answered with the new object), BP (out-of-scope outputs unchanged from the
 * unedited model's), EQ (their harmonic mean); EasyEdit's reliability (the edit's own question),
 * generalization (its paraphrases), locality (= BP) and portability (two-hop answers through the edit). */
#ifndef CPET_EDIT_EVAL_H
#define CPET_EDIT_EVAL_H

#include <jansson.h>

#include "editing.h"
#include "error.h"
#include "methods/eren.h"
#include "model.h"
#include "tokenizer.h"

/* Do an output and an expected answer agree: case-insensitive, surrounding whitespace and a final period
 * ignored (the reference has no scoring script: this is our rule, stated in the record). */
int edit_answer_matches(const char *output, const char *expected);
/* EREN's EQ: the harmonic mean of ES and BP (0 when both are 0). */
double edit_eq(double es, double bp);

/* EasyEdit's teacher-forced token accuracy of target after prompt (BOS first; target joined with a space). */
int edit_token_accuracy(model *m, const tokenizer *tok, const char *prompt, const char *target, double *accuracy, cpet_err *err);
/* The mean token log-probability of " " + target after prompt (ROME compares these for new and true). */
int edit_mean_logprob(model *m, const tokenizer *tok, const char *prompt, const char *target, double *mean_lp, cpet_err *err);

/* ---- a run: edits made, then every question of those edits asked ---- */

typedef enum { EDIT_EREN, EDIT_ONE_STEP, EDIT_UNEDITED, EDIT_FT, EDIT_ROME } edit_method;
int edit_method_parse(const char *s, edit_method *out);
const char *edit_method_name(edit_method m);

#define EDIT_OOS_KINDS 5 /* same_subject, same_relation, note_prefixed, neighbour, lexical_overlap */
extern const char *const edit_oos_kinds[EDIT_OOS_KINDS];

typedef struct {
    edit_method method;
    eren_retriever retriever;
    int top_k, max_new;
    int hops;           /* retrieval rounds (eren_config.hops) */
    int n_edits;        /* the first n edits of the split in a seeded order (0: all of them) */
    int notebook_size;  /* eren, one-step: the notebook also holds other cases' edits (any split, a seeded choice)
                         * up to this many notes; only the n_edits are asked about (0: no others) */
    const edit_set *filler; /* NULL, or edits of another world whose statements fill the notebook beyond the cases'
                             * own (in file order; a case whose subject is one of the cases' subjects is skipped) */
    const char *split;  /* the cases' split ("test"; NULL: all) */
    uint64_t seed;      /* the order of the edits */
    int sequential;     /* edits made one at a time (each in the state the earlier ones left), all questions asked
                         * after the last; batch (0): all at once. A notebook is the same either way. */
    /* ft: every weight tuned on the edits' statements, the loss on the new object after the statement's
     * prefix (the statement must end with it): batch, ft_epochs passes over all edits in batches of 8;
     * sequential, ft_steps steps on each edit in turn */
    int ft_epochs, ft_steps;
    float ft_lr;
    /* rome: the layer (-1: a third of the way up) and the key statistics' token stream (the corpus);
     * sequential: each update computed on the model the earlier ones left; batch: every update computed on
     * the unedited model, then all applied */
    int rome_layer;
    int rome_steps;     /* 0: rome_defaults' */
    int rome_prefixes;  /* generated context prefixes; -1: rome_defaults' (0: the statement alone) */
    float rome_clamp;   /* 0: rome_defaults' */
    const int *stats_stream;
    long stats_tokens;
} edit_run_config;

typedef struct {
    const edit_case *edit;                                    /* the case it was asked of */
    const char *case_id, *group, *kind, *question, *expected; /* point into the edit set */
    char *output, *unedited;
    int correct;   /* output matches expected (in-scope, portability: the new fact; out-of-scope: the world's) */
    int unchanged; /* output matches the unedited model's output */
    int fell_back, notes_used;
    /* in-scope only: EasyEdit's teacher-forced token accuracy of the new object after the prompt the answer
     * came from, and ROME's test: is the new object's mean token log-probability above the true one's */
    double tf_accuracy;
    int new_beats_true;
} edit_item;

typedef struct {
    edit_item *items;
    int n, n_edits, notebook_size; /* n_edits: the cases asked about; the notebook also holds the edits their
                                    * multi-edit questions name */
    double es, bp, eq, reliability, generalization, portability, oos_accuracy, unedited_oos_accuracy;
    double multi_edit; /* multi-edit questions (two notes aggregated) answered with the second edit's object */
    double bp_kind[EDIT_OOS_KINDS];
    int n_kind[EDIT_OOS_KINDS];
    double fallback_rate;          /* in-scope and out-of-scope questions that took the closed-book fallback */
    double es_teacher_forced, es_rome_prob; /* ES under the other two protocols (in-scope questions) */
    double rewrite;                /* ROME's efficacy: the model's own greedy continuation of each statement's
                                    * prefix ("The capital of Talim is", no template) starts with the new object */
    double seconds_per_question;   /* the edited system's answering, retrieval included */
} edit_run_result;

/* The unedited answers are the reader's closed-book answers (EREN_TEMPLATE_QA), taken before any edit; ft and
 * rome answer closed-book on the edited weights, which are restored before returning. */
int edit_run(model *m, const tokenizer *tok, const edit_set *cases, const edit_run_config *c, edit_run_result *r, cpet_err *err);
/* The weight edits alone (ft, rome) of cases idx[0..n), in place, sequential or batch as c says. */
int edit_weights(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err);
void edit_run_result_free(edit_run_result *r);
/* The run's scalar metrics as a JSON object (null where no question was asked of it), the same in `cpet edit`'s
 * file and in a harness record. */
json_t *edit_run_metrics_json(const edit_run_result *r);
/* ROME's key statistics stream: the corpus at path tokenized, documents joined as corpus_tokenize joins them. */
int edit_stats_stream(const char *path, const tokenizer *tok, int bos_id, int **stream, long *n_tokens, cpet_err *err);

#endif
