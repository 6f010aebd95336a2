#include "compress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptq.h"
#include "qat.h"
#include "prune.h"
#include "shrink.h"
#include "simple.h"
#include "wid.h"

static int split_chain(const char *chain, char parts[8][32], int *n, cpet_err *err)
{
    *n = 0;
    const char *p = chain;
    while (*p) {
        const char *plus = strchr(p, '+');
        size_t len = plus ? (size_t)(plus - p) : strlen(p);
        if (*n == 8 || len == 0 || len >= 32) return cpet_fail(err, "compression '%s': expected method names joined by '+'", chain);
        memcpy(parts[*n], p, len);
        parts[(*n)++][len] = 0;
        p += len + (plus ? 1 : 0);
    }
    return *n ? 0 : cpet_fail(err, "compression: empty method");
}

int compress_check_chain(const char *chain, const compress_options *o, int have_calibration, cpet_err *err)
{
    char parts[8][32];
    int n, quantized = 0, moefied = 0;
    if (split_chain(chain, parts, &n, err) != 0) return -1;
    for (int i = 0; i < n; i++) {
        const compress_method *m = compress_find(parts[i]);
        if (!m) return cpet_fail(err, "unknown compression method '%s' (cpet compress --list)", parts[i]);
        if (m->shrinks_ffn && moefied)
            return cpet_fail(err, "'%s': %s must come before moefication (experts are sized to the FFN)", chain, m->name);
        moefied |= m->moefies;
        if (m->is_pruning && quantized) return cpet_fail(err, "'%s' comes after a quantizer in '%s': prune first, then quantize", parts[i], chain);
        if (!m->is_pruning && quantized) return cpet_fail(err, "'%s': a model can be quantized only once", chain);
        quantized |= !m->is_pruning;
        if (m->needs_calibration && !have_calibration) return cpet_fail(err, "'%s' needs calibration data (--calib FILE)", parts[i]);
        if (m->needs_sparsity && !(o->sparsity > 0 && o->sparsity < 1))
            return cpet_fail(err, "'%s' needs a sparsity in (0, 1) (--sparsity)", parts[i]);
        if (m->grouped && qformat_group(m->format, o->group) < 0)
            return cpet_fail(err, "%s: group size %d is not supported (32, 64 or 128)", parts[i], o->group);
    }
    if ((o->lm_head || o->embeddings) && !quantized)
        return cpet_fail(err, "'%s': quantizing the %s needs a quantizer in the chain", chain, o->lm_head ? "LM head" : "embeddings");
    return 0;
}

json_t *compress_training_json(const compress_training *t)
{
    return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:b, s:f, s:f, s:I}", "steps", t->steps, "batch", t->batch, "lr", (double)t->lr,
                     "method_lr", (double)t->method_lr, "contrastive",
                     (double)t->contrastive, "tau", (double)t->tau, "dynamic_scaling", t->dynamic_scaling, "distill", (double)t->distill, "l1",
                     (double)t->l1, "seed", (json_int_t)t->seed);
}

static int any_step(const char *chain, int trains, int calibrates)
{
    char parts[8][32];
    int n;
    cpet_err ignored;
    if (split_chain(chain, parts, &n, &ignored) != 0) return 0;
    for (int i = 0; i < n; i++) {
        const compress_method *m = compress_find(parts[i]);
        if (m && ((trains && m->trains) || (calibrates && m->needs_calibration))) return 1;
    }
    return 0;
}

int compress_chain_trains(const char *chain) { return any_step(chain, 1, 0); }

int compress_chain_calibrates(const char *chain) { return any_step(chain, 0, 1); }

/* ---- calibration inputs ---- */

static int calib_forward(model *m, const calib_data *c, cpet_err *err)
{
    return model_forward(m, c->ids, NULL, c->rows, c->seq, err);
}

/* The input rows [N, in] that linear `which` of `layer` saw in the last forward. */
static const float *layer_input(const model *m, int layer, int which, int N)
{
    const model_config *c = &m->cfg;
    const size_t D = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, QD = (size_t)c->n_heads * c->head_dim;
    switch (which) {
    case LIN_Q: case LIN_K: case LIN_V: return m->acts.xn1 + (size_t)layer * N * D;
    case LIN_O: return m->acts.att_out + (size_t)layer * N * QD;
    case LIN_GATE: case LIN_UP: return m->acts.xn2 + (size_t)layer * N * D;
    default: return m->acts.h + (size_t)layer * N * F;
    }
}

