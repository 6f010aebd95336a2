/* The parameter and activation buffers: laid out from size tables (one allocation each, every tensor
 * 64-byte aligned, in HF order), so that checkpoints and the forward read the same floats as before. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "helpers.h"
#include "model.h"
#include "tensor.h"

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* The layout checkpoints were written with: tensor after tensor, each rounded up to 16 floats. */
static void check_parameter_layout(int tied)
{
    model_config c = small_config(4, 2, ACT_SILU, tied, 10000.0f);
    model m;
    cpet_err err;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_tensors, 1 + 9 * c.n_layers + 1 + !tied);

    const char *order[] = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                           "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    char name[160];
    size_t offset = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const param_tensor *t = &m.tensors[i];
        if (i == 0) snprintf(name, sizeof name, "model.embed_tokens.weight");
        else if (i <= 9 * c.n_layers) snprintf(name, sizeof name, "model.layers.%d.%s.weight", (i - 1) / 9, order[(i - 1) % 9]);
        else if (i == 9 * c.n_layers + 1) snprintf(name, sizeof name, "model.norm.weight");
        else snprintf(name, sizeof name, "lm_head.weight");
        cr_assert_str_eq(t->name, name, "tensor %d", i);
        cr_assert_eq(t->p, m.params + offset, "%s at float %zu", t->name, offset);
        cr_assert_eq((uintptr_t)t->p % 64, 0, "%s is 64-byte aligned", t->name);
        cr_assert_eq(t->n, (size_t)t->shape[0] * (size_t)t->shape[1]);
        for (size_t j = 0; j < t->n; j++) cr_assert_eq(t->p[j], t->ndim == 1 ? 1.0f : 0.0f, "%s[%zu]", t->name, j);
        offset += round16(t->n);
    }
    cr_assert_eq(m.n_params, offset);

    /* the structs point at the table's tensors */
    cr_assert_eq(m.embed, model_find_tensor(&m, "model.embed_tokens.weight")->p);
    cr_assert_eq(m.final_norm, model_find_tensor(&m, "model.norm.weight")->p);
    for (int l = 0; l < c.n_layers; l++) {
        const param_tensor *t = &m.tensors[1 + 9 * l];
        cr_assert_eq(m.layers[l].attn_norm, t[0].p);
        cr_assert_eq(m.layers[l].ffn_norm, t[5].p);
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            const param_tensor *w = &t[k < LIN_GATE ? 1 + k : 2 + k];
            cr_assert_eq(m.layers[l].lin[k].w, w->p, "layer %d linear %d", l, k);
            cr_assert_eq((int64_t)m.layers[l].lin[k].out, w->shape[0]);
            cr_assert_eq((int64_t)m.layers[l].lin[k].in, w->shape[1]);
        }
    }
    cr_assert_eq(m.lm_head.w, tied ? m.embed : model_find_tensor(&m, "lm_head.weight")->p);
    cr_assert_eq(m.lm_head.out, c.vocab_size);
    cr_assert_eq(m.lm_head.in, c.hidden_size);

    /* gradients mirror the same offsets */
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    for (int i = 0; i < m.n_tensors; i++) cr_assert_eq(m.tensors[i].g - m.grads, m.tensors[i].p - m.params);
    cr_assert_eq(m.layers[1].lin[LIN_DOWN].dw, model_find_tensor(&m, "model.layers.1.mlp.down_proj.weight")->g);
    model_free(&m);
}

Test(layout, parameters_in_hf_order_aligned_untied) { check_parameter_layout(0); }
Test(layout, parameters_in_hf_order_aligned_tied) { check_parameter_layout(1); }

static size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Buffers follow one another in the block, each starting where the previous one's 64-byte rounded size ends. */
static void check_consecutive(const void *block, const void *const *ptrs, const size_t *bytes, int n, const char *what)
{
    const char *at = block;
    for (int i = 0; i < n; i++) {
        cr_assert_eq((const char *)ptrs[i], at, "%s buffer %d", what, i);
        at += round64(bytes[i]);
    }
}

