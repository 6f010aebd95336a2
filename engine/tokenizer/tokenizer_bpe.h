/* Shared by tokenizer.c (byte-level BPE, the file, added tokens) and tokenizer_spm.c (SentencePiece-style
 * normalizers, pre-tokenizer, byte fallback and decoders), defined in tokenizer_bpe.c; not part of the
 * engine's API. */
#ifndef CPET_TOKENIZER_BPE_H
#define CPET_TOKENIZER_BPE_H

#include <stddef.h>

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

#endif