static void column_norms(const float *x, int n, int cols, float *out)
{
    for (int j = 0; j < cols; j++) out[j] = 0.0f;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < cols; j++) out[j] += x[(size_t)t * cols + j] * x[(size_t)t * cols + j];
    for (int j = 0; j < cols; j++) out[j] = sqrtf(out[j]);
}

/* ---- the methods ---- */

static int quantize_rtn_all(model *m, qformat f, int group, cpet_err *err)
{
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            linear *lin = &m->layers[l].lin[k];
            qtensor q;
            if (quantize_rtn(&q, f, lin->w, lin->out, lin->in, group, err) != 0)
                return cpet_prefix(err, "model.layers.%d.%s", l, linear_module_suffix[k]);
            model_set_packed(m, l, k, &q);
        }
    return 0;
}

/* Layer by layer, each with inputs from the already-compressed layers below (GPTQ and Wanda do this). */
static int sequential(model *m, const compress_method *method, const compress_options *o, const calib_data *c, cpet_err *err)
{
    const int N = c->rows * c->seq;
    const int is_gptq = !method->is_pruning;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (calib_forward(m, c, err) != 0) return -1;
        /* inputs are read before any of this layer's weights change */
        float *w_new[LIN_PER_LAYER] = {0};
        qtensor packed[LIN_PER_LAYER];
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            linear *lin = &m->layers[l].lin[k];
            const float *x = layer_input(m, l, k, N);
            w_new[k] = malloc((size_t)lin->in * lin->out * sizeof(float));
            memcpy(w_new[k], lin->w, (size_t)lin->in * lin->out * sizeof(float));
            if (is_gptq) {
                double *H = calloc((size_t)lin->in * lin->in, sizeof(double));
                gptq_accumulate(H, x, N, lin->in);
                for (size_t i = 0; i < (size_t)lin->in * lin->in; i++) H[i] *= 2.0 / N;
                int rc = gptq_quantize(&packed[k], method->format, w_new[k], lin->out, lin->in, o->group, H, o->damp, err);
                free(H);
                if (rc != 0) return cpet_prefix(err, "model.layers.%d.%s", l, linear_module_suffix[k]);
            } else { /* wanda */
                float *norms = malloc((size_t)lin->in * sizeof(float));
                column_norms(x, N, lin->in, norms);
                prune_wanda(w_new[k], lin->out, lin->in, norms, o->sparsity);
                free(norms);
            }
        }
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            linear *lin = &m->layers[l].lin[k];
            if (is_gptq) model_set_packed(m, l, k, &packed[k]);
            else memcpy(lin->w, w_new[k], (size_t)lin->in * lin->out * sizeof(float));
            free(w_new[k]);
        }
    }
    return 0;
}

/* Structured FFN pruning: neuron j of a layer is worth ||W_down[:, j]|| * ||h_j|| over the calibration
 * tokens; every layer keeps the same number of neurons (one intermediate_size in the config). */
static int prune_ffn_neurons(model *m, const compress_options *o, const calib_data *c, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int F = cfg->intermediate_size, D = cfg->hidden_size, N = c->rows * c->seq;
    int keep = F - (int)llround(o->sparsity * F);
    if (keep < 1) return cpet_fail(err, "struct-ffn: sparsity %.3f leaves no neuron", o->sparsity);
    if (calib_forward(m, c, err) != 0) return -1;
    int *kept = malloc((size_t)cfg->n_layers * keep * sizeof(int));
    for (int l = 0; l < cfg->n_layers; l++) {
        const float *h = layer_input(m, l, LIN_DOWN, N), *wd = m->layers[l].lin[LIN_DOWN].w;
        float *hn = malloc((size_t)F * sizeof(float));
        column_norms(h, N, F, hn);
        float *score = malloc((size_t)F * sizeof(float));
        for (int j = 0; j < F; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)wd[(size_t)d * F + j] * wd[(size_t)d * F + j];
            score[j] = (float)sqrt(s) * hn[j];
        }
        top_indices(score, F, keep, kept + (size_t)l * keep);
        free(score);
        free(hn);
    }
    int rc = model_shrink_ffn(m, kept, keep, err);
    free(kept);
    return rc;
}

