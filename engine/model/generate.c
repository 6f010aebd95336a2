#include "generate.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ffn_predictor.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "tensor.h"

/* The cache and the step buffers: a size table, one allocation (kv_cache_init), pointers from offsets. */
static void *cache_alloc(kv_cache *c, const model_config *cfg, size_t branch_per_row, int threads, size_t *total)
{
    const size_t L = (size_t)cfg->n_layers, D = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size,
                 QD = (size_t)cfg->n_heads * cfg->head_dim, KVD = (size_t)cfg->n_kv_heads * cfg->head_dim,
                 M = (size_t)c->max_len, n = (size_t)c->chunk;
    float **const ptrs[] = {&c->k, &c->v, &c->x, &c->xn, &c->q, &c->kn, &c->vn, &c->att, &c->mid,
                            &c->gate, &c->up, &c->h, &c->rstd, &c->scores, &c->branch_scratch};
    const size_t floats[] = {L * M * KVD, L * M * KVD, n * D, n * D, n * QD, n * KVD, n * KVD, n * QD, n * D,
                             n * F, n * F, n * F, n, (size_t)threads * M, n * (branch_per_row ? branch_per_row : 1)};
    enum { N = sizeof ptrs / sizeof ptrs[0] };
    _Static_assert(N == sizeof floats / sizeof floats[0], "one size per cache buffer");
    size_t bytes[N], offsets[N];
    for (size_t i = 0; i < N; i++) bytes[i] = floats[i] * sizeof(float);
    *total = cpet_layout(bytes, N, offsets);
    char *block = cpet_alloc(*total);
    if (block)
        for (size_t i = 0; i < N; i++) *ptrs[i] = (float *)(block + offsets[i]);
    return block;
}

int kv_cache_init(kv_cache *c, model *m, int max_len, int chunk, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    if (max_len > m->rope_len) max_len = m->rope_len;
    if (chunk > max_len) chunk = max_len;
    c->max_len = max_len;
    c->chunk = chunk;
    int threads = omp_get_max_threads();
    size_t bytes;
    c->block = cache_alloc(c, &m->cfg, model_branch_scratch_per_row(m), threads, &bytes);
    if (!c->block) return cpet_fail(err, "out of memory: KV cache of %d positions needs %zu MB", max_len, bytes >> 20);
    const sparse_decode *sd = m->sparse;
    if (sd) {
        const int rows = chunk < sd->max_rows ? chunk : sd->max_rows;
        size_t need = sparse_ffn_scratch(&sd->layers[0], rows);
        if (sd->predictor && ffn_predictor_scratch(sd->predictor, rows) > need) need = ffn_predictor_scratch(sd->predictor, rows);
        c->sparse_scratch = malloc(need * sizeof(float));
        c->predicted = malloc((size_t)m->cfg.intermediate_size);
        if (!c->sparse_scratch || !c->predicted) {
            kv_cache_free(c);
            return cpet_fail(err, "out of memory: sparse FFN scratch");
        }
    }
    return 0;
}

void kv_cache_free(kv_cache *c)
{
    cpet_free(c->block);
    free(c->sparse_scratch);
    free(c->predicted);
    memset(c, 0, sizeof *c);
}

