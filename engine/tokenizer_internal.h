/* Shared by tokenizer.c (byte-level BPE, the file, added tokens) and tokenizer_spm.c (SentencePiece-style
 * normalizers, pre-tokenizer, byte fallback and decoders); not part of the engine's API. */
#ifndef CPET_TOKENIZER_INTERNAL_H
#define CPET_TOKENIZER_INTERNAL_H

#include <jansson.h>

#include "tokenizer.h"

typedef struct {
    int *ids;
    int n, cap;
} id_list;

void id_push(id_list *l, int id);
/* Decodes one UTF-8 sequence; returns its length, or 0 if invalid. */
int tok_utf8_next(const unsigned char *s, size_t n, int *cp);
/* The offset of the first byte that does not start a well-formed sequence, or -1 when all of s is UTF-8. */
long tok_utf8_invalid_at(const char *s, size_t n);
/* Applies the merges to symbols sym[0..len) in place, lowest rank first, leftmost on ties (a heap over
 * adjacent pairs, as HF's Word::merge_all); returns the new length. */
int bpe_merge(const tokenizer *t, int *sym, int len);

/* SentencePiece style (tokenizer_spm.c). Is this file one (model.byte_fallback, a normalizer, a Metaspace
 * pre-tokenizer, or a decoder that is not ByteLevel)? */
int spm_detect(json_t *root);
/* Reads the model's byte_fallback / fuse_unk / unk_token, the normalizer, the pre-tokenizer and the decoder,
 * after the vocab is in; errors name the file and the part. */
int spm_read(tokenizer *t, json_t *root, const char *path, cpet_err *err);
/* Normalizes, pre-tokenizes and encodes one text segment between added tokens; at_start: the segment begins
 * the text (Metaspace's prepend_scheme "first"). */
void spm_encode_segment(const tokenizer *t, const char *s, size_t n, int at_start, id_list *out);
int spm_decode(const tokenizer *t, const int *ids, int n_ids, char **out, size_t *out_len, cpet_err *err);
void spm_free(tokenizer *t);

#endif
