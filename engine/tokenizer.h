/* Byte-level BPE as in HF tokenizers (GPT-2 / LLaMA-3 style), read from and written to tokenizer.json:
 * ByteLevel byte->unicode map, regex pre-tokenization (PCRE2, UTF + UCP), ranked merges given as
 * "a b" strings or [a, b] pairs, added/special tokens matched before pre-tokenization. */
#ifndef CPET_TOKENIZER_H
#define CPET_TOKENIZER_H

#include <stddef.h>

#include "error.h"
#include "hashmap.h"

#define TOKENIZER_MAX_REGEX 4
#define GPT2_SPLIT_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    int id;
    char *content;
    size_t len;
    int special;
} added_token;

typedef struct {
    int vocab_size;        /* 1 + the largest id */
    char **token;          /* id -> byte-level string (added tokens: their raw content); NULL for unused ids */
    size_t *token_len;
    unsigned char *is_added;
    str_map token_to_id;
    u64_map merge_rank;    /* (left id << 32 | right id) -> rank */
    int *merge_left, *merge_right, *merge_result;
    int n_merges;
    added_token *added;
    int n_added;
    void *regex[TOKENIZER_MAX_REGEX]; /* pcre2_code*, applied in sequence */
    char *regex_src[TOKENIZER_MAX_REGEX];
    int n_regex;
    int ignore_merges;     /* LLaMA-3: a piece already in the vocab is one token */
    int byte_id[256];      /* the id of each single-byte symbol */
    int byte_cp[256];      /* GPT-2 byte -> unicode codepoint map */
    short cp_byte[512];    /* and back (-1: not a byte symbol) */
} tokenizer;

int tokenizer_load(tokenizer *t, const char *path, cpet_err *err);
void tokenizer_free(tokenizer *t);
/* ids is malloc'ed (caller frees). Fails on invalid UTF-8. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int **ids, int *n_ids, cpet_err *err);
/* out is malloc'ed and NUL-terminated; fails on an id outside the vocabulary. */
int tokenizer_decode(const tokenizer *t, const int *ids, int n_ids, char **out, size_t *out_len, cpet_err *err);
/* Valid UTF-8 from any bytes: each byte that does not start a well-formed sequence (overlong forms and
 * surrogates included) becomes U+FFFD, as Python's decode(errors="replace") does for generated text.
 * Returns a malloc'ed NUL-terminated string (its length in *out_len if not NULL). */
char *utf8_sanitize(const char *s, size_t n, size_t *out_len);
int tokenizer_id(const tokenizer *t, const char *token); /* -1 if absent (byte-level form or added content) */

/* Trains merges on documents (GPT-2 pre-tokenization) until vocab_size tokens (specials first, then the
 * 256 byte symbols, then merges in order); ties break on the smaller pair ids, so it is deterministic. */
int tokenizer_train(tokenizer *t, const char *const *docs, const size_t *lens, int n_docs, int vocab_size,
                    const char *const *specials, int n_specials, cpet_err *err);
/* Writes tokenizer.json (atomically) in the layout HF tokenizers reads. */
int tokenizer_save(const tokenizer *t, const char *path, cpet_err *err);

#endif
