#ifndef CPET_EDIT_READER_H
#define CPET_EDIT_READER_H

#include <stdint.h>

#include "editing.h"
#include "error.h"
#include "tasks.h"
#include "world.h"

/* Instruction-tuning examples for EREN's reader, from the subjects of one split (train for tuning, so that
 * the edits of dev / test subjects are never seen in these formats; dev to measure the reader). For every fact (s, r), one example of
 * each kind, reps times over (a fresh question template, notes and counterfactual each time), the question
 * one of the relation's three templates:
 *   read        the MRC template; k notes, one stating (s, r) with the true object or, three times in four,
 *               a counterfactual (so that the note wins over memory), at a random rank, the others hard
 *               distractors;
 *               answer: that note's object;
 *   decline     the MRC template; k hard distractors, none stating (s, r): the same subject's other facts,
 *               the same relation of other subjects, a counterfactual of either; answer "unanswerable";
 *   closed_book the QA template; answer: the world's fact;
 *   one_step    the one-step template over the read example's notes; answer: the note's object. The
 *               one-step reader never sees irrelevant notes, as a reader tuned on ordinary reading
 *               comprehension data would not.
 * and the same four for fact checking, the question a claim about (s, r) in a random template, stating the
 * note's object or another one half the time each:
 *   fc_read        the FC template, three options, over the read notes; answer "Yes" or "No";
 *   fc_decline     the FC template, three options, over the decline notes; answer "It's impossible to say";
 *   fc_closed_book the yes/no question (EREN_TEMPLATE_BOOL_QA), a claim of the world's fact or a false one;
 *                  answer "yes" or "no";
 *   fc_one_step    the FC template, two options, over the read notes; answer "Yes" or "No".
 * Each example's context holds k notes, or, with k_min < k, a number drawn uniformly from k_min..k: a
 * context of one or two notes is where a reader first learns to copy from context, which the pretrained
 * model barely does (measuring the reader uses k_min = k, EREN's setting).
 * Notes are statements in corpus templates, stripped of the period and joined as EREN joins them. A prompt
 * over max_prompt tokens (measure, when not NULL) loses distractors from the end. Each example is a task
 * whose one choice is " " + the answer (label 0), for finetune_multiple_choice with append_eos. */
typedef int (*editing_measure)(void *ctx, const char *prompt);
int editing_reader_examples(const world *w, int split, uint64_t seed, int k_min, int k, int reps, editing_measure measure, void *ctx,
                            int max_prompt, task_set *out, cpet_err *err);

#endif
