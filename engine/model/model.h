/* The LLaMA-family model: parameters in one buffer (HF tensor order), activations in one arena sized
 * for (batch, seq), each laid out from a size table; forward in model.c, backward in backward.c,
 * checkpoint I/O in model_io.c, packed linear bases in model_packed.c. */
#ifndef CPET_MODEL_H
#define CPET_MODEL_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "linear.h"
#include "moe.h"
#include "params.h"
#include "quant.h"

enum { LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_UP, LIN_DOWN, LIN_PER_LAYER };
extern const char *const linear_module_suffix[LIN_PER_LAYER]; /* "self_attn.q_proj", ... */

typedef struct {
    float *attn_norm, *ffn_norm;   /* [D] */
    float *d_attn_norm, *d_ffn_norm; /* NULL when frozen */
    linear lin[LIN_PER_LAYER];
} layer_weights;

/* Everything forward stores for backward, per layer stacked [L, ...]; grads allocated on first backward. */
typedef struct {
    int B, T;
    float *x_in;    /* [L, BT, D] input of each layer (= hidden state after layer l-1) */
    float *xn1, *rstd1, *q, *k, *v, *att, *att_out, *x_mid, *xn2, *rstd2, *gate, *up, *h;
    float *x_final; /* [BT, D] output of the last layer, before the final norm */
    float *xf, *rstdf, *logits, *lse;
    int *targets, *ids;
    /* backward buffers */
    float *dres, *dxn, *dq, *dk, *dv, *datt_out, *dgate, *dup, *dh, *dlogits, *att_scratch;
    float *branch_scratch;
    size_t branch_scratch_floats;
    void *fwd_block, *bwd_block;
    int bwd_threads;
} activations;

/* Gradients injected during backward (activation taps); each entry NULL or [BT, D] / [BT, F]. */
typedef struct {
    float **d_layer_out; /* [L] gradient added to each layer's output hidden state */
    float **d_ffn_act;   /* [L] gradient added to act(gate), the FFN intermediate before the up product */
    float **d_ffn_x1;    /* [L] gradient added to x1 = act(gate) * up, the gated product the down projection reads */
    float *d_final_hidden; /* gradient added to the final normed hidden state [BT, D] (HF's hidden_states[-1]) */
} grad_taps;

/* An edit of the residual stream (ROME's value optimisation; activation steering): model_forward adds
 * delta [D] to the output of layer `layer` at position pos[b] of every sequence b, and model_backward
 * accumulates the loss's gradient with respect to delta into d_delta (when not NULL). Only model_forward
 * applies it (not the KV-cache decoder). */
typedef struct {
    int layer;
    const int *pos;
    const float *delta;
    float *d_delta;
} residual_intervention;

typedef struct model {
    model_config cfg;
    float *params;
    size_t n_params;
    float *grads; /* mirrors params; allocated when a base tensor is first made trainable */
    param_tensor *tensors;
    int n_tensors;
    float *embed, *d_embed;
    float *final_norm, *d_final_norm;
    layer_weights *layers;
    linear lm_head; /* w aliases embed when tie_word_embeddings */
    float *rope_cos, *rope_sin;
    int rope_len;
    activations acts;
    grad_taps taps;
    const residual_intervention *intervention; /* NULL, or applied by model_forward / model_backward */
    qtensor *quant; /* [n_layers * LIN_PER_LAYER + 1] packed bases (format QF_COUNT = none); the last is the
                     * LM head's (model_packed_slots) */
    moe_layer *moe; /* [n_layers] MoEfication routers and expert maps, or NULL for a dense FFN */
    struct sparse_decode *sparse; /* decode's sparse FFNs (model_sparse_enable, sparse_ffn.h), or NULL */
    int *ffn_kept;     /* after struct-ffn: [n_layers, intermediate_size] the original index of each neuron kept */
    int ffn_kept_from; /* the intermediate_size before pruning */
    int *kv_kept;      /* after struct-heads: [n_layers, n_kv_heads] the original index of each KV group kept */
    int kv_kept_from;  /* n_kv_heads before pruning */
    int *hidden_kept;     /* after hidden pruning: [hidden_size] the original index of each dimension kept */
    int hidden_kept_from; /* the hidden_size before pruning */
    qtensor *embed_q; /* the embedding table packed (cpet compress --embeddings), or NULL; lookups dequantize
                       * their rows, and a tied LM head multiplies by it */
    float loss;
    int n_targets;
    struct model_map {
        void *addr;
        size_t size;
    } *maps; /* checkpoint files whose f32 tensors the model reads in place (model_load_mapped) */
    int n_maps;
} model;

/* Builds the structure for cfg with zeroed weights (norm weights 1). */
int model_create(model *m, const model_config *cfg, cpet_err *err);
/* As model_create, but the f32 weight of every linear marked in packed_only[layer * LIN_PER_LAYER + which]
 * (NULL: none) gets no storage: its w and tensor p are NULL until a packed base is attached with
 * model_set_packed (a model loaded packed keeps only the packed bytes). */
int model_create_packed(model *m, const model_config *cfg, const unsigned char *packed_only, cpet_err *err);
/* As model_create_packed, and a tensor for which source returns memory reads it there (its values as they
 * are; no storage of its own): model_load_mapped points f32 tensors into the mapped checkpoint. */
typedef const float *(*tensor_source)(const param_tensor *t, void *ctx);
int model_create_over(model *m, const model_config *cfg, const unsigned char *packed_only, tensor_source source,
                      void *ctx, cpet_err *err);