/* Structured head pruning: a KV group (KV head g and its query heads) is worth the sum over those query
 * heads of ||W_o[:, head]|| * ||attention output of the head|| over the calibration tokens. Removing whole
 * groups keeps the model a valid GQA LLaMA; every layer keeps the same number. */
static int prune_kv_groups(model *m, const compress_options *o, const calib_data *c, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int KV = cfg->n_kv_heads, group = cfg->n_heads / KV, hd = cfg->head_dim, D = cfg->hidden_size,
              QD = cfg->n_heads * hd, N = c->rows * c->seq;
    int keep = KV - (int)llround(o->sparsity * KV);
    if (keep < 1) return cpet_fail(err, "struct-heads: sparsity %.3f leaves no KV head of %d", o->sparsity, KV);
    if (calib_forward(m, c, err) != 0) return -1;
    int *kept = malloc((size_t)cfg->n_layers * keep * sizeof(int));
    float *norms = malloc((size_t)QD * sizeof(float)), *score = malloc((size_t)KV * sizeof(float));
    for (int l = 0; l < cfg->n_layers; l++) {
        column_norms(layer_input(m, l, LIN_O, N), N, QD, norms);
        const float *wo = m->layers[l].lin[LIN_O].w; /* [D, QD] */
        for (int g = 0; g < KV; g++) {
            double s = 0;
            for (int h = g * group; h < (g + 1) * group; h++) {
                double wn = 0, an = 0;
                for (int d = 0; d < D; d++)
                    for (int j = h * hd; j < (h + 1) * hd; j++) wn += (double)wo[(size_t)d * QD + j] * wo[(size_t)d * QD + j];
                for (int j = h * hd; j < (h + 1) * hd; j++) an += (double)norms[j] * norms[j];
                s += sqrt(wn) * sqrt(an);
            }
            score[g] = (float)s;
        }
        top_indices(score, KV, keep, kept + (size_t)l * keep);
    }
    free(norms);
    free(score);
    int rc = model_shrink_kv_groups(m, kept, keep, err);
    free(kept);
    return rc;
}

/* MoEfication: experts of 32 neurons where the FFN width allows (else of 16), top 20% per token. Routers
 * learn from the dense model's activations on the calibration tokens. */
static int moefy(model *m, const calib_data *c, cpet_err *err)
{
    const model_config *cfg = &m->cfg;
    const int F = cfg->intermediate_size, N = c->rows * c->seq, size = F % 32 == 0 ? 32 : F % 16 == 0 ? 16 : 0;
    if (!size) return cpet_fail(err, "moefication: the FFN width %d is not a multiple of 16", F);
    const int experts = F / size, top_k = (int)lround(0.2 * experts) > 0 ? (int)lround(0.2 * experts) : 1;
    if (calib_forward(m, c, err) != 0) return -1;
    moe_layer *layers = calloc((size_t)cfg->n_layers, sizeof *layers);
    for (int l = 0; l < cfg->n_layers; l++) {
        if (moe_cluster(&layers[l], m->layers[l].lin[LIN_GATE].w, F, cfg->hidden_size, experts, 1234 + l, err) != 0) return -1;
        moe_train_router(&layers[l], layer_input(m, l, LIN_GATE, N), layer_input(m, l, LIN_DOWN, N), N, top_k, 300, 99 + l);
    }
    m->moe = layers;
    m->cfg.moe_experts = experts;
    m->cfg.moe_top_k = top_k;
    return 0;
}

/* ---- the chain's steps, and the table that names them ---- */

static int apply_rtn(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)c;
    return quantize_rtn_all(m, self->format, o->group, err);
}

/* quantization-aware training in the format, then its RTN packing of the trained, clipped weights */
static int apply_qat(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    if (qat_train(m, self->format, o->group, &o->train, c, o->log, err) != 0) return -1;
    return quantize_rtn_all(m, self->format, o->group, err);
}

static int apply_simple(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self;
    return simple_prune(m, o->sparsity, &o->train, c, o->log, err);
}

static int apply_wid(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self;
    return wid_prune(m, o->sparsity, &o->train, c, o->log, err);
}