int model_forward_cached(model *m, kv_cache *c, const int *ids, int n, float *logits, int all_logits, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    if (n <= 0 || n > c->chunk) return cpet_fail(err, "cached forward: %d tokens, the cache takes 1..%d per call", n, c->chunk);
    if (c->len + n > c->max_len)
        return cpet_fail(err, "cached forward: %d + %d tokens exceed the cache's %d positions", c->len, n, c->max_len);
    const int D = cfg->hidden_size, F = cfg->intermediate_size, H = cfg->n_heads, KV = cfg->n_kv_heads,
              hd = cfg->head_dim, KVD = KV * hd, pos0 = c->len;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= cfg->vocab_size)
            return cpet_fail(err, "token id %d is outside the vocabulary [0, %d)", ids[i], cfg->vocab_size);
        model_embed_tokens(m, ids + i, 1, c->x + (size_t)i * D);
    }
    for (int l = 0; l < cfg->n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        float *kc = c->k + (size_t)l * c->max_len * KVD, *vc = c->v + (size_t)l * c->max_len * KVD;
        rmsnorm_forward(c->xn, c->rstd, c->x, lw->attn_norm, n, D, cfg->rms_norm_eps);
        const linear *qkv[3] = {&lw->lin[LIN_Q], &lw->lin[LIN_K], &lw->lin[LIN_V]};
        float *qkv_out[3] = {c->q, c->kn, c->vn};
        linear_forward_shared(qkv, 3, c->xn, qkv_out, n, c->branch_scratch); /* one parallel region */
        rope_forward(c->q, m->rope_cos, m->rope_sin, n, n, pos0, H, hd);
        rope_forward(c->kn, m->rope_cos, m->rope_sin, n, n, pos0, KV, hd);
        memcpy(kc + (size_t)pos0 * KVD, c->kn, (size_t)n * KVD * sizeof(float));
        memcpy(vc + (size_t)pos0 * KVD, c->vn, (size_t)n * KVD * sizeof(float));
        attention_forward_cached(c->att, c->scores, c->q, kc, vc, n, pos0, H, KV, hd);
        linear_forward(&lw->lin[LIN_O], c->att, c->mid, n, c->branch_scratch);
        for (size_t i = 0; i < (size_t)n * D; i++) c->mid[i] += c->x[i];
        rmsnorm_forward(c->xn, c->rstd, c->mid, lw->ffn_norm, n, D, cfg->rms_norm_eps);
        const double t_ffn = omp_get_wtime();
        if (m->sparse && n <= m->sparse->max_rows) { /* decode: only the active neurons' rows of up and down */
            const ffn_predictor *pred = m->sparse->predictor;
            if (pred) ffn_predictor_mask(pred, l, c->mid, n, c->predicted, c->sparse_scratch);
            sparse_ffn_forward(&m->sparse->layers[l], c->xn, c->x, n, pred ? c->predicted : NULL, c->sparse_scratch);
            c->ffn_seconds += omp_get_wtime() - t_ffn;
            for (size_t i = 0; i < (size_t)n * D; i++) c->x[i] += c->mid[i];
            continue;
        }
        const linear *gate_up[2] = {&lw->lin[LIN_GATE], &lw->lin[LIN_UP]};
        float *gate_up_out[2] = {c->gate, c->up};
        linear_forward_shared(gate_up, 2, c->xn, gate_up_out, n, c->branch_scratch);
        gated_act_forward(c->h, c->gate, c->up, (size_t)n * F, cfg->hidden_act, cfg->act_threshold);
        if (m->moe) moe_mask(&m->moe[l], c->xn, c->h, n);
        linear_forward(&lw->lin[LIN_DOWN], c->h, c->x, n, c->branch_scratch);
        c->ffn_seconds += omp_get_wtime() - t_ffn;
        for (size_t i = 0; i < (size_t)n * D; i++) c->x[i] += c->mid[i];
    }
    int first = all_logits ? 0 : n - 1, rows = n - first;
    rmsnorm_forward(c->xn, c->rstd, c->x + (size_t)first * D, m->final_norm, rows, D, cfg->rms_norm_eps);
    linear_forward(&m->lm_head, c->xn, logits, rows, c->branch_scratch);
    c->len += n;
    return 0;
}

typedef struct {
    float p;
    int id;
} prob_id;

static int by_prob_desc(const void *a, const void *b)
{
    const prob_id *x = a, *y = b;
    return x->p < y->p ? 1 : x->p > y->p ? -1 : x->id - y->id;
}

int sample_token(const float *logits, int V, float temperature, float top_p, uint64_t *rng_state)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0.0f) return best;
    prob_id *p = malloc((size_t)V * sizeof *p);
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        p[i].p = expf((logits[i] - logits[best]) / temperature);
        p[i].id = i;
        sum += p[i].p;
    }
    qsort(p, (size_t)V, sizeof *p, by_prob_desc);
    int keep = 0;
    double mass = 0.0, cut = (top_p > 0.0f && top_p < 1.0f ? top_p : 1.0) * sum;
    while (keep < V && (keep == 0 || mass < cut)) mass += p[keep++].p;
    double u = (double)(splitmix64(rng_state) >> 11) / 9007199254740992.0 * mass, acc = 0.0;
    int choice = p[keep - 1].id;
    for (int i = 0; i < keep; i++) {
        acc += p[i].p;
        if (u < acc) {
            choice = p[i].id;
            break;
        }
    }
    free(p);
    return choice;
}

