/* EREN (Chen et al., "Robust and Scalable Model Editing for Large Language Models", arXiv 2403.17431;
 * thunlp/EREN): editing by reading notes. No weight changes: an edit is
 * a statement appended to a notebook; a question retrieves the top-k notes, and an instruction-tuned
 * reader answers from them or says "unanswerable", in which case it is asked again closed-book.
 *
 * Pieces, as the reference does them:
 *   - the templates, byte for byte (EREN_TEMPLATE_*);
 *   - notes stored with their trailing "." stripped, the context ".\n".join(notes) + "." in retrieval
 *     order, k = 5 (or every note when there are fewer);
 *   - the two steps: if the reader's output, stripped and lowercased, is "unanswerable", the closed-book
 *     question (EREN_TEMPLATE_QA) is asked. The reference's batched path skips this fallback; here every
 *     path takes it. The one-step MRC baseline has neither the option nor the fallback.
 * Beyond the reference: a note may carry a key (e.g. subject + relation); a newer note with the same key
 * supersedes the older, which stays listed but is never retrieved (newest wins). Retrieval is BM25 over
 * words or dense (mean-pooled final hidden states of a model, dot product, the reference's Contriever
 * recipe with the model standing in for Contriever). A prompt that does not fit the reader's window loses
 * its lowest-ranked notes first; a question that does not fit with no notes at all is an error. */
#ifndef CPET_EREN_H
#define CPET_EREN_H

#include "error.h"
#include "model.h"
#include "tokenizer.h"

#define EREN_TEMPLATE_MRC "Read this and answer the question. If the question is unanswerable, say \"unanswerable\".\n\n{context}\n\n{question}"
#define EREN_TEMPLATE_QA "Please answer this question: {question}"
#define EREN_TEMPLATE_MRC_ONE_STEP "Read this and answer the question.\n\n{context}\n\n{question}"
#define EREN_TEMPLATE_FC "{context}\n\nCan we conclude that \"{hypothesis}\"?\n\n{options}"
#define EREN_OPTIONS_FC "OPTIONS:\n- Yes\n- It's impossible to say\n- No"
#define EREN_OPTIONS_FC_ONE_STEP "OPTIONS:\n- Yes\n- No"
#define EREN_TEMPLATE_BOOL_QA "Is it true that {statement}?\n\n{options}"
#define EREN_OPTIONS_BOOL_QA "OPTIONS:\n- yes\n- no"
#define EREN_UNANSWERABLE "unanswerable"
#define EREN_IMPOSSIBLE "It's impossible to say"
#define EREN_TOP_K 5
#define EREN_MAX_K 32

/* A template with {context}, {question} (or {hypothesis} or {statement}: the same text) and {options} filled
 * (NULL fields: left empty). Returns a malloc'd string. */
char *eren_fill(const char *tmpl, const char *context, const char *question, const char *options);
/* ".\n".join(texts) + "." as the reference writes it (so "." for none), malloc'd */
char *eren_join_notes(const char *const *texts, int n);
/* Is this reader output the "unanswerable" answer (after stripping whitespace, case-insensitive)? */
int eren_is_unanswerable(const char *output);
/* Fact checking: is this output the "It's impossible to say" option (the same rule)? */
int eren_is_impossible(const char *output);
/* The closed-book fact-checking prompt for a claim (EREN_TEMPLATE_BOOL_QA, the unedited baseline's): the
 * claim without its trailing period. The reference cuts the last character whatever it is; here only a
 * final "." goes. malloc'd. */
char *eren_bool_qa_prompt(const char *claim);

/* ---- the notebook ---- */

typedef struct {
    char *text; /* stripped of surrounding whitespace and a trailing "." */
    char *key;  /* NULL or the conflict key */
    long added; /* the notebook's clock when it was added: larger is newer */
    int superseded;
} eren_note;

typedef struct {
    eren_note *notes;
    int n, cap;
    long clock;
} eren_notebook;

void notebook_init(eren_notebook *nb);
void notebook_free(eren_notebook *nb);
/* Appends a note; an empty one is an error. A key already held by an active note supersedes it. Returns
 * the new note's index. */
int notebook_add(eren_notebook *nb, const char *text, const char *key, cpet_err *err);
/* Removes note i (later indices shift down); the newest older note with the same key, if any, becomes
 * active again. */
int notebook_delete(eren_notebook *nb, int i, cpet_err *err);
int notebook_active(const eren_notebook *nb); /* notes that retrieval can return */
/* {"notes": [{"text", "key", "added", "superseded"}], "clock"}: atomically; load checks every field. */
int notebook_save(const eren_notebook *nb, const char *path, cpet_err *err);
int notebook_load(eren_notebook *nb, const char *path, cpet_err *err);

/* ---- retrieval ---- */

