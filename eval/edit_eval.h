/* Scoring model edits (issue #15): a method edits (or takes notes of) a set of edit cases, then answers their
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

#include "error.h"
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

#endif
