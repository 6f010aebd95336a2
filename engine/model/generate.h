/* Inference: a KV cache for incremental decoding (greedy or temperature/top-p sampling with a seed), and
 * log-likelihood scoring of continuations, lm-evaluation-harness style, batched. */
#ifndef CPET_GENERATE_H
#define CPET_GENERATE_H

#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct {
    int max_len, len; /* capacity and number of cached positions */
    int chunk;        /* most tokens one call may append */
    float *k, *v;     /* [L, max_len, KV*hd] */
    float *x, *xn, *q, *kn, *vn, *att, *mid, *gate, *up, *h, *rstd, *scores, *branch_scratch;
    void *block;
    float *sparse_scratch; /* when the model decodes with sparse FFNs (model_sparse_enable before kv_cache_init) */
    uint8_t *predicted;    /* [F]: a predictor's mask */
    double ffn_seconds;    /* time spent in the FFN blocks (norm excluded), for Amdahl's share */
} kv_cache;

int kv_cache_init(kv_cache *c, model *m, int max_len, int chunk, cpet_err *err);
void kv_cache_free(kv_cache *c);
/* Appends n tokens (n <= chunk) at positions len..len+n-1 and writes their logits [n, V] (or only the
 * last token's [V] when all_logits is 0). */
int model_forward_cached(model *m, kv_cache *c, const int *ids, int n, float *logits, int all_logits, cpet_err *err);

typedef struct {
    int max_new_tokens;
    float temperature; /* <= 0: greedy */
    float top_p;       /* nucleus mass kept, (0, 1] */
    int stop_id;       /* -1: none */
    uint64_t seed;
} gen_config;

/* Picks the next token from logits [V]; rng unused when greedy. */
int sample_token(const float *logits, int V, float temperature, float top_p, uint64_t *rng_state);
/* Writes prompt + generated ids into out (capacity n_prompt + max_new_tokens); returns the total count. */
int generate(model *m, const int *prompt, int n_prompt, const gen_config *g, int *out, int *n_out, cpet_err *err);

typedef struct {
    const int *context;
    int n_context;
    const int *continuation;
    int n_continuation;
} score_request;

/* Sum of log P(continuation tokens | context) for each request, and whether every continuation token was
 * the argmax (lm-eval's is_greedy). Requests are right-padded into batches of `batch` sequences; contexts
 * longer than the model's window are cut from the left. */
int score_continuations(model *m, const score_request *req, int n, int batch, double *logprob, int *is_greedy,
                        cpet_err *err);

#endif
