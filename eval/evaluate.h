/* Task metrics from model outputs: multiple-choice accuracy by candidate scoring (lm-evaluation-harness:
 * acc = argmax of summed log-likelihood, acc_norm = per-byte normalised), and perplexity on held-out text. */
#ifndef CPET_EVALUATE_H
#define CPET_EVALUATE_H

#include "error.h"
#include "model.h"
#include "tasks.h"
#include "tokenizer.h"

typedef struct {
    int n;
    double acc, acc_norm;
    double acc_stderr; /* sqrt(acc (1 - acc) / (n - 1)), lm-eval's sample stderr */
    double chance;     /* mean of 1 / n_choices */
    long tokens;       /* tokens fed to the model (context + choice, summed over choices) */
} mc_result;

/* bos_id < 0: no BOS before the prompt. predictions (optional, s->n ints) receive the acc choice. */
int eval_multiple_choice(model *m, const tokenizer *t, const task_set *s, int bos_id, int batch, mc_result *out,
                         int *predictions, double *choice_logprobs, cpet_err *err);

typedef struct {
    double nll;   /* total negative log-likelihood (nats) */
    long tokens;  /* tokens predicted */
    double ppl;   /* exp(nll / tokens) */
} ppl_result;

/* Each document is [bos] + tokens, cut into windows of the model's length; every token after the first of
 * its window is predicted. Windows run `batch` at a time in order of length (documents run from a line to a
 * whole window: batched as they come, half of the work was padding), each window's NLL summed in double. */
int eval_perplexity(model *m, const tokenizer *t, char *const *docs, const size_t *lens, int n_docs, int bos_id,
                    int batch, ppl_result *out, cpet_err *err);
/* The same, also per document (n_docs entries each; either may be NULL): the pieces paired statistics
 * resample, since perplexity is exp(sum nll / sum tokens) over documents. */
int eval_perplexity_docs(model *m, const tokenizer *t, char *const *docs, const size_t *lens, int n_docs, int bos_id,
                         int batch, ppl_result *out, double *doc_nll, long *doc_tokens, cpet_err *err);

#endif