Test(layout, activation_buffers_one_block_each)
{
    model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    model m;
    cpet_err err;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.1f, 5);
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    const int B = 2, T = 5;
    int ids[10];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7) % c.vocab_size;
    cr_assert_eq(model_forward(&m, ids, NULL, B, T, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);

    const activations *a = &m.acts;
    const size_t BT = (size_t)B * T, L = (size_t)c.n_layers, D = (size_t)c.hidden_size, F = (size_t)c.intermediate_size,
                 QD = (size_t)c.n_heads * c.head_dim, KVD = (size_t)c.n_kv_heads * c.head_dim, V = (size_t)c.vocab_size,
                 f = sizeof(float);
    const void *fwd[] = {a->x_in, a->xn1, a->rstd1, a->q, a->k, a->v, a->att, a->att_out, a->x_mid, a->xn2, a->rstd2,
                         a->gate, a->up, a->h, a->x_final, a->xf, a->rstdf, a->logits, a->lse, a->targets, a->ids};
    const size_t fwd_bytes[] = {L * BT * D * f, L * BT * D * f, L * BT * f, L * BT * QD * f, L * BT * KVD * f,
                                L * BT * KVD * f, B * c.n_heads * T * T * f /* one layer: recomputed */, L * BT * QD * f, L * BT * D * f,
                                L * BT * D * f, L * BT * f, L * BT * F * f, L * BT * F * f, L * BT * F * f, BT * D * f,
                                BT * D * f, BT * f, BT * V * f, BT * f, BT * sizeof(int), BT * sizeof(int)};
    check_consecutive(a->fwd_block, fwd, fwd_bytes, 21, "forward");
    const void *bwd[] = {a->dres, a->dxn, a->dq, a->dk, a->dv, a->datt_out, a->dgate, a->dup, a->dh, a->dlogits, a->att_scratch};
    const size_t bwd_bytes[] = {BT * D * f, BT * D * f, BT * QD * f, BT * KVD * f, BT * KVD * f, BT * QD * f,
                                BT * F * f, BT * F * f, BT * F * f, BT * V * f, (size_t)a->bwd_threads * T * T * f};
    check_consecutive(a->bwd_block, bwd, bwd_bytes, 11, "backward");
    for (int i = 0; i < B * T; i++) cr_assert_eq(a->ids[i], ids[i]);
    model_free(&m);
}

Test(layout, size_table_offsets)
{
    const size_t bytes[] = {4, 64, 0, 65, 128};
    size_t off[5];
    cr_assert_eq(cpet_layout(bytes, 5, off), 64 + 64 + 0 + 128 + 128);
    const size_t want[] = {0, 64, 128, 128, 256};
    for (int i = 0; i < 5; i++) cr_assert_eq(off[i], want[i], "offset %d", i);
}

/* save -> load -> save writes the same bytes: the loader fills the buffer the saver read */
Test(layout, checkpoint_round_trip_is_byte_identical)
{
    char dir[256], a[300], b[300], fa[320], fb[320];
    make_temp_dir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    model_config c = small_config(4, 4, ACT_RELU, 0, 500000.0f);
    model m, back;
    cpet_err err;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.2f, 11);
    cr_assert_eq(model_save(&m, a, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&back, a, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_params, m.n_params);
    cr_assert_eq(memcmp(back.params, m.params, m.n_params * sizeof(float)), 0);
    cr_assert_eq(model_save(&back, b, &err), 0, "%s", err.msg);
    snprintf(fa, sizeof fa, "%s/model.safetensors", a);
    snprintf(fb, sizeof fb, "%s/model.safetensors", b);
    size_t na, nb;
    char *da = read_all(fa, &na), *db = read_all(fb, &nb);
    cr_assert(da && db);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(da, db, na), 0);
    free(da);
    free(db);
    model_free(&m);
    model_free(&back);
}

/* A model loaded from a packed checkpoint keeps only the packed bytes of its linears: no f32 copy in the
 * params buffer, and bitwise the logits of the in-memory compressed model it was saved from. */
