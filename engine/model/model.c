#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "blas.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "tensor.h"

const char *const linear_module_suffix[LIN_PER_LAYER] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

/* ---- parameters: a size table from the config, one allocation, pointers from offsets (llm.c's
 * fill_in_parameter_sizes + malloc_and_point). The order is HF's and is the checkpoint order. ---- */

/* Appends tensor `name` [d0, d1] to the table; *dst[i] receives its address once the buffer exists. */
static void table_add(model *m, float ***dst, float **field, const char *name, int ndim, int64_t d0, int64_t d1)
{
    param_tensor *t = &m->tensors[m->n_tensors];
    dst[m->n_tensors++] = field;
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
    t->n = (size_t)d0 * (size_t)t->shape[1];
    t->decay = ndim == 2;
}

/* Names and shapes of every tensor in HF order, and which struct field points at each; the f32 weight
 * of a linear marked in packed_only ([model_packed_slots]: the layers' linears, then the LM head; may be
 * NULL) gets no storage. */
static void fill_in_parameter_table(model *m, float ***dst, const unsigned char *packed_only, unsigned char *no_storage)
{
    const model_config *c = &m->cfg;
    const int D = c->hidden_size, F = c->intermediate_size, qd = c->n_heads * c->head_dim,
              kvd = c->n_kv_heads * c->head_dim;
    char name[160];
    m->n_tensors = 0;
    no_storage[m->n_tensors] = packed_only && packed_only[model_packed_mask_embed(c)];
    table_add(m, dst, &m->embed, "model.embed_tokens.weight", 2, c->vocab_size, D);
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        const int outs[LIN_PER_LAYER] = {qd, kvd, kvd, D, F, F, D};
        const int ins[LIN_PER_LAYER] = {D, D, D, qd, D, D, F};
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        table_add(m, dst, &lw->attn_norm, name, 1, D, 1);
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            if (i == LIN_GATE) {
                snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
                table_add(m, dst, &lw->ffn_norm, name, 1, D, 1);
            }
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, linear_module_suffix[i]);
            no_storage[m->n_tensors] = packed_only && packed_only[l * LIN_PER_LAYER + i];
            table_add(m, dst, &lw->lin[i].w, name, 2, outs[i], ins[i]);
            lw->lin[i].out = outs[i];
            lw->lin[i].in = ins[i];
        }
    }
    table_add(m, dst, &m->final_norm, "model.norm.weight", 1, D, 1);
    m->lm_head.in = D;
    m->lm_head.out = c->vocab_size;
    if (!c->tie_word_embeddings) {
        no_storage[m->n_tensors] = packed_only && packed_only[c->n_layers * LIN_PER_LAYER];
        table_add(m, dst, &m->lm_head.w, "lm_head.weight", 2, c->vocab_size, D);
    }
}

/* One allocation for every tensor of the table, each 64-byte aligned, and the pointers into it
 * (NULL for a tensor without storage; the caller's memory for one marked 2 in no_storage). */
static int malloc_and_point_parameters(model *m, float ***dst, const unsigned char *no_storage, float *const *external,
                                       cpet_err *err)
{
    size_t n = (size_t)m->n_tensors, *bytes = malloc(2 * n * sizeof *bytes);
    if (!bytes) return cpet_fail(err, "out of memory allocating the model");
    size_t *offsets = bytes + n;
    for (size_t i = 0; i < n; i++) bytes[i] = no_storage[i] ? 0 : m->tensors[i].n * sizeof(float);
    size_t total = cpet_layout(bytes, n, offsets);
    m->params = cpet_alloc(total);
    if (!m->params) {
        free(bytes);
        return cpet_fail(err, "out of memory: %zu parameters", total / sizeof(float));
    }
    m->n_params = total / sizeof(float);
    for (size_t i = 0; i < n; i++)
        *dst[i] = m->tensors[i].p = external[i] ? external[i] : no_storage[i] ? NULL : m->params + offsets[i] / sizeof(float);
    if (m->cfg.tie_word_embeddings) m->lm_head.w = m->embed;
    free(bytes);
    return 0;
}

int model_create(model *m, const model_config *cfg, cpet_err *err) { return model_create_packed(m, cfg, NULL, err); }

int model_create_packed(model *m, const model_config *cfg, const unsigned char *packed_only, cpet_err *err)
{
    return model_create_over(m, cfg, packed_only, NULL, NULL, err);
}