static int apply_sequential(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    return sequential(m, self, o, c, err);
}

static int apply_magnitude(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self, (void)c, (void)err;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            prune_magnitude(m->layers[l].lin[k].w, m->layers[l].lin[k].out, m->layers[l].lin[k].in, o->sparsity);
    return 0;
}

static int apply_nm(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self, (void)o, (void)c;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            linear *lin = &m->layers[l].lin[k];
            if (lin->in % 4) return cpet_fail(err, "nm-2:4: row length %d is not a multiple of 4", lin->in);
            prune_nm(lin->w, lin->out, lin->in, 2, 4, NULL);
        }
    return 0;
}

static int apply_struct_ffn(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self;
    return prune_ffn_neurons(m, o, c, err);
}

static int apply_struct_heads(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self;
    return prune_kv_groups(m, o, c, err);
}

static int apply_moefication(model *m, const compress_method *self, const compress_options *o, const calib_data *c, cpet_err *err)
{
    (void)self, (void)o;
    return moefy(m, c, err);
}

#define QUANTIZER(n, f, doc) {.name = n, .summary = doc, .format = f, .apply = apply_rtn}
#define PRUNER(n, doc) .name = n, .summary = doc, .is_pruning = 1, .format = QF_COUNT
const compress_method compress_methods[] = {
    QUANTIZER("rtn-int8", QF_INT8, "round-to-nearest int8, one scale per output channel"),
    {.name = "rtn-int4", .summary = "round-to-nearest int4, asymmetric, f16 scale + zero per group (--group)", .format = QF_INT4, .grouped = 1,
     .apply = apply_rtn},
    {.name = "rtn-int3", .summary = "round-to-nearest int3, asymmetric, per group", .format = QF_INT3, .grouped = 1, .apply = apply_rtn},
    {.name = "gptq-int4", .summary = "GPTQ int4 per group: Hessian-aware error compensation from calibration inputs", .format = QF_INT4,
     .grouped = 1, .needs_calibration = 1, .apply = apply_sequential},
    {.name = "gptq-int3", .summary = "GPTQ int3 per group", .format = QF_INT3, .grouped = 1, .needs_calibration = 1, .apply = apply_sequential},
    QUANTIZER("w8a8", QF_W8A8, "int8 weights per channel and int8 activations per token (absmax/127), int32 sums"),
    QUANTIZER("nf4", QF_NF4, "QLoRA NormalFloat4, blocks of 64, double-quantized block scales"),
    QUANTIZER("q8_0", QF_Q8_0, "llama.cpp Q8_0: blocks of 32, f16 scale"),
    QUANTIZER("q4_0", QF_Q4_0, "llama.cpp Q4_0: blocks of 32, f16 scale, 4-bit codes"),
#define QAT(n, f, doc, g) {.name = n, .summary = doc, .format = f, .grouped = g, .needs_calibration = 1, .trains = 1, .apply = apply_qat}
    QAT("qat-int8", QF_INT8, "quantization-aware training (QuantGPT) for rtn-int8: --train-steps on --calib, learned clipping, contrastive distillation", 0),
    QAT("qat-int4", QF_INT4, "quantization-aware training for rtn-int4 (--group)", 1),
    QAT("qat-q8_0", QF_Q8_0, "quantization-aware training for q8_0", 0),
    QAT("qat-q4_0", QF_Q4_0, "quantization-aware training for q4_0", 0),
    {PRUNER("magnitude", "unstructured: the smallest |w| of each matrix (--sparsity)"), .needs_sparsity = 1, .apply = apply_magnitude},
    {PRUNER("wanda", "unstructured: lowest |w| * ||x|| per output row, from calibration inputs (--sparsity)"), .needs_calibration = 1,
     .needs_sparsity = 1, .apply = apply_sequential},
    {PRUNER("nm-2:4", "semi-structured 2:4: the 2 largest |w| of every 4 consecutive weights"), .apply = apply_nm},
    {PRUNER("struct-ffn", "structured: removes the least important FFN neurons; the model gets smaller (--sparsity)"), .needs_calibration = 1,
     .needs_sparsity = 1, .shrinks_ffn = 1, .apply = apply_struct_ffn},
    {PRUNER("simple", "structured, learned (SIMPLE): masks on KV groups, FFN neurons and the hidden dimension trained with distillation "
                      "and L1 (--train-*), then the same share of each removed; the model gets smaller (--sparsity)"),
     .needs_calibration = 1, .needs_sparsity = 1, .shrinks_ffn = 1, .trains = 1, .apply = apply_simple},
    {PRUNER("wid", "structured, inherited (WID): identity compactors on the hidden dimension and FFN neurons trained with the LM loss, "
                   "channels cut ResRep-style, merged into a smaller model (--sparsity of each)"),
     .needs_calibration = 1, .needs_sparsity = 1, .shrinks_ffn = 1, .trains = 1, .apply = apply_wid},
    {PRUNER("moefication", "FFN split into experts of 32 neurons (balanced k-means); a trained router keeps the top 20% per token"),
     .needs_calibration = 1, .moefies = 1, .apply = apply_moefication},
    {PRUNER("struct-heads", "structured: removes the least important KV groups (a KV head and its query heads) (--sparsity)"),
     .needs_calibration = 1, .needs_sparsity = 1, .apply = apply_struct_heads},
};
const int compress_n_methods = (int)(sizeof compress_methods / sizeof compress_methods[0]);