/* HF-style init: N(0, std) matrices, norm weights 1. */
void model_init_random(model *m, float std, unsigned long long seed);
/* Loads config.json and model.safetensors (or a sharded model.safetensors.index.json) from dir. */
int model_load(model *m, const char *dir, cpet_err *err);
/* For inference: as model_load, but F32 tensors are read in place from the mapped checkpoint (read-only,
 * MAP_PRIVATE; pages come in as the forward touches them and belong to the page cache), so RSS is the
 * bytes the model uses, not a copy of its file. Making such a model trainable is refused. */
int model_load_mapped(model *m, const char *dir, cpet_err *err);
/* Writes config.json and model.safetensors into dir (created if needed), each atomically. */
int model_save(const model *m, const char *dir, cpet_err *err);
/* As model_save; packed linears are stored packed (<name>.qweight, .scales, ... and their format in the
 * metadata) unless dequantize is set, which writes plain f32 weights any HF loader opens. */
int model_save_as(const model *m, const char *dir, int dequantize, cpet_err *err);
void model_free(model *m);

param_tensor *model_find_tensor(model *m, const char *name);
/* Module path ("model.layers.3.mlp.up_proj", "lm_head") -> linear, or NULL. */
linear *model_find_linear(model *m, const char *module_name);
/* Calls fn for every linear with its HF module path. */
void model_for_each_linear(model *m, void (*fn)(linear *l, const char *module_name, void *ctx), void *ctx);

/* Trainable set: all base tensors on/off, or those whose name contains `substr`. Allocates grads. */
int model_set_trainable(model *m, const char *substr, int trainable, cpet_err *err);
void model_zero_grad(model *m);

/* ids [B, T]; targets [B, T] gives the target of each position (-1 = none); NULL = next token
 * (ids shifted, HF labels = input_ids). Sets m->loss (NaN without targets) and the logits. */
int model_forward(model *m, const int *ids, const int *targets, int B, int T, cpet_err *err);
/* The first n_layers layers only, their activations left as model_forward leaves them (statistics of one
 * layer's inputs: ROME's keys); no head, no loss (m->loss NaN), and no model_backward after it. */
int model_forward_layers(model *m, const int *ids, int B, int T, int n_layers, cpet_err *err);
/* Gradient of m->loss into every trainable tensor and branch (accumulating). */
int model_backward(model *m, cpet_err *err);

float *model_logits(const model *m); /* [B*T, V] of the last forward */
/* [B*T, D] of the last forward: the final hidden state after the final norm (HF's hidden_states[-1]) */
const float *model_final_hidden(const model *m);

/* The most scratch floats per input row any attached branch needs (sizes the scratch buffers). */
size_t model_branch_scratch_per_row(const model *m);

/* Packed linear bases (model_packed.c). Attaches q (taken over, owned by m) as the base of linear `which`
 * of `layer` -- or of the LM head for layer == n_layers (which 0); its f32 weight, when it has storage,
 * keeps the dequantized values. */
int model_set_packed(model *m, int layer, int which, qtensor *q);
/* Slots of m->quant: one per layer linear, then the LM head's. */
static inline int model_packed_slots(const model *m) { return m->cfg.n_layers * LIN_PER_LAYER + 1; }
/* packed_only masks of model_create_packed: the slots above, then one entry for the embedding table */
static inline size_t model_packed_mask_len(const model_config *c) { return (size_t)c->n_layers * LIN_PER_LAYER + 2; }
static inline size_t model_packed_mask_embed(const model_config *c) { return (size_t)c->n_layers * LIN_PER_LAYER + 1; }
/* Attaches q [vocab, hidden] (taken over) as the packed embedding table; m->embed, when it has storage,
 * keeps the dequantized values; a tied LM head then reads q too. */
int model_set_packed_embeddings(model *m, qtensor *q);
/* rows ids[0..n) of the embedding table into out [n, hidden] (dequantized when packed) */
void model_embed_tokens(const model *m, const int *ids, int n, float *out);
/* The whole table as f32: m->embed, or the packed table dequantized into *owned (caller frees; NULL when
 * out of memory). For exporters. */
const float *model_embed_values(const model *m, float **owned);
/* Decode mode of every packed linear: int8 activation blocks and integer dot products (llama.cpp's scheme,
 * ~3x the f32 token rate for int8/q8_0/q4_0) or exact float activations (the default). */
void model_set_q8_activations(model *m, int on);
/* For inference with model_set_q8_activations(m, 1): each packed linear that can have a decode pack keeps
 * only it (qtensor_pack_only, one tensor at a time, so codes are never held twice), and a 4-bit model
 * holds the bytes of its file once. Outputs are bitwise unchanged; saving or exporting is then refused. */
void model_keep_decode_packs_only(model *m);
int model_is_decode_only(const model *m);
/* The f32 values of a linear's weight into out [out * in]: w, or its packed base dequantized. */
void model_linear_f32(const linear *l, float *out);
/* A model of cfg's shape whose layer linears (and, with pack_head, an untied LM head) are random N(0, std)
 * weights quantized round-to-nearest to format f, one matrix at a time: the f32 model never exists, so
 * a 7B shape fits in a few GB. Embeddings are f32 N(0, std) (with pack_embeddings then packed to f too),
 * norms 1. */
int model_create_random_packed(model *m, const model_config *cfg, qformat f, int group, float std, unsigned long long seed,
                               int pack_head, int pack_embeddings, cpet_err *err);
/* Bytes the weights take as stored (packed bases at their packed size, everything else f32). */
size_t model_storage_bytes(const model *m);

/* Shared by model.c and backward.c: sizes the backward buffers for the last forward's (B, T). */
int model_alloc_backward(model *m, cpet_err *err);

#endif