int model_create_over(model *m, const model_config *cfg, const unsigned char *packed_only, tensor_source source,
                      void *ctx, cpet_err *err)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (config_validate(cfg, "config", err) != 0) return -1;
    size_t max_tensors = (size_t)cfg->n_layers * 9 + 4;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    m->tensors = calloc(max_tensors, sizeof *m->tensors);
    float ***dst = calloc(max_tensors, sizeof *dst);
    unsigned char *no_storage = calloc(max_tensors, 1);
    float **external = calloc(max_tensors, sizeof *external);
    if (!m->layers || !m->tensors || !dst || !no_storage || !external) {
        free(dst);
        free(no_storage);
        free(external);
        return cpet_fail(err, "out of memory allocating the model");
    }
    fill_in_parameter_table(m, dst, packed_only, no_storage);
    for (int i = 0; source && i < m->n_tensors; i++)
        if (!no_storage[i] && (external[i] = (float *)source(&m->tensors[i], ctx))) no_storage[i] = 1;
    int rc = malloc_and_point_parameters(m, dst, no_storage, external, err);
    free(dst);
    free(no_storage);
    for (int i = 0; rc == 0 && i < m->n_tensors; i++) m->tensors[i].external = external[i] != NULL;
    free(external);
    if (rc != 0) return -1;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1 && !m->tensors[i].external)
            for (size_t j = 0; j < m->tensors[i].n; j++) m->tensors[i].p[j] = 1.0f;
    m->rope_len = cfg->max_position_embeddings;
    size_t half = (size_t)cfg->head_dim / 2;
    m->rope_cos = cpet_alloc_floats((size_t)m->rope_len * half);
    m->rope_sin = cpet_alloc_floats((size_t)m->rope_len * half);
    rope_tables(m->rope_cos, m->rope_sin, m->rope_len, cfg->head_dim, cfg->rope_theta);
    m->taps.d_layer_out = calloc((size_t)cfg->n_layers, sizeof(float *));
    m->taps.d_ffn_act = calloc((size_t)cfg->n_layers, sizeof(float *));
    m->taps.d_ffn_x1 = calloc((size_t)cfg->n_layers, sizeof(float *));
    return 0;
}

void model_init_random(model *m, float std, unsigned long long seed)
{
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        param_tensor *t = &m->tensors[i];
        if (t->ndim == 2)
            fill_normal(t->p, t->n, std, &rng);
        else
            for (size_t j = 0; j < t->n; j++) t->p[j] = 1.0f;
    }
}

static void free_acts(activations *a)
{
    cpet_free(a->fwd_block);
    cpet_free(a->bwd_block);
    cpet_free(a->branch_scratch);
    memset(a, 0, sizeof *a);
}

/* the embedding rows of ids, from f32 or packed embeddings */
void model_embed_tokens(const model *m, const int *ids, int n, float *out)
{
    const size_t D = (size_t)m->cfg.hidden_size;
    for (int i = 0; i < n; i++)
        if (m->embed_q) qtensor_dequant_row(m->embed_q, ids[i], out + i * D);
        else memcpy(out + i * D, m->embed + (size_t)ids[i] * D, D * sizeof(float));
}

const float *model_embed_values(const model *m, float **owned)
{
    *owned = NULL;
    if (m->embed || !m->embed_q) return m->embed;
    *owned = malloc((size_t)m->cfg.vocab_size * m->cfg.hidden_size * sizeof(float));
    if (*owned) qtensor_dequantize(m->embed_q, *owned);
    return *owned;
}

void model_free(model *m)
{
    for (int i = 0; m->quant && i < model_packed_slots(m); i++)
        if (m->quant[i].format != QF_COUNT) qtensor_free(&m->quant[i]);
    free(m->quant);
    sparse_decode_free(m->sparse);
    free(m->ffn_kept);
    free(m->kv_kept);
    free(m->hidden_kept);
    if (m->embed_q) qtensor_free(m->embed_q);
    free(m->embed_q);
    for (int l = 0; m->moe && l < m->cfg.n_layers; l++) moe_free(&m->moe[l]);
    free(m->moe);
    free_acts(&m->acts);
    cpet_free(m->params);
    for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i].addr, m->maps[i].size);
    free(m->maps);
    cpet_free(m->grads);
    cpet_free(m->rope_cos);
    cpet_free(m->rope_sin);
    free(m->tensors);
    free(m->layers);
    free(m->taps.d_layer_out);
    free(m->taps.d_ffn_act);
    free(m->taps.d_ffn_x1);
    memset(m, 0, sizeof *m);
}

