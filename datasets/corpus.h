/* Corpora: plain text with one document per line, or JSONL ({"text": ...} per line, as Hugging Face datasets
 * write them, so a document may hold newlines), turned into a token stream with a separator token. */
#ifndef CPET_CORPUS_H
#define CPET_CORPUS_H

#include <stddef.h>

#include "error.h"
#include "tokenizer.h"

typedef struct {
    char *text;   /* the whole file */
    char **docs;  /* pointers into text, NUL-terminated */
    size_t *lens;
    int n;
} corpus;

/* Reads the non-empty documents of PATH (JSONL when its name ends in .jsonl); an empty corpus, or a JSONL line
 * without a string "text", is an error naming the file (and line). */
int corpus_read(corpus *c, const char *path, cpet_err *err);
void corpus_free(corpus *c);
/* Keep `limit` documents evenly spaced over the file (document i * n / limit); limit <= 0 or >= n keeps all.
 * A reduced budget that still spans the whole text, which is ordered by kind or subject. */
void corpus_keep_evenly(corpus *c, int limit);
/* [sep] doc0 [sep] doc1 ...: the separator (e.g. <|endoftext|>) also serves as BOS. Caller frees *stream. */
int corpus_tokenize(const corpus *c, const tokenizer *t, int sep_id, int **stream, long *n_tokens, cpet_err *err);

/* Calibration input: the corpus's first `rows` consecutive windows of `seq` tokens (fewer if it is short). */
int corpus_windows(const char *path, const tokenizer *t, int sep_id, int rows, int seq, int **ids, int *rows_out,
                   cpet_err *err);

#endif
