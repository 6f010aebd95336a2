/* Compression of a whole model, by method name, chained with '+' (prune first, then quantize):
 *   quantizers  rtn-int8 rtn-int4 rtn-int3 gptq-int4 gptq-int3 w8a8 nf4 q8_0 q4_0
 *   trained     qat-int8 qat-int4 qat-q8_0 qat-q4_0 (quantization-aware training, qat.h)
 *   pruning     magnitude wanda nm-2:4 struct-ffn struct-heads moefication
 * Every linear of every layer is compressed; embeddings, norms and the LM head stay f32 (as GPTQ and
 * llama.cpp's defaults do). Methods that need calibration take token rows. */
#ifndef CPET_COMPRESS_H
#define CPET_COMPRESS_H

#include <jansson.h>
#include <stddef.h>

#include "calib.h"
#include "error.h"
#include "model.h"

typedef struct {
    int group;       /* INT4 / INT3 group size (32, 64, 128) */
    double sparsity; /* magnitude, wanda, struct-ffn */
    double damp;     /* GPTQ dampening, fraction of mean(diag H) */
    int lm_head;     /* also pack the LM head, round-to-nearest in the chain's format (llama.cpp and
                      * runq.c quantize the classifier; GPTQ tools keep it f32, the default). Refused
                      * for a chain without a quantizer and for tied embeddings. */
    int embeddings;  /* also pack the embedding table, round-to-nearest in the chain's format (llama.cpp
                      * quantizes token_embd; lookups dequantize one row per token). With tied embeddings
                      * the LM head is that table and runs packed too. Off by default. */
    compress_training train; /* the methods that train while they compress (qat-*) */
    json_t *log;             /* where those methods put their curves (may be NULL) */
} compress_options;

/* One step of a chain, described the way ggml describes its types: what it is, what it needs, and the
 * function that applies it. A new compression is one entry in compress_methods[] (compress.c). */
typedef struct compress_method {
    const char *name, *summary;
    int needs_calibration, is_pruning;
    int needs_sparsity;  /* reads compress_options.sparsity, which must be in (0, 1) */
    int grouped;         /* reads compress_options.group (INT4 / INT3 groups) */
    qformat format;      /* a quantizer's format (QF_COUNT for a pruner) */
    int shrinks_ffn;     /* changes the FFN's width: must come before moefication */
    int moefies;
    int trains;          /* trains while it compresses: reads compress_options.train */
    int (*apply)(model *m, const struct compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err);
} compress_method;

extern const compress_method compress_methods[];
extern const int compress_n_methods;
const compress_method *compress_find(const char *name);

/* Checks a chain ("wanda+gptq-int4") without running it. */
int compress_check_chain(const char *chain, const compress_options *o, int have_calibration, cpet_err *err);
/* The training settings as JSON (records and hashes). */
json_t *compress_training_json(const compress_training *t);
/* Whether a step of the chain trains (reads compress_options.train). */
int compress_chain_trains(const char *chain);
/* Whether a step of the chain reads calibration data (GPTQ, Wanda, the structured pruners, the trained ones). */
int compress_chain_calibrates(const char *chain);
/* Applies the chain to m in place (struct-ffn replaces m with a smaller model). */
int compress_model(model *m, const char *chain, const compress_options *o, const calib_data *calib, cpet_err *err);
/* What compress_options.lm_head does, on its own: packs the LM head round-to-nearest in the chain's
 * quantization format. Refused for a chain without a quantizer and for tied embeddings (the head is
 * then the embedding table the lookups read). */
int compress_lm_head(model *m, const char *chain, int group, cpet_err *err);
/* What compress_options.embeddings does, on its own: packs the embedding table the same way. */
int compress_embeddings(model *m, const char *chain, int group, cpet_err *err);

#endif