param_tensor *model_find_tensor(model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

linear *model_find_linear(model *m, const char *module_name)
{
    if (strcmp(module_name, "lm_head") == 0) return &m->lm_head;
    int l, consumed = 0;
    if (sscanf(module_name, "model.layers.%d.%n", &l, &consumed) != 1 || consumed == 0) return NULL;
    if (l < 0 || l >= m->cfg.n_layers) return NULL;
    for (int i = 0; i < LIN_PER_LAYER; i++)
        if (strcmp(module_name + consumed, linear_module_suffix[i]) == 0) return &m->layers[l].lin[i];
    return NULL;
}

void model_for_each_linear(model *m, void (*fn)(linear *l, const char *module_name, void *ctx), void *ctx)
{
    char name[128];
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, linear_module_suffix[i]);
            fn(&m->layers[l].lin[i], name, ctx);
        }
    fn(&m->lm_head, "lm_head", ctx);
}

/* ---- trainable sets and gradients ---- */

static float *grad_of(model *m, const float *p)
{
    if (!p) return NULL; /* a packed-only linear: frozen */
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].p == p) return m->tensors[i].trainable ? m->tensors[i].g : NULL;
    return NULL;
}

/* Points the layer structs' gradient pointers at the grads buffer for trainable tensors, NULL otherwise. */
static void refresh_grad_pointers(model *m)
{
    for (int i = 0; i < m->n_tensors; i++) {
        param_tensor *t = &m->tensors[i];
        t->g = m->grads && t->p ? m->grads + (t->p - m->params) : NULL;
    }
#define GRAD_OF(ptr) grad_of(m, (ptr))
    for (int l = 0; l < m->cfg.n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        lw->d_attn_norm = GRAD_OF(lw->attn_norm);
        lw->d_ffn_norm = GRAD_OF(lw->ffn_norm);
        for (int i = 0; i < LIN_PER_LAYER; i++) lw->lin[i].dw = GRAD_OF(lw->lin[i].w);
    }
    m->d_embed = GRAD_OF(m->embed);
    m->d_final_norm = GRAD_OF(m->final_norm);
    m->lm_head.dw = GRAD_OF(m->lm_head.w);
#undef GRAD_OF
}


int model_set_trainable(model *m, const char *substr, int trainable, cpet_err *err)
{
    int any = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (!substr || strstr(m->tensors[i].name, substr)) {
            m->tensors[i].trainable = trainable && m->tensors[i].p; /* a packed-only base stays frozen */
            any = 1;
        }
    if (!any) return cpet_fail(err, "no model tensor matches '%s'", substr);
    if (trainable && m->n_maps)
        return cpet_fail(err, "the model's weights are mapped read-only from its checkpoint (loaded for inference); load it to train");
    if (trainable && !m->grads) {
        m->grads = cpet_alloc_floats(m->n_params);
        if (!m->grads) return cpet_fail(err, "out of memory allocating %zu gradients", m->n_params);
    }
    refresh_grad_pointers(m);
    return 0;
}

void model_zero_grad(model *m)
{
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ---- forward ---- */

size_t model_branch_scratch_per_row(const model *m)
{
    size_t most = linear_scratch_per_row(&m->lm_head);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            size_t s = linear_scratch_per_row(&m->layers[l].lin[i]);
            most = s > most ? s : most;
        }
    return most;
}

/* Activations, as the parameters: a size table for (B, T), one allocation, pointers from offsets.
 * n float buffers (sizes in floats, destinations in ptrs) then n_int int buffers (into iptrs). */