int generate(model *m, const int *prompt, int n_prompt, const gen_config *g, int *out, int *n_out, cpet_err *err)
{
    if (n_prompt <= 0) return cpet_fail(err, "generate: the prompt is empty");
    kv_cache c;
    int total = n_prompt + g->max_new_tokens;
    if (kv_cache_init(&c, m, total, n_prompt, err) != 0) return -1;
    if (total > c.max_len) {
        kv_cache_free(&c);
        return cpet_fail(err, "generate: %d prompt + %d new tokens exceed max_position_embeddings %d", n_prompt,
                         g->max_new_tokens, m->rope_len);
    }
    float *logits = malloc((size_t)m->cfg.vocab_size * sizeof(float));
    memcpy(out, prompt, (size_t)n_prompt * sizeof(int));
    int n = n_prompt, rc = model_forward_cached(m, &c, prompt, n_prompt, logits, 0, err);
    uint64_t rng = g->seed;
    while (rc == 0 && n < total) {
        int next = sample_token(logits, m->cfg.vocab_size, g->temperature, g->top_p, &rng);
        out[n++] = next;
        if (next == g->stop_id || n == total) break;
        rc = model_forward_cached(m, &c, &next, 1, logits, 0, err);
    }
    *n_out = n;
    free(logits);
    kv_cache_free(&c);
    return rc;
}

int score_continuations(model *m, const score_request *req, int n, int batch, double *logprob, int *is_greedy,
                        cpet_err *err)
{
    const int V = m->cfg.vocab_size, window = m->rope_len;
    for (int start = 0; start < n; start += batch) {
        int count = n - start < batch ? n - start : batch, T = 1;
        for (int r = 0; r < count; r++) {
            const score_request *q = &req[start + r];
            if (q->n_continuation <= 0 || q->n_continuation >= window)
                return cpet_fail(err, "score: request %d has %d continuation tokens (window %d)", start + r,
                                 q->n_continuation, window);
            int len = q->n_context + q->n_continuation - 1; /* the last token is only a target */
            if (len > window) len = window;
            T = len > T ? len : T;
        }
        size_t cells = (size_t)(unsigned)count * (unsigned)T;
        int *ids = calloc(cells, sizeof(int)), *targets = malloc(cells * sizeof(int));
        for (size_t i = 0; i < cells; i++) targets[i] = -1;
        for (int r = 0; r < count; r++) {
            const score_request *q = &req[start + r];
            int full = q->n_context + q->n_continuation, len = full - 1 > window ? window : full - 1,
                skip = full - 1 - len; /* tokens cut from the left */
            for (int t = 0; t < len; t++) {
                int src = skip + t;
                ids[r * T + t] = src < q->n_context ? q->context[src] : q->continuation[src - q->n_context];
                int tgt = src + 1;
                if (tgt >= q->n_context) targets[r * T + t] = q->continuation[tgt - q->n_context];
            }
        }
        if (model_forward(m, ids, targets, count, T, err) != 0) {
            free(ids);
            free(targets);
            return -1;
        }
        const float *logits = model_logits(m);
        for (int r = 0; r < count; r++) {
            double lp = 0.0;
            int greedy = 1;
            for (int t = 0; t < T; t++) {
                int tgt = targets[r * T + t];
                if (tgt < 0) continue;
                const float *row = logits + ((size_t)r * T + t) * V;
                lp += (double)row[tgt] - m->acts.lse[r * T + t];
                for (int j = 0; j < V && greedy; j++) greedy = row[j] <= row[tgt] || j == tgt;
            }
            logprob[start + r] = lp;
            if (is_greedy) is_greedy[start + r] = greedy;
        }
        free(ids);
        free(targets);
    }
    return 0;
}
