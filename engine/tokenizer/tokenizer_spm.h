/* SentencePiece-style files (tokenizer_spm.c), for tokenizer.c; not part of the engine's API. */
#ifndef CPET_TOKENIZER_SPM_H
#define CPET_TOKENIZER_SPM_H

#include <jansson.h>

#include "tokenizer.h"
#include "tokenizer_bpe.h"

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
