/* BPE as in HF tokenizers, read from and written to tokenizer.json, in its two styles:
 *   byte-level (GPT-2 / LLaMA-3): the ByteLevel byte->unicode map, regex pre-tokenization (PCRE2, UTF +
 *     UCP);
 *   SentencePiece-style (LLaMA-2 / Mistral, engine/tokenizer/tokenizer_spm.c): tokens are plain UTF-8 with "▁" for a
 *     space; the Prepend / Replace normalizers or the Metaspace pre-tokenizer; characters outside the vocab
 *     become <0xNN> byte tokens (byte_fallback) or <unk> (fused when fuse_unk); the decoder chain (Replace,
 *     ByteFallback, Fuse, Strip, or Metaspace).
 * Both: ranked merges given as "a b" strings or [a, b] pairs, applied lowest rank first (leftmost on ties);
 * added/special tokens cut out before normalization. tokenizer_config.json beside the file (when present)
 * sets add_bos_token / add_eos_token; otherwise the post_processor's template does. */
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

typedef enum { TOKENIZER_BYTE_LEVEL, TOKENIZER_SENTENCEPIECE } tokenizer_style;

/* One normalizer or decoder step of a SentencePiece-style tokenizer (tokenizer_spm.c). */
typedef enum { TSTEP_PREPEND, TSTEP_REPLACE, TSTEP_BYTE_FALLBACK, TSTEP_FUSE, TSTEP_STRIP, TSTEP_METASPACE } tokenizer_step_kind;
typedef struct {
    tokenizer_step_kind kind;
    char *a, *b;           /* Prepend: a; Replace: a -> b; Strip: a = the content; Metaspace: a = the replacement */
    int n1, n2;            /* Strip: start, stop; Metaspace: the prepend scheme */
} tokenizer_step;
#define TOKENIZER_MAX_STEPS 8
enum { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };

typedef struct {
    tokenizer_style style;
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
    /* SentencePiece style */
    int byte_fallback, fuse_unk, unk_id; /* unk_id -1: none */
    int fallback_id[256];  /* the <0xNN> token of each byte (-1: absent) */
    tokenizer_step norm[TOKENIZER_MAX_STEPS], dec[TOKENIZER_MAX_STEPS];
    int n_norm, n_dec;
    int metaspace, metaspace_split, prepend_scheme; /* the Metaspace pre-tokenizer */
    char *metaspace_rep;
    char *json_normalizer, *json_pre_tokenizer, *json_post_processor, *json_decoder; /* as read, written back by tokenizer_save */
    /* what every command puts around a text it tokenizes (tokenizer_config.json's add_bos_token /
     * add_eos_token, else the post_processor's template; byte-level files with neither: BOS, no EOS) */
    int add_bos, add_eos;
    int bos_id, eos_id;    /* the template's (or tokenizer_config.json's bos_token / eos_token) ids; -1: not named */
} tokenizer;

int tokenizer_load(tokenizer *t, const char *path, cpet_err *err);
/* The BOS a command puts before a text: the model's bos_id when the tokenizer adds one, else -1 (none). */
int tokenizer_bos(const tokenizer *t, int model_bos_id);
/* The EOS a command puts after a training text or document: the model's eos_id when the tokenizer adds one,
 * else -1. Prompts that are scored or continued never end in EOS. */
int tokenizer_eos(const tokenizer *t, int model_eos_id);
/* tokenizer_encode with the BOS the tokenizer adds (tokenizer_bos) first: *n_ids counts it, *bos_len is 1 when
 * it is there, else 0. */
int tokenizer_encode_bos(const tokenizer *t, int model_bos_id, const char *text, size_t len, int **ids, int *n_ids, int *bos_len, cpet_err *err);
void tokenizer_free(tokenizer *t);
/* ids is malloc'ed (caller frees). Fails on invalid UTF-8. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int **ids, int *n_ids, cpet_err *err);
/* out is malloc'ed and NUL-terminated; fails on an id outside the vocabulary. Byte-level: the bytes (they may
 * not be UTF-8); SentencePiece style: the decoder chain as HF runs it (a run of byte tokens that is not
 * UTF-8 gives one U+FFFD per byte; Strip / Metaspace drop the leading space of the first token). */
int tokenizer_decode(const tokenizer *t, const int *ids, int n_ids, char **out, size_t *out_len, cpet_err *err);
/* Valid UTF-8 from any bytes: each byte that does not start a well-formed sequence (overlong forms and
 * surrogates included) becomes U+FFFD. (Python's decode(errors="replace") gives one U+FFFD for a truncated
 * sequence's bytes together; here each byte gets its own, as HF's ByteFallback decoder does.)
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