typedef enum { EREN_BM25, EREN_DENSE } eren_retriever;
int eren_retriever_parse(const char *s, eren_retriever *out); /* "bm25" or "dense"; -1 otherwise */

typedef struct {
    eren_retriever kind;
    int n;            /* notes indexed (the notebook's, active or not) */
    /* BM25 */
    int n_terms;
    char **terms;     /* the vocabulary, sorted */
    int *df;          /* per term: notes holding it */
    int **doc_terms, **doc_tf, *doc_n, *doc_len; /* per note: its distinct terms (ids), their counts, how many, its length */
    double avg_len;
    /* dense */
    int dim;
    float *emb;       /* [n, dim] */
    model *m;
    const tokenizer *tok;
} eren_index;

/* BM25 (k1 = 1.2, b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over lowercased runs of letters and
 * digits. */
int eren_index_bm25(eren_index *x, const eren_notebook *nb, cpet_err *err);
/* Mean-pooled final hidden states of m (BOS first, the BOS position left out of the mean). */
int eren_index_dense(eren_index *x, const eren_notebook *nb, model *m, const tokenizer *tok, cpet_err *err);
void eren_index_free(eren_index *x);
/* The active notes' scores against the query, best first (ties: the newer note first): writes up to k
 * note indices into ids (and their scores if scores is not NULL); returns the count. */
int eren_retrieve(const eren_index *x, const eren_notebook *nb, const char *query, int k, int *ids, double *scores, cpet_err *err);
/* A query's embedding (dense) [dim] */
int eren_embed(model *m, const tokenizer *tok, const char *text, float *out, cpet_err *err);

/* ---- answering ---- */

/* The reader: the output text for a prompt (e.g. a model's greedy continuation up to EOS). */
typedef int (*eren_reader)(void *ctx, const char *prompt, char **output, cpet_err *err);
/* How many tokens a prompt takes in the reader (to fit the window); NULL: no limit. */
typedef int (*eren_measure)(void *ctx, const char *prompt);

typedef enum { EREN_TWO_STEP, EREN_ONE_STEP, EREN_CLOSED_BOOK } eren_mode;
/* Question answering (the MRC templates) or fact checking (a claim: EREN_TEMPLATE_FC, options Yes / It's
 * impossible to say / No in two steps, Yes / No in one; the fallback is the closed-book yes/no question,
 * taken exactly when the reader picks "It's impossible to say"). The reference runs fact checking without
 * any fallback (its NLI path has none); here it is taken on every path, so that every path answers a question it declines. */
typedef enum { EREN_QA, EREN_FC } eren_task;

typedef struct {
    char *answer;       /* what is scored */
    char *prompt;       /* the prompt that produced it (the reading step's, or the closed-book one) */
    char *first;        /* the reading step's output (NULL closed-book) */
    int fell_back;      /* the reader said "unanswerable" and the closed-book answer was taken */
    int notes_used;     /* notes in the context after fitting the window */
    int retrieved[EREN_MAX_K]; /* the notes retrieved, best first */
    int n_retrieved;
} eren_answer;

typedef struct {
    eren_mode mode;
    eren_task task;
    int top_k;          /* notes in the context (EREN_TOP_K; at most EREN_MAX_K) */
    int max_prompt;     /* tokens a prompt may take (the reader's window less the answer's room); 0: no limit */
    eren_reader read;
    eren_measure measure;
    void *ctx;
    int hops;           /* retrieval rounds: 0 or 1, the reference's one; 2: the best note's text joins the question
                         * for a second round, whose notes follow it (a bridge note a question never names) */
} eren_config;

/* Answers one question (a claim when fact checking) against the notebook (two-step: the MRC template with the
 * option, then the closed-book fallback; one-step: the one-step template; closed-book: the QA template alone;
 * fact checking: the FC template and the yes/no question in their places). */
int eren_answer_question(const eren_config *c, const eren_notebook *nb, const eren_index *x, const char *question, eren_answer *out,
                         cpet_err *err);
void eren_answer_free(eren_answer *a);

/* The model reader: greedy decoding of at most max_new tokens after BOS + the prompt, up to EOS; the
 * output decoded (invalid UTF-8 replaced, utf8_sanitize) and stripped. ctx is an eren_model_reader. */
typedef struct {
    model *m;
    const tokenizer *tok;
    int max_new;
} eren_model_reader;
int eren_model_read(void *ctx, const char *prompt, char **output, cpet_err *err);
/* Tokens the reader must be allowed to generate for a task: at least requested, and room for the task's
 * fixed answer and EOS (" It's impossible to say" takes 15 tokens of the embedded default's tokenizer: a
 * budget of 12 cut it short, so the fallback was never taken). */
int eren_answer_budget(const tokenizer *tok, eren_task task, int requested);
int eren_model_measure(void *ctx, const char *prompt);

#endif