static void *malloc_and_point(float **const *ptrs, const size_t *floats, size_t n, int **const *iptrs,
                              const size_t *ints, size_t n_int, size_t *total)
{
    size_t bytes[32], offsets[32];
    if (n + n_int > 32) return NULL; /* the tables below have 21 entries */
    for (size_t i = 0; i < n; i++) bytes[i] = floats[i] * sizeof(float);
    for (size_t i = 0; i < n_int; i++) bytes[n + i] = ints[i] * sizeof(int);
    *total = cpet_layout(bytes, n + n_int, offsets);
    char *block = cpet_alloc(*total);
    if (!block) return NULL;
    for (size_t i = 0; i < n; i++) *ptrs[i] = (float *)(block + offsets[i]);
    for (size_t i = 0; i < n_int; i++) *iptrs[i] = (int *)(block + offsets[n + i]);
    return block;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void *forward_alloc(activations *a, const model_config *c, int B, int T, size_t *total)
{
    const size_t BT = (size_t)B * T, L = (size_t)c->n_layers, D = (size_t)c->hidden_size,
                 F = (size_t)c->intermediate_size, QD = (size_t)c->n_heads * c->head_dim,
                 KVD = (size_t)c->n_kv_heads * c->head_dim;
    float **const ptrs[] = {&a->x_in, &a->xn1, &a->rstd1, &a->q, &a->k, &a->v, &a->att, &a->att_out,
                            &a->x_mid, &a->xn2, &a->rstd2, &a->gate, &a->up, &a->h, &a->x_final, &a->xf,
                            &a->rstdf, &a->logits, &a->lse};
    const size_t floats[] = {L * BT * D, L * BT * D, L * BT, L * BT * QD, L * BT * KVD, L * BT * KVD,
                             (size_t)B * c->n_heads * T * T, L * BT * QD, /* att: one layer's (ops.h) */
                             L * BT * D, L * BT * D, L * BT, L * BT * F, L * BT * F, L * BT * F, BT * D, BT * D,
                             BT, BT * (size_t)c->vocab_size, BT};
    int **const iptrs[] = {&a->targets, &a->ids};
    const size_t ints[] = {BT, BT};
    _Static_assert(COUNT(ptrs) == COUNT(floats), "one size per forward buffer");
    return malloc_and_point(ptrs, floats, COUNT(ptrs), iptrs, ints, COUNT(iptrs), total);
}

static void *backward_alloc(activations *a, const model_config *c, int B, int T, int threads, size_t *total)
{
    const size_t BT = (size_t)B * T, D = (size_t)c->hidden_size, F = (size_t)c->intermediate_size,
                 QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim;
    float **const ptrs[] = {&a->dres, &a->dxn, &a->dq, &a->dk, &a->dv, &a->datt_out,
                            &a->dgate, &a->dup, &a->dh, &a->dlogits, &a->att_scratch};
    const size_t floats[] = {BT * D, BT * D, BT * QD, BT * KVD, BT * KVD, BT * QD,
                             BT * F, BT * F, BT * F, BT * (size_t)c->vocab_size, (size_t)threads * T * T};
    _Static_assert(COUNT(ptrs) == COUNT(floats), "one size per backward buffer");
    return malloc_and_point(ptrs, floats, COUNT(ptrs), NULL, NULL, 0, total);
}

static int ensure_forward_buffers(model *m, int B, int T, cpet_err *err)
{
    activations *a = &m->acts;
    size_t need_scratch = model_branch_scratch_per_row(m) * (size_t)B * T;
    if (need_scratch > a->branch_scratch_floats) {
        cpet_free(a->branch_scratch);
        a->branch_scratch = cpet_alloc_floats(need_scratch);
        if (!a->branch_scratch) return cpet_fail(err, "out of memory for branch scratch");
        a->branch_scratch_floats = need_scratch;
    }
    if (a->fwd_block && a->B == B && a->T == T) return 0;
    cpet_free(a->fwd_block);
    cpet_free(a->bwd_block);
    a->fwd_block = a->bwd_block = NULL;
    size_t bytes;
    a->fwd_block = forward_alloc(a, &m->cfg, B, T, &bytes);
    if (!a->fwd_block) return cpet_fail(err, "out of memory: activations for batch %d x seq %d need %zu MB", B, T, bytes >> 20);
    a->B = B;
    a->T = T;
    return 0;
}

static int forward(model *m, const int *ids, const int *targets, int B, int T, int n_layers, cpet_err *err)
{
    const model_config *c = &m->cfg;
    if (T > m->rope_len)
        return cpet_fail(err, "sequence length %d exceeds max_position_embeddings %d", T, m->rope_len);
    if (ensure_forward_buffers(m, B, T, err) != 0) return -1;
    activations *a = &m->acts;
    const int N = B * T, D = c->hidden_size, F = c->intermediate_size, H = c->n_heads, KV = c->n_kv_heads,
              hd = c->head_dim, QD = H * hd, KVD = KV * hd;
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return cpet_fail(err, "token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, c->vocab_size);
    for (int i = 0; i < N; i++) {
        int t = targets ? targets[i] : ((i % T) + 1 < T ? ids[i + 1] : -1);
        if (t >= c->vocab_size) return cpet_fail(err, "target id %d at position %d is outside the vocabulary", t, i);
        a->targets[i] = t < 0 ? -1 : t;
    }
    memcpy(a->ids, ids, (size_t)N * sizeof(int));
    model_embed_tokens(m, ids, N, a->x_in);

    float *scratch = a->branch_scratch;
    for (int l = 0; l < n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        const size_t oD = (size_t)l * N * D, oF = (size_t)l * N * F, oQ = (size_t)l * N * QD, oK = (size_t)l * N * KVD,
                     oR = (size_t)l * N;
        float *x = a->x_in + oD, *xn1 = a->xn1 + oD, *q = a->q + oQ, *k = a->k + oK, *v = a->v + oK,
              *att_out = a->att_out + oQ, *x_mid = a->x_mid + oD, *xn2 = a->xn2 + oD, *gate = a->gate + oF,
              *up = a->up + oF, *h = a->h + oF;
        float *out = l + 1 < c->n_layers ? a->x_in + oD + (size_t)N * D : a->x_final;

        rmsnorm_forward(xn1, a->rstd1 + oR, x, lw->attn_norm, N, D, c->rms_norm_eps);
        linear_forward(&lw->lin[LIN_Q], xn1, q, N, scratch);
        linear_forward(&lw->lin[LIN_K], xn1, k, N, scratch);
        linear_forward(&lw->lin[LIN_V], xn1, v, N, scratch);
        rope_forward(q, m->rope_cos, m->rope_sin, N, T, 0, H, hd);
        rope_forward(k, m->rope_cos, m->rope_sin, N, T, 0, KV, hd);
        attention_forward(att_out, a->att, q, k, v, B, T, H, KV, hd);
        linear_forward(&lw->lin[LIN_O], att_out, x_mid, N, scratch);
        for (size_t i = 0; i < (size_t)N * D; i++) x_mid[i] += x[i];

        rmsnorm_forward(xn2, a->rstd2 + oR, x_mid, lw->ffn_norm, N, D, c->rms_norm_eps);
        linear_forward(&lw->lin[LIN_GATE], xn2, gate, N, scratch);
        linear_forward(&lw->lin[LIN_UP], xn2, up, N, scratch);
        gated_act_forward(h, gate, up, (size_t)N * F, c->hidden_act, c->act_threshold);
        if (m->moe) moe_mask(&m->moe[l], xn2, h, N); /* only the routed experts' neurons stay on */
        linear_forward(&lw->lin[LIN_DOWN], h, out, N, scratch);
        for (size_t i = 0; i < (size_t)N * D; i++) out[i] += x_mid[i];
        const residual_intervention *iv = m->intervention;
        if (iv && iv->layer == l)
            for (int b = 0; b < B; b++)
                if (iv->pos[b] >= 0 && iv->pos[b] < T)
                    for (int d = 0; d < D; d++) out[((size_t)b * T + iv->pos[b]) * D + d] += iv->delta[d];
    }
    if (n_layers < c->n_layers) {
        m->loss = NAN, m->n_targets = 0;
        return 0;
    }
    rmsnorm_forward(a->xf, a->rstdf, a->x_final, m->final_norm, N, D, c->rms_norm_eps);
    linear_forward(&m->lm_head, a->xf, a->logits, N, scratch);
    m->loss = cross_entropy_forward(a->lse, a->logits, a->targets, N, c->vocab_size, &m->n_targets);
    return 0;
}

int model_forward(model *m, const int *ids, const int *targets, int B, int T, cpet_err *err)
{
    return forward(m, ids, targets, B, T, m->cfg.n_layers, err);
}

int model_forward_layers(model *m, const int *ids, int B, int T, int n_layers, cpet_err *err)
{
    if (n_layers < 1 || n_layers > m->cfg.n_layers) return cpet_fail(err, "forward: %d layers of a %d-layer model", n_layers, m->cfg.n_layers);
    return forward(m, ids, NULL, B, T, n_layers, err);
}

float *model_logits(const model *m) { return m->acts.logits; }

const float *model_final_hidden(const model *m) { return m->acts.xf; }

int model_alloc_backward(model *m, cpet_err *err)
{
    activations *a = &m->acts;
    int threads = engine_threads();
    if (a->bwd_block && a->bwd_threads >= threads) return 0;
    cpet_free(a->bwd_block);
    a->bwd_threads = threads;
    size_t bytes;
    a->bwd_block = backward_alloc(a, &m->cfg, a->B, a->T, threads, &bytes);
    if (!a->bwd_block) return cpet_fail(err, "out of memory: backward buffers need %zu MB", bytes >> 20);
    return 0;
}