const compress_method *compress_find(const char *name)
{
    for (int i = 0; i < compress_n_methods; i++)
        if (strcmp(compress_methods[i].name, name) == 0) return &compress_methods[i];
    return NULL;
}

/* the format of the chain's quantizer (its last non-pruning step), for what is packed round-to-nearest
 * beside the layers: the LM head, the embeddings */
static int chain_format(const char *chain, const char *what, qformat *f, cpet_err *err)
{
    char parts[8][32];
    int n;
    if (split_chain(chain, parts, &n, err) != 0) return -1;
    const compress_method *quantizer = NULL;
    for (int i = 0; i < n; i++)
        if (compress_find(parts[i]) && !compress_find(parts[i])->is_pruning) quantizer = compress_find(parts[i]);
    if (!quantizer) return cpet_fail(err, "'%s': quantizing %s needs a quantizer in the chain", chain, what);
    *f = quantizer->format;
    return 0;
}

int compress_embeddings(model *m, const char *chain, int group, cpet_err *err)
{
    qformat f;
    if (chain_format(chain, "the embeddings", &f, err) != 0) return -1;
    if (m->embed_q || !m->embed) return cpet_fail(err, "the embeddings are already packed");
    qtensor q;
    if (quantize_rtn(&q, f, m->embed, m->cfg.vocab_size, m->cfg.hidden_size, group, err) != 0)
        return cpet_prefix(err, "model.embed_tokens");
    return model_set_packed_embeddings(m, &q);
}

int compress_lm_head(model *m, const char *chain, int group, cpet_err *err)
{
    qformat f;
    if (chain_format(chain, "the LM head", &f, err) != 0) return -1;
    if (m->cfg.tie_word_embeddings)
        return cpet_fail(err, "the LM head is tied to the embeddings (tie_word_embeddings): quantizing it would quantize the "
                              "embedding lookups too, which cpet does not support");
    if (!m->lm_head.w) return cpet_fail(err, "the LM head is already packed");
    qtensor q;
    if (quantize_rtn(&q, f, m->lm_head.w, m->lm_head.out, m->lm_head.in, group, err) != 0) return cpet_prefix(err, "lm_head");
    return model_set_packed(m, m->cfg.n_layers, 0, &q);
}

int compress_model(model *m, const char *chain, const compress_options *o, const calib_data *calib, cpet_err *err)
{
    if (compress_check_chain(chain, o, calib != NULL, err) != 0) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (!m->layers[l].lin[k].w)
                return cpet_fail(err, "'%s': the model was loaded packed (no f32 weights to compress); start from the f32 checkpoint", chain);
    char parts[8][32];
    int n;
    split_chain(chain, parts, &n, err);
    for (int i = 0; i < n; i++) {
        const compress_method *cm = compress_find(parts[i]);
        if (cm->apply(m, cm, o, calib, err) != 0) return -1;
    }
    if (o->lm_head && compress_lm_head(m, chain, o->group, err) != 0) return -1;
    return o->embeddings ? compress_embeddings(m, chain, o->group, err) : 0;
}