Test(layout, packed_checkpoint_loads_without_f32_weights, .timeout = 60)
{
    const char *chains[] = {"rtn-int8", "rtn-int4", "q4_0", "q8_0", "nf4", "w8a8"};
    for (int k = 0; k < 6; k++) {
        cpet_err err;
        model m, p;
        model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
        c.hidden_size = 64;
        c.intermediate_size = 128;
        c.head_dim = 16;
        cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
        model_init_random(&m, 0.1f, 21 + k);
        compress_options o = {.group = 32, .sparsity = 0.5, .damp = 0.01};
        cr_assert_eq(compress_model(&m, chains[k], &o, NULL, &err), 0, "%s: %s", chains[k], err.msg);
        char dir[256], a[300], b[300];
        make_temp_dir(dir, sizeof dir);
        snprintf(a, sizeof a, "%s/packed", dir);
        cr_assert_eq(model_save(&m, a, &err), 0, "%s", err.msg);
        cr_assert_eq(model_load(&p, a, &err), 0, "%s", err.msg);

        /* the params buffer holds embeddings, norms and the LM head only */
        size_t f32 = 0;
        for (int i = 0; i < p.n_tensors; i++) {
            const param_tensor *t = &p.tensors[i];
            int is_linear = strstr(t->name, "_proj.weight") != NULL;
            cr_assert_eq(t->p == NULL, is_linear, "%s: %s", chains[k], t->name);
            if (t->p) {
                cr_assert(t->p >= p.params && t->p + t->n <= p.params + p.n_params, "%s inside the buffer", t->name);
                f32 += round16(t->n);
            }
        }
        cr_assert_eq(p.n_params, f32, "%s: %zu floats, %zu needed", chains[k], p.n_params, f32);
        for (int l = 0; l < c.n_layers; l++)
            for (int i = 0; i < LIN_PER_LAYER; i++) {
                cr_assert_null(p.layers[l].lin[i].w);
                cr_assert_not_null(p.layers[l].lin[i].qw);
            }
        cr_assert_eq(model_storage_bytes(&p), model_storage_bytes(&m));

        /* bitwise the same logits, decode-sized and tile-sized */
        int ids[40];
        for (int i = 0; i < 40; i++) ids[i] = (i * 5 + 3) % c.vocab_size;
        for (int T = 1; T <= 40; T += 39) {
            size_t n = (size_t)T * c.vocab_size;
            cr_assert_eq(model_forward(&m, ids, NULL, 1, T, &err), 0, "%s", err.msg);
            cr_assert_eq(model_forward(&p, ids, NULL, 1, T, &err), 0, "%s", err.msg);
            cr_assert_eq(memcmp(model_logits(&m), model_logits(&p), n * sizeof(float)), 0, "%s, %d tokens", chains[k], T);
            cr_assert_eq(memcmp(&m.loss, &p.loss, sizeof m.loss), 0);
        }

        /* --dequantize writes the same f32 checkpoint from either model */
        snprintf(a, sizeof a, "%s/deq-mem", dir);
        snprintf(b, sizeof b, "%s/deq-loaded", dir);
        cr_assert_eq(model_save_as(&m, a, 1, &err), 0, "%s", err.msg);
        cr_assert_eq(model_save_as(&p, b, 1, &err), 0, "%s", err.msg);
        char fa[320], fb[320];
        snprintf(fa, sizeof fa, "%s/model.safetensors", a);
        snprintf(fb, sizeof fb, "%s/model.safetensors", b);
        size_t na, nb;
        char *da = read_all(fa, &na), *db = read_all(fb, &nb);
        cr_assert(da && db && na == nb && memcmp(da, db, na) == 0, "%s: dequantized checkpoints differ", chains[k]);
        free(da);
        free(db);

        /* training leaves the packed bases frozen; compressing again needs the f32 weights */
        cr_assert_eq(model_set_trainable(&p, NULL, 1, &err), 0, "%s", err.msg);
        cr_assert_eq(model_find_tensor(&p, "model.layers.0.mlp.up_proj.weight")->trainable, 0);
        cr_assert_eq(model_forward(&p, ids, NULL, 1, 8, &err), 0, "%s", err.msg);
        cr_assert_eq(model_backward(&p, &err), 0, "%s", err.msg);
        cr_assert_neq(compress_model(&p, "magnitude", &o, NULL, &err), 0);
        cr_assert(strstr(err.msg, "loaded packed"), "%s", err.msg);
        model_free(&m);
        model_free(&p);
    }
}
